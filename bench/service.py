"""The service (`watcher run`) measured: alert latency, memory, scale (not a test).

    .venv/bin/python bench/service.py [--pages 1000] [--changes 6] [--json]
    .venv/bin/python bench/service.py --scaling 1000,10000 [--json]

1. Latency: one page checked every 10 s, a real SMTP server (aiosmtpd) on
   127.0.0.1 as the channel. The page changes at random moments; each time,
   the seconds from the change to the email's arrival.
2. The service with N targets (the generated government site of `bench/run.py`,
   interval 10 min): the first cycle (every target new): its wall time, the
   service process's own CPU per check (the event loop: fetch, index writes,
   scheduling) and all processes' CPU per check, the summed PSS of the service
   and its workers; idle after it, after the idle workers are stopped, and after
   a restart on the same store (every target scheduled for later, none due); an
   unchanged cycle (the store's last checks moved an hour back, restarted: every
   target due); SIGTERM's answer idle and in the middle of a first cycle (a fresh
   store, half the targets checked), and `watcher verify` on what that stop left.
   The web UI of the running service over HTTP on 127.0.0.1, signed in as the
   bench's analyst: `GET /` (the dashboard) and `GET /api/targets`, 2 warm-ups
   then 9 requests each, median and p90, halfway through the first cycle (while
   checks are written; that CPU is left out of the checks'), once the first cycle
   is done (workers released) and again once the unchanged cycle is done.

`--scaling 1000,10000` skips the latency and measures part 2 at each size in one
run, then prints the ratios of the largest to the smallest: a first cycle linear
in the targets has a time ratio near the size ratio, a check whose own cost does
not grow with the targets a CPU-per-check ratio near 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from aiosmtpd.controller import Controller
from govsite import SiteServer
from measure import _descendants, _pss_kb, _rss_kb

WATCHER = Path(sys.executable).parent / "watcher"
IDLE_RELEASE_WAIT = 55  # with the 15 s above: past the service's 60 s idle release
USER, PASSWORD = "bench", "bench-password-1"  # the analyst the web UI is asked as
WEB_PAGES = {"dashboard": "/", "api_targets": "/api/targets"}
WEB_WARMUP, WEB_RUNS = 2, 9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Page:
    body = "<p>工业和信息化部通知 第0版</p>".encode()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server calls it by this name
        body = _Page.body
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Mailbox:
    def __init__(self) -> None:
        self.arrivals: list[float] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by this name
        self.arrivals.append(time.monotonic())
        return "250 OK"


def start_service(work: Path, log: Path, port: int | None = None) -> subprocess.Popen[bytes]:
    command = [str(WATCHER), "--config", str(work / "targets.yaml"), "--data", str(work / "data")]
    return subprocess.Popen(
        [*command, "run", "--port", str(port or free_port())],  # 8080 may be taken
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )


def add_user(work: Path) -> None:
    """The analyst the web UI is asked as (with an account, every page needs a login)."""
    command = [str(WATCHER), "--config", str(work / "targets.yaml"), "--data", str(work / "data")]
    subprocess.run(
        [*command, "user", "add", USER, "--role", "analyst", "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]


def web_times(port: int) -> dict[str, dict[str, float]]:
    """Median and p90 wall ms of each of WEB_PAGES, asked of the running service over
    HTTP on 127.0.0.1 as the bench's signed-in analyst, one request at a time."""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        login = client.get("/login")
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', login.text)
        if match is None:
            raise RuntimeError(f"no CSRF field on /login (HTTP {login.status_code})")
        form = {"user": USER, "password": PASSWORD, "next": "/", "csrf": match.group(1)}
        signed = client.post("/login", data=form)
        if signed.status_code != 303:
            raise RuntimeError(f"signing in as {USER} gave HTTP {signed.status_code}")
        out = {}
        for label, path in WEB_PAGES.items():
            runs = []
            for n in range(WEB_WARMUP + WEB_RUNS):
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path} gave HTTP {response.status_code}")
                if n >= WEB_WARMUP:
                    runs.append(elapsed)
            out[label] = {
                "median_ms": round(statistics.median(runs), 1),
                "p90_ms": round(_p90(runs), 1),
                "kb": round(len(response.content) / 1024, 1),
            }
    return out


def stop_service(process: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return time.monotonic() - started


def latency(work: Path, changes: int) -> dict[str, object]:
    page_server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=page_server.serve_forever, daemon=True).start()
    mailbox = _Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    (work / "notifiers").mkdir(parents=True)
    (work / "notifiers" / "apprise.yml").write_text(
        "urls:\n"
        f"  - mailto://127.0.0.1:{smtp_port}?smtp=127.0.0.1&mode=insecure"
        "&from=watcher@example.org&to=analyst@example.org:\n"
        "      tag: analysts\n"
    )
    config = {
        "settings": {"host_delay": 0},
        "targets": [
            {
                "name": "notice",
                "url": f"http://127.0.0.1:{page_server.server_address[1]}/",
                "interval": "10s",
                "alert": "changes",
                "notify": ["analysts"],
            }
        ],
    }
    (work / "targets.yaml").write_text(yaml.safe_dump(config), "utf-8")
    process = start_service(work, work / "latency.log")
    rng = random.Random(7)
    waits: list[float] = []
    try:
        time.sleep(3)  # the first capture (no alert: alert_new is off)
        for n in range(1, changes + 1):
            time.sleep(rng.uniform(0, 10))
            _Page.body = f"<p>工业和信息化部通知 第{n}版</p>".encode()
            changed_at = time.monotonic()
            deadline = changed_at + 60
            while len(mailbox.arrivals) < n and time.monotonic() < deadline:
                time.sleep(0.02)
            if len(mailbox.arrivals) < n:
                raise RuntimeError(f"no email for change {n} within 60 s; see {work}/latency.log")
            waits.append(mailbox.arrivals[n - 1] - changed_at)
            print(f"  change {n}: email after {waits[-1]:.2f} s", file=sys.stderr)
    finally:
        stop_service(process)
        smtp.stop()
        page_server.shutdown()
    return {
        "interval_s": 10,
        "changes": len(waits),
        "min_s": round(min(waits), 2),
        "median_s": round(statistics.median(waits), 2),
        "max_s": round(max(waits), 2),
        "emails": len(mailbox.arrivals),
    }


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float, float]] = []  # (time, PSS MB, RSS MB)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            pids = _descendants(self.pid)
            pss = sum(_pss_kb(p) for p in pids) / 1024
            rss = sum(_rss_kb(p) for p in pids) / 1024
            self.samples.append((time.monotonic(), pss, rss))

    def between(self, start: float, end: float) -> list[tuple[float, float, float]]:
        return [s for s in self.samples if start <= s[0] <= end]

    def stop(self) -> None:
        self._done.set()
        self.join()


def count_checks(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM checks").fetchone()[0]
    except sqlite3.Error:
        return 0


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


class _Cpu:
    """CPU of the service process and of all its processes (workers come and go:
    their last sample is kept)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._workers: dict[int, float] = {}

    def sample(self) -> tuple[float, float]:
        for child in _descendants(self.pid)[1:]:
            self._workers[child] = max(self._workers.get(child, 0.0), cpu_s([child]))
        own = cpu_s([self.pid])
        return own, own + sum(self._workers.values())


def wait_checks(
    db: Path, want: int, process: subprocess.Popen[bytes], log: Path, cpu: _Cpu | None = None
) -> float:
    """Seconds until ``want`` check rows are in the index."""
    started = time.monotonic()
    limit = max(600.0, want * 0.15)
    while count_checks(db) < want:
        if process.poll() is not None:
            raise RuntimeError(f"watcher run exited; see {log}")
        if time.monotonic() - started > limit:
            raise RuntimeError(
                f"{count_checks(db)} of {want} checks after {limit:.0f} s; see {log}"
            )
        if cpu is not None:
            cpu.sample()
        time.sleep(0.2)
    return time.monotonic() - started


def first_checks(
    db: Path, process: subprocess.Popen[bytes], log: Path, cpu: _Cpu, want: int = 1
) -> tuple[int, float, float]:
    """(checks, service CPU, all CPU) once the cycle's first check is in: the CPU of
    start-up (imports, the config, the schedule) is then left out of a check's cost."""
    wait_checks(db, want, process, log)
    checks = count_checks(db)
    return (checks, *cpu.sample())


def per_check(cpu: _Cpu, base: tuple[int, float, float], checks: int) -> tuple[float, float]:
    """Milliseconds of CPU per check since ``base`` (the service's own, all processes')."""
    own, total = cpu.sample()
    done = max(1, checks - base[0])
    return round((own - base[1]) * 1000 / done, 2), round((total - base[2]) * 1000 / done, 2)


def backdate(db: Path, hours: float) -> None:
    """Move every target's last check back: at the next start all of them are due."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, last_checked_at FROM targets").fetchall()
        earlier = [
            ((datetime.fromisoformat(at) - timedelta(hours=hours)).strftime(STAMP), tid)
            for tid, at in rows
            if at
        ]
        conn.executemany("UPDATE targets SET last_checked_at = ? WHERE id = ?", earlier)


STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # how the store writes its times


def first_cycle(work: Path, pages: int, figures: dict[str, object]) -> None:
    """A fresh store: the first cycle, then idle, then the idle workers released."""
    db = work / "data" / "index.sqlite"
    log = work / "service.log"
    add_user(work)
    port = free_port()
    process = start_service(work, log, port)
    sampler = _Sampler(process.pid)
    sampler.start()
    cpu = _Cpu(process.pid)
    started = time.monotonic()
    base = first_checks(db, process, log, cpu)
    wait_checks(db, pages // 2, process, log, cpu)
    # the web UI while the cycle writes checks (its CPU left out of the checks' own)
    before = cpu.sample()
    figures["web_during_first_cycle"] = web_times(port)
    after = cpu.sample()
    base = (base[0], base[1] + after[0] - before[0], base[2] + after[1] - before[1])
    wait_checks(db, pages, process, log, cpu)
    cycle_end = time.monotonic()
    own, total = per_check(cpu, base, pages)
    time.sleep(15)
    idle = sampler.between(cycle_end + 5, cycle_end + 15)
    time.sleep(IDLE_RELEASE_WAIT)  # the service stops idle workers after 60 s
    released = sampler.between(time.monotonic() - 5, time.monotonic())
    cycle = sampler.between(started, cycle_end)
    figures["first_cycle_s"] = round(cycle_end - started, 1)
    figures["first_cycle_service_cpu_ms_per_check"] = own
    figures["first_cycle_all_cpu_ms_per_check"] = total
    figures["first_cycle_peak_pss_mb"] = round(max(s[1] for s in cycle), 1)
    figures["first_cycle_peak_rss_sum_mb"] = round(max(s[2] for s in cycle), 1)
    figures["idle_after_cycle_pss_mb"] = round(statistics.mean(s[1] for s in idle), 1)
    figures["idle_after_release_pss_mb"] = round(statistics.mean(s[1] for s in released), 1)
    figures["idle_after_release_processes"] = len(_descendants(process.pid))
    figures["web_after_first_cycle"] = web_times(port)  # after the memory figures
    figures["stop_idle_s"] = round(stop_service(process), 2)
    sampler.stop()


def restarted(work: Path, pages: int, figures: dict[str, object]) -> None:
    """The same store restarted: nothing due; then every target due (unchanged pages)."""
    db = work / "data" / "index.sqlite"
    log = work / "service.log"
    process = start_service(work, log)
    sampler = _Sampler(process.pid)
    sampler.start()
    time.sleep(12)
    idle = sampler.between(time.monotonic() - 5, time.monotonic())
    figures["restarted_idle_pss_mb"] = round(statistics.mean(s[1] for s in idle), 1)
    figures["restarted_checks_in_12s"] = count_checks(db) - pages
    stop_service(process)
    sampler.stop()

    backdate(db, 1)
    port = free_port()
    process = start_service(work, log, port)
    cpu = _Cpu(process.pid)
    started = time.monotonic()
    base = first_checks(db, process, log, cpu, pages + 1)
    wait_checks(db, 2 * pages, process, log, cpu)
    figures["unchanged_cycle_s"] = round(time.monotonic() - started, 1)
    own, total = per_check(cpu, base, 2 * pages)
    figures["unchanged_cycle_service_cpu_ms_per_check"] = own
    figures["unchanged_cycle_all_cpu_ms_per_check"] = total
    figures["web_after_unchanged_cycle"] = web_times(port)
    stop_service(process)


def stopped_mid_cycle(work: Path, pages: int, figures: dict[str, object]) -> None:
    """A fresh store, SIGTERM once half the targets are checked: the time to exit, and
    what ``watcher verify`` says of the store it left."""
    data = work / "data"
    db = data / "index.sqlite"
    log = work / "service.log"
    process = start_service(work, log)
    wait_checks(db, pages // 2, process, log)
    figures["stop_mid_cycle_s"] = round(stop_service(process), 2)
    figures["stop_mid_cycle_exit"] = process.returncode
    figures["stop_mid_cycle_checks"] = count_checks(db)
    command = [str(WATCHER), "--config", str(work / "targets.yaml"), "--data", str(data)]
    verified = subprocess.run([*command, "verify"], capture_output=True, text=True)
    figures["stop_mid_cycle_verify"] = "ok" if verified.returncode == 0 else verified.stdout[-500:]


def memory(work: Path, pages: int) -> dict[str, object]:
    print(f"the service with {pages} targets ...", file=sys.stderr)
    site = SiteServer(count=pages)
    config = {
        "settings": {"concurrency": 16, "per_host": 16, "host_delay": 0},
        "defaults": {"interval": "10m"},
        "keywords": {"shipbuilding": ["船舶", "造船"], "sastind": ["国防科工局"]},
        "targets": [{"name": p.name, "url": p.url} for p in site.pages],
    }
    figures: dict[str, object] = {"targets": pages}
    try:
        for phase in ("cycle", "stop"):
            (work / phase).mkdir(parents=True)
            text = yaml.safe_dump(config, allow_unicode=True)
            (work / phase / "targets.yaml").write_text(text, "utf-8")
        first_cycle(work / "cycle", pages, figures)
        restarted(work / "cycle", pages, figures)
        stopped_mid_cycle(work / "stop", pages, figures)
    finally:
        site.stop()
    return figures


def describe(mem: dict[str, object]) -> str:
    return (
        f"{mem['targets']} targets: first cycle {mem['first_cycle_s']} s, "
        f"{mem['first_cycle_service_cpu_ms_per_check']} ms CPU per check in the service "
        f"process ({mem['first_cycle_all_cpu_ms_per_check']} ms with its workers), peak "
        f"{mem['first_cycle_peak_pss_mb']} MB PSS "
        f"(RSS summed {mem['first_cycle_peak_rss_sum_mb']} MB); "
        f"idle after it {mem['idle_after_cycle_pss_mb']} MB PSS, "
        f"{mem['idle_after_release_pss_mb']} MB once the workers are released "
        f"({mem['idle_after_release_processes']} processes); stop took {mem['stop_idle_s']} s; "
        f"restarted, all scheduled for later: {mem['restarted_idle_pss_mb']} MB PSS, "
        f"{mem['restarted_checks_in_12s']} checks in 12 s; unchanged cycle "
        f"{mem['unchanged_cycle_s']} s, {mem['unchanged_cycle_service_cpu_ms_per_check']} ms "
        f"CPU per check ({mem['unchanged_cycle_all_cpu_ms_per_check']} ms with workers); "
        f"SIGTERM half-way through a first cycle answered in {mem['stop_mid_cycle_s']} s "
        f"(exit {mem['stop_mid_cycle_exit']}, {mem['stop_mid_cycle_checks']} checks kept, "
        f"verify: {mem['stop_mid_cycle_verify']}); web UI as a signed-in analyst, "
        f"median / p90 ms: {_web(mem, 'web_during_first_cycle')} during the first cycle, "
        f"{_web(mem, 'web_after_first_cycle')} after it, "
        f"{_web(mem, 'web_after_unchanged_cycle')} after the unchanged cycle"
    )


def _web(mem: dict[str, object], key: str) -> str:
    times = mem[key]
    assert isinstance(times, dict)
    return ", ".join(
        f"{label} {t['median_ms']} / {t['p90_ms']} ({t['kb']} KB)" for label, t in times.items()
    )


def ratios(small: dict[str, object], large: dict[str, object]) -> dict[str, float]:
    def ratio(key: str) -> float:
        return round(float(large[key]) / float(small[key]), 2)  # type: ignore[arg-type]

    return {
        "targets": ratio("targets"),
        "first_cycle_s": ratio("first_cycle_s"),
        "first_cycle_service_cpu_ms_per_check": ratio("first_cycle_service_cpu_ms_per_check"),
        "unchanged_cycle_s": ratio("unchanged_cycle_s"),
        "unchanged_cycle_service_cpu_ms_per_check": ratio(
            "unchanged_cycle_service_cpu_ms_per_check"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=6)
    parser.add_argument(
        "--scaling",
        metavar="N,N",
        help="measure the service at these sizes (e.g. 1000,10000) and print the ratios",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(n) for n in args.scaling.split(",")] if args.scaling else [args.pages]
    with tempfile.TemporaryDirectory(prefix="watcher-service-") as tmp:
        root = Path(tmp)
        figures: dict[str, object] = {}
        if not args.scaling:
            (root / "latency").mkdir()
            print("alert latency (interval 10s) ...", file=sys.stderr)
            figures["latency"] = latency(root / "latency", args.changes)
        runs = [memory(root / f"service-{n}", n) for n in sizes]
        figures["service"] = runs
        if len(runs) > 1:
            figures["ratios"] = ratios(runs[0], runs[-1])
    if args.json:
        print(json.dumps(figures))
        return
    if "latency" in figures:
        lat = figures["latency"]
        print(
            f"change → email, interval 10s: min {lat['min_s']} s, median {lat['median_s']} s, "
            f"max {lat['max_s']} s over {lat['changes']} changes ({lat['emails']} emails)"
        )
    for run in runs:
        print(describe(run))
    if "ratios" in figures:
        r = figures["ratios"]
        print(
            f"{sizes[-1]} vs {sizes[0]} targets ({r['targets']}×): first cycle "
            f"{r['first_cycle_s']}×, service CPU per check "
            f"{r['first_cycle_service_cpu_ms_per_check']}×; "
            f"unchanged cycle {r['unchanged_cycle_s']}×, service CPU per check "
            f"{r['unchanged_cycle_service_cpu_ms_per_check']}×"
        )


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
