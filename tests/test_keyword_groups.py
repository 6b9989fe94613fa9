"""Keyword groups from the browser: the edits of ``targets.yaml`` (add, replace,
rename with the targets that use the group, remove), the preview over stored
captures (counts, window, examples, the time budget and the cache), and the
``/keywords`` routes (admins edit, everyone else reads, their POSTs refused).

The store is real SQLite with real blobs, its captures written by the store's own
``save_capture``; time comes from a FakeClock (a stepping one for the budget)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from clock import EPOCH, FakeClock
from fastapi.testclient import TestClient
from test_inbox import AsUser, csrf_of

from watcher.config import ConfigError, load_config
from watcher.config.edit import keyword_group_problems, remove_keyword_group, set_keyword_group
from watcher.store.index import CheckRecord, NewCapture, Store
from watcher.web.app import create_app
from watcher.web.group_preview import TermCache, preview_groups

NOW = EPOCH + timedelta(days=400)

CONFIG = """\
# the team's watch list: these comments must survive every edit
settings: {host_delay: 0}
keywords:
  shipbuilding: [船舶, 造船]   # the seed's subject
  sastind: [国防科工局]
  space: [航天]
targets:
  - name: miit            # MIIT notices
    url: http://127.0.0.1:9/miit
    keywords: [shipbuilding, sastind]
  - name: sastind
    url: http://127.0.0.1:9/sastind
    keywords: sastind
  - name: gov
    url: http://127.0.0.1:9/gov
    keywords: [space]
"""

# (target, text, days before NOW)
CAPTURES = [
    ("miit", "关于推动船舶工业高质量发展的通知。", 1),
    ("miit", "关于推动船舶工业高质量发展的通知。造船完工量增长。", 2),
    ("sastind", "國防科工局发布公告：航天项目。", 3),  # traditional: matched as 国防科工局
    ("gov", "国务院常务会议研究造船产能。", 5),
    ("gov", "与关键词无关的通知。", 6),
    ("gov", "船舶旧闻，超过三十天。", 45),  # outside the window
]


def _save(store: Store, target: str, text: str, days: float) -> str:
    state = store.target_state(target, f"http://127.0.0.1:9/{target}")
    at = NOW - timedelta(days=days)
    kind = "changed" if state.last else "new"
    new = NewCapture(
        state.id,
        kind,
        state.url if hasattr(state, "url") else f"http://127.0.0.1:9/{target}",
        f"http://127.0.0.1:9/{target}",
        200,
        [],
        at,
        0.01,
        text.encode("utf-8"),
        text,
        previous_id=state.last.id if state.last else None,
    )
    return store.save_capture(new, CheckRecord(state.id, at, kind, 0.01, 200))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    config = tmp_path / "targets.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    data = tmp_path / "snapshots"
    store = Store(data)
    ids = {}
    for target, text, days in sorted(CAPTURES, key=lambda c: -c[2]):
        ids[text] = _save(store, target, text, days)
    store.close()
    yield config, data, ids


class SteppingClock(FakeClock):
    """Each look at the monotonic clock is a second later: a budget of 2 s lets
    about two texts be matched, whatever the machine's speed."""

    def monotonic(self) -> float:
        self._now += 1.0
        return self._now


# -- the edits --------------------------------------------------------------------------


def test_a_group_is_added_replaced_renamed_and_removed_keeping_comments(tmp_path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    set_keyword_group(path, "mcf", ["军民融合", "re:军民(两用|结合)"])
    text = path.read_text(encoding="utf-8")
    assert "  mcf: [军民融合, 're:军民(两用|结合)']\n" in text  # in the file's flow style
    assert text.index("mcf:") < text.index("targets:")
    set_keyword_group(path, "shipbuilding", ["船舶", "造船", "船舶工业"], old_name="shipbuilding")
    text = path.read_text(encoding="utf-8")
    assert re.search(r"\n  shipbuilding: \[船舶, 造船, 船舶工业\] +# the seed's subject\n", text)
    config = set_keyword_group(path, "defence", ["国防科工局", "SASTIND"], old_name="sastind")
    text = path.read_text(encoding="utf-8")
    assert list(config.keywords) == ["shipbuilding", "defence", "space", "mcf"]  # in place
    assert config.target("miit").keywords == ("shipbuilding", "defence")
    assert config.target("sastind").keywords == ("defence",)
    assert "    keywords: defence\n" in text and "sastind:" not in text
    assert text.startswith("# the team's watch list: these comments must survive every edit\n")
    assert "  - name: miit            # MIIT notices\n" in text
    remove_keyword_group(path, "mcf")
    assert "mcf" not in path.read_text(encoding="utf-8")
    assert load_config(path).keywords["defence"] == ["国防科工局", "SASTIND"]


BLOCK = """\
keywords:
  shipbuilding:
    - 船舶   # the main one
    - 造船

  # SASTIND's names
  sastind: [国防科工局]
  space:
    - 航天
# the targets
targets:
  - name: a
    url: http://127.0.0.1:9/a
"""


def test_block_lists_keep_their_comments_and_the_lines_after_them(tmp_path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(BLOCK, encoding="utf-8")
    set_keyword_group(path, "shipbuilding", ["船舶", "造船", "船坞"], old_name="shipbuilding")
    set_keyword_group(path, "aerospace", ["航天", "运载火箭"], old_name="space")
    set_keyword_group(path, "mcf", ["军民融合"])
    assert path.read_text(encoding="utf-8") == (
        "keywords:\n"
        "  shipbuilding:\n"
        "    - 船舶   # the main one\n"
        "    - 造船\n"
        "    - 船坞\n"
        "\n"
        "  # SASTIND's names\n"
        "  sastind: [国防科工局]\n"
        "  aerospace:\n"
        "    - 航天\n"
        "    - 运载火箭\n"
        "  mcf:\n"
        "    - 军民融合\n"
        "# the targets\n"
        "targets:\n"
        "  - name: a\n"
        "    url: http://127.0.0.1:9/a\n"
    )


def test_a_new_group_after_a_flow_list_leaves_the_comments_below_in_place(tmp_path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(
        "keywords:\n  sastind: [国防科工局]   # eol\n\n# the targets\ntargets:\n"
        "  - {name: a, url: 'http://127.0.0.1:9/a'}\n",
        encoding="utf-8",
    )
    set_keyword_group(path, "mcf", ["军民融合"])
    assert path.read_text(encoding="utf-8").startswith(
        "keywords:\n  sastind: [国防科工局]   # eol\n  mcf: [军民融合]\n\n# the targets\ntargets:\n"
    )


def test_refused_edits_name_file_and_line_and_write_nothing(tmp_path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    cases = [
        (lambda: set_keyword_group(path, "space", ["火箭"]), "already a keyword group named"),
        (lambda: set_keyword_group(path, "x", ["a"], old_name="nope"), "no keyword group 'nope'"),
        (lambda: set_keyword_group(path, "space", ["a"], old_name="sastind"), "already a keyword"),
        (lambda: remove_keyword_group(path, "sastind"), "used by target miit (line 8), target"),
        (lambda: set_keyword_group(path, "Bad Name", ["a"]), "invalid group name"),
        (lambda: set_keyword_group(path, "space", ["re:(", "航天"], old_name="space"), "regular"),
        (lambda: set_keyword_group(path, "space", ["航天", "航天"], old_name="space"), "duplicate"),
    ]
    for edit, said in cases:
        with pytest.raises(ConfigError) as caught:
            edit()
        message = str(caught.value).replace("named 'nope'", "'nope'")
        assert message.startswith(f"{path}:"), message
        assert said in message or said.replace(" named", "") in message, message
        assert path.read_text(encoding="utf-8") == CONFIG
    with pytest.raises(ConfigError) as issue:
        set_keyword_group(path, "space", [""], old_name="space")
    said = ":6: the change would make the config invalid: keywords.space[0]: empty keyword term"
    assert str(issue.value) == f"{path}{said}"
    assert keyword_group_problems("ok", ["船舶"]) == []
    assert keyword_group_problems("ok", []) == [
        "keywords.ok: keyword group 'ok' is empty; list at least one term"
    ]


# -- the preview --------------------------------------------------------------------------


def test_the_preview_counts_captures_and_targets_of_the_last_30_days(site) -> None:
    _, data, ids = site
    store = Store(data, readonly=True)
    groups = [("shipbuilding", ["船舶", "造船"]), ("sastind", ["国防科工局"]), ("none", ["核电"])]
    ship, sastind, none = preview_groups(store, groups, TermCache(), FakeClock(NOW))
    assert (ship.captures, ship.targets, ship.complete) == (3, 2, True)
    assert ship.per_term == {"船舶": 2, "造船": 2}
    assert (ship.read, ship.total) == (5, 5)  # the capture of 45 days ago is not read
    newest = ids["关于推动船舶工业高质量发展的通知。"]
    assert [(e.capture_id, e.target) for e in ship.examples] == [
        (newest, "miit"),
        (ids["国务院常务会议研究造船产能。"], "gov"),
    ]  # one example per target first
    assert "船舶工业高质量" in ship.examples[0].snippet
    assert (sastind.captures, sastind.targets, sastind.per_term) == (1, 1, {"国防科工局": 1})
    assert "國防科工局" in sastind.examples[0].snippet  # as the page wrote it
    assert (none.captures, none.examples) == (0, [])
    store.close()


def test_the_budget_stops_a_preview_and_the_cache_carries_it_on(site) -> None:
    _, data, _ = site
    store = Store(data, readonly=True)
    cache = TermCache()
    groups = [("shipbuilding", ["船舶", "造船"])]
    clock = SteppingClock(NOW)
    (first,) = preview_groups(store, groups, cache, clock, budget=2.0)
    assert not first.complete and first.read < first.total == 5
    assert len(cache) == first.read
    rounds = [first]
    while not rounds[-1].complete:
        rounds.append(preview_groups(store, groups, cache, clock, budget=2.0)[0])
        assert rounds[-1].read > rounds[-2].read  # every request gets further
    assert rounds[-1].captures == 3 and len(rounds) <= 5
    # a draft with one more alias matches only the new term: the rest is known
    (draft,) = preview_groups(store, [("draft", ["船舶", "造船", "通知"])], cache, clock, budget=2)
    assert not draft.complete and draft.read >= 1
    store.close()


def test_an_unknown_or_metadata_term_is_not_a_text_match(site) -> None:
    _, data, _ = site
    store = Store(data, readonly=True)
    (p,) = preview_groups(
        store, [("g", ["issuer:国防科工局", "航天"])], TermCache(), FakeClock(NOW)
    )
    assert p.unmatched == ("issuer:国防科工局",) and p.per_term == {"航天": 1}
    store.close()


# -- the routes ---------------------------------------------------------------------------


@pytest.fixture
def app(site):
    config, data, _ = site
    app = create_app(data, config, clock=FakeClock(NOW))
    app.add_middleware(AsUser)
    yield app
    app.state.inbox_writer.close()


def client_as(app, name: str, role: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    client.cookies.set("as", f"{name}:{role}")
    return client


def test_everyone_reads_the_groups_and_their_previews_only_admins_edit(app, site) -> None:
    config = site[0]
    viewer = client_as(app, "vic", "viewer")
    page = viewer.get("/keywords")
    assert page.status_code == 200
    html = unescape(page.text)
    assert 'data-group="shipbuilding"' in html and 'data-captures="3"' in html
    assert '3 captures</b> on\n<b class="targets">2 targets</b> in the last 30 days' in html
    assert "used by 1 target" in html
    assert 'action="/keywords"' not in html and 'href="/keywords"' not in html  # no forms, no link
    token = csrf_of(viewer.get("/inbox").text)  # a real token: the role is what is refused
    for data in (
        {"action": "save", "group": "space", "name": "space", "terms": "火箭"},
        {"action": "remove", "group": "space"},
        {"action": "preview", "name": "x", "terms": "船"},
    ):
        refused = viewer.post("/keywords", data={**data, "csrf": token})
        assert refused.status_code == 403 and "admin" in refused.text
    assert (
        client_as(app, "ann", "analyst")
        .post("/keywords", data={"action": "remove", "group": "space", "csrf": token})
        .status_code
        == 403
    )
    assert config.read_text(encoding="utf-8") == CONFIG
    admin = client_as(app, "ada", "admin")
    assert admin.post("/keywords", data={"action": "remove", "group": "space"}).status_code == 403
    assert 'href="/keywords">Keywords</a>' in admin.get("/keywords").text


def test_an_admin_previews_a_draft_saves_renames_and_removes(app, site) -> None:
    config = site[0]
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get("/keywords").text)
    draft = {"group": "shipbuilding", "name": "ships", "terms": "船舶\n造船\n通知\n", "csrf": token}
    shown = admin.post("/keywords", data={**draft, "action": "preview"})
    assert shown.status_code == 200 and config.read_text(encoding="utf-8") == CONFIG
    html = unescape(shown.text)
    section = html[html.index('id="draft"') :]
    assert 'data-captures="4"' in section[:200] and "Draft: ships" in section
    assert '<code>通知</code> <span class="count">3</span>' in section
    bad = admin.post("/keywords", data={**draft, "terms": "船舶\nre:(", "action": "preview"})
    assert "missing )" in unescape(bad.text) or "unterminated" in unescape(bad.text)
    refused = admin.post("/keywords", data={**draft, "terms": "船舶\n船舶", "action": "save"})
    assert refused.status_code == 400
    said = ":4: the change would make the config invalid: keywords.ships[1]: duplicate term"
    assert f"{config}{said}" in unescape(refused.text)
    assert config.read_text(encoding="utf-8") == CONFIG
    saved = admin.post("/keywords", data={**draft, "action": "save"})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/keywords?done=renamed&name=ships#group-ships"
    text = config.read_text(encoding="utf-8")
    assert re.search(r"\n  ships: \[船舶, 造船, 通知\] +# the seed's subject\n", text)
    assert "    keywords: [ships, sastind]\n" in text and text.startswith("# the team's")
    added = admin.post(
        "/keywords", data={"action": "save", "name": "nuclear", "terms": "核电", "csrf": token}
    )
    assert added.headers["location"].startswith("/keywords?done=added&name=nuclear")
    page = unescape(admin.get(added.headers["location"]).text)
    assert "Added the group nuclear." in page and 'data-group="nuclear"' in page
    gone = admin.post("/keywords", data={"action": "remove", "group": "nuclear", "csrf": token})
    assert gone.status_code == 303 and "nuclear" not in config.read_text(encoding="utf-8")
    used = admin.post("/keywords", data={"action": "remove", "group": "ships", "csrf": token})
    assert used.status_code == 400 and "is used by target miit" in unescape(used.text)
    audit = [a.action for a in app.state.guard.accounts.actions(user="ada", limit=10)]
    assert audit == ["keywords removed", "keywords added", "keywords renamed"]


def test_a_page_past_its_budget_says_at_least_and_the_next_one_goes_on(site) -> None:
    config, data, _ = site
    app = create_app(data, config, clock=SteppingClock(NOW))
    app.add_middleware(AsUser)
    viewer = client_as(app, "vic", "viewer")
    first = unescape(viewer.get("/keywords").text)
    assert 'data-complete="no"' in first and "Would have hit at least" in first
    assert re.search(r"stopped after \d\.\d s with \d of 5 captures read: reload for more", first)
    pages = [first]
    while 'data-complete="no"' in pages[-1] and len(pages) < 10:
        pages.append(unescape(viewer.get("/keywords").text))
    assert 'data-complete="no"' not in pages[-1] and 1 < len(pages) < 10
    assert "3 captures</b>" in pages[-1] and "(5 new or changed texts read)" in pages[-1]
    app.state.inbox_writer.close()
