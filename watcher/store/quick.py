"""The index read and written with ``sqlite3`` alone, for the commonest one-off
command: ``watcher check`` of pages that have not changed.

Loading SQLAlchemy is about a third of such a check's CPU, for two queries and one
small transaction. Here they are written out for SQLite; whatever else a check may
need (a new or changed page, a migration, a busy writer lock, another database)
goes through ``watcher.store.index.Store`` as usual. The statements do what
``Store.target_states`` and ``Store.save_checks`` do for such targets, and a test
compares what both leave in the index.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watcher.store.revision import SCHEMA_HEAD

INDEX_NAME = "index.sqlite"  # as watcher.store.index names it
IN_BATCH = 500  # names in one IN (…)


@dataclass(frozen=True, slots=True)
class QuickState:
    """What an unchanged check needs of a target's row and of its last capture."""

    id: int
    url: str
    kind: str
    etag: str | None
    last_modified: str | None
    consecutive_errors: int
    fetch_learned: str | None
    capture_id: str | None  # None: never captured
    raw_sha256: str | None
    raw_size: int
    title: str
    metadata: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class QuickCheck:
    """One unchanged check's log row (``checks``) and its target's new validators."""

    target_id: int
    checked_at: datetime
    http_status: int | None
    duration: float
    attempts: int
    etag: str | None
    last_modified: str | None


_STATES = (
    "SELECT t.name, t.id, t.url, t.kind, t.etag, t.last_modified, t.consecutive_errors,"
    " t.fetch_learned, c.id, c.raw_sha256, c.raw_size, c.title, c.metadata"
    " FROM targets t LEFT OUTER JOIN captures c ON c.id = t.last_capture_id"
    " WHERE t.name IN ({})"
)
_INSERT_CHECK = (
    "INSERT INTO checks (target_id, checked_at, status, http_status, duration, attempts,"
    " capture_id, error) VALUES (?, ?, 'unchanged', ?, ?, ?, NULL, NULL)"
)
_UPDATE_TARGET = (
    "UPDATE targets SET last_checked_at = ?, last_status = 'unchanged', last_error = NULL,"
    " consecutive_errors = 0, etag = ?, last_modified = ? WHERE id = ?"
)


class QuickIndex:
    """The index of a data folder, opened only when it is SQLite at this watcher's
    schema and no other process holds the writer lock; else ``open`` gives None."""

    def __init__(self, db: sqlite3.Connection, lock: int) -> None:
        self._db = db
        self._lock = lock

    @classmethod
    def open(cls, root: Path) -> QuickIndex | None:
        index = root / INDEX_NAME
        if not index.is_file():
            return None
        lock = _take_lock(root)
        if lock is None:
            return None  # the usual way waits for the other writer and names it
        try:
            db = sqlite3.connect(f"file:{index}?mode=rw", uri=True, isolation_level=None)
        except sqlite3.Error:
            os.close(lock)
            return None
        quick = cls(db, lock)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA synchronous = NORMAL")
            (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except (sqlite3.Error, TypeError):
            version = None
        if version != SCHEMA_HEAD:
            quick.close(checkpoint=False)
            return None
        return quick

    def states(self, names: Sequence[str]) -> dict[str, QuickState]:
        """The rows of the targets the index knows, by name."""
        found: dict[str, QuickState] = {}
        for start in range(0, len(names), IN_BATCH):
            batch = list(names[start : start + IN_BATCH])
            query = _STATES.format(", ".join("?" * len(batch)))
            for name, *row in self._db.execute(query, batch):
                *columns, metadata = row
                found[name] = QuickState(*columns, json.loads(metadata) if metadata else None)
        return found

    def record_unchanged(self, checks: Sequence[QuickCheck]) -> bool:
        """The checks' log rows and their targets' new state, in one transaction.
        False: nothing written (a full disk, the index locked too long), for the usual
        way to try and to say why."""
        try:
            self._write(checks)
        except sqlite3.Error:
            return False
        return True

    def _write(self, checks: Sequence[QuickCheck]) -> None:
        with self._transaction():
            self._db.executemany(
                _INSERT_CHECK,
                [
                    (c.target_id, _utc(c.checked_at), c.http_status, c.duration, c.attempts)
                    for c in checks
                ],
            )
            self._db.executemany(
                _UPDATE_TARGET,
                [(_utc(c.checked_at), c.etag, c.last_modified, c.target_id) for c in checks],
            )

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self, *, checkpoint: bool = True) -> None:
        """As ``Store.close``: the write-ahead log folded back, the lock given up."""
        try:
            if checkpoint:
                with contextlib.suppress(sqlite3.Error):  # a reader in the way: next time
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
        finally:
            os.close(self._lock)


def _utc(at: datetime) -> str:
    """As ``watcher.store.schema.UTCDateTime`` stores it."""
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _take_lock(root: Path) -> int | None:
    """The data folder's writer lock (``watcher.store.sqlite.writer_lock``'s file), if
    it is free now."""
    try:
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd
