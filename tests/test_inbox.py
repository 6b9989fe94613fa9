"""The inbox over a real store filled by real ``watcher check`` runs of a local site:
one footer edit on three pages is one item with a count, a target failing and
recovering, two users' reading apart and their triage shared, filters, bulk
actions, roles, and an alert's link that opens its item.

Who is asking comes from ``request.state.user`` (watcher.web.identity); the accounts
part sets it, here a small middleware does, from an ``as`` cookie.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from clock import EPOCH, FakeClock
from fastapi.testclient import TestClient
from httpserver import HTTPServer
from pgstores import index_engine

from watcher.alerts.compose import Composer
from watcher.alerts.events import Event
from watcher.cli.main import main
from watcher.store import inbox, inboxlog
from watcher.store.index import Store
from watcher.web.app import create_app
from watcher.web.identity import User

FOOTER = "<div id=f>版权所有：工业和信息化部 京ICP备04000001号</div>"
NEW_FOOTER = "<div id=f>版权所有：工业和信息化部 京ICP备04000002号</div>"


def page(title: str, body: str, footer: str = FOOTER) -> bytes:
    return (
        f"<html><head><meta charset=utf-8><title>{title}</title></head><body>"
        f"<div id=c><p>{body}</p></div>{footer}</body></html>"
    ).encode()


PAGES = {
    "a": ("关于船舶工业的通知", "工业和信息化部关于推进船舶工业高质量发展的通知。"),
    "b": ("关于无线电管理的通知", "无线电频率使用许可管理办法的说明。"),
    "c": ("关于软件产业的通知", "软件和信息技术服务业发展规划的解读。"),
    "d": ("关于造船的公告", "造船产能预警的公告。"),
}


def listing(items: list[str]) -> bytes:
    links = "".join(f'<li><a href="/n{n}">通知{n}</a></li>' for n in items)
    head = "<html><head><meta charset=utf-8><title>通知公告</title></head>"
    return f"{head}<body><ul>{links}</ul></body></html>".encode()


def notice(n: str, extra: str = "") -> bytes:
    return page(f"通知{n}", f"第{n}号通知：关于频率规划的意见。{extra}", footer="")


def check(config: Path, data: Path) -> str:
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--no-notify"]
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1), result.output
    return result.output


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Four pages sharing a footer and one failing site, checked four times: the
    footer's ICP number changes on a, b and c at once, d gets an edit of its own,
    the site fails three times in a row and then works again."""
    folder = tmp_path_factory.mktemp("inbox")
    with HTTPServer() as server:
        for key, (title, body) in PAGES.items():
            server.route(f"/{key}", body=page(title, body), headers={"Content-Type": "text/html"})
        server.route("/down", status=500, body=b"down")
        html = {"Content-Type": "text/html"}
        server.route("/list", body=listing(["1", "2", "3"]), headers=html)
        for n in "123":
            server.route(f"/n{n}", body=notice(n), headers=html)
        targets = "".join(
            f"  - {{name: page-{k}, title: 'Page {k.upper()}', url: '{server.url('/' + k)}', "
            f"tags: [{'miit' if k in 'ab' else 'other'}]}}\n"
            for k in PAGES
        )
        config = folder / "targets.yaml"
        config.write_text(
            'settings: {host_delay: 0, base_url: "http://watcher.example"}\n'
            "keywords:\n  shipbuilding: [船舶, 造船]\n  icp: [ICP]\n"
            f"targets:\n{targets}"
            f"  - {{name: down, title: Down site, url: '{server.url('/down')}', retries: 0}}\n"
            f"  - {{name: notices, title: 通知公告, url: '{server.url('/list')}', "
            "follow: {links: 'ul li a', baseline: false, recheck: 0s}}\n",
            encoding="utf-8",
        )
        data = folder / "snapshots"
        check(config, data)  # four new pages, three new notices; down fails (1)
        for key in "abc":
            title, body = PAGES[key]
            server.route(
                f"/{key}", body=page(title, body, NEW_FOOTER), headers={"Content-Type": "text/html"}
            )
        title, body = PAGES["d"]
        server.route(
            "/d",
            body=page(title, body + "新增造船产能目录。"),
            headers={"Content-Type": "text/html"},
        )
        server.route("/n1", status=404, body=b"not here")
        server.route("/n2", body=notice("2", "补充说明。"), headers=html)
        check(
            config, data
        )  # the footer on a, b, c; d's own edit; down fails (2); n1 404, n2 edited
        server.route("/list", body=listing(["1", "3"]), headers=html)
        check(config, data)  # down fails (3): failing; n2 delisted
        server.route(
            "/down", body=page("恢复", "网站恢复访问。"), headers={"Content-Type": "text/html"}
        )
        check(config, data)  # down works: recovered, and its first capture
        yield config, data


class AsUser:
    """Stands in for the accounts part: puts the ``as`` cookie's user on the request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            cookies = dict(
                part.strip().split("=", 1)
                for value in (v for k, v in scope["headers"] if k == b"cookie")
                for part in value.decode().split(";")
                if "=" in part
            )
            if "as" in cookies:
                name, _, role = cookies["as"].partition(":")
                scope.setdefault("state", {})["user"] = User(name, role or "analyst")
        await self.app(scope, receive, send)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(EPOCH + timedelta(days=3650))  # after the checks' real time


@pytest.fixture
def app(site: tuple[Path, Path], clock: FakeClock) -> Any:
    config, data = site
    made = create_app(data, config, clock=clock)
    made.add_middleware(AsUser)
    return made


def client_as(app: Any, name: str, role: str = "analyst") -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    client.cookies.set("as", f"{name}:{role}")
    return client


@pytest.fixture(autouse=True)
def fresh_triage(site: tuple[Path, Path]) -> Iterator[None]:
    """Each test starts with no one's reading or triage (the events stay)."""
    yield
    engine = index_engine(site[1])
    with engine.begin() as conn:
        for table in ("inbox_reads", "inbox_visits", "inbox_actions"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.exec_driver_sql("UPDATE inbox_items SET state = NULL, assignee = NULL")
    engine.dispose()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


def all_items(data: Path, user: str = "nobody", **wanted: Any) -> list[inbox.ItemRow]:
    with Store(data, readonly=True) as store:
        rows, more = inbox.items(store, user, inbox.Filter(view="all", **wanted), per_page=200)
    assert not more
    return rows


def footer_item(data: Path) -> inbox.ItemRow:
    (found,) = [r for r in all_items(data) if r.kind == "changed" and r.count > 1]
    return found


def item_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="item[^"]*" data-id="(\d+)"', html)]


# ---------------------------------------------------------------------------- events


def test_the_same_edit_on_three_targets_is_one_item_with_a_count(site) -> None:
    _, data = site
    rows = all_items(data)
    changed = [r for r in rows if r.kind == "changed"]
    assert sorted(r.count for r in changed) == [1, 3]  # the footer (a, b, c); d's own edit
    footer = footer_item(data)
    with Store(data, readonly=True) as store:
        detail = inbox.item(store, "nobody", footer.id)
    assert detail is not None
    assert sorted(e.target for e in detail.events) == ["page-a", "page-b", "page-c"]
    assert all(e.previous_id and e.capture_id for e in detail.events)  # each with its diff
    (alone,) = [r for r in changed if r.count == 1]
    assert alone.target == "page-d"


def test_first_captures_and_a_failing_then_recovering_target_are_events(site) -> None:
    _, data = site
    kinds = [(r.kind, r.target) for r in all_items(data)]
    assert sorted(t for k, t in kinds if k == "new") == [
        "down", "page-a", "page-b", "page-c", "page-d",
    ]  # fmt: skip
    assert ("failing", "down") in kinds and ("recovered", "down") in kinds
    assert kinds.count(("failing", "down")) == 1  # once, at the third failure in a row
    with Store(data, readonly=True) as store:
        failing = next(r for r in all_items(data) if r.kind == "failing")
        detail = inbox.item(store, "nobody", failing.id)
    assert detail is not None and "HTTP 500" in (detail.events[0].detail or "")


def test_a_listings_notices_their_edits_and_fates_are_events(site) -> None:
    _, data = site
    rows = [r for r in all_items(data) if r.target.startswith("notices")]
    kinds = sorted((r.kind, r.title) for r in rows)
    assert kinds == [
        ("delisted", "通知2"),
        ("document", "通知1"),
        ("document", "通知2"),
        ("document", "通知3"),
        ("edited", "通知2"),
        ("suspected", "通知1"),
    ]  # the listing's own page is no item: its documents are the news
    suspected = next(r for r in rows if r.kind == "suspected")
    assert suspected.first is not None and suspected.first.detail == "HTTP 404"
    assert suspected.first.capture_id  # the evidence: its last good capture
    assert {r.id for r in all_items(data, targets=("notices",))} == {r.id for r in rows}


def test_the_item_page_lists_each_target_with_its_diff(app, site) -> None:
    footer = footer_item(site[1])
    html = client_as(app, "alice").get(f"/inbox/{footer.id}").text
    assert "the same edit on 3 targets" in html
    for name in ("Page A", "Page B", "Page C"):
        assert name in html
    assert html.count("/diff?from=") == 3


# ------------------------------------------------------------------ users and triage


def test_two_users_read_apart_and_share_states_notes_and_assignments(app, site) -> None:
    alice, bob = client_as(app, "alice"), client_as(app, "bob")
    first = alice.get("/inbox")
    everyone = len(all_items(site[1]))
    assert f"{everyone} unread" in first.text and len(item_ids(first.text)) == everyone
    footer = footer_item(site[1])
    alice.get(f"/inbox/{footer.id}")  # opening an item reads it, for alice only
    assert footer.id not in item_ids(alice.get("/inbox").text)
    assert f"{everyone - 1} unread" in alice.get("/inbox").text
    assert footer.id in item_ids(bob.get("/inbox").text)
    assert f"{everyone} unread" in bob.get("/inbox").text

    token = csrf_of(alice.get(f"/inbox/{footer.id}").text)
    for form in (
        {"action": "important"},
        {"action": "note", "note": "全站页脚：ICP备案号变更，无需处理"},
        {"action": "assign", "assignee": "bob"},
    ):
        answer = alice.post(f"/inbox/{footer.id}", data={**form, "csrf": token})
        assert answer.status_code == 303
    seen = bob.get(f"/inbox/{footer.id}").text
    assert 'id="item-state">important<' in seen and 'id="item-assignee">bob<' in seen
    assert "全站页脚：ICP备案号变更，无需处理" in seen
    history = re.findall(
        r"<li><span class=\"sub\">([^<]+) Beijing time</span> <b>(\w+)</b> ([^<]+)</li>", seen
    )
    assert [(who, what) for _, who, what in history] == [
        ("alice", "marked it important"),
        ("alice", "added a note"),
        ("alice", "assigned it to bob"),
    ]
    assert history[0][0] == "2034-05-08 18:00"  # the app's clock (10:00 UTC), not the machine's
    mine = bob.get("/inbox", params={"view": "all", "assignee": "me"}).text
    assert item_ids(mine) == [footer.id]


def test_a_viewer_reads_and_marks_read_but_may_not_triage(app, site) -> None:
    viewer = client_as(app, "vera", "viewer")
    footer = footer_item(site[1])
    token = csrf_of(viewer.get(f"/inbox/{footer.id}").text)
    refused = viewer.post(f"/inbox/{footer.id}", data={"action": "noise", "csrf": token})
    assert refused.status_code == 403 and "analyst" in refused.text
    note = viewer.post(f"/inbox/{footer.id}", data={"action": "note", "note": "x", "csrf": token})
    assert note.status_code == 403
    unread = viewer.post(f"/inbox/{footer.id}", data={"action": "unread", "csrf": token})
    assert unread.status_code == 303
    assert footer.id in item_ids(viewer.get("/inbox").text)
    assert footer_item(site[1]).state is None


def test_actions_need_the_csrf_token(app, site) -> None:
    footer = footer_item(site[1])
    answer = client_as(app, "alice").post(f"/inbox/{footer.id}", data={"action": "noise"})
    assert answer.status_code == 403
    assert footer_item(site[1]).state is None


# ------------------------------------------------------------------- filters and bulk


def test_filters_by_target_tag_group_state_assignee_and_date(app, site) -> None:
    alice = client_as(app, "alice")
    rows = {r.id: r for r in all_items(site[1])}
    footer = footer_item(site[1])

    def shown(**params: str) -> set[int]:
        return set(item_ids(alice.get("/inbox", params={"view": "all", **params}).text))

    by_b = shown(target="page-b")
    assert footer.id in by_b and {rows[i].target for i in by_b - {footer.id}} == {"page-b"}
    tagged = shown(tag="miit")  # page-a and page-b
    assert footer.id in tagged and {rows[i].target for i in tagged} <= {"page-a", "page-b"}
    assert {rows[i].target for i in tagged} == {"page-a", "page-b"}
    ships = shown(group="shipbuilding")
    assert ships and all(rows[i].target in ("page-a", "page-d") for i in ships)
    assert {rows[i].kind for i in ships} == {"new", "changed"}  # d's 造船 edit too
    token = csrf_of(alice.get("/inbox").text)
    alice.post("/inbox/bulk", data={"ids": [footer.id], "action": "noise", "csrf": token})
    assert shown(state="noise") == {footer.id}
    assert footer.id not in shown(state="none")
    assign = {"ids": [footer.id], "action": "assign", "assignee": "carol", "csrf": token}
    refused = alice.post("/inbox/bulk", data=assign)  # a name nobody has: no free text
    assert refused.status_code == 400 and "no user named 'carol'" in refused.text
    assert shown(assignee="carol") == set()
    client_as(app, "carol").get("/inbox")  # without accounts: whoever has used the inbox
    assert alice.post("/inbox/bulk", data=assign).status_code == 303
    assert shown(assignee="carol") == {footer.id}
    day = footer.last_at.strftime("%Y-%m-%d")
    assert footer.id in shown(since=day, until=day)
    assert shown(since="2099-01-01") == set() and shown(until="2000-01-01") == set()
    filtered = alice.get("/inbox", params={"view": "all", "tag": "miit", "state": "noise"})
    assert 'name="tag"' in filtered.text and "tag=miit&amp;state=noise" in filtered.text


def test_bulk_actions_and_mark_all_read(app, site) -> None:
    alice, bob = client_as(app, "alice"), client_as(app, "bob")
    html = alice.get("/inbox").text
    ids = item_ids(html)[:3]
    token = csrf_of(html)
    answer = alice.post(
        "/inbox/bulk",
        data={"ids": ids, "action": "reviewed", "next": "/inbox?view=all", "csrf": token},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/inbox?view=all"
    states = {r.id: r.state for r in all_items(site[1])}
    assert [states[i] for i in ids] == ["reviewed"] * 3
    assert sum(s == "reviewed" for s in states.values()) == 3
    alice.post("/inbox/bulk", data={"ids": ids[:2], "action": "read", "csrf": token})
    assert set(item_ids(alice.get("/inbox").text)) & set(ids) == {ids[2]}
    alice.post("/inbox/read-all", data={"csrf": token})
    assert item_ids(alice.get("/inbox").text) == []
    assert "0 unread" in alice.get("/").text  # the dashboard says so too
    assert set(ids) <= set(item_ids(bob.get("/inbox").text))  # bob's reading is his own
    refused = alice.post("/inbox/bulk", data={"ids": ids, "action": "delete", "csrf": token})
    assert refused.status_code == 400


def test_the_dashboard_shows_unread_counts_and_links_into_the_inbox(app, site) -> None:
    html = client_as(app, "alice").get("/").text
    everyone = len(all_items(site[1]))
    assert f'<a href="/inbox" id="inbox-unread">Inbox: {everyone} unread</a>' in html
    # page-a: its first capture and the footer item
    assert '<a href="/inbox?target=page-a" class="unread">2</a>' in html


def test_unread_counts_of_the_shown_rows_alone_are_the_same_counts(app, site) -> None:
    """The dashboard asks for its page's 200 rows, not for every target of the config:
    the same counts, the footer item (one edit on three pages) on each of them."""
    client_as(app, "alice").get("/")  # a visit: alice's reading starts
    with Store(site[1], readonly=True) as store:
        every = inbox.unread_by_target(store, "alice")
        some = inbox.unread_by_target(store, "alice", ["page-a", "page-c", "nowhere"])
        assert inbox.unread_by_target(store, "alice", []) == {}
    assert every["page-a"] == 2 and len(every) > 2
    assert some == {n: every[n] for n in ("page-a", "page-c") if n in every} and "page-c" in some


# ------------------------------------------------------------------------------ alerts


def test_an_alerts_link_opens_its_inbox_item(app, site) -> None:
    footer = footer_item(site[1])
    with Store(site[1], readonly=True) as store:
        detail = inbox.item(store, "nobody", footer.id)
    assert detail is not None
    event = detail.events[1]
    composed = Composer("http://127.0.0.1").compose(
        Event(
            kind="changed",
            target=event.target,
            title="Page B",
            url="http://example.org/b",
            at=event.at,
            capture_id=event.capture_id,
            previous_id=event.previous_id,
        )
    )
    (link,) = re.findall(r"In the inbox: (\S+)", composed.text)
    assert f'href="{link.replace("&", "&amp;")}"' in composed.html
    alice = client_as(app, "alice")
    answer = alice.get(link.removeprefix("http://127.0.0.1"))
    assert answer.status_code == 303 and answer.headers["location"] == f"/inbox/{footer.id}"
    failing = Composer("http://127.0.0.1").compose(
        Event(kind="error", target="down", title="Down", url="http://x", at=event.at, error="e")
    )
    (link,) = re.findall(r"In the inbox: (\S+)", failing.text)
    answer = alice.get(link.removeprefix("http://127.0.0.1"))
    failing_item = next(r for r in all_items(site[1]) if r.kind == "failing")
    assert answer.headers["location"] == f"/inbox/{failing_item.id}"


# ---------------------------------------------------------------------------- backfill


@pytest.mark.sqlite_only  # a copy of the folder is a copy of the SQLite index
def test_an_older_store_gets_its_past_events_backfilled(site, tmp_path: Path) -> None:
    """The migration's backfill rebuilds the captures' events (failing/recovering are
    not rebuilt from old checks; the footer's three are separate without change keys)."""
    import shutil

    data = tmp_path / "copy"
    shutil.copytree(site[1], data)
    engine = index_engine(data)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM inbox_events")
        conn.exec_driver_sql("DELETE FROM inbox_items")
        made = inboxlog.backfill(conn)
    engine.dispose()
    rows = all_items(data)
    kinds = sorted(r.kind for r in rows)
    assert made == len(rows) == 5 + 4 + 3 + 1 + 2  # pages: new, changed; notices; fates
    assert kinds == sorted(
        ["changed"] * 4 + ["new"] * 5 + ["document"] * 3 + ["edited", "suspected", "delisted"]
    )
