"""What the CSV and XLSX exports read that the web's views do not: captures by id in
bulk (an export of hits or inbox items cites each one's capture) and the listings
that have documents."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from watcher.store.index import CaptureRow, Store, capture_query, to_capture
from watcher.store.schema import captures, documents, targets

CHUNK = 500  # ids per IN (…): well under SQLite's limit of bound parameters


def captures_by_id(store: Store, ids: Iterable[str]) -> dict[str, CaptureRow]:
    """The captures of ``ids`` (unknown ids are left out), read in chunks."""
    wanted = sorted(set(ids))
    found: dict[str, CaptureRow] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), CHUNK):
            query = capture_query().where(captures.c.id.in_(wanted[start : start + CHUNK]))
            found.update((row.id, row) for row in map(to_capture, conn.execute(query)))
    return found


def listing_names(store: Store) -> list[str]:
    """The targets whose checks have listed documents, by name."""
    query = (
        sa.select(targets.c.name)
        .where(targets.c.id.in_(sa.select(documents.c.listing_id)))
        .order_by(targets.c.name)
    )
    with store.engine.connect() as conn:
        return list(conn.execute(query).scalars())
