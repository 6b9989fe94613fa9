"""The team mode's job queue: due checks as procrastinate jobs in PostgreSQL.

A check job names a target and the last check the dispatcher saw; a worker that
finds the target checked since does nothing, so a job run twice (a dead worker's,
put back) never checks a page twice for one due time. procrastinate's retries and
``lock`` are not used: with a ``queueing_lock`` they can leave a job ``doing`` for
ever (procrastinate issues #1543, #1446); stalled jobs are found here by their
workers' heartbeats, a pruned worker row counting as dead (#1518). docs/queue.md
tells why procrastinate.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions

__all__ = ["SCHEMA_LOCK", "CheckJob", "JobQueue", "QueueError", "SenderLease"]

log = logging.getLogger(__name__)

CHECKS = "checks"  # the queue's name and the task's
# advisory lock key while the queue's tables are made ("queu"; procrastinate's and the
# hosts' turns; not the team store's "widx" or "wsch": the queue may share its database)
SCHEMA_LOCK = 0x71756575
_SENDER_LOCK = 0x73656E64  # advisory lock key of the one outbox sender ("send")

Handler = Callable[["CheckJob"], Awaitable[None]]


class QueueError(Exception):
    """The queue's database cannot be reached or used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class CheckJob:
    """Check ``name``, unless it was checked after ``after`` (None: never checked);
    with ``listing``, ``name`` is one of that listing's documents."""

    name: str
    after: str | None  # the target's last check as the dispatcher saw it (ISO, UTC)
    listing: str | None = None

    @staticmethod
    def stamp(at: datetime | None) -> str | None:
        if at is None:
            return None
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


_OPEN = """
SELECT args->>'name' AS name FROM procrastinate_jobs
WHERE task_name = %(task)s AND status IN ('todo', 'doing')
"""

# ``doing`` jobs whose worker has no fresh heartbeat; a worker row already pruned is
# dead too (procrastinate's own query misses those: #1518)
_STALLED = """
SELECT j.id, j.queueing_lock,
       EXISTS (SELECT 1 FROM procrastinate_jobs s WHERE s.status = 'todo'
               AND s.queueing_lock = j.queueing_lock AND s.id <> j.id) AS has_sibling
FROM procrastinate_jobs j
WHERE j.status = 'doing' AND j.task_name = %(task)s AND NOT EXISTS (
    SELECT 1 FROM procrastinate_workers w WHERE w.id = j.worker_id
    AND w.last_heartbeat > now() - make_interval(secs => %(seconds)s))
"""


class JobQueue:
    """procrastinate over the queue's PostgreSQL (``settings.queue``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    async def open(self) -> None:
        """Connect, and make procrastinate's schema if the database has none yet."""
        try:
            await self.app.open_async()
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                await conn.execute("SELECT pg_advisory_lock(%s::int8)", (SCHEMA_LOCK,))
                if await _one(conn, "SELECT to_regclass('procrastinate_jobs')") is None:
                    await self.app.schema_manager.apply_schema_async()
                    log.info("queue: procrastinate's tables made in %s", _safe(self.url))
        except (psycopg.Error, OSError, exceptions.ProcrastinateException) as exc:
            raise QueueError(f"the queue at {_safe(self.url)}: {_reason(exc)}") from None

    async def close(self) -> None:
        await self.app.close_async()

    async def open_jobs(self) -> set[str]:
        """Targets (and listings' documents) with a check job queued or under way."""
        rows = await self.app.connector.execute_query_all_async(_OPEN, task=CHECKS)
        return {row["name"] for row in rows}

    async def defer(self, jobs: Sequence[CheckJob]) -> int:
        """Queue these checks; one queued job per target (a second is dropped). How many
        were queued."""
        queued = 0
        for job in jobs:
            deferrer = self.app.configure_task(
                name=CHECKS, queue=CHECKS, queueing_lock=f"check:{job.name}"
            )
            try:
                if job.listing is None:
                    await deferrer.defer_async(name=job.name, after=job.after)
                else:
                    await deferrer.defer_async(name=job.name, after=job.after, listing=job.listing)
                queued += 1
            except exceptions.AlreadyEnqueued:
                pass
        return queued

    async def work(
        self,
        handler: Handler,
        *,
        name: str,
        concurrency: int,
        heartbeat: float,
        stalled_after: float,
        grace: float,
    ) -> None:
        """Take check jobs until cancelled; then the running ones get ``grace`` seconds."""

        async def run(name: str, after: str | None, listing: str | None = None) -> None:
            await handler(CheckJob(name, after, listing))

        self.app.task(name=CHECKS, queue=CHECKS)(run)
        await self.app.run_worker_async(
            queues=[CHECKS],
            name=name,
            concurrency=concurrency,
            install_signal_handlers=False,
            update_heartbeat_interval=heartbeat,
            stalled_worker_timeout=stalled_after,
            shutdown_graceful_timeout=grace,
            delete_jobs="successful",
        )

    async def sweep(self, stalled_after: float) -> int:
        """Put back the check jobs of dead workers (or end them when the target has a
        job queued already, which does the check); how many were put back or ended."""
        rows = await self.app.connector.execute_query_all_async(
            _STALLED, task=CHECKS, seconds=stalled_after
        )
        manager = self.app.job_manager
        for row in rows:
            try:
                if row["has_sibling"]:
                    await manager.finish_job_by_id_async(
                        row["id"], status=procrastinate.jobs.Status.FAILED, delete_job=False
                    )
                else:
                    await manager.retry_job_by_id_async(row["id"], retry_at=datetime.now(UTC))
                log.info(
                    "queue: job %s of a dead worker put back (%s)", row["id"], row["queueing_lock"]
                )
            except exceptions.ProcrastinateException as exc:  # another worker's sweep was first
                log.debug("queue: job %s: %s", row["id"], exc)
        return len(rows)

    async def counts(self) -> dict[str, int]:
        """Check jobs by status (``todo``, ``doing``, ``failed`` …)."""
        rows = await self.app.connector.execute_query_all_async(
            "SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs "
            "WHERE task_name = %(task)s GROUP BY status",
            task=CHECKS,
        )
        return {row["status"]: int(row["n"]) for row in rows}


class SenderLease:
    """The one outbox sender across every process: a session advisory lock on its own
    connection. A process that dies loses its connection, and so the lease."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def take(self) -> bool:
        """Whether this process holds the lease now (taken if free; checked if held)."""
        if self._conn is not None:
            try:
                await self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                await self.release()  # the connection broke: the lease may be another's
                return False
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        except psycopg.Error as exc:
            log.warning("outbox: cannot reach the queue for the sender's lease: %s", _reason(exc))
            return False
        row = await (
            await conn.execute("SELECT pg_try_advisory_lock(%s::int8)", (_SENDER_LOCK,))
        ).fetchone()
        if row is not None and row[0]:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[bool]:
        try:
            yield await self.take()
        finally:
            await self.release()


async def _one(conn: psycopg.AsyncConnection[Any], sql: str, *params: object) -> Any:
    """The first column of the first row (None: no row)."""
    row = await (await conn.execute(sql, params or None)).fetchone()  # type: ignore[arg-type]
    return None if row is None else row[0]


def _safe(url: str) -> str:
    """The URL without its password."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, user = head.rpartition("//")
    return f"{scheme}//{user.split(':', 1)[0]}:***@{tail}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
