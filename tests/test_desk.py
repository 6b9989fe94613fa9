"""The desk's answers to bad or refused input, over HTTP (tests/test_browser_desk.py
drives the same in Chromium): a rule that would not load is not written, an
analyst may not add one, an admin may not remove themselves, every triage action
is one audit row per item, and /audit filters by subject."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import pytest
from clock import FakeClock, eventually
from fastapi.testclient import TestClient
from httpserver import HTTPServer
from test_inbox import AsUser, all_items, csrf_of, site
from test_service import HTML, PAGE, paths, running, target, write_config

from watcher.config.edit import set_target_key
from watcher.service.daemon import Service, ServiceTimings
from watcher.store.websec import WebAuthStore
from watcher.web.app import create_app

__all__ = ["site"]


@pytest.fixture
def app(site: tuple[Path, Path]):
    config, data = site
    original = config.read_bytes()
    app = create_app(data, config, clock=FakeClock())
    app.add_middleware(AsUser)
    yield app
    app.state.inbox_writer.close()
    config.write_bytes(original)


def client_as(app, name: str, role: str = "analyst") -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    client.cookies.set("as", f"{name}:{role}")
    return client


def changed_item(data: Path) -> int:
    return next(r.id for r in all_items(data) if r.kind == "changed" and r.target == "page-d")


def test_a_rule_is_added_by_admins_only_and_only_when_the_config_loads(app, site) -> None:
    config, data = site
    item = changed_item(data)
    before = config.read_bytes()
    analyst = client_as(app, "alice")
    token = csrf_of(analyst.get(f"/inbox/{item}").text)
    rule = {"target": "page-d", "kind": "ignore", "patterns": json.dumps(["新增"]), "csrf": token}
    refused = analyst.post(f"/inbox/{item}/rule", data=rule)
    assert refused.status_code == 403 and "admin" in refused.text
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get(f"/inbox/{item}").text)
    bad = admin.post(f"/inbox/{item}/rule", data={**rule, "patterns": '["新增[("]', "csrf": token})
    assert bad.status_code == 400
    assert "the rule was not added" in bad.text and "the change would make the config" in bad.text
    assert config.read_bytes() == before
    for wrong in ({"kind": "select"}, {"patterns": "新增"}, {"patterns": "[]"}):
        answer = admin.post(f"/inbox/{item}/rule", data={**rule, **wrong, "csrf": token})
        assert answer.status_code == 400 and "JSON list of patterns" in answer.text
    gone = admin.post("/inbox/99999/rule", data={**rule, "csrf": token})
    assert gone.status_code == 404 and "no inbox item 99999" in gone.text
    nobody = admin.post(f"/inbox/{item}/rule", data={**rule, "target": "nope", "csrf": token})
    assert nobody.status_code == 404 and "no target named 'nope'" in unescape(nobody.text)
    assert config.read_bytes() == before
    done = admin.post(f"/inbox/{item}/rule", data={**rule, "csrf": token})
    assert done.status_code == 303 and done.headers["location"].endswith("added=ignore#rule")
    assert "ignore: [新增]" in config.read_text(encoding="utf-8")  # a flow target stays flow
    history = admin.get(f"/inbox/{item}").text
    assert "ada</b> added the rule ignore: 新增 on page-d to targets.yaml" in history


def test_the_item_page_offers_a_noise_items_rule_with_its_past_events(app, site) -> None:
    item = changed_item(site[1])
    alice = client_as(app, "alice")
    token = csrf_of(alice.get(f"/inbox/{item}").text)
    assert 'id="rule"' not in alice.get(f"/inbox/{item}").text  # not noise: nothing offered
    alice.post(f"/inbox/{item}", data={"action": "noise", "csrf": token})
    page = alice.get(f"/inbox/{item}").text
    assert 'id="rule"' in page and "a rule for this noise" not in page
    # d's own edit added a sentence with 造船: only its element hides it, flagged twice
    assert '<b>exclude</b> <code class="pattern">#c</code>' in page
    assert '<b class="silenced">1 past event</b>' in page
    assert "hides a keyword hit" in page and "hides a real text change" in page
    assert 'class="inline add-rule"' not in page  # an analyst copies it
    assert 'class="inline add-rule"' in client_as(app, "ada", "admin").get(f"/inbox/{item}").text


def test_every_triage_action_is_an_audit_row_per_item_and_audit_filters(app, site) -> None:
    data = site[1]
    ids = [r.id for r in all_items(data)][:3]
    carol = client_as(app, "carol")
    client_as(app, "bob").get("/inbox")
    token = csrf_of(carol.get("/inbox").text)
    for action in ({"action": "important"}, {"action": "assign", "assignee": "bob"}):
        answer = carol.post("/inbox/bulk", data={"ids": ids, **action, "csrf": token})
        assert answer.status_code == 303
    carol.post(f"/inbox/{ids[0]}", data={"action": "note", "note": "核对", "csrf": token})
    rows = WebAuthStore(data).accounts.actions(user="carol", limit=100)
    assert sorted((a.action, a.subject, a.detail) for a in rows) == sorted(
        [("mark", f"inbox item {i}", "important") for i in ids]
        + [("assign", f"inbox item {i}", "bob") for i in ids]
        + [("note", f"inbox item {ids[0]}", "核对")]
    )
    assert client_as(app, "carol").get("/audit").status_code == 403
    admin = client_as(app, "ada", "admin")
    page = admin.get("/audit", params={"subject": f"inbox item {ids[0]}"}).text
    assert page.count("<tr><td>") == 3 and f'href="/inbox/{ids[0]}"' in page
    assert admin.get("/audit", params={"user": "nobody"}).text.count("<tr><td>") == 0


def test_an_admin_cannot_remove_themselves_or_change_their_own_role(app, site) -> None:
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get("/users").text)
    for action in ("remove", "role"):
        answer = admin.post(
            "/users", data={"action": action, "name": "ada", "role": "viewer", "csrf": token}
        )
        assert answer.status_code == 400 and "ada" in answer.text
    unknown = admin.post(
        "/users", data={"action": "role", "name": "zed", "role": "viewer", "csrf": token}
    )
    assert unknown.status_code == 400 and "no user named 'zed'" in unescape(unknown.text)
    viewer = client_as(app, "vera", "viewer")
    assert (
        viewer.post("/users", data={"action": "remove", "name": "x", "csrf": token}).status_code
        == 403
    )


async def test_a_running_service_reloads_a_rule_written_into_its_config(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """``watcher run`` sees the file ``watcher.config.edit`` wrote as any edit."""
    http_server.route("/a", body=PAGE, headers=HTML)
    config, data, notifiers = paths(tmp_path)
    write_config(config, [target("a", http_server.url("/a"))])
    service = Service(config, data, notifiers, timings=ServiceTimings(watch_every=0.2))
    async with running(service):
        await eventually(lambda: http_server.hits("/a") >= 1, "the first check")
        set_target_key(config, "a", "ignore", [r"浏览次数[:：]\s{0,3}\d{1,12}"])
        await eventually(
            lambda: service.config.target("a").ignore == (r"浏览次数[:：]\s{0,3}\d{1,12}",),
            "the reload",
        )
