"""The inbox's events, written in the transaction that recorded what they tell.

A capture, a document's fate, a check that failed or worked again: each is an
event here, so the inbox holds exactly what the store does. An edit whose
``change_key`` (a hash of the added and removed text and a few characters of its
line around each edit) matches an item of the last ``GROUP_WINDOW`` joins that item:
the same footer changed on forty targets is one item with a count. The index and
the documents call this module; it imports neither (``watcher.store.inbox`` reads what it writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from watcher.store import dialects
from watcher.store.schema import (
    captures,
    document_events,
    documents,
    inbox_events,
    inbox_items,
    targets,
)

GROUP_WINDOW = timedelta(days=7)  # the same edit this much later is a new item
FAILING_AFTER = 3  # failed checks in a row that make a target "failing" (error_after's default)
FATE_KINDS = ("suspected", "removed", "delisted", "restored", "blocked", "broken")


def record_capture(
    conn: sa.Connection,
    *,
    capture_id: str,
    target_id: int,
    kind: str,
    at: datetime,
    previous_id: str | None,
    change_key: str | None,
    title: str,
) -> None:
    """The event of a stored capture: a page's first version or change, a new or
    edited notice. A listing's own page and a baseline's quiet archive are not news."""
    if kind not in ("new", "changed"):
        return
    row = conn.execute(
        sa.select(
            targets.c.kind,
            targets.c.name,
            documents.c.state,
            documents.c.title.label("doc_title"),
            sa.exists()
            .where(documents.c.listing_id == targets.c.id)
            .correlate(targets)
            .label("is_listing"),
        )
        .select_from(targets.outerjoin(documents, documents.c.target_id == targets.c.id))
        .where(targets.c.id == target_id)
    ).one()
    if row.is_listing:
        return
    if row.kind == "page":
        event = "new" if kind == "new" else "changed"
    elif kind == "new" and row.state == "baseline":
        return
    else:
        event = "document" if kind == "new" else "edited"
    _add(
        conn,
        kind=event,
        at=at,
        target_id=target_id,
        title=row.doc_title or title or row.name,
        capture_id=capture_id,
        previous_id=previous_id if kind == "changed" else None,
        change_key=change_key if kind == "changed" else None,
    )


def record_cited(
    conn: sa.Connection, *, at: datetime, target_id: int, capture_id: str, title: str, detail: str
) -> None:
    """A new notice cites a document someone follows (``watcher.store.works``)."""
    _add(
        conn,
        kind="cited",
        at=at,
        target_id=target_id,
        title=title,
        capture_id=capture_id,
        detail=detail,
    )


def forget_listing(conn: sa.Connection, listing_id: int) -> None:
    """A target found to be a listing (its first items are being added): its own
    page's events go, as its later ones are never made; its documents are the news."""
    own = sa.select(inbox_events.c.item_id).where(
        inbox_events.c.target_id == listing_id, inbox_events.c.kind.in_(("new", "changed"))
    )
    ids = list(conn.execute(own).scalars())
    if not ids:
        return
    conn.execute(sa.delete(inbox_events).where(inbox_events.c.item_id.in_(ids)))
    conn.execute(sa.delete(inbox_items).where(inbox_items.c.id.in_(ids)))


def record_fate(
    conn: sa.Connection,
    *,
    target_id: int,
    at: datetime,
    state: str,
    reason: str | None,
    evidence_id: str | None,
) -> None:
    """The event of a document's change of state (its capture has its own event)."""
    if state not in FATE_KINDS:
        return
    title = conn.execute(
        sa.select(sa.func.coalesce(sa.func.nullif(documents.c.title, ""), targets.c.name))
        .select_from(targets.outerjoin(documents, documents.c.target_id == targets.c.id))
        .where(targets.c.id == target_id)
    ).scalar_one()
    _add(
        conn,
        kind=state,
        at=at,
        target_id=target_id,
        title=title,
        capture_id=evidence_id,
        detail=reason,
    )


def record_checks(
    conn: sa.Connection, checks: Iterable[tuple[int, datetime, bool, str | None]]
) -> None:
    """Failing and recovering targets, from (target_id, checked_at, ok, error) read
    before the targets' error counts are updated: the ``FAILING_AFTER``-th failure
    in a row, and the first success after one."""
    checks = list(checks)
    if not checks:
        return
    counts = dict(  # a document's failures are its fates (suspected, removed ...)
        conn.execute(
            sa.select(targets.c.id, targets.c.consecutive_errors).where(
                targets.c.id.in_({c[0] for c in checks}), targets.c.kind == "page"
            )
        ).all()
    )
    for target_id, at, ok, error in checks:
        if target_id not in counts:
            continue
        before = counts[target_id]
        if not ok and before + 1 == FAILING_AFTER:
            kind, detail = "failing", error
        elif ok and before >= FAILING_AFTER:
            kind, detail = "recovered", f"after {before} failed checks"
        else:
            counts[target_id] = 0 if ok else before + 1
            continue
        counts[target_id] = 0 if ok else before + 1
        name = conn.execute(sa.select(targets.c.name).where(targets.c.id == target_id)).scalar()
        _add(conn, kind=kind, at=at, target_id=target_id, title=name or "", detail=detail)


def _add(
    conn: sa.Connection,
    *,
    kind: str,
    at: datetime,
    target_id: int,
    title: str,
    capture_id: str | None = None,
    previous_id: str | None = None,
    detail: str | None = None,
    change_key: str | None = None,
) -> int:
    item_id = None
    if change_key:
        item_id = conn.execute(
            sa.select(inbox_items.c.id)
            .where(
                inbox_items.c.change_key == change_key, inbox_items.c.last_at >= at - GROUP_WINDOW
            )
            .order_by(inbox_items.c.last_at.desc())
            .limit(1)
        ).scalar()
    if item_id is None:
        item_id = conn.execute(
            sa.insert(inbox_items).values(
                kind=kind,
                change_key=change_key,
                first_at=at,
                last_at=at,
                count=1,
                target_id=target_id,
                title=title,
            )
        ).inserted_primary_key[0]
    else:
        when = sa.literal(at, inbox_items.c.last_at.type)  # stored as the column stores it
        conn.execute(
            sa.update(inbox_items)
            .where(inbox_items.c.id == item_id)
            .values(
                count=inbox_items.c.count + 1,
                last_at=sa.case((inbox_items.c.last_at < when, when), else_=inbox_items.c.last_at),
            )
        )
    conn.execute(
        sa.insert(inbox_events).values(
            item_id=item_id,
            kind=kind,
            at=at,
            target_id=target_id,
            capture_id=capture_id,
            previous_id=previous_id,
            detail=detail,
        )
    )
    return int(item_id)


def backfill(conn: sa.Connection) -> int:
    """Events for what an existing store recorded before the inbox: captures and the
    documents' fates, each an item of its own (no change keys then). Failing and
    recovering are not rebuilt from old checks. Returns how many events it made."""
    listing_ids = sa.select(documents.c.listing_id).distinct()
    baseline = sa.select(document_events.c.target_id).where(
        document_events.c.state == "captured", document_events.c.reason == "baseline"
    )
    kind = sa.case(
        (
            targets.c.kind == "page",
            sa.case((captures.c.kind == "new", "new"), else_="changed"),
        ),
        else_=sa.case((captures.c.kind == "new", "document"), else_="edited"),
    )
    title = sa.func.coalesce(
        sa.func.nullif(documents.c.title, ""), sa.func.nullif(captures.c.title, ""), targets.c.name
    )
    from_captures = (
        sa.select(
            kind.label("kind"),
            captures.c.fetched_at,
            captures.c.target_id,
            captures.c.id,
            sa.case((captures.c.kind == "changed", captures.c.previous_id)),
            sa.null(),
            title,
        )
        .select_from(
            captures.join(targets, targets.c.id == captures.c.target_id).outerjoin(
                documents, documents.c.target_id == targets.c.id
            )
        )
        .where(
            captures.c.kind.in_(("new", "changed")),
            targets.c.id.not_in(listing_ids),
            sa.or_(
                targets.c.kind == "page",
                captures.c.kind == "changed",
                targets.c.id.not_in(baseline),
            ),
        )
    )
    from_fates = (
        sa.select(
            document_events.c.state,
            document_events.c.at,
            document_events.c.target_id,
            document_events.c.evidence_id,
            sa.null(),
            document_events.c.reason,
            sa.func.coalesce(sa.func.nullif(documents.c.title, ""), targets.c.name),
        )
        .select_from(
            document_events.join(targets, targets.c.id == document_events.c.target_id).outerjoin(
                documents, documents.c.target_id == targets.c.id
            )
        )
        .where(document_events.c.state.in_(FATE_KINDS))
    )
    cols = ["kind", "at", "target_id", "capture_id", "previous_id", "detail", "title"]
    staging = sa.Table(  # seq: the order of insertion, which breaks ties of ``at``
        "inbox_backfill",
        sa.MetaData(),
        sa.Column("seq", sa.Integer, primary_key=True),
        *(sa.Column(n, sa.Integer if n == "target_id" else sa.Text) for n in cols),
        prefixes=["TEMPORARY"],
    )
    staging.create(conn)
    for query in (from_captures, from_fates):
        conn.execute(sa.insert(staging).from_select(cols, query))
    start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(inbox_items.c.id), 0))).scalar()
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE inbox_backfill_ordered AS SELECT row_number() OVER "
        "(ORDER BY at, seq) AS n, kind, at, target_id, capture_id, previous_id, detail, title "
        "FROM inbox_backfill"
    )
    conn.exec_driver_sql(
        "INSERT INTO inbox_items (id, kind, first_at, last_at, count, target_id, title) "
        f"SELECT n + {int(start)}, kind, at, at, 1, target_id, title FROM inbox_backfill_ordered"
    )
    made = conn.exec_driver_sql(
        "INSERT INTO inbox_events (item_id, kind, at, target_id, capture_id, previous_id, "
        f"detail) SELECT n + {int(start)}, kind, at, target_id, capture_id, previous_id, detail "
        "FROM inbox_backfill_ordered"
    ).rowcount
    conn.exec_driver_sql("DROP TABLE inbox_backfill")
    conn.exec_driver_sql("DROP TABLE inbox_backfill_ordered")
    dialects.of(conn).sync_identity(conn, inbox_items)  # ids were given explicitly
    return int(made or 0)
