"""``/healthz`` of the running service: unhealthy when checks stop making progress or
the data folder's disk is (nearly) full, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from clock import FakeClock, eventually
from disks import fill, mounted, page, write_config
from httpserver import HTTPServer, free_port

from watcher.config import Target
from watcher.service.daemon import Service
from watcher.service.health import Progress
from watcher.store.index import Store
from watcher.web.app import create_app

HTML = {"Content-Type": "text/html; charset=utf-8"}


async def healthz(port: int) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        return await client.get("/healthz")


async def test_healthz_is_503_while_checks_make_no_progress(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """The one check hangs (the server holds its answer): for the first minutes that is
    a slow page; once the target is overdue by more than the stall limit (15 min: the
    timeouts are shorter) with no check ending, /healthz says 503 and why; when the
    check ends, 200 again."""
    answer = threading.Event()
    http_server.route("/n", body=page("关于开展年度检查工作的通知。"), headers=HTML, delay=120,
                      hold=answer.is_set)  # fmt: skip
    config = tmp_path / "targets.yaml"
    write_config(config, http_server.url("/n"), {"interval": "10s", "timeout": "120s"})
    clock = FakeClock(start=datetime.now(UTC))  # APScheduler fires by the system's time
    port = free_port()
    service = Service(
        config, tmp_path / "data", tmp_path / "notifiers", web=("127.0.0.1", port), clock=clock
    )
    task = asyncio.create_task(service.run())
    try:
        await eventually(lambda: http_server.hits("/n") == 1, "the check to start")
        first = await healthz(port)
        assert (first.status_code, first.text) == (200, "ok\n")
        await clock.advance(14 * 60)
        assert (await healthz(port)).status_code == 200  # slow, not yet stalled
        await clock.advance(2 * 60)
        stalled = await healthz(port)
        assert stalled.status_code == 503
        assert stalled.text == (
            "checks stalled: none finished for 16 min while 1 target is overdue "
            "(longest: miit, 16 min; limit 15 min)\n"
        )
        answer.set()
        await eventually(lambda: service.checks_done == 1, "the check to end")
        again = await healthz(port)
        assert (again.status_code, again.text) == (200, "ok\n")
    finally:
        answer.set()
        service.stop()
        await task


async def test_healthz_is_503_when_the_data_disk_is_nearly_full(tmp_path: Path) -> None:
    """Below 100 MiB free on the data folder's file system (a 16 MiB tmpfs here)."""
    with mounted(tmp_path / "disk", "size=16m") as disk:
        data = disk / "snapshots"
        Store(data).close()
        app = create_app(data)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.get("/healthz")
        assert response.status_code == 503
        assert response.text.startswith(f"disk nearly full on {data}: ")
        assert response.text.endswith(" MiB free, below 100.0 MiB\n")


async def test_the_service_reports_a_write_that_failed_for_lack_of_space(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """The service's last store write found the disk full: its health (a line of
    /healthz) says so until a write succeeds again."""
    http_server.route("/n", body=page("关于开展年度检查工作的通知。"), headers=HTML)
    config = tmp_path / "targets.yaml"
    write_config(config, http_server.url("/n"))
    with mounted(tmp_path / "disk", "size=16m") as disk:
        data = disk / "snapshots"
        service = Service(config, data, tmp_path / "notifiers")
        try:
            service.store.target_states([("miit", http_server.url("/n"))])
            filler = fill(disk)
            [result] = await service.runtime.check()
            assert result.status == "error"
            assert service.health() == [
                f"the last write failed: disk full on {data}: nothing new could be stored; "
                "free space there"
            ]
            filler.unlink()
            [result] = await service.runtime.check()
            assert result.status == "new" and service.health() == []
        finally:
            await service.runtime.aclose()
            service.store.close()


async def test_a_skipped_run_is_logged_by_target_and_why(
    http_server: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Interval 1 s, the page takes 2.5 s: the runs due meanwhile are skipped, each in a
    line naming the target and the reason, not APScheduler's description of its job."""
    http_server.route("/n", body=page("关于开展年度检查工作的通知。"), headers=HTML, delay=2.5)
    config = tmp_path / "targets.yaml"
    write_config(config, http_server.url("/n"), {"interval": "1s"})
    service = Service(config, tmp_path / "data", tmp_path / "notifiers")
    caplog.set_level(logging.INFO)
    task = asyncio.create_task(service.run())
    try:
        await eventually(lambda: "still running" in caplog.text, "a skipped run")
    finally:
        service.stop()
        await task
    skipped = [r for r in caplog.records if "skipped:" in r.getMessage()]
    assert skipped[0].name == "watcher.service.scheduler"
    assert re.fullmatch(
        r"miit: check due at \d\d:\d\d:\d\d UTC skipped: "
        r"the previous check of this target is still running",
        skipped[0].getMessage(),
    )
    assert all(r.name == "watcher.service.scheduler" for r in skipped)


def test_quiet_hours_of_a_daily_schedule_and_a_newly_added_target_are_not_a_stall() -> None:
    """A daily cron target checked at 09:00 leaves the service quiet all day: not a
    stall. A target a reload adds at 18:00 is due from then, not from the start; an
    hour on without its first check ending, it is."""
    start = datetime(2024, 5, 10, 8, 0, tzinfo=UTC)
    daily = Target(name="daily", url="http://127.0.0.1:1/d", cron="0 9 * * *")
    added = Target(name="added", url="http://127.0.0.1:1/a", interval=3600)
    progress = Progress(start, {"daily": None})
    progress.ended("daily", start.replace(hour=9))
    assert progress.stalled([daily], start.replace(hour=18)) is None
    progress.added(["added"], start.replace(hour=18))
    assert progress.stalled([daily, added], start.replace(hour=18, minute=1)) is None
    assert progress.stalled([daily, added], start.replace(hour=19)) == (
        "checks stalled: none finished for 600 min while 1 target is overdue "
        "(longest: added, 60 min; limit 15 min)"
    )
    assert progress.stalled([daily], start.replace(hour=23)) is None
