"""The queue engine's spike: procrastinate against DBOS on a throwaway PostgreSQL.

Enqueues N jobs (each sleeps ``--work-ms``, then records who ran it), works them with
3 worker processes, and prints jobs a second, claim latency (enqueued → started) and
duplicates; then kills a worker with SIGKILL while it holds a long job and reports
whether (and how soon) another worker does the job again, and what the engine's
table still says about it. Needs both engines in the venv (only the chosen one is a
dependency): ``.venv/bin/pip install procrastinate dbos``.

    .venv/bin/python bench/queue_spike.py --jobs 400
    .venv/bin/python bench/queue_spike.py --only procrastinate --jobs 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

RECORDS = """
CREATE TABLE IF NOT EXISTS spike_runs (
    key text, pid int, enqueued double precision, started double precision,
    ended double precision)
"""


def record(url: str, key: str, enqueued: float, started: float) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO spike_runs VALUES (%s, %s, %s, %s, %s)",
            (key, os.getpid(), enqueued, started, time.time()),
        )


def started_mark(url: str, key: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO spike_runs VALUES (%s, %s, NULL, %s, NULL)",
            (key, os.getpid(), time.time()),
        )


# -- procrastinate ---------------------------------------------------------------------


def procrastinate_app(url: str):  # the engine's App
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="spike", queue="spike")
    async def spike(key: str, enqueued: float, work: float) -> None:
        started = time.time()
        if work > 1:
            await asyncio.to_thread(started_mark, url, key)
        await asyncio.sleep(work)
        await asyncio.to_thread(record, url, key, enqueued, started)

    return app


async def procrastinate_worker(url: str) -> None:
    app = procrastinate_app(url)

    async def sweep() -> None:
        # procrastinate marks no job of a dead worker for retry by itself: its how-to
        # is a periodic task like this one (the heartbeats say which workers died)
        while True:
            await asyncio.sleep(1)
            for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=3):
                try:
                    await app.job_manager.retry_job(job)
                except Exception as exc:  # another worker's sweep was first
                    print(f"sweep: {type(exc).__name__}", file=sys.stderr)

    async with app.open_async():
        sweeper = asyncio.create_task(sweep())
        await app.run_worker_async(
            queues=["spike"],
            concurrency=8,
            update_heartbeat_interval=1,
            stalled_worker_timeout=3,
            fetch_job_polling_interval=1,
        )
        sweeper.cancel()


async def procrastinate_enqueue(url: str, keys: list[str], work: float) -> None:
    app = procrastinate_app(url)
    async with app.open_async():
        task = app.tasks["spike"]
        for key in keys:
            await task.defer_async(key=key, enqueued=time.time(), work=work)


async def procrastinate_setup(url: str) -> None:
    app = procrastinate_app(url)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


def procrastinate_left(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM procrastinate_jobs GROUP BY status ORDER BY 1"
        ).fetchall()
    return ", ".join(f"{s}: {n}" for s, n in rows)


# -- DBOS ------------------------------------------------------------------------------


def dbos_worker(url: str, name: str) -> None:
    from dbos import DBOS

    DBOS(config={"name": "spike", "system_database_url": url, "executor_id": name})

    @DBOS.workflow(name="spike")
    def spike(key: str, enqueued: float, work: float) -> None:
        started = time.time()
        if work > 1:
            started_mark(url, key)
        time.sleep(work)
        record(url, key, enqueued, started)

    DBOS.launch()
    DBOS.register_queue("spike", worker_concurrency=8, polling_interval_sec=0.1)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    DBOS.destroy()


def dbos_setup(url: str) -> None:
    from dbos import DBOS

    DBOS(config={"name": "spike", "system_database_url": url, "executor_id": "setup"})
    DBOS.launch()
    DBOS.register_queue("spike", worker_concurrency=8, polling_interval_sec=0.1)
    DBOS.destroy()


def dbos_enqueue(url: str, keys: list[str], work: float) -> None:
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=url)
    for key in keys:
        options = {"queue_name": "spike", "workflow_name": "spike", "workflow_id": key}
        client.enqueue(options, key, time.time(), work)
    client.destroy()


def dbos_left(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM dbos.workflow_status GROUP BY status ORDER BY 1"
        ).fetchall()
    return ", ".join(f"{s}: {n}" for s, n in rows)


# -- the driver ------------------------------------------------------------------------


def start_workers(engine: str, url: str, count: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", engine, "--url", url, "--name", f"w{n}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(count)
    ]


def wait_done(url: str, keys: set[str], timeout: float) -> float:
    end = time.time() + timeout
    while time.time() < end:
        with psycopg.connect(url) as conn:
            done = conn.execute(
                "SELECT count(DISTINCT key) FROM spike_runs WHERE ended IS NOT NULL "
                "AND key = ANY(%s)",
                (list(keys),),
            ).fetchone()[0]
        if done >= len(keys):
            return time.time()
        time.sleep(0.05)
    return float("nan")


def enqueue(engine: str, url: str, keys: list[str], work: float) -> None:
    if engine == "procrastinate":
        asyncio.run(procrastinate_enqueue(url, keys, work))
    else:
        dbos_enqueue(url, keys, work)


def measure(engine: str, url: str, jobs: int, work_ms: float) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RECORDS)
    if engine == "procrastinate":
        asyncio.run(procrastinate_setup(url))
    else:
        dbos_setup(url)
    # throughput: the queue filled first, then drained by 3 workers
    keys = [f"job-{n}" for n in range(jobs)]
    began = time.time()
    enqueue(engine, url, keys, work_ms / 1000)
    enqueued = time.time() - began
    workers = start_workers(engine, url, 3)
    wait_done(url, set(keys), 180)
    with psycopg.connect(url) as conn:
        first, last, runs, distinct = conn.execute(
            "SELECT min(started), max(ended), count(*), count(DISTINCT key) FROM spike_runs"
        ).fetchone()
    print(
        f"{engine}: enqueue {jobs} one by one: {jobs / enqueued:.0f}/s; 3 workers of 8 drain "
        f"them ({work_ms:g} ms each) at {jobs / (last - first):.0f} jobs/s; "
        f"duplicates {runs - distinct}"
    )
    # claim latency: jobs deferred one at a time (every 50 ms) while workers idle
    keys = [f"lat-{n}" for n in range(40)]
    for key in keys:
        enqueue(engine, url, [key], work_ms / 1000)
        time.sleep(0.05)
    wait_done(url, set(keys), 60)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT 1000 * (started - enqueued) FROM spike_runs WHERE key LIKE 'lat-%%'"
        ).fetchall()
    latencies = sorted(r[0] for r in rows)
    print(
        f"{engine}: claim latency (enqueued → started) median "
        f"{statistics.median(latencies):.0f} ms, p95 {latencies[int(0.95 * len(latencies))]:.0f} ms"
    )
    kill(engine, url, workers)
    for w in workers:
        if w.poll() is None:
            w.terminate()
    for w in workers:
        w.wait(timeout=20)


def kill(engine: str, url: str, workers: list[subprocess.Popen[bytes]]) -> None:
    """Six jobs of 4 s; one worker holding one is SIGKILLed a second in."""
    keys = [f"long-{n}" for n in range(6)]
    enqueue(engine, url, keys, 4.0)
    time.sleep(1.0)
    with psycopg.connect(url) as conn:
        held = conn.execute(
            "SELECT key, pid FROM spike_runs WHERE key LIKE 'long-%' AND ended IS NULL LIMIT 1"
        ).fetchone()
    if held is None:
        print(f"{engine}: no long job had started after 1 s")
        return
    key, pid = held
    victim = next(w for w in workers if w.pid == pid)
    killed = time.time()
    victim.kill()
    ended = wait_done(url, {key}, 40)
    redone = ended - killed
    wait_done(url, set(keys), 20)
    with psycopg.connect(url) as conn:
        runs = conn.execute(
            "SELECT count(*) FROM spike_runs WHERE key LIKE 'long-%' AND ended IS NOT NULL"
        ).fetchone()[0]
    left = procrastinate_left(url) if engine == "procrastinate" else dbos_left(url)
    said = f"done again {redone:.1f} s after the kill" if redone == redone else "not done in 40 s"
    print(f"{engine}: SIGKILL mid-job: {said}; long jobs finished {runs} of 6; table: {left}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--work-ms", type=float, default=20)
    parser.add_argument("--only", choices=["procrastinate", "dbos"])
    parser.add_argument("--worker", choices=["procrastinate", "dbos"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "procrastinate":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        asyncio.run(procrastinate_worker(args.url))
        return
    if args.worker == "dbos":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        dbos_worker(args.url, args.name)
        return
    from pgserver import PGServer

    server = PGServer()
    try:
        for engine in [args.only] if args.only else ["procrastinate", "dbos"]:
            measure(engine, server.database(), args.jobs, args.work_ms)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
