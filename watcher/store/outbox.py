"""The outbox in the index: messages waiting to be sent, and their deliveries.

Only rows and transactions live here; what a message says is decided in
``watcher.alerts.plan`` and sending is ``watcher.alerts.send``'s job. A message
is inserted by the transaction that stores its cause (a capture, a check); a
delivery row per channel is made when the sender first takes the message, and
every state change is one short transaction, so a crash at any point leaves a
message either delivered to a channel or still due there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from watcher.core.ids import new_id
from watcher.store import dialects
from watcher.store.schema import deliveries, messages

FINAL = ("sent", "failed", "unconfirmed", "skipped", "digested")
# needs a person: refused for good, or maybe delivered (the server never confirmed)
STUCK = ("failed", "unconfirmed")


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to queue, as composed: its title and its body in three formats."""

    kind: str
    target: str | None
    capture_id: str | None
    tags: tuple[str, ...]
    title: str
    body_text: str
    body_html: str
    body_markdown: str
    created_at: datetime
    digest_tag: str | None = None
    attachment_sha256: str | None = None  # a blob (a screenshot) sent with the message


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: str
    created_at: datetime
    kind: str
    target: str | None
    capture_id: str | None
    tags: list[str]
    title: str
    body_text: str
    body_html: str
    body_markdown: str
    status: str
    digest_tag: str | None
    digest_id: str | None
    sent_at: datetime | None
    error: str | None
    attachment_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    message_id: str
    channel: str
    channel_name: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    error: str | None


def insert(conn: sa.Connection, new: Sequence[NewMessage]) -> list[str]:
    """Add messages within the caller's transaction; returns their ids."""
    if not new:
        return []
    rows = [_values(m) for m in new]
    conn.execute(sa.insert(messages), rows)
    return [r["id"] for r in rows]


def _values(m: NewMessage) -> dict[str, Any]:
    return {
        "id": new_id(m.created_at.timestamp()),
        "created_at": m.created_at,
        "kind": m.kind,
        "target": m.target,
        "capture_id": m.capture_id,
        "tags": list(m.tags),
        "title": m.title,
        "body_text": m.body_text,
        "body_html": m.body_html,
        "body_markdown": m.body_markdown,
        "status": "pending",
        "digest_tag": m.digest_tag,
        "attachment_sha256": m.attachment_sha256,
    }


class Outbox:
    """Queries and state changes of the outbox, on one SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- reading ----------------------------------------------------------------------

    def messages(
        self, statuses: Iterable[str] | None = None, limit: int | None = None
    ) -> list[MessageRow]:
        """Messages, newest first, optionally only those in ``statuses``."""
        query = sa.select(messages).order_by(messages.c.id.desc())
        if statuses is not None:
            query = query.where(messages.c.status.in_(list(statuses)))
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [MessageRow(**row._mapping) for row in conn.execute(query)]

    def message(self, message_id: str) -> MessageRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(messages).where(messages.c.id == message_id)).first()
        return MessageRow(**row._mapping) if row else None

    def deliveries_of(self, message_ids: Sequence[str]) -> dict[str, list[DeliveryRow]]:
        found: dict[str, list[DeliveryRow]] = {i: [] for i in message_ids}
        with self.engine.connect() as conn:
            for batch in dialects.in_batches(message_ids, conn):
                query = sa.select(deliveries).where(deliveries.c.message_id.in_(batch))
                for row in conn.execute(query.order_by(deliveries.c.id)):
                    found[row.message_id].append(DeliveryRow(**row._mapping))
        return found

    def counts(self) -> dict[str, int]:
        """Messages by status (the backlog is ``pending``)."""
        query = sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
        with self.engine.connect() as conn:
            return {status: n for status, n in conn.execute(query)}

    def unexpanded(self) -> list[MessageRow]:
        """Pending messages not yet split into deliveries (and not waiting for a digest)."""
        has_deliveries = sa.exists().where(deliveries.c.message_id == messages.c.id)
        query = (
            sa.select(messages)
            .where(messages.c.status == "pending", messages.c.digest_tag.is_(None))
            .where(~has_deliveries)
            .order_by(messages.c.id)
        )
        with self.engine.connect() as conn:
            return [MessageRow(**row._mapping) for row in conn.execute(query)]

    def due(self, now: datetime) -> list[tuple[DeliveryRow, MessageRow]]:
        """Deliveries to attempt now, oldest message first."""
        query = (
            sa.select(deliveries, messages)
            .join(messages, messages.c.id == deliveries.c.message_id)
            .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.message_id, deliveries.c.id)
        )
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                m = row._mapping
                delivery = DeliveryRow(**{c.name: m[deliveries.c[c.name]] for c in deliveries.c})
                message = MessageRow(**{c.name: m[messages.c[c.name]] for c in messages.c})
                out.append((delivery, message))
        return out

    def next_attempt(self) -> datetime | None:
        query = sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
            deliveries.c.status == "pending"
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()  # min() keeps the column's type

    def waiting_digests(self) -> dict[str, list[MessageRow]]:
        """Messages gathered for each digest tag, oldest first."""
        query = (
            sa.select(messages)
            .where(messages.c.status == "pending", messages.c.digest_tag.is_not(None))
            .order_by(messages.c.id)
        )
        found: dict[str, list[MessageRow]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found.setdefault(row.digest_tag, []).append(MessageRow(**row._mapping))
        return found

    # -- changing ---------------------------------------------------------------------

    def queue(self, new: Sequence[NewMessage]) -> list[str]:
        """Add messages that no capture or check causes (an admin notice), in their own
        transaction; returns their ids."""
        with self.engine.begin() as conn:
            return insert(conn, new)

    def expand(self, message_id: str, channels: Sequence[tuple[str, str]], now: datetime) -> None:
        """One pending delivery per channel (key, display name) for a message."""
        rows = [
            {
                "message_id": message_id,
                "channel": key,
                "channel_name": name,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
            for key, name in channels
        ]
        with self.engine.begin() as conn:
            conn.execute(dialects.of(conn).insert_or_ignore(deliveries), rows)

    def rename_channel(self, key: str, name: str, hide: Callable[[str], str]) -> int:
        """Give a channel's deliveries its current display name, and ``hide`` what their
        errors should not show: rows written before secrets were hidden get them hidden."""
        with self.engine.begin() as conn:
            stale = conn.execute(
                sa.select(deliveries.c.id, deliveries.c.error).where(
                    deliveries.c.channel == key, deliveries.c.channel_name != name
                )
            ).all()
            for row in stale:
                error = hide(row.error) if row.error else row.error
                conn.execute(
                    sa.update(deliveries)
                    .where(deliveries.c.id == row.id)
                    .values(channel_name=name, error=error)
                )
        return len(stale)

    def finish_message(self, message_id: str, status: str, error: str | None = None) -> None:
        """Close a message that has no deliveries to make (no channels, none matching)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(messages)
                .where(messages.c.id == message_id, messages.c.status == "pending")
                .values(status=status, error=error)
            )

    def delivered(self, delivery_id: int, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(status="sent", sent_at=now, attempts=deliveries.c.attempts + 1, error=None)
            )
            self._settle(conn, delivery_id, now)

    def attempt_failed(
        self,
        delivery_id: int,
        error: str,
        retry_at: datetime | None,
        now: datetime,
        *,
        status: str = "failed",
    ) -> None:
        """Record a failed attempt: due again at ``retry_at``, or ended (None) as
        ``status``: ``failed``, or ``unconfirmed`` when it may have arrived."""
        values: dict[str, Any] = {"attempts": deliveries.c.attempts + 1, "error": error}
        if retry_at is None:
            values["status"] = status
        else:
            values["next_attempt_at"] = retry_at
        with self.engine.begin() as conn:
            conn.execute(sa.update(deliveries).where(deliveries.c.id == delivery_id).values(values))
            self._settle(conn, delivery_id, now)

    def give_up(self, delivery_id: int, error: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(status="failed", error=error)
            )
            self._settle(conn, delivery_id, now)

    @staticmethod
    def _settle(conn: sa.Connection, delivery_id: int, now: datetime) -> None:
        """Once no delivery of a message is pending, the message is sent or failed."""
        message_id = conn.execute(
            sa.select(deliveries.c.message_id).where(deliveries.c.id == delivery_id)
        ).scalar_one()
        states = [
            (s, e)
            for s, e in conn.execute(
                sa.select(deliveries.c.status, deliveries.c.error).where(
                    deliveries.c.message_id == message_id
                )
            )
        ]
        if any(s == "pending" for s, _ in states):
            return
        values: dict[str, Any] = {"status": "sent", "sent_at": now, "error": None}
        for status in STUCK:  # failed on one channel outweighs unconfirmed on another
            ended = [e for s, e in states if s == status]
            if ended:
                values = {"status": status, "error": "; ".join(e or status for e in ended)}
                break
        conn.execute(sa.update(messages).where(messages.c.id == message_id).values(values))

    def gather_digest(self, parts: Sequence[MessageRow], digest: NewMessage) -> str:
        """Replace waiting messages by one digest message, in one transaction."""
        with self.engine.begin() as conn:
            (digest_id,) = insert(conn, [digest])
            conn.execute(
                sa.update(messages)
                .where(messages.c.id.in_([p.id for p in parts]), messages.c.status == "pending")
                .values(status="digested", digest_id=digest_id)
            )
        return digest_id

    def retry_failed(self, now: datetime) -> int:
        """Make failed and unconfirmed messages due again on the channels where they
        ended so; returns how many.

        Their age is not reset: past ``outbox_max_age`` each channel gets one more try."""
        with self.engine.begin() as conn:
            ids = list(
                conn.execute(sa.select(messages.c.id).where(messages.c.status.in_(STUCK))).scalars()
            )
            if not ids:
                return 0
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.message_id.in_(ids), deliveries.c.status.in_(STUCK))
                .values(status="pending", next_attempt_at=now, attempts=0)
            )
            conn.execute(
                sa.update(messages)
                .where(messages.c.id.in_(ids))
                .values(status="pending", error=None)
            )
        return len(ids)


def backoff(attempts: int, base: float = 30.0, cap: float = 3600.0) -> timedelta:
    """Seconds before the next try after ``attempts`` failures: 30 s, 1 min, 2 min … 1 h."""
    return timedelta(seconds=min(cap, base * 2 ** max(attempts - 1, 0)))
