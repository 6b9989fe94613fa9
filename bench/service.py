"""The service (`watcher run`) measured: alert latency and memory (not a test).

    .venv/bin/python bench/service.py [--pages 1000] [--changes 6] [--json]

1. Latency: one page checked every 10 s, a real SMTP server (aiosmtpd) on
   127.0.0.1 as the channel. The page changes at random moments; each time,
   the seconds from the change to the email's arrival.
2. Memory: `watcher run` with N targets (the generated government site of
   `bench/run.py`, interval 10 min): the summed PSS of the service and its
   worker processes during the first cycle (every target new), then idle after
   it, then idle again after a restart on the same store (every target
   scheduled for later, none due).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from aiosmtpd.controller import Controller
from govsite import SiteServer
from measure import _descendants, _pss_kb, _rss_kb

WATCHER = Path(sys.executable).parent / "watcher"
IDLE_RELEASE_WAIT = 55  # with the 15 s above: past the service's 60 s idle release


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


def start_service(work: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [str(WATCHER), "--config", str(work / "targets.yaml"), "--data", str(work / "data")]
    return subprocess.Popen(
        [*command, "run"], stdout=subprocess.DEVNULL, stderr=log.open("ab"), start_new_session=True
    )


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


def memory(work: Path, pages: int) -> dict[str, object]:
    site = SiteServer(count=pages)
    config = {
        "settings": {"concurrency": 16, "per_host": 16, "host_delay": 0},
        "defaults": {"interval": "10m"},
        "keywords": {"shipbuilding": ["船舶", "造船"], "sastind": ["国防科工局"]},
        "targets": [{"name": p.name, "url": p.url} for p in site.pages],
    }
    (work / "targets.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    db = work / "data" / "index.sqlite"
    figures: dict[str, object] = {"targets": pages}
    try:
        process = start_service(work, work / "memory.log")
        sampler = _Sampler(process.pid)
        sampler.start()
        started = time.monotonic()
        while count_checks(db) < pages:
            if process.poll() is not None:
                raise RuntimeError(f"watcher run exited; see {work}/memory.log")
            if time.monotonic() - started > 600:
                raise RuntimeError("first cycle did not finish within 600 s")
            time.sleep(0.2)
        cycle_end = time.monotonic()
        time.sleep(15)
        idle = sampler.between(cycle_end + 5, cycle_end + 15)
        time.sleep(IDLE_RELEASE_WAIT)  # the service stops idle workers after 60 s
        released = sampler.between(time.monotonic() - 5, time.monotonic())
        cycle = sampler.between(started, cycle_end)
        figures["first_cycle_s"] = round(cycle_end - started, 1)
        figures["first_cycle_peak_pss_mb"] = round(max(s[1] for s in cycle), 1)
        figures["first_cycle_peak_rss_sum_mb"] = round(max(s[2] for s in cycle), 1)
        figures["idle_after_cycle_pss_mb"] = round(statistics.mean(s[1] for s in idle), 1)
        figures["idle_after_release_pss_mb"] = round(statistics.mean(s[1] for s in released), 1)
        figures["idle_after_release_processes"] = len(_descendants(process.pid))
        figures["stop_s"] = round(stop_service(process), 2)
        sampler.stop()

        process = start_service(work, work / "memory.log")
        sampler = _Sampler(process.pid)
        sampler.start()
        time.sleep(12)
        idle = sampler.between(time.monotonic() - 5, time.monotonic())
        figures["restarted_idle_pss_mb"] = round(statistics.mean(s[1] for s in idle), 1)
        figures["restarted_checks_in_12s"] = count_checks(db) - pages
        stop_service(process)
        sampler.stop()
    finally:
        site.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="watcher-service-") as tmp:
        root = Path(tmp)
        (root / "latency").mkdir()
        (root / "memory").mkdir()
        print("alert latency (interval 10s) ...", file=sys.stderr)
        figures = {"latency": latency(root / "latency", args.changes)}
        print(f"memory with {args.pages} targets ...", file=sys.stderr)
        figures["memory"] = memory(root / "memory", args.pages)
    if args.json:
        print(json.dumps(figures))
        return
    lat, mem = figures["latency"], figures["memory"]
    print(
        f"change → email, interval 10s: min {lat['min_s']} s, median {lat['median_s']} s, "
        f"max {lat['max_s']} s over {lat['changes']} changes ({lat['emails']} emails)"
    )
    print(
        f"{mem['targets']} targets: first cycle {mem['first_cycle_s']} s, peak "
        f"{mem['first_cycle_peak_pss_mb']} MB PSS "
        f"(RSS summed {mem['first_cycle_peak_rss_sum_mb']} MB); "
        f"idle after it {mem['idle_after_cycle_pss_mb']} MB PSS, "
        f"{mem['idle_after_release_pss_mb']} MB once the workers are released "
        f"({mem['idle_after_release_processes']} processes); stop took {mem['stop_s']} s; "
        f"restarted, all scheduled for later: {mem['restarted_idle_pss_mb']} MB PSS, "
        f"{mem['restarted_checks_in_12s']} checks in 12 s"
    )


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
