"""Copying a whole store into another one (the embedded store into the team store), and
proving the copy: every row of every table and every blob a row refers to.

The source is opened read-only and never written: a copy that fails half-way leaves
the original as it was, and can be run again into a fresh target. Rows keep their
ids (captures, inbox items and audit entries are cited by them), so tables are copied
in the order their foreign keys require, a table that points at itself (a listing's
documents) in two passes. The search index is not copied but rebuilt by the target
from the copied texts, in the target's own dialect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from watcher.store import schema
from watcher.store.blobs import BlobMissing, BlobStore, BlobUnavailable, DamagedBlob
from watcher.store.index import Store, StoreError

__all__ = ["CopyReport", "Progress", "copy_store", "verify_copy"]

BATCH = 1000  # rows a statement: bounded memory on a store of millions of rows
# rebuilt by the target, not copied: the search ids are the target's own
_DERIVED = {"search_texts"}

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class CopyReport:
    """What was copied, and what differs between the two stores (nothing: a true copy)."""

    rows: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    blobs_present: int = 0  # already in the target's blob store (content-addressed)
    texts_indexed: int = 0
    problems: list[str] = field(default_factory=list)


def tables() -> list[sa.Table]:
    """The index's tables in an order their foreign keys allow."""
    return [t for t in schema.metadata.sorted_tables if t.name not in _DERIVED]


def copy_store(
    source: Store, target: Store, *, blobs: bool = True, progress: Progress | None = None
) -> CopyReport:
    """Copy ``source`` into ``target``, which must hold no targets yet: blobs first (as a
    check writes them, before the rows that name them), then the rows, then the search
    index; then verify. ``blobs`` False: the two share one blob store."""
    note = progress or (lambda what, done, total: None)
    report = CopyReport()
    _refuse_nonempty(target)
    if blobs:
        report.blobs, report.blobs_present = _copy_blobs(source, target, note)
    with source.engine.connect() as src, target.engine.begin() as dst:
        for table in tables():
            report.rows[table.name] = _copy_table(src, dst, table, note)
        target.after_copy(dst, [t.name for t in tables()])
    digests = _distinct_texts(target)
    for start in range(0, len(digests), 500):
        report.texts_indexed += target.index_texts(digests[start : start + 500])
        note("search index", min(start + 500, len(digests)), len(digests))
    report.problems = verify_copy(source, target, progress=note)
    return report


def _refuse_nonempty(target: Store) -> None:
    with target.engine.connect() as conn:
        held = conn.execute(sa.select(sa.func.count()).select_from(schema.targets)).scalar()
    if held:
        raise StoreError(
            f"the target store already holds {held} targets; copy-store copies into an "
            "empty store only (nothing was written)"
        )


def _copy_table(src: sa.Connection, dst: sa.Connection, table: sa.Table, note: Progress) -> int:
    total = src.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
    if not total:
        return 0
    selfrefs = [fk.parent.name for fk in table.foreign_keys if fk.column.table.name == table.name]
    done = 0
    later: list[dict[str, Any]] = []
    for batch in _batches(src, table):
        if selfrefs:  # the row it points at may come later: point after all are in
            for row in batch:
                if any(row[c] is not None for c in selfrefs):
                    later.append(_key(table, row) | {c: row[c] for c in selfrefs})
                    for c in selfrefs:
                        row[c] = None
        dst.execute(table.insert(), batch)
        done += len(batch)
        note(table.name, done, total)
    for values in later:
        key = _key(table, values)
        condition = sa.and_(*(table.c[k] == v for k, v in key.items()))
        dst.execute(table.update().where(condition).values({c: values[c] for c in selfrefs}))
    return done


def _key(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    return {c.name: row[c.name] for c in table.primary_key.columns}


def _batches(conn: sa.Connection, table: sa.Table) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in primary-key order, a batch at a time (keyset paging, so a
    large table is never read in one result)."""
    order = list(table.primary_key.columns) or list(table.columns)
    query = sa.select(table).order_by(*order)
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
    for part in result.mappings().partitions(BATCH):
        yield [dict(row) for row in part]


def _referenced_blobs(conn: sa.Connection) -> Iterator[str]:
    c = schema.captures.c
    for column in (c.raw_sha256, c.text_sha256, c.dom_sha256, c.screenshot_sha256):
        yield from conn.execute(sa.select(column).distinct().where(column.is_not(None))).scalars()
    m = schema.messages.c
    query = sa.select(m.attachment_sha256).distinct().where(m.attachment_sha256.is_not(None))
    yield from conn.execute(query).scalars()


def _copy_blobs(source: Store, target: Store, note: Progress) -> tuple[int, int]:
    with source.engine.connect() as conn:
        digests = sorted(set(_referenced_blobs(conn)))
    present = 0
    for done, digest in enumerate(digests, 1):
        if target.blobs.exists(digest):
            present += 1
        else:
            try:
                data = source.blobs.get(digest)  # read and checked against its digest
            except (BlobMissing, DamagedBlob) as exc:
                raise StoreError(
                    f"the source store's blob {digest} cannot be read ({exc}); run "
                    "`watcher verify` on it; nothing of the rows was copied"
                ) from None
            target.blobs.put(data, digest)
        note("blobs", done, len(digests))
    return len(digests), present


def _distinct_texts(store: Store) -> list[str]:
    c = schema.captures.c
    # oldest text first, so search ids grow with time as in a store filled by checks
    query = sa.select(c.text_sha256).group_by(c.text_sha256).order_by(sa.func.min(c.fetched_at))
    with store.engine.connect() as conn:
        return list(conn.execute(query).scalars())


# -- proving the copy -------------------------------------------------------------------


def verify_copy(source: Store, target: Store, *, progress: Progress | None = None) -> list[str]:
    """What differs: per table, the row count and a digest of every row in key order;
    every blob the source refers to present and intact in the target; every text
    searchable. Nothing: the copy is true."""
    note = progress or (lambda what, done, total: None)
    problems: list[str] = []
    with source.engine.connect() as src, target.engine.connect() as dst:
        for table in tables():
            a, b = _fingerprint(src, table), _fingerprint(dst, table)
            if a != b:
                problems.append(
                    f"table {table.name}: {a[0]} rows in the source, {b[0]} in the target"
                    + ("" if a[0] != b[0] else ", with different contents")
                )
            note("verify rows", 1, 1)
        digests = sorted(set(_referenced_blobs(src)))
        texts = set(src.execute(sa.select(schema.captures.c.text_sha256).distinct()).scalars())
        indexed = set(dst.execute(sa.select(schema.search_texts.c.text_sha256)).scalars())
    if missing := texts - indexed:
        problems.append(f"{len(missing)} texts are not in the target's search index")
    problems.extend(_check_blobs(target.blobs, digests, note))
    return problems


def _check_blobs(blobs: BlobStore, digests: list[str], note: Progress) -> list[str]:
    problems: list[str] = []
    for done, digest in enumerate(digests, 1):
        try:
            blobs.check(digest)
        except BlobMissing:
            problems.append(f"blob {digest} is missing from the target")
        except DamagedBlob as exc:
            problems.append(f"blob {digest} is damaged in the target: {exc.reason}")
        except BlobUnavailable as exc:
            problems.append(f"{exc}; the blobs after it were not checked")
            break
        note("verify blobs", done, len(digests))
    return problems


def _fingerprint(conn: sa.Connection, table: sa.Table) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    for batch in _batches(conn, table):
        for row in batch:
            digest.update(repr([_plain(row[c.name]) for c in table.columns]).encode())
            count += 1
    return count, digest.hexdigest()


def _plain(value: Any) -> Any:
    """One form for a value whichever database returned it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    return value
