"""``watcher check`` of unchanged pages through ``sqlite3`` alone (watcher.check.quick):
the index ends as the usual check leaves it, a page that did change is fetched once,
and anything the quick way cannot do goes the usual way."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from httpserver import HTTPServer, Request, Response

from watcher.check.quick import check_unchanged, sqlite_store
from watcher.cli.main import main
from watcher.config import load_config
from watcher.service.runtime import Paths, Runtime
from watcher.store import sqlite
from watcher.store.index import Store
from watcher.store.quick import QuickIndex

PAGE = "<html><head><title>通知</title></head><body><p>船舶工业通知</p></body></html>"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def _tagged(request: Request) -> Response:
    """An ETag, and 304 to a request that sends it back."""
    if request.headers.get("if-none-match") == '"v1"':
        return Response(304, b"", [("ETag", '"v1"')])
    return Response(200, PAGE.encode(), [*HTML.items(), ("ETag", '"v1"')])


@pytest.fixture
def config(http_server: HTTPServer, tmp_path: Path) -> Path:
    http_server.route("/plain.html", PAGE.encode(), headers=HTML)
    http_server.route("/tagged.html", handler=_tagged)
    path = tmp_path / "targets.yaml"
    path.write_text(
        "targets:\n"
        f"  - name: plain\n    url: {http_server.url('/plain.html')}\n"
        f"  - name: tagged\n    url: {http_server.url('/tagged.html')}\n",
        "utf-8",
    )
    return path


def check(config: Path, data: Path) -> list[dict]:
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--json"]
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def usual_check(config_path: Path, data: Path) -> list[dict]:
    """The check as it is without watcher.check.quick: Store and Runtime."""
    config = load_config(config_path)

    async def run() -> list:
        async with Runtime(config, Paths(config_path, data, data / "notifiers"), store) as rt:
            return await rt.check()

    with Store(data) as store:
        return [r.to_json() for r in asyncio.run(run())]


def rows(data: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(data / "index.sqlite")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone() for t in tables}
        return {
            "counts": sorted(counts.items()),
            "checks": db.execute(
                "SELECT t.name, c.status, c.http_status, c.attempts, c.capture_id IS NULL,"
                " c.error, c.checked_at FROM checks c JOIN targets t ON t.id = c.target_id"
                " ORDER BY c.id"
            ).fetchall(),
            "targets": db.execute(
                "SELECT name, url, last_status, last_error, consecutive_errors, etag,"
                " last_modified, fetch_learned, kind, last_checked_at FROM targets ORDER BY name"
            ).fetchall(),
        }
    finally:
        db.close()


def test_an_unchanged_check_leaves_the_index_as_the_usual_check_does(
    config: Path, tmp_path: Path, http_server: HTTPServer
) -> None:
    quick, usual = tmp_path / "quick", tmp_path / "usual"
    for data in (quick, usual):
        assert {r["status"] for r in check(config, data)} == {"new"}
    found = check(config, quick)
    expected = usual_check(config, usual)
    assert [r["status"] for r in found] == ["unchanged", "unchanged"]
    assert [r["http_status"] for r in found] == [200, 304]
    varying = ("fetched_at", "duration", "capture_id")
    assert [{k: v for k, v in r.items() if k not in varying} for r in found] == [
        {k: v for k, v in r.items() if k not in varying} for r in expected
    ]
    after, before = rows(quick), rows(usual)
    assert after["counts"] == before["counts"]  # no table written by one way only
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
    for one, other in zip(after["checks"], before["checks"], strict=True):
        assert one[:-1] == other[:-1] and stamp.fullmatch(one[-1]) and stamp.fullmatch(other[-1])
    for one, other in zip(after["targets"], before["targets"], strict=True):
        assert one[2:-1] == other[2:-1] and stamp.fullmatch(one[-1])
    # the capture a result names is the target's last one
    db = sqlite3.connect(quick / "index.sqlite")
    last = dict(db.execute("SELECT name, last_capture_id FROM targets"))
    assert {r["target"]: r["capture_id"] for r in found} == last
    # and the quick check loaded no SQLAlchemy: see tests/test_startup.py


def test_a_page_that_changed_or_failed_is_fetched_once(
    config: Path, tmp_path: Path, http_server: HTTPServer
) -> None:
    """The quick way fetched it; the usual way stores it from that answer."""
    data = tmp_path / "data"
    check(config, data)
    http_server.route("/plain.html", PAGE.replace("通知", "通告").encode(), headers=HTML)
    http_server.route("/tagged.html", b"gone", status=404)
    before = {p: http_server.hits(p) for p in ("/plain.html", "/tagged.html")}
    found = {r["target"]: r for r in check(config, data)}
    assert found["plain"]["status"] == "changed" and found["tagged"]["status"] == "error"
    assert http_server.hits("/plain.html") == before["/plain.html"] + 1
    assert http_server.hits("/tagged.html") == before["/tagged.html"] + 1
    assert [r["status"] for r in check(config, data)] == ["unchanged", "error"]
    http_server.route("/tagged.html", handler=_tagged)
    # the target failed last time: its success is a recovery, which the usual way records
    again = {r["target"]: r["status"] for r in check(config, data)}
    assert again == {"plain": "unchanged", "tagged": "unchanged"}
    db = sqlite3.connect(data / "index.sqlite")
    assert db.execute("SELECT consecutive_errors FROM targets WHERE name='tagged'").fetchone() == (
        0,
    )


def test_the_quick_way_stays_out_when_it_cannot_do_what_the_usual_way_does(
    config: Path, tmp_path: Path, http_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    check(config, data)
    loaded = load_config(config)
    hits = http_server.hits("/plain.html")
    # another writer holds the lock: the usual way waits for it and names it
    lock = sqlite.writer_lock(data, wait=0)
    try:
        assert QuickIndex.open(data) is None
    finally:
        sqlite.release(lock)
    # a target the index does not know yet is registered the usual way
    renamed = [t.model_copy(update={"name": "other"}) for t in loaded.targets[:1]]
    assert asyncio.run(check_unchanged(loaded, renamed, data)) is None
    # an index at another schema is migrated the usual way
    db = sqlite3.connect(data / "index.sqlite")
    with db:
        db.execute("UPDATE alembic_version SET version_num = '0012_documents'")
    db.close()
    assert QuickIndex.open(data) is None
    assert http_server.hits("/plain.html") == hits  # nothing was fetched
    # a store named by URL is not the SQLite file
    assert sqlite_store(loaded)
    monkeypatch.setenv("WATCHER_STORE", "postgresql://127.0.0.1/watcher")
    assert not sqlite_store(loaded)


def test_unchanged_pages_are_recorded_quickly_and_the_rest_go_the_usual_way(
    config: Path, tmp_path: Path, http_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One check of many targets: those unchanged are done here, a changed page and a
    failing one the usual way, each page fetched once."""
    http_server.route("/third.html", PAGE.replace("通知", "公告").encode(), headers=HTML)
    with config.open("a", encoding="utf-8") as fh:
        fh.write(f"  - name: third\n    url: {http_server.url('/third.html')}\n")
    data = tmp_path / "data"
    check(config, data)
    http_server.route("/plain.html", PAGE.replace("通知", "通告").encode(), headers=HTML)
    http_server.route("/third.html", b"gone", status=404)
    paths = ("/plain.html", "/tagged.html", "/third.html")
    before = {p: http_server.hits(p) for p in paths}
    found = check(config, data)
    # the unchanged page is reported first, once the quick way has recorded it; the
    # usual way's results stream as they are done
    assert (found[0]["target"], found[0]["status"]) == ("tagged", "unchanged")
    assert {r["target"]: r["status"] for r in found[1:]} == {"plain": "changed", "third": "error"}
    assert {p: http_server.hits(p) - before[p] for p in paths} == dict.fromkeys(paths, 1)
    db = sqlite3.connect(data / "index.sqlite")
    statuses = db.execute(
        "SELECT t.name, c.status FROM checks c JOIN targets t ON t.id = c.target_id"
        " ORDER BY c.id DESC LIMIT 3"
    ).fetchall()
    assert sorted(statuses) == [("plain", "changed"), ("tagged", "unchanged"), ("third", "error")]
    # a target that failed last time is not for the quick way (its success is a
    # recovery): the whole check goes the usual way
    http_server.route("/third.html", PAGE.replace("通知", "公告").encode(), headers=HTML)
    assert {r["status"] for r in check(config, data)} == {"unchanged"}
    # past the budget for held answers, a changed page is asked for again, not held
    monkeypatch.setattr("watcher.check.quick.HELD_BYTES", 0)
    http_server.route("/plain.html", PAGE.replace("通知", "通报").encode(), headers=HTML)
    before = {p: http_server.hits(p) for p in paths}
    found = check(config, data)
    assert {r["target"]: r["status"] for r in found} == {
        "plain": "changed",
        "tagged": "unchanged",
        "third": "unchanged",
    }
    assert {p: http_server.hits(p) - before[p] for p in paths} == {
        "/plain.html": 2,
        "/tagged.html": 1,
        "/third.html": 1,
    }


def test_workers_started_while_the_quick_way_fetches_are_the_usual_way_s(
    http_server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once enough pages turn out changed for the usual way to want worker processes,
    they are started before the quick way is done, the changed pages' analyses are
    begun in them as their answers come, and the usual way takes those analyses."""
    from watcher.analysis.workers import MIN_PAGES_FOR_PROCESSES, Ahead, ProcessAnalyzer
    from watcher.cli import checking

    count = MIN_PAGES_FOR_PROCESSES + 1
    lines = ["settings:\n  host_delay: 0", "targets:"]  # one host, 21 pages: no spacing
    for i in range(count):
        http_server.route(f"/n{i}.html", PAGE.replace("通知", f"通知{i}").encode(), headers=HTML)
        lines.append(f"  - name: n{i}\n    url: {http_server.url(f'/n{i}.html')}")
    config = tmp_path / "targets.yaml"
    config.write_text("\n".join(lines) + "\n", "utf-8")
    data = tmp_path / "data"
    assert {r["status"] for r in check(config, data)} == {"new"}
    for i in range(count):
        http_server.route(f"/n{i}.html", PAGE.replace("通知", f"通告{i}").encode(), headers=HTML)
    handed: list[object] = []
    workers = checking._Usual.workers

    def spy(self: checking._Usual, location: object) -> object:
        handed.append(workers(self, location))  # type: ignore[arg-type]
        return handed[-1]

    monkeypatch.setattr(checking._Usual, "workers", spy)
    found = check(config, data)
    assert [r["status"] for r in found] == ["changed"] * count
    assert len(handed) == 1 and isinstance(handed[0], Ahead)
    assert isinstance(handed[0].inner, ProcessAnalyzer)
    # every changed page's analysis was begun while the quick way fetched, and taken
    assert handed[0].taken == count and handed[0].begun == 0
    assert all(r["added"] for r in found)  # analysed: the new text was diffed
