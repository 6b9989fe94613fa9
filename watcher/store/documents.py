"""What a listing has listed, in the index: documents and their removal state.

Each document (or attachment) also has its own row in ``targets`` (kind
``document`` / ``attachment``, ``parent_id`` = the listing), so its checks,
captures, hits, diffs and search go through the same code as any page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from watcher.store import inboxlog, outbox
from watcher.store.schema import document_events, documents, targets


@dataclass(frozen=True, slots=True)
class DocumentRow:
    target_id: int
    name: str  # its row in targets
    listing_id: int
    parent_id: int | None
    url: str
    title: str
    listed_date: str | None
    position: int | None
    first_seen_at: datetime
    last_listed_at: datetime | None
    state: str
    state_since: datetime | None
    failed_checks: int
    delisted_at: datetime | None
    last_good_capture_id: str | None
    next_check_at: datetime | None
    kind: str  # document | attachment
    listed_fields: dict[str, Any] | None = None  # a JSON listing's own fields of the item
    reason: str | None = None  # what was seen when the state last changed
    select_missed: bool = False  # told once that follow.select matched nothing


def document_name(listing: str, url: str) -> str:
    """A stable target name for a listed URL: the listing's name and a hash."""
    return f"{listing}~{hashlib.sha1(url.encode()).hexdigest()[:12]}"


class Documents:
    """The documents of listings, on one SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def of_listing(self, listing_id: int, kind: str | None = None) -> dict[str, DocumentRow]:
        """A listing's documents (or attachments) by URL."""
        query = _query().where(documents.c.listing_id == listing_id)
        if kind is not None:
            query = query.where(targets.c.kind == kind)
        with self.engine.connect() as conn:
            return {r.url: r for r in map(_row, conn.execute(query))}

    def add(
        self,
        listing_name: str,
        listing_id: int,
        found: Sequence[tuple[str, str, str | None, int]],
        state: str,
        now: datetime,
        *,
        kind: str = "document",
        parent_id: int | None = None,
    ) -> list[DocumentRow]:
        """Register new items (url, title, date, position) in one transaction."""
        if not found:
            return []
        with self.engine.begin() as conn:
            inboxlog.forget_listing(conn, listing_id)
            for url, title, date, position in found:
                name = document_name(listing_name, url)
                target_id = conn.execute(
                    sa.insert(targets).values(
                        name=name, url=url, created_at=now, kind=kind, parent_id=listing_id
                    )
                ).inserted_primary_key[0]
                conn.execute(
                    sa.insert(documents).values(
                        target_id=target_id,
                        listing_id=listing_id,
                        parent_id=parent_id,
                        url=url,
                        title=title,
                        listed_date=date,
                        position=position,
                        first_seen_at=now,
                        last_listed_at=now,
                        state=state,
                        state_since=now,
                    )
                )
        wanted = {url for url, *_ in found}
        return [d for d in self.of_listing(listing_id).values() if d.url in wanted]

    def listed(self, rows: Sequence[tuple[int, int, str, str | None]], now: datetime) -> None:
        """Seen in the listing again: (target_id, position, title, date)."""
        if not rows:
            return
        stmt = (
            sa.update(documents)
            .where(documents.c.target_id == sa.bindparam("tid"))
            .values(
                position=sa.bindparam("pos"),
                title=sa.bindparam("t"),
                listed_date=sa.func.coalesce(sa.bindparam("d"), documents.c.listed_date),
                last_listed_at=now,
                delisted_at=None,
            )
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"tid": i, "pos": p, "t": t, "d": d} for i, p, t, d in rows])

    def keep_fields(self, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """The item's fields as its JSON listing gave them last: (target_id, fields)."""
        if not rows:
            return
        stmt = (
            sa.update(documents)
            .where(documents.c.target_id == sa.bindparam("tid"))
            .values(metadata=sa.bindparam("f"))
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"tid": i, "f": f} for i, f in rows])

    def update(
        self,
        target_id: int,
        messages: Sequence[outbox.NewMessage] = (),
        fate: Fate | None = None,
        **values: Any,
    ) -> None:
        """Change a document's state, with the alerts the change causes and the entry
        of its fate in the log (``fate``), in one transaction."""
        with self.engine.begin() as conn:
            if values:
                conn.execute(
                    sa.update(documents).where(documents.c.target_id == target_id).values(**values)
                )
            if fate is not None:
                conn.execute(
                    sa.insert(document_events).values(
                        target_id=target_id,
                        listing_id=fate.listing_id,
                        at=fate.at,
                        state=fate.state,
                        reason=fate.reason,
                        evidence_id=fate.evidence_id,
                    )
                )
                inboxlog.record_fate(
                    conn,
                    target_id=target_id,
                    at=fate.at,
                    state=fate.state,
                    reason=fate.reason,
                    evidence_id=fate.evidence_id,
                )
            outbox.insert(conn, messages)


@dataclass(frozen=True, slots=True)
class Fate:
    """One entry of the log of documents' state changes."""

    listing_id: int
    at: datetime  # the listing check's time: one check's entries share it
    state: str
    reason: str | None = None
    evidence_id: str | None = None


def _query() -> sa.Select[Any]:
    return sa.select(documents, targets.c.name, targets.c.kind).join(
        targets, targets.c.id == documents.c.target_id
    )


def _row(r: sa.Row[Any]) -> DocumentRow:
    m = r._mapping
    return DocumentRow(
        target_id=m["target_id"],
        name=m["name"],
        listing_id=m["listing_id"],
        parent_id=m["parent_id"],
        url=m["url"],
        title=m["title"],
        listed_date=m["listed_date"],
        position=m["position"],
        first_seen_at=m["first_seen_at"],
        last_listed_at=m["last_listed_at"],
        state=m["state"],
        state_since=m["state_since"],
        failed_checks=m["failed_checks"],
        delisted_at=m["delisted_at"],
        last_good_capture_id=m["last_good_capture_id"],
        next_check_at=m["next_check_at"],
        kind=m["kind"],
        listed_fields=m["metadata"],
        reason=m["reason"],
        select_missed=bool(m["select_missed"]),
    )
