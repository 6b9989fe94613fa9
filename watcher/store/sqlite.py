"""Everything SQLite-specific about the index, in one place.

The rest of ``watcher.store`` writes SQLAlchemy Core that any database runs; what
only SQLite has or needs is here, behind a few named functions: the engine and
its per-connection pragmas, the writer lock on the data folder, DDL in one
transaction, ``sqlite_master`` look-ups, the FTS5 search table (its DDL, insert
and ``MATCH`` query), ``INSERT OR IGNORE``, ``group_concat``, the integrity
check and the WAL checkpoint.

This is the one module a PostgreSQL dialect will mirror: a sibling with these
names (an advisory lock, transactional DDL as it comes, ``information_schema``,
a ``tsvector`` column for the same tokens, ``ON CONFLICT DO NOTHING``,
``string_agg``), chosen where the store makes its engine. No other module of
watcher needs to change for it.
"""

from __future__ import annotations

import fcntl
import os
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watcher.store.schema import search_texts

IN_BATCH = 500  # values in one ``IN (…)``: SQLite caps the bound parameters of a statement
LATE_COMMITS = 0  # one writer at a time: rows commit in the order of their ids


# -- connecting -----------------------------------------------------------------------


def engine(index: Path, *, readonly: bool, create: bool = True) -> sa.Engine:
    """An engine on the index file; read-only engines cannot write even by mistake.
    ``create`` False: a missing file is an error, not a new empty index."""
    if readonly or not create:
        mode = "ro" if readonly else "rw"
        url = f"sqlite:///file:{urllib.parse.quote(str(index))}?mode={mode}&uri=true"
    else:
        url = f"sqlite:///{index}"
    made = sa.create_engine(url)
    sa.event.listen(made, "connect", _set_pragmas)
    return made


def _set_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # per connection: WAL with synchronous=NORMAL stays consistent after a crash and
    # needs no fsync per commit (FULL, the default, would fsync every check)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 10000")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def use_wal(conn: sa.Connection) -> None:
    """Write-ahead logging, so readers (the web UI) never wait for a writer; the mode
    is kept in the file."""
    conn.exec_driver_sql("PRAGMA journal_mode = WAL")


def checkpoint(engine: sa.Engine) -> None:
    """Fold the write-ahead log back into the index and shrink it: a WAL left at its
    high-water mark doubles the index's size on disk between runs."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def integrity_problems(conn: sa.Connection) -> list[str]:
    """What SQLite's own integrity check finds wrong with the file (nothing: [])."""
    result = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
    return [] if result == ["ok"] else [f"sqlite: {line}" for line in result]


# -- one writer -----------------------------------------------------------------------


class LockBusy(Exception):
    """Another process holds the writer lock; ``holder`` is its pid as it wrote it."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def writer_lock(root: Path, wait: float) -> int:
    """The data folder's writer lock (a file descriptor), waiting up to ``wait`` s.

    One writer per data folder: two overlapping runs (cron, a run during the
    service) would otherwise read the same "last capture" and store the same page
    twice. The lock goes with the process, so a killed run leaves none behind."""
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LockBusy(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd


def release(lock: int) -> None:
    os.close(lock)


# -- schema changes -------------------------------------------------------------------


def is_empty(conn: sa.Connection) -> bool:
    """No table at all: a new index, to be created rather than migrated."""
    return conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1").first() is None


def drop_leftover_copies(conn: sa.Connection) -> None:
    """Drop the half-made table copies (``_alembic_tmp_…``) of an older, interrupted
    migration: SQLite alters a table by copying it."""
    leftovers = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '_alembic_tmp_%'"
    ).fetchall()
    for (leftover,) in leftovers:
        conn.exec_driver_sql(f'DROP TABLE "{leftover}"')


@contextmanager
def schema_lock(conn: sa.Connection) -> Iterator[None]:
    """Nothing taken: a data folder's index is on one machine, made by the first
    process to open it; PostgreSQL's team store is the one workers start on at once."""
    yield


@contextmanager
def one_transaction(conn: sa.Connection) -> Iterator[None]:
    """Schema changes as one SQLite transaction, with foreign keys off meanwhile.

    Python's sqlite3 commits each DDL statement on its own, so a process killed
    mid-migration used to leave tables without the version that names them, and
    an index no later run could open. SQLite alters a table by copying it, and
    with foreign keys enforced, dropping the old copy fails while other tables
    point at it; the pragma only takes effect outside a transaction, so it is
    set around it, and the keys are checked before the commit.
    """
    conn.commit()  # end whatever the version query began: the BEGIN below must be first
    driver = conn.connection.driver_connection
    assert driver is not None
    implicit = driver.isolation_level
    driver.isolation_level = None  # sqlite3 issues no BEGIN/COMMIT of its own now
    conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left {len(broken)} rows with broken references")
        conn.exec_driver_sql("COMMIT")
    except BaseException:
        conn.exec_driver_sql("ROLLBACK")
        raise
    finally:
        driver.isolation_level = implicit
        conn.exec_driver_sql("PRAGMA foreign_keys = ON")


# -- search ---------------------------------------------------------------------------

# ``search_texts`` (in watcher.store.schema) gives each distinct text an id; this FTS5
# table holds the text's tokens under that id as its rowid, without the text and
# without positions (see watcher.store.search).
SEARCH_DDL = (  # as migration 0003 made it
    "CREATE VIRTUAL TABLE search USING fts5("
    "terms, content='', detail=none, tokenize='unicode61 remove_diacritics 0')"
)
SEARCH_INSERT = sa.text("INSERT INTO search(rowid, terms) VALUES (:id, :terms)")
_TEXTS_NEWEST_FIRST = sa.text(
    "SELECT rowid FROM search WHERE search MATCH :q AND rowid < :before "
    "ORDER BY rowid DESC LIMIT :n"
)


def create_search(conn: sa.Connection) -> None:
    conn.exec_driver_sql(SEARCH_DDL)


def index_text(conn: sa.Connection, digest: str, terms: str) -> None:
    """Add a text's terms to the search index, once per distinct text."""
    added = conn.execute(insert_or_ignore(search_texts).values(text_sha256=digest))
    if added.rowcount == 1:
        conn.execute(SEARCH_INSERT, {"id": added.lastrowid, "terms": terms})


def texts_matching(
    conn: sa.Connection, tokens: Sequence[str], before: int, n: int, *alternatives: Sequence[str]
) -> list[int]:
    """Ids (``search_texts.id``) of up to ``n`` texts holding every token (of ``tokens``
    or of any of the ``alternatives``), below ``before``, newest first: the index is
    read in pages, never all of it."""

    def every(group: Sequence[str]) -> str:  # tokens quoted: no operator of the user's
        return "(" + " AND ".join('"' + t.replace('"', '""') + '"' for t in group) + ")"

    match = " OR ".join(every(group) for group in (tokens, *alternatives))
    params = {"q": match, "before": before, "n": n}
    return list(conn.execute(_TEXTS_NEWEST_FIRST, params).scalars())


# -- statements -----------------------------------------------------------------------


def insert_or_ignore(table: sa.Table) -> sa.Insert:
    """An insert that skips rows whose key is already there."""
    return sa.insert(table).prefix_with("OR IGNORE")


def joined_distinct(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """The distinct values of a column in a group, joined by commas."""
    return sa.func.group_concat(sa.distinct(column))


def sync_identity(conn: sa.Connection, table: sa.Table | str) -> None:
    """Nothing to do: SQLite's next id is always past the largest."""
