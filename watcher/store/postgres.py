"""Everything PostgreSQL-specific about the index: the team store's mirror of
``watcher.store.sqlite``, with the same names.

The writer lock is a session advisory lock, one per database, held on a connection of
its own (it goes with the connection, so a killed process leaves none behind);
schema changes are one transaction as PostgreSQL gives it; the search tokens are
a ``tsvector`` built from the tokens ``watcher.store.search`` made (no parser of
PostgreSQL's splits or folds them again), under a GIN index.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from watcher.store.schema import search_texts, with_postgresql_options

log = logging.getLogger(__name__)

IN_BATCH = 5000  # values in one ``IN (…)``; PostgreSQL takes 65,535 parameters
# ids are taken when a row is inserted and seen when it commits: a row may commit after
# one with a higher id, while other writers' transactions are open
LATE_COMMITS = 1000
# "widx": the writer's advisory lock, one per database; a key of its own, since the job
# queue (its schema lock is "queu") may share the database, and one process holds both
LOCK_KEY = 0x77696478
# "wsch": held while the index's schema is made or migrated; not the writer's lock, which
# a worker (``shared``) may go on without while another worker holds it
SCHEMA_KEY = 0x77736368
APPLICATION = "watcher pid "  # the lock holder's name in pg_stat_activity
# a lexeme may have 2,047 bytes and a tsvector 1 MB; what does not fit is not indexed
_LEXEME_BYTES = 2046
_VECTOR_BYTES = 900_000


# -- connecting -----------------------------------------------------------------------


def engine(url: str, *, readonly: bool) -> sa.Engine:
    """An engine on the database at ``url`` through psycopg 3; a read-only engine's
    transactions cannot write even by mistake."""
    options = "-c default_transaction_read_only=on" if readonly else ""
    with_postgresql_options()
    return sa.create_engine(
        driver_url(url),
        pool_pre_ping=True,  # a restarted server is met with a new connection, not an error
        connect_args={"options": options, "application_name": f"{APPLICATION}{os.getpid()}"},
    )


def driver_url(url: str) -> str:
    """``postgresql://…`` as analysts write it, with psycopg 3 named for SQLAlchemy."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else url


def use_wal(conn: sa.Connection) -> None:
    """Nothing to do: PostgreSQL's readers never wait for a writer."""


def checkpoint(engine: sa.Engine) -> None:
    """Nothing to do: the server keeps its own write-ahead log."""


def integrity_problems(conn: sa.Connection) -> list[str]:
    """The server checks its own pages; what is left is that it answers."""
    conn.exec_driver_sql("SELECT 1")
    return []


# -- one writer -----------------------------------------------------------------------


class LockBusy(Exception):
    """Another process holds the writer lock; ``holder`` says who, as the server knows."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class WriterLock:
    """The database's writer lock: an advisory lock on a connection kept open for it."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def release(self) -> None:
        try:
            self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({LOCK_KEY})")
        finally:
            self._conn.close()


def writer_lock(engine: sa.Engine, wait: float) -> WriterLock:
    """One writer per database, as one per data folder on SQLite: two overlapping runs
    would read the same "last capture" and store a page twice."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + wait
    try:
        while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({LOCK_KEY})").scalar():
            if time.monotonic() >= deadline:
                raise LockBusy(_holder(conn))
            time.sleep(0.1)
    except BaseException:
        conn.close()
        raise
    return WriterLock(conn)


def _holder(conn: sa.Connection) -> str:
    row = conn.exec_driver_sql(
        "SELECT a.application_name FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        f"WHERE l.locktype = 'advisory' AND l.objid = {LOCK_KEY} AND l.granted LIMIT 1"
    ).first()
    if row is None:
        return "?"
    name = str(row[0] or "")
    return name.removeprefix(APPLICATION) if name.startswith(APPLICATION) else name or "?"


# -- schema changes -------------------------------------------------------------------


def is_empty(conn: sa.Connection) -> bool:
    """No table of watcher's: a new index. Other tables of the same database (a job
    queue's) are not watcher's to judge."""
    return conn.exec_driver_sql("SELECT to_regclass('targets') IS NULL").scalar() is True


@contextmanager
def schema_lock(conn: sa.Connection) -> Iterator[None]:
    """Schema changes one process at a time, the version read under the lock: workers
    started together on a new database would each create the tables, and PostgreSQL's
    catalog refuses all but the first ("duplicate key … pg_type_typname_nsp_index").
    A session lock: it holds across the transactions and goes with the connection."""
    conn.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_KEY})")
    try:
        yield
    finally:
        try:
            conn.rollback()  # a failed statement would refuse the unlock
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEMA_KEY})")
            conn.commit()
        except sa.exc.DBAPIError:  # the connection broke: the lock went with it
            log.debug("schema lock: went with its connection")


def drop_leftover_copies(conn: sa.Connection) -> None:
    """Nothing to do: PostgreSQL alters tables in place, inside the transaction."""


@contextmanager
def one_transaction(conn: sa.Connection) -> Iterator[None]:
    """Schema changes as one transaction: PostgreSQL's DDL is transactional, so a
    process killed half-way leaves the index as it was."""
    conn.commit()  # end whatever the version query began
    with conn.begin():
        yield


def sync_identity(conn: sa.Connection, table: sa.Table | str) -> None:
    """Move the table's id sequence past the ids written explicitly (a backfill,
    a copied store), so the next insert does not take one of them."""
    name = table if isinstance(table, str) else table.name
    conn.execute(
        sa.text(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
            f'COALESCE((SELECT MAX(id) FROM "{name}"), 0) + 1, false)'
        )
    )


# -- search ---------------------------------------------------------------------------

SEARCH_DDL = (
    "CREATE TABLE search (id INTEGER PRIMARY KEY REFERENCES search_texts (id), "
    "terms TSVECTOR NOT NULL)",
    "CREATE INDEX ix_search_terms ON search USING gin (terms)",
)


@functools.cache
def _insert_text() -> Any:
    # built on first use: an embedded store never imports the PostgreSQL dialect
    from sqlalchemy.dialects import postgresql

    return (
        postgresql.insert(search_texts)
        .values(text_sha256=sa.bindparam("digest"))
        .on_conflict_do_nothing()
        .returning(search_texts.c.id)
    )


SEARCH_INSERT = sa.text(
    "INSERT INTO search (id, terms) VALUES (:id, array_to_tsvector(CAST(:terms AS text[])))"
)
_TEXTS_NEWEST_FIRST = sa.text(
    "SELECT id FROM search WHERE terms @@ CAST(:q AS tsquery) AND id < :before "
    "ORDER BY id DESC LIMIT :n"
)


def create_search(conn: sa.Connection) -> None:
    for statement in SEARCH_DDL:
        conn.exec_driver_sql(statement)


def index_text(conn: sa.Connection, digest: str, terms: str) -> None:
    """Add a text's terms to the search index, once per distinct text."""
    added = conn.execute(_insert_text(), {"digest": digest}).scalar()
    if added is not None:
        conn.execute(SEARCH_INSERT, {"id": added, "terms": _lexemes(digest, terms)})


def _lexemes(digest: str, terms: str) -> list[str]:
    """The tokens as lexemes, within what a ``tsvector`` holds: a token too long to be
    a lexeme (a run of 700 Latin letters) is left out, and a text of more distinct
    tokens than 1 MB holds is indexed by its first ones, with a warning."""
    kept, size = [], 0
    for token in terms.split():
        length = len(token.encode("utf-8"))
        if length > _LEXEME_BYTES:
            continue
        size += length + 4
        if size > _VECTOR_BYTES:
            log.warning("text %s: only its first %d tokens are searchable", digest, len(kept))
            break
        kept.append(token)
    return kept


def texts_matching(
    conn: sa.Connection, tokens: Sequence[str], before: int, n: int, *alternatives: Sequence[str]
) -> list[int]:
    """Ids (``search_texts.id``) of up to ``n`` texts holding every token (of ``tokens``
    or of any of the ``alternatives``), below ``before``, newest first."""

    def lexeme(token: str) -> str:  # quoted: taken as written, no operator of the user's
        return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"

    def every(group: Sequence[str]) -> str:
        return "(" + " & ".join(map(lexeme, group)) + ")"

    query = " | ".join(every(group) for group in (tokens, *alternatives))
    params = {"q": query, "before": before, "n": n}
    return list(conn.execute(_TEXTS_NEWEST_FIRST, params).scalars())


# -- statements -----------------------------------------------------------------------


def insert_or_ignore(table: sa.Table) -> Any:
    """An insert that skips rows whose key is already there."""
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table).on_conflict_do_nothing()


def joined_distinct(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """The distinct values of a column in a group, joined by commas."""
    return sa.func.string_agg(sa.distinct(column), ",")
