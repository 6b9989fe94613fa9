"""The service (`watcher run`) and its scheduler, against real servers on 127.0.0.1.

In-process tests drive ``Service.run()`` in an asyncio task; the signal tests run
``python -m watcher run`` as a subprocess, as an operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from clock import PATIENCE, FakeClock, eventually, eventually_sync
from httpserver import HTTPServer, free_port

from watcher.alerts.compose import Composer
from watcher.alerts.send import Sender, load_channels
from watcher.cli.main import main
from watcher.config import Target, file_stamp
from watcher.service.daemon import Service, ServiceTimings
from watcher.service.scheduler import CATCH_UP_WINDOW, first_run
from watcher.service.webserver import ListenError
from watcher.store.index import Store, StoreError
from watcher.store.outbox import Outbox

HTML = {"Content-Type": "text/html; charset=utf-8"}
PAGE = (
    "<html><head><meta charset='utf-8'><title>通知公告</title></head><body>"
    "<div id='con'><p>关于开展年度检查工作的通知。</p></div></body></html>"
).encode()
HIT_PAGE = (
    "<html><head><meta charset='utf-8'><title>通知公告</title></head><body>"
    "<div id='con'><p>关于开展年度检查工作的通知。</p>"
    "<p>推动船舶工业高质量发展。</p></div></body></html>"
).encode()
ROOT = Path(__file__).parent.parent


# --------------------------------------------------------------------------- helpers


def target(name: str, url: str, interval: str = "1s", **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "url": url,
        "interval": interval,
        "retries": 0,
        "timeout": "5s",
        **options,
    }


def write_config(path: Path, targets: list[dict[str, Any]], **top: Any) -> None:
    doc = {
        "settings": {"host_delay": 0, "base_url": "http://127.0.0.1:8080"},
        "keywords": {"shipbuilding": ["船舶"]},
        "targets": targets,
        **top,
    }
    # written whole, then renamed: the service must never see a half-written file
    part = path.with_suffix(".part")
    part.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    os.replace(part, path)


def write_channels(notifiers: Path, url: str, tag: str) -> None:
    notifiers.mkdir(parents=True, exist_ok=True)
    (notifiers / "apprise.yml").write_text(f"urls:\n  - {url}:\n      tag: {tag}\n", "utf-8")


def paths(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(targets.yaml, data folder, notifiers folder) laid out as `watcher run` expects."""
    return tmp_path / "targets.yaml", tmp_path / "snapshots", tmp_path / "notifiers"


@contextlib.asynccontextmanager
async def running(service: Service) -> AsyncIterator[asyncio.Task[None]]:
    """``service.run()`` in a task; stopped (and its errors raised) on the way out."""
    task = asyncio.create_task(service.run())
    await asyncio.sleep(0)
    try:
        yield task
    finally:
        service.stop()
        await asyncio.wait_for(task, timeout=PATIENCE)


def started_now() -> FakeClock:
    """A service's clock: virtual, starting at the real now, because APScheduler's timers
    (which run by the system's time) fire at the times worked out from it."""
    return FakeClock(start=datetime.now(UTC))


def readonly(data: Path, read: Callable[[Store], Any], default: Any = None) -> Any:
    """Read a store another process is writing; ``default`` while there is none yet."""
    try:
        with Store(data, readonly=True) as store:
            return read(store)
    except (StoreError, sa.exc.OperationalError):
        return default


# a fresh `watcher run` process imports the web UI and starts its analysis workers before
# its first capture: on a loaded 2-core machine that alone can take half of PATIENCE
STARTING = 3 * PATIENCE


def start_service(config: Path, data: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "watcher", "--config", str(config), "--data", str(data)]
    with log.open("ab") as err:
        return subprocess.Popen(
            [*command, "run", "--port", str(free_port())],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Never leave a service process behind, whatever the test's outcome."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- first_run

NOW = datetime(2024, 5, 10, 10, 0, tzinfo=UTC)
HOURLY = Target(name="miit", url="http://127.0.0.1:1/n", interval=3600)
DAILY_9 = Target(name="miit", url="http://127.0.0.1:1/n", cron="0 9 * * *")


def test_first_run_of_a_never_checked_target_is_spread_over_the_catch_up_window() -> None:
    """Never checked: due now, but a restart with many such targets must not fetch all
    of them in the same instant."""
    times = [first_run(HOURLY, None, NOW, random.Random(seed)) for seed in range(20)]
    window = timedelta(seconds=CATCH_UP_WINDOW)
    assert all(NOW <= t <= NOW + window for t in times)
    assert len(set(times)) > 10  # spread, not all at the same moment
    quick = Target(name="q", url="http://127.0.0.1:1/q", interval=1)
    assert NOW <= first_run(quick, None, NOW, random.Random(1)) <= NOW + timedelta(seconds=0.1)


def test_first_run_after_a_recent_check_is_one_interval_after_it() -> None:
    """A restart must not re-check a target that is not due yet."""
    last = NOW - timedelta(minutes=10)
    assert first_run(HOURLY, last, NOW, random.Random(1)) == last + timedelta(hours=1)


def test_first_run_of_an_overdue_target_is_soon() -> None:
    """A check missed while the service was down runs soon, not a full interval later."""
    for seed in range(10):
        due = first_run(HOURLY, NOW - timedelta(hours=2), NOW, random.Random(seed))
        assert NOW <= due <= NOW + timedelta(seconds=CATCH_UP_WINDOW)


def test_first_run_of_a_cron_target_that_missed_its_time_is_soon() -> None:
    """Last check yesterday 09:00, now 10:00: today's 09:00 was missed while down."""
    last = datetime(2024, 5, 9, 9, 0, 2, tzinfo=UTC)
    for seed in range(10):
        due = first_run(DAILY_9, last, NOW, random.Random(seed))
        assert NOW <= due <= NOW + timedelta(seconds=CATCH_UP_WINDOW)


def test_first_run_of_a_cron_target_checked_today_is_tomorrow() -> None:
    """Today's 09:00 check happened: the next one is tomorrow's, not now."""
    last = datetime(2024, 5, 10, 9, 0, 1, tzinfo=UTC)
    due = first_run(DAILY_9, last, NOW, random.Random(1))
    assert due == datetime(2024, 5, 11, 9, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- in process


async def test_a_slow_check_is_never_joined_by_the_next_one(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """Interval 1 s, page takes 1.5 s: checks run back to back, never two at once
    (no request starts before the one before was answered), and each one is recorded."""
    stats = http_server.route("/n", body=PAGE, headers=HTML, delay=1.5)
    config, data, notifiers = paths(tmp_path)
    write_config(config, [target("miit", http_server.url("/n"), title="MIIT 通知公告")])
    service = Service(config, data, notifiers, timings=ServiceTimings(stop_grace=10.0))
    async with running(service):
        await eventually(lambda: stats.hits >= 3, "three checks")
    assert stats.max_in_flight == 1
    assert service.checks_done == stats.hits  # the check running at stop() finished
    with Store(data, readonly=True) as store:
        checks = store.checks_of("miit")
        history = store.history("miit")
    assert [c.status for c in reversed(checks)] == ["new"] + ["unchanged"] * (stats.hits - 1)
    assert [c.kind for c in history] == ["new"]
    assert checks[-1].capture_id == history[0].id


async def test_a_busy_web_port_stops_the_service_before_anything_starts(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """The port is bound first: its failure is one error, with no check, task or
    half-started web server left behind and the store closed."""
    http_server.route("/n", body=PAGE, headers=HTML)
    config, data, notifiers = paths(tmp_path)
    write_config(config, [target("miit", http_server.url("/n"))])
    unretrieved: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context["message"]))
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        service = Service(config, data, notifiers, web=("127.0.0.1", port))
        with pytest.raises(ListenError) as failed:
            await service.run()
    assert str(failed.value) == (
        f"the web UI cannot listen on 127.0.0.1:{port}: address already in use"
    )
    assert asyncio.all_tasks() == {asyncio.current_task()}
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    await asyncio.sleep(0)
    assert unretrieved == []
    assert http_server.hits("/n") == 0
    with Store(data, shared=True) as store:
        assert store.exclusive  # the writer lock was given up: the store is closed


def test_restart_takes_the_next_check_from_the_store(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """A target checked a moment ago (by `watcher check`) with a 1 h interval is next
    checked an hour after that check, not at start-up."""
    http_server.route("/n", body=PAGE, headers=HTML)
    config, data, notifiers = paths(tmp_path)
    write_config(config, [target("miit", http_server.url("/n"), interval="1h")])
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--no-notify"]
    )
    assert result.exit_code == 0, result.output
    assert http_server.hits("/n") == 1
    with Store(data, readonly=True) as store:
        last = store.checks_of("miit")[0].checked_at

    async def next_runs() -> dict[str, datetime | None]:
        service = Service(config, data, notifiers)
        async with running(service):
            await eventually(lambda: "miit" in service.scheduler.next_runs(), "the schedule")
            return service.scheduler.next_runs()

    started = datetime.now(UTC)
    scheduled = asyncio.run(next_runs())
    assert scheduled["miit"] is not None
    assert abs(scheduled["miit"] - (last + timedelta(hours=1))) < timedelta(milliseconds=1)
    assert scheduled["miit"] > started + timedelta(minutes=59)
    assert http_server.hits("/n") == 1


async def test_config_changes_are_applied_and_a_bad_one_is_refused(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """Edits to targets.yaml apply without a restart; an invalid edit keeps the old
    config running and tells the admin channel once; fixing it applies again."""
    for path in ("/a", "/b", "/c"):
        http_server.route(path, body=PAGE, headers=HTML)
    hook = http_server.route("/hook", body=b"ok")
    config, data, notifiers = paths(tmp_path)
    port = http_server.url("").rstrip("/").rsplit(":", 1)[1]
    write_channels(notifiers, f"json://127.0.0.1:{port}/hook", "admin")
    a, b, c = (target(n, http_server.url(f"/{n}")) for n in "abc")
    write_config(config, [a])
    service = Service(config, data, notifiers, timings=ServiceTimings(watch_every=0.2))
    async with running(service):
        await eventually(lambda: http_server.hits("/a") >= 1, "the first target's check")

        write_config(config, [a, b])
        await eventually(lambda: http_server.hits("/b") >= 1, "the added target's check")

        write_config(config, [a, b, c], bogus=1)
        await eventually(lambda: hook.hits >= 1, "the admin alert")
        alert = json.loads(hook.requests[0].body)
        assert "refused" in alert["title"]
        assert "bogus: unknown top-level key" in alert["message"]
        assert str(config) in alert["message"]
        seen = http_server.hits("/a")
        await eventually(lambda: http_server.hits("/a") >= seen + 2, "the old config to run")
        assert http_server.hits("/c") == 0
        assert [t.name for t in service.config.targets] == ["a", "b"]
        # the web UI shares the service's config only while the file is as it was read
        assert service.shared_config()[0] not in (None, file_stamp(config))

        write_config(config, [a, b, c])
        await eventually(lambda: http_server.hits("/c") >= 1, "the fixed config's target")
        assert [t.name for t in service.config.targets] == ["a", "b", "c"]
        assert service.shared_config() == (file_stamp(config), service.config)
    assert hook.hits == 1  # one alert for one refused config, not one per look at the file
    with Store(data, readonly=True) as store:
        messages = Outbox(store.engine).messages()
    assert [(m.kind, m.status) for m in messages] == [("config", "sent")]


async def test_sighup_reloads_at_once(http_server: HTTPServer, tmp_path: Path) -> None:
    """SIGHUP reloads now, without the file watcher: the service's clock stands still,
    so the watcher never gets to look."""
    for path in ("/a", "/b"):
        http_server.route(path, body=PAGE, headers=HTML)
    config, data, notifiers = paths(tmp_path)
    a, b = (target(n, http_server.url(f"/{n}")) for n in "ab")
    write_config(config, [a])
    clock = started_now()
    service = Service(config, data, notifiers, clock=clock)
    async with running(service):
        await eventually(lambda: http_server.hits("/a") >= 1, "the first target's check")
        write_config(config, [a, b])
        assert [t.name for t in service.config.targets] == ["a"]  # no reload by itself
        os.kill(os.getpid(), signal.SIGHUP)
        await eventually(lambda: http_server.hits("/b") >= 1, "the target added by SIGHUP")
        assert [t.name for t in service.config.targets] == ["a", "b"]
        assert clock.monotonic() == 1000.0  # no time passed on the service's clock


async def test_idle_service_stops_its_workers_and_trims_its_heap_once(
    http_server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between cycles the analysis workers go and freed heap goes back to the system,
    once per quiet spell, not at every look at the config files. The quiet spell passes
    on the service's clock, moved by the test."""
    import watcher.service.daemon

    clock = started_now()
    trims: list[float] = []
    monkeypatch.setattr(
        watcher.service.daemon.heap, "trim", lambda: trims.append(clock.monotonic())
    )
    http_server.route("/n", body=PAGE, headers=HTML)
    config, data, notifiers = paths(tmp_path)
    write_config(config, [target("miit", http_server.url("/n"), interval="1h")])
    command = ["--config", str(config), "--data", str(data), "check", "--no-notify"]
    # checked first, so that the schedule starts no check of its own for an hour (the CLI
    # runs its own event loop: on a thread)
    checked = await asyncio.to_thread(CliRunner().invoke, main, command)
    assert checked.exit_code == 0, checked.output
    timings = ServiceTimings(watch_every=1.0, idle_release=5.0)
    service = Service(config, data, notifiers, timings=timings, clock=clock)
    releases: list[float] = []
    release = service.analyzer.release
    monkeypatch.setattr(service.analyzer, "release", lambda: (releases.append(1), release()))
    async with running(service):
        await eventually(lambda: service.started, "the service to start")
        assert await service.check_now("miit")
        await eventually(lambda: service.checks_done == 1, "the check")
        checked_at = clock.monotonic()
        await clock.advance(4.5)  # four looks at the files, still busy recently
        assert trims == [] and releases == []
        await clock.advance(20.0)  # twenty more looks, quiet since 5 s and more
        assert service.checks_done == 1
    assert len(releases) == 1 and len(trims) == 1
    assert checked_at + 5.0 < trims[0] <= checked_at + 6.0  # at the first look past 5 s


# --------------------------------------------------------------------------- subprocesses


def test_sigterm_stops_the_service_cleanly(http_server: HTTPServer, tmp_path: Path) -> None:
    """SIGTERM (systemd, docker stop) ends `watcher run` with exit 0 and a folded-in WAL."""
    http_server.route("/n", body=PAGE, headers=HTML)
    config, data, _ = paths(tmp_path)
    write_config(config, [target("miit", http_server.url("/n"))])
    log = tmp_path / "run.log"
    with reaped(start_service(config, data, log)) as proc:
        eventually_sync(
            lambda: readonly(data, lambda s: len(s.history("miit")), 0) >= 1,
            "a capture",
            STARTING,
        )
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=PATIENCE)  # a hang, not a slow stop, fails here
    stderr = log.read_text("utf-8")
    assert code == 0, stderr
    assert "stopping" in stderr and "stopped" in stderr
    assert "Traceback" not in stderr
    wal = data / "index.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # Store.close() ran
    with Store(data, readonly=True) as store:
        assert store.checks_of("miit")[-1].status == "new"


class BlackHole:
    """A TCP listener that accepts connections and never says a word (a hung SMTP server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


def test_alert_stored_before_a_sigkill_is_sent_exactly_once_after_restart(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """Killed while an alert's send hangs: the alert is in the outbox with its capture,
    and the next start sends it, once."""
    http_server.route("/n", body=PAGE, headers=HTML)
    config, data, notifiers = paths(tmp_path)
    hole = BlackHole()
    port = hole.port
    url = (
        f"mailto://127.0.0.1:{port}?smtp=127.0.0.1&mode=insecure"
        "&from=watcher@example.org&to=analyst@example.org"
    )
    write_channels(notifiers, url, "analysts")
    miit = target(
        "miit",
        http_server.url("/n"),
        title="MIIT 通知公告",
        keywords=["shipbuilding"],
        notify=["analysts"],
    )
    write_config(config, [miit])
    log = tmp_path / "run.log"

    def outbox() -> tuple[dict[str, int], list[Any]]:
        """Messages by status, and every delivery row (read beside the running service)."""

        def read(store: Store) -> tuple[dict[str, int], list[Any]]:
            box = Outbox(store.engine)
            ids = [m.id for m in box.messages()]
            return box.counts(), [d for found in box.deliveries_of(ids).values() for d in found]

        return readonly(data, read, ({}, []))

    try:
        with reaped(start_service(config, data, log)) as first:
            eventually_sync(
                lambda: readonly(data, lambda s: len(s.history("miit")), 0) >= 1,
                "the first capture",
                STARTING,
            )
            assert outbox() == ({}, [])  # no hit yet, no alert
            http_server.route("/n", body=HIT_PAGE, headers=HTML)
            eventually_sync(lambda: len(hole.accepted) >= 1, "the send to reach the SMTP server")
            counts, deliveries = outbox()
            assert counts == {"pending": 1}
            assert [(d.status, d.attempts) for d in deliveries] == [("pending", 0)]
            first.kill()
            first.wait(timeout=10)
    finally:
        hole.close()
    assert readonly(data, lambda s: s.history("miit")[0].kind) == "changed"

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with reaped(start_service(config, data, log)) as second:
            eventually_sync(lambda: len(inbox.messages) >= 1, "the email")
            eventually_sync(lambda: outbox()[0] == {"sent": 1}, "the outbox to record it")
            second.send_signal(signal.SIGTERM)
            # the process ends only after its last outbox pass and its sending threads:
            # any second copy it sent (apprise would space it 5.5 s out) is in by then
            assert second.wait(timeout=PATIENCE) == 0
    finally:
        smtp.stop()
    assert len(inbox.messages) == 1
    assert [(d.status, d.attempts) for d in outbox()[1]] == [("sent", 1)]
    mail = inbox.messages[0]
    assert mail["Subject"] == "MIIT 通知公告 changed — 船舶"
    assert "analyst@example.org" in mail["To"]
    body = mail.get_body(("plain", "html"))
    assert body is not None
    assert "船舶工业" in body.get_content() and http_server.url("/n") in body.get_content()


def test_sigterm_while_a_send_hangs_stops_in_time_and_keeps_the_alert(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """An SMTP server that accepts and never answers: SIGTERM still ends `watcher run`
    well within Docker's 10 s grace, and the alert waits in the outbox for the next start."""
    import time

    http_server.route("/n", body=PAGE, headers=HTML)
    config, data, notifiers = paths(tmp_path)
    hole = BlackHole()
    url = (
        f"mailto://127.0.0.1:{hole.port}?smtp=127.0.0.1&mode=insecure"
        "&from=watcher@example.org&to=analyst@example.org"
    )
    write_channels(notifiers, url, "analysts")
    miit = target("miit", http_server.url("/n"), keywords=["shipbuilding"], notify=["analysts"])
    settings = {"host_delay": 0, "send_timeout": "2s"}  # the stop waits 3 s for sends
    write_config(config, [miit], settings=settings)
    log = tmp_path / "run.log"

    def deliveries() -> list[tuple[str, int]]:
        def read(store: Store) -> list[tuple[str, int]]:
            box = Outbox(store.engine)
            found = box.deliveries_of([m.id for m in box.messages()]).values()
            return [(d.status, d.attempts) for rows in found for d in rows]

        return readonly(data, read, [])

    try:
        with reaped(start_service(config, data, log)) as proc:
            eventually_sync(
                lambda: readonly(data, lambda s: len(s.history("miit")), 0) >= 1,
                "a capture",
                STARTING,
            )
            http_server.route("/n", body=HIT_PAGE, headers=HTML)
            eventually_sync(lambda: len(hole.accepted) >= 1, "the send to reach the SMTP server")
            assert deliveries() == [("pending", 0)]  # the send is on its way, unanswered
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=PATIENCE)
            took = time.monotonic() - started
    finally:
        hole.close()
    stderr = log.read_text("utf-8")
    print(f"SIGTERM to exit with a hung SMTP server: {took:.2f} s")
    assert code == 0, stderr
    assert took < 8.0, stderr  # Docker kills at 10 s
    assert "Traceback" not in stderr
    # the send ended at send_timeout, inside the stop's budget, and was recorded
    assert deliveries() == [("pending", 1)]
    assert "timed out" in stderr
    # to be sent at the next start: as the restarted service does
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=hole.port)
    smtp.start()
    try:
        with Store(data) as store:
            later = datetime.now(UTC) + timedelta(minutes=5)  # past the first retry's wait
            sender = Sender(store.outbox, load_channels(notifiers), Composer(), clock=lambda: later)
            asyncio.run(sender.deliver_due())
    finally:
        smtp.stop()
    assert [m["Subject"] for m in inbox.messages] == ["miit changed — 船舶"]
    assert deliveries() == [("sent", 2)]
