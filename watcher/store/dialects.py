"""The index's database, chosen once: SQLite under the data folder (the embedded
default) or PostgreSQL at a ``postgresql://`` URL (the team store).

``watcher.store.sqlite`` and ``watcher.store.postgres`` have the same names (the
engine, the writer lock, DDL in one transaction, the search table, ``insert or
ignore``); the store asks ``of(conn)`` for the one its connection speaks and
writes everything else once, in SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from watcher.config.storage import hide_password, is_server_url
from watcher.store import postgres, sqlite

INDEX_NAME = "index.sqlite"


class Dialect(Protocol):
    """What differs between the two databases; both modules have these names."""

    IN_BATCH: int
    LATE_COMMITS: int  # how far below the newest id a row may still commit

    def use_wal(self, conn: sa.Connection) -> None: ...
    def checkpoint(self, engine: sa.Engine) -> None: ...
    def integrity_problems(self, conn: sa.Connection) -> list[str]: ...
    def is_empty(self, conn: sa.Connection) -> bool: ...
    def drop_leftover_copies(self, conn: sa.Connection) -> None: ...
    def schema_lock(self, conn: sa.Connection) -> AbstractContextManager[None]: ...
    def one_transaction(self, conn: sa.Connection) -> AbstractContextManager[None]: ...
    def sync_identity(self, conn: sa.Connection, table: sa.Table | str) -> None: ...
    def create_search(self, conn: sa.Connection) -> None: ...
    def index_text(self, conn: sa.Connection, digest: str, terms: str) -> None: ...
    def texts_matching(
        self,
        conn: sa.Connection,
        tokens: Sequence[str],
        before: int,
        n: int,
        *alternatives: Sequence[str],
    ) -> list[int]: ...
    def insert_or_ignore(self, table: sa.Table) -> Any: ...
    def joined_distinct(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]: ...


def of(bind: sa.Connection | sa.Engine) -> Dialect:
    """The dialect module a connection (or engine) speaks."""
    return postgres if bind.dialect.name == "postgresql" else sqlite  # type: ignore[return-value]


def is_server(index: str | None) -> bool:
    """Whether ``index`` names a database server (else: SQLite in the data folder)."""
    return is_server_url(index)


def resolve(root: Path, index: str | None) -> str | None:
    """The index a store in ``root`` is given: a server's URL, or None for SQLite in
    ``root`` (the one place that decides, for a Store and a side engine alike)."""
    return index if is_server(index) else None


def shown(index: str | None, root: Path) -> str:
    """Where the index is, for messages: the URL without its password, or the file."""
    return hide_password(index) if index and is_server(index) else str(root / INDEX_NAME)


def engine(root: Path, index: str | None, *, readonly: bool, create: bool = True) -> sa.Engine:
    """An engine on the store's index: the database at ``index``, or the SQLite file
    in ``root``."""
    if index and is_server(index):
        return postgres.engine(index, readonly=readonly)
    return sqlite.engine(root / INDEX_NAME, readonly=readonly, create=create)


class LockBusy(Exception):
    """Another process holds the writer lock; ``holder`` says who (a pid)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class Lock(Protocol):
    def release(self) -> None: ...


class _FileLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        sqlite.release(self._fd)


def writer_lock(root: Path, engine: sa.Engine, wait: float) -> Lock:
    """One writer per store: the data folder's lock file on SQLite, an advisory lock
    of the database on PostgreSQL; waits up to ``wait`` s."""
    try:
        if engine.dialect.name == "postgresql":
            return postgres.writer_lock(engine, wait)
        return _FileLock(sqlite.writer_lock(root, wait))
    except (sqlite.LockBusy, postgres.LockBusy) as busy:
        raise LockBusy(busy.holder) from None


def in_batches(values: Sequence[Any], bind: sa.Connection | sa.Engine) -> Iterator[Sequence[Any]]:
    """``values`` in slices an ``IN (…)`` of this database takes."""
    size = of(bind).IN_BATCH
    for start in range(0, len(values), size):
        yield values[start : start + size]
