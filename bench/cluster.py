"""Several workers against one process: the generated site over 20 loopback hosts
(127.0.0.1 … 127.0.0.20) with 100 ms added to every answer, first captures of every
page.

Runs `watcher check` (the embedded mode's pipeline in one process, on SQLite: what
`watcher run` does in its first cycle, without the first minute's spreading), then
1, 2 and 4 `watcher worker` processes with the index on a throwaway PostgreSQL
(`settings.store`; the queue in the same database, its default), fed by one
`watcher dispatch --once`, each on a fresh database and data folder (blobs).

Prints pages per minute (from the first request to the last check), CPU seconds per
page (every watcher process and its analysis workers; PostgreSQL's own CPU not
counted), politeness violations seen by the site (more than ``per_host`` requests
open at once on a host, or two starts to one host closer than ``host_delay`` less
``--tolerance``, 50 ms by default), and duplicate checks (requests beyond one per
page). The closest two starts are printed too, so the tolerance is in view.

A start is stamped when the site's handler thread has read the request's head, on the
same monotonic clock as watcher's (CLOCK_MONOTONIC is one for every process). The
tolerance is the site's own lateness in stamping: its 20 servers share this process
and its interpreter lock, and a head that came on a new connection is stamped after
the accept and a new thread, one on a kept connection at once; on a loaded machine
that moves a stamp by up to about 30 ms. watcher's own spacing needs none: a single
process and the workers alike count ``host_delay`` from when a request's head was
written, not from when its turn came (a new connection's handshake can take longer
than ``host_delay``); the workers hold the turn in the database until then.

    .venv/bin/python bench/cluster.py --pages 400
    .venv/bin/python bench/cluster.py --pages 400 --workers 1,2 --json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from govsite import generate_pages  # noqa: E402
from httpserver import HTTPServer  # noqa: E402

PER_HOST, HOST_DELAY, LATENCY = 2, 0.1, 0.1
TOLERANCE = 0.050  # seconds: a start this much early on the wire is not counted


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_config(path: Path, urls: list[str], store: str | None) -> None:
    settings: dict[str, object] = {"per_host": PER_HOST, "host_delay": f"{HOST_DELAY}s"}
    if store:
        settings["store"] = store  # the index, and the queue beside it
    targets = [
        {"name": f"p{n}", "url": url, "interval": "1h", "retries": 0, "timeout": "30s"}
        for n, url in enumerate(urls)
    ]
    doc = {"settings": settings, "keywords": {"ship": ["船舶"]}, "targets": targets}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")


def watcher(config: Path, data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "watcher", "--config", str(config), "--data", str(data), *args]


def checked(data: Path, store: str | None) -> int:
    import sqlalchemy as sa

    index = data / "index.sqlite"
    if store is None and not index.exists():
        return 0
    url = store.replace("postgresql://", "postgresql+psycopg://", 1) if store else None
    engine = sa.create_engine(url or f"sqlite:///file:{index}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM checks")).scalar() or 0)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # not made yet
        return 0
    finally:
        engine.dispose()


def politeness(
    servers: list[HTTPServer], paths: list[list[str]], tolerance: float
) -> tuple[int, int, float, float, int]:
    """Violations seen by the site, duplicate requests, the first request's time, the
    closest two starts to one host (s), the most requests open at once on one host."""
    violations = duplicates = most_open = 0
    first = closest = float("inf")
    for server, own in zip(servers, paths, strict=True):
        starts = sorted(r.received_at for p in own for r in server.requests(p))
        if starts:
            first = min(first, starts[0])
        violations += sum(
            1 for a, b in itertools.pairwise(starts) if b - a < HOST_DELAY - tolerance
        )
        violations += server.max_in_flight > PER_HOST
        closest = min([closest, *(b - a for a, b in itertools.pairwise(starts))])
        most_open = max(most_open, server.max_in_flight)
        duplicates += sum(max(0, server.hits(p) - 1) for p in own)
    return violations, duplicates, first, closest, most_open


def one_run(
    label: str, workers: int, pages: int, queue: str | None, tolerance: float = TOLERANCE
) -> dict[str, object]:
    site = generate_pages(pages, 20, seed=17)
    servers = [HTTPServer(host=f"127.0.0.{n + 1}").start() for n in range(20)]
    paths: list[list[str]] = [[] for _ in servers]
    urls = []
    for n, page in enumerate(site):
        path = f"/{page.name}.html"
        servers[page.host].route(
            path, body=page.body, headers={"Content-Type": page.content_type}, delay=LATENCY
        )
        paths[page.host].append(path)
        urls.append(servers[page.host].url(path))
        assert n < pages
    folder = Path(tempfile.mkdtemp(prefix="watcher-cluster-"))
    config, data, log = folder / "targets.yaml", folder / "data", folder / "log"
    write_config(config, urls, queue)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cpu = children_cpu()
    try:
        with log.open("ab") as err:
            if queue is None:
                subprocess.run(
                    watcher(config, data, "check", "--no-notify"),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                    check=False,
                )
            else:
                procs = [
                    subprocess.Popen(
                        watcher(config, data, "worker", "--grace", "2s"),
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        env=env,
                    )
                    for _ in range(workers)
                ]
                time.sleep(3)  # started, listening for jobs
                subprocess.run(
                    watcher(config, data, "dispatch", "--once"),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                    check=True,
                )
                deadline = time.monotonic() + 600
                while checked(data, queue) < pages and time.monotonic() < deadline:
                    time.sleep(0.2)
        end = time.monotonic()  # the last check is in (check: the process ended)
        if queue is not None:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)
        cpu = children_cpu() - cpu
        violations, duplicates, first, closest, most_open = politeness(servers, paths, tolerance)
        done = checked(data, queue)
    finally:
        for server in servers:
            server.stop()
    minutes = (end - first) / 60
    return {
        "run": label,
        "pages": done,
        "pages_per_min": round(done / minutes),
        "cpu_ms_per_page": round(1000 * cpu / max(done, 1), 1),
        "violations": violations,
        "closest_starts_ms": round(1000 * closest),
        "most_open_per_host": most_open,
        "duplicates": duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--tolerance", type=float, default=TOLERANCE, help="seconds of jitter on the wire"
    )
    args = parser.parse_args()
    from pgserver import PGServer

    tol = args.tolerance
    results = [one_run("watcher check, SQLite, one process", 1, args.pages, None, tol)]
    server = PGServer()
    try:
        for count in (int(n) for n in args.workers.split(",")):
            label = f"{count} worker{'s' if count > 1 else ''}, index and queue on PostgreSQL"
            results.append(one_run(label, count, args.pages, server.database(), tol))
    finally:
        server.stop()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    print(
        "| run | pages | pages/min | CPU ms/page | politeness violations (closest starts, "
        "most open on a host) | duplicate checks |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['run']} | {r['pages']} | {r['pages_per_min']} | {r['cpu_ms_per_page']} "
            f"| {r['violations']} ({r['closest_starts_ms']} ms, {r['most_open_per_host']}) "
            f"| {r['duplicates']} |"
        )


if __name__ == "__main__":
    main()
