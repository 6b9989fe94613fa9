"""The service at many targets: a scheduled check's cost does not grow with the number
of targets, start-up registers them in one batch, and SIGTERM in the middle of a big
first cycle waits only for the few checks under way, keeping every capture they made.

Costs are counted, not timed: SQL statements executed, and SQLite's virtual-machine
steps (its progress handler), which grow with the rows a query reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from clock import PATIENCE, eventually
from httpserver import HTTPServer
from test_service import HTML, PAGE, paths, running, started_now, target, write_config

from watcher.service.daemon import Service
from watcher.store.index import Store


@contextlib.contextmanager
def counted(engine: sa.Engine) -> Iterator[dict[str, Any]]:
    """Statements, transactions and SQLite VM steps on ``engine`` while inside."""
    seen: dict[str, Any] = {"statements": [], "commits": 0, "steps": 0}

    def step() -> int:
        seen["steps"] += 1
        return 0  # go on

    def before(conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
        seen["statements"].append(statement)
        conn.connection.dbapi_connection.set_progress_handler(step, 1)  # type: ignore[union-attr]

    def commit(_conn: sa.Connection) -> None:
        seen["commits"] += 1

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "commit", commit)
        with engine.connect() as conn:  # pooled connections keep no handler of ours
            conn.connection.dbapi_connection.set_progress_handler(None, 1)  # type: ignore[union-attr]


def many(count: int) -> list[tuple[str, str]]:
    return [(f"t{i}", f"http://127.0.0.1/notice/{i}") for i in range(count)]


def test_registering_many_targets_is_one_transaction(tmp_path: Path) -> None:
    with Store(tmp_path) as store, counted(store.engine) as seen:
        store.register_targets(many(5000))
        assert seen["commits"] == 1
        assert len(seen["statements"]) == 2  # the inserts and the moves, each executemany
        assert len(store.target_names()) == 5000
        store.register_targets(many(5000))  # again: nothing new, nothing doubled
        assert len(store.target_names()) == 5000


def test_a_moved_target_forgets_the_old_pages_validators(tmp_path: Path) -> None:
    """Registering a target under a new URL re-points it, ETag and date dropped; the
    others keep theirs."""
    with Store(tmp_path) as store:
        store.register_targets(many(3))
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE targets SET etag = '\"1\"', last_modified = 'x'")
        store.register_targets([("t0", "http://127.0.0.1/notice/0"), ("t1", "http://127.0.0.1/x")])
        moved, kept = (
            store.target_state("t1", "http://127.0.0.1/x"),
            store.target_state(*many(1)[0]),
        )
    assert (moved.etag, moved.last_modified) == (None, None)
    assert (kept.etag, kept.last_modified) == ('"1"', "x")


def test_one_targets_state_is_one_indexed_query_whatever_the_index_holds(tmp_path: Path) -> None:
    """The state of one target among 10,000 costs what it costs among 10: one query,
    searched by the name's index, not a scan of every target's row."""
    steps = {}
    for count in (10, 10_000):
        with Store(tmp_path / str(count)) as store:
            store.register_targets(many(count))
            with counted(store.engine) as seen:
                state = store.target_state("t7", "http://127.0.0.1/notice/7")
            (query,) = seen["statements"]
            with store.engine.connect() as conn:
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query, ("t7",)).fetchall()
        assert state.name == "t7" and state.last is None
        assert "SEARCH targets USING INDEX" in plan[0][3], plan
        steps[count] = seen["steps"]
    assert steps[10_000] <= 1.5 * steps[10], steps


async def test_a_scheduled_checks_cost_does_not_grow_with_the_targets(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """The same unchanged check, scheduled in a service of 10 targets and of 3,000:
    the same statements, about the same rows read."""
    http_server.route("/n", body=PAGE, headers=HTML)
    costs = {}
    for count in (10, 3000):
        config, data, notifiers = paths(tmp_path / str(count))
        config.parent.mkdir()
        others = [target(f"t{i}", http_server.url(f"/p{i}"), interval="1h") for i in range(count)]
        write_config(config, [target("miit", http_server.url("/n"), interval="1h"), *others])
        service = Service(config, data, notifiers, clock=started_now())
        try:
            service.store.register_targets([(t.name, t.url) for t in service.config.targets])
            await service.check("miit")  # the first capture
            with counted(service.store.engine) as seen:
                await service.check("miit")  # unchanged: the check's own cost
        finally:
            await service.runtime.aclose()
            service.store.close()
        assert service.checks_done == 2
        costs[count] = seen
    small, large = costs[10], costs[3000]
    assert large["statements"] == small["statements"]
    assert large["steps"] <= 1.5 * small["steps"], (small["steps"], large["steps"])


async def test_sigterm_in_a_big_first_cycle_waits_only_for_the_checks_under_way(
    http_server: HTTPServer, tmp_path: Path, caplog: Any
) -> None:
    """Many new targets due at once, pages held by the server: a few checks are under
    way, the rest wait in line. SIGTERM drops the line at once and lets the checks
    under way finish (on the service's clock their grace never runs out): each one's
    capture is stored whole, and no page is fetched without its capture kept."""
    caplog.set_level(logging.INFO)
    gate = threading.Event()
    stats = [
        http_server.route(f"/p{i}", body=PAGE, headers=HTML, delay=PATIENCE, hold=gate.is_set)
        for i in range(16)  # few enough for the analysis to run in threads: two at once
    ]
    config, data, notifiers = paths(tmp_path)
    targets = [target(f"p{i}", http_server.url(f"/p{i}"), interval="10s") for i in range(16)]
    for t in targets:
        t["timeout"] = "60s"
    write_config(config, targets, settings={"host_delay": 0, "concurrency": 2, "per_host": 2})
    service = Service(config, data, notifiers, clock=started_now())
    line = service.line
    assert service.workers == 4  # two downloads plus what two analysis threads take
    async with running(service) as task:
        # the server counts a request once it arrives: a check under way may still be
        # connecting when the line is already full (seen with the suite in 3 processes)
        await eventually(
            lambda: line.busy == 4 and len(line) == 12 and sum(s.in_flight for s in stats) >= 2,
            "every target due: four checks under way, twelve in line, two pages asked",
        )
        assert sum(s.in_flight for s in stats) == 2  # concurrency: 2, whatever the line holds
        os.kill(os.getpid(), signal.SIGTERM)
        await eventually(lambda: line.closed, "the stop to begin")
        assert len(line) == 0  # the line was dropped at once
        gate.set()  # the pages under way are answered
        await asyncio.wait_for(asyncio.shield(task), PATIENCE)
    assert service.checks_done == 4
    assert sum(s.hits for s in stats) == 4
    assert "12 targets due and not yet checked: checked at the next start" in caplog.text
    with Store(data, readonly=True) as store:
        kept = [name for name in store.target_names() if store.history(name)]
        assert len(kept) == 4
        assert all(store.checks_of(name)[0].status == "new" for name in kept)
        assert store.verify() == []


async def test_a_check_still_running_after_the_grace_is_abandoned_whole(
    http_server: HTTPServer, tmp_path: Path, caplog: Any
) -> None:
    """A page that does not answer holds the stop for the grace only (on the service's
    clock): the check is abandoned with nothing of it stored, and the store is sound."""
    gate = threading.Event()
    stats = http_server.route("/slow", body=PAGE, headers=HTML, delay=PATIENCE, hold=gate.is_set)
    config, data, notifiers = paths(tmp_path)
    write_config(config, [target("slow", http_server.url("/slow"), interval="10s", timeout="60s")])
    clock = started_now()
    service = Service(config, data, notifiers, clock=clock)
    try:
        async with running(service) as task:
            await eventually(lambda: stats.in_flight == 1, "the request to be under way")
            service.stop()
            await eventually(lambda: service.line.closed, "the stop to begin")
            await clock.advance(service.timings.stop_grace)
            await asyncio.wait_for(asyncio.shield(task), PATIENCE)
    finally:
        gate.set()
    assert service.checks_done == 0
    assert "abandoned 1 checks still running after 1.5 s" in caplog.text
    with Store(data, readonly=True) as store:
        assert store.history("slow") == [] and store.checks_of("slow") == []
        assert store.verify() == []
