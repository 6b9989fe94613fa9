"""The inbox's questions and triage: items as each user reads them, shared states.

Events are written with the checks (``watcher.store.inboxlog``); here they are read
as items. Reading state is per user (by name); states, assignees and notes are
shared, each action kept with who and when. The web UI reads through the store's
read-only engine and writes with ``InboxWriter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watcher.store.index import SideEngine, Store
from watcher.store.schema import (
    hits,
    inbox_actions,
    inbox_events,
    inbox_items,
    inbox_reads,
    inbox_visits,
    targets,
)

VISIT_GAP = timedelta(minutes=30)  # pages seen within this are one visit
STATES = ("reviewed", "important", "noise")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MANY_TARGETS = 20  # a filter by more targets than this reads the items newest first
# what an alert's kind is called in the inbox (watcher.alerts.events.EventKind)
ALERT_KINDS = {
    "changed": ("changed", "edited"),
    "new": ("new",),
    "document": ("document",),
    "removed": ("removed",),
    "delisted": ("delisted",),
    "restored": ("restored",),
    "error": ("failing",),
    "recovered": ("recovered",),
    "cited": ("cited",),
}

# -- read by the web UI -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    """What the inbox shows: every field is a URL parameter of /inbox."""

    view: str = "unread"  # unread | all
    targets: tuple[str, ...] | None = None  # by target or tag (None: all)
    group: str | None = None  # a keyword group with hits in the item
    state: str | None = None  # reviewed | important | noise | none (not yet triaged)
    assignee: str | None = None  # a name, or "" for nobody
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    kind: str
    at: datetime
    target: str
    capture_id: str | None
    previous_id: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class ItemRow:
    id: int
    kind: str
    title: str
    target: str  # its first event's target
    first_at: datetime
    last_at: datetime
    count: int
    state: str | None
    assignee: str | None
    unread: bool
    first: EventRow | None = None  # what "open" shows


@dataclass(frozen=True, slots=True)
class ActionRow:
    user: str
    at: datetime
    action: str
    value: str


@dataclass(frozen=True, slots=True)
class ItemDetail:
    item: ItemRow
    events: list[EventRow]
    actions: list[ActionRow] = field(default_factory=list)


def _read_before(conn: sa.Connection, user: str) -> datetime:
    got = conn.execute(
        sa.select(inbox_visits.c.read_before).where(inbox_visits.c.user == user)
    ).scalar()
    return got or EPOCH


def _unread_expr(r: Any, read_before: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        r.c.read == sa.false(),
        sa.and_(
            sa.or_(r.c.read.is_(None), r.c.at < inbox_items.c.last_at),
            inbox_items.c.last_at > read_before,
        ),
    )


def items(
    store: Store, user: str, wanted: Filter, *, page: int = 1, per_page: int = 50
) -> tuple[list[ItemRow], bool]:
    """One page of items, newest first, as ``user`` reads them; and whether more follow."""
    r = inbox_reads.alias("r")
    with store.engine.connect() as conn:
        read_before = _read_before(conn, user)
        unread = _unread_expr(r, read_before)
        query = (
            sa.select(inbox_items, targets.c.name.label("target"), unread.label("unread"))
            .join(targets, targets.c.id == inbox_items.c.target_id)
            .outerjoin(r, sa.and_(r.c.item_id == inbox_items.c.id, r.c.user == user))
        )
        query = _filtered(query, wanted)
        if wanted.view == "unread":
            query = query.where(unread)
        query = query.order_by(inbox_items.c.last_at.desc(), inbox_items.c.id.desc())
        query = query.limit(per_page + 1).offset((page - 1) * per_page)
        rows = conn.execute(query).all()
        more = len(rows) > per_page
        rows = rows[:per_page]
        firsts = _first_events(conn, [row.id for row in rows])
    return [_item(row, firsts.get(row.id)) for row in rows], more


def _filtered(query: sa.Select[Any], wanted: Filter) -> sa.Select[Any]:
    if wanted.targets is not None:
        named = sa.select(targets.c.id).where(targets.c.name.in_(wanted.targets))
        ids = sa.select(targets.c.id).where(  # a listing's documents are under it
            sa.or_(targets.c.id.in_(named), targets.c.parent_id.in_(named))
        )
        # a few targets: their items by the events' index, then sorted; many (a tag):
        # the items newest first, each looked up in the set (``+ 0`` keeps SQLite
        # off the id index), which finds a page's worth early
        item_id = inbox_items.c.id if len(wanted.targets) <= MANY_TARGETS else inbox_items.c.id + 0
        query = query.where(
            item_id.in_(sa.select(inbox_events.c.item_id).where(inbox_events.c.target_id.in_(ids)))
        )
    if wanted.group:
        query = query.where(
            inbox_items.c.id.in_(
                sa.select(inbox_events.c.item_id)
                .join(hits, hits.c.capture_id == inbox_events.c.capture_id)
                .where(hits.c.group_name == wanted.group)
            )
        )
    if wanted.state == "none":
        query = query.where(inbox_items.c.state.is_(None))
    elif wanted.state:
        query = query.where(inbox_items.c.state == wanted.state)
    if wanted.assignee == "":
        query = query.where(inbox_items.c.assignee.is_(None))
    elif wanted.assignee:
        query = query.where(inbox_items.c.assignee == wanted.assignee)
    if wanted.since:
        query = query.where(inbox_items.c.last_at >= wanted.since)
    if wanted.until:
        query = query.where(inbox_items.c.first_at < wanted.until)
    return query


def _first_events(conn: sa.Connection, ids: Sequence[int]) -> dict[int, EventRow]:
    if not ids:
        return {}
    first = (
        sa.select(sa.func.min(inbox_events.c.id))
        .where(inbox_events.c.item_id.in_(ids))
        .group_by(inbox_events.c.item_id)
    )
    query = _event_query().where(inbox_events.c.id.in_(first))
    return {row.item_id: _event(row) for row in conn.execute(query)}


def _event_query() -> sa.Select[Any]:
    return sa.select(inbox_events, targets.c.name.label("target")).join(
        targets, targets.c.id == inbox_events.c.target_id
    )


def _event(row: sa.Row[Any]) -> EventRow:
    return EventRow(
        id=row.id,
        kind=row.kind,
        at=row.at,
        target=row.target,
        capture_id=row.capture_id,
        previous_id=row.previous_id,
        detail=row.detail,
    )


def _item(row: sa.Row[Any], first: EventRow | None) -> ItemRow:
    return ItemRow(
        id=row.id,
        kind=row.kind,
        title=row.title,
        target=row.target,
        first_at=row.first_at,
        last_at=row.last_at,
        count=row.count,
        state=row.state,
        assignee=row.assignee,
        unread=bool(row.unread),
        first=first,
    )


def item(store: Store, user: str, item_id: int) -> ItemDetail | None:
    """An item with all its events and its history, or None."""
    r = inbox_reads.alias("r")
    with store.engine.connect() as conn:
        unread = _unread_expr(r, _read_before(conn, user))
        row = conn.execute(
            sa.select(inbox_items, targets.c.name.label("target"), unread.label("unread"))
            .join(targets, targets.c.id == inbox_items.c.target_id)
            .outerjoin(r, sa.and_(r.c.item_id == inbox_items.c.id, r.c.user == user))
            .where(inbox_items.c.id == item_id)
        ).first()
        if row is None:
            return None
        events = [
            _event(e)
            for e in conn.execute(
                _event_query().where(inbox_events.c.item_id == item_id).order_by(inbox_events.c.id)
            )
        ]
        actions = [
            ActionRow(a.user, a.at, a.action, a.value)
            for a in conn.execute(
                sa.select(inbox_actions)
                .where(inbox_actions.c.item_id == item_id)
                .order_by(inbox_actions.c.id)
            )
        ]
    return ItemDetail(_item(row, events[0] if events else None), events, actions)


def unread_count(store: Store, user: str) -> int:
    """How many items ``user`` has not read: the items since "mark all read", less
    those marked read since they last changed, plus older ones marked unread."""
    with store.engine.connect() as conn:
        before = _read_before(conn, user)
        newer = conn.execute(
            sa.select(sa.func.count()).where(inbox_items.c.last_at > before)
        ).scalar_one()
        marked = sa.select(sa.func.count()).select_from(
            inbox_reads.join(inbox_items, inbox_items.c.id == inbox_reads.c.item_id)
        )
        read = conn.execute(
            marked.where(
                inbox_reads.c.user == user,
                inbox_reads.c.read == sa.true(),
                inbox_reads.c.at >= inbox_items.c.last_at,
                inbox_items.c.last_at > before,
            )
        ).scalar_one()
        kept = conn.execute(
            marked.where(
                inbox_reads.c.user == user,
                inbox_reads.c.read == sa.false(),
                inbox_items.c.last_at <= before,
            )
        ).scalar_one()
    return int(newer - read + kept)


def unread_by_target(store: Store, user: str, only: Sequence[str] | None = None) -> dict[str, int]:
    """Unread items per target name (of ``only``, or all), a listing's documents under
    the listing (an item counts for each of its targets): the dashboard's column.
    Counted as ``unread_count`` is (items since "mark all read", corrected by the
    user's few marks), so its cost does not grow with what the user has read; with
    ``only`` (the page's 200 rows) nor with the targets of the config."""
    counts: dict[int, int] = {}
    with store.engine.connect() as conn:
        before = _read_before(conn, user)
        newer = inbox_items.c.last_at > before
        # the name each count is shown under, read with the counts: a lookup of every
        # counted target by id afterwards cost 15 ms on PostgreSQL at 1,000 targets
        parent = targets.alias("parent")
        shown = sa.func.coalesce(parent.c.name, targets.c.name)
        names: dict[int, str] = {}
        first = (
            sa.select(inbox_items.c.target_id, shown, sa.func.count())
            .join(targets, targets.c.id == inbox_items.c.target_id)
            .outerjoin(parent, parent.c.id == targets.c.parent_id)
            .where(newer)
            .group_by(inbox_items.c.target_id, shown)
        )
        if only is not None:  # those targets and their documents, by their indexes
            named = sa.select(targets.c.id).where(targets.c.name.in_(list(only)))
            ids = sa.select(targets.c.id).where(
                sa.or_(targets.c.id.in_(named), targets.c.parent_id.in_(named))
            )
            first = first.where(inbox_items.c.target_id.in_(ids))
        for target_id, name, n in conn.execute(first):
            counts[target_id] = n
            names[target_id] = name
        # one edit on many targets counts for each of them: few items, read by their id
        grouped = sa.select(inbox_items.c.id).where(newer, inbox_items.c.count > 1)
        grouped_ids = list(conn.execute(grouped).scalars())
        for start in range(0, len(grouped_ids), 500):
            chunk = grouped_ids[start : start + 500]
            pairs = (
                sa.select(inbox_events.c.item_id, inbox_events.c.target_id)
                .join(inbox_items, inbox_items.c.id == inbox_events.c.item_id)
                .where(
                    inbox_events.c.item_id.in_(chunk),
                    inbox_events.c.target_id != inbox_items.c.target_id,
                )
                .distinct()
            )
            for _, target_id in conn.execute(pairs):
                counts[target_id] = counts.get(target_id, 0) + 1
        marked = sa.select(inbox_items.c.id).join(
            inbox_reads, inbox_reads.c.item_id == inbox_items.c.id
        )
        read = marked.where(
            inbox_reads.c.user == user,
            inbox_reads.c.read == sa.true(),
            inbox_reads.c.at >= inbox_items.c.last_at,
            newer,
        )
        kept = marked.where(inbox_reads.c.user == user, inbox_reads.c.read == sa.false(), ~newer)
        for query, step in ((read, -1), (kept, 1)):
            ids = list(conn.execute(query).scalars())
            if not ids:
                continue
            pairs = sa.select(inbox_events.c.item_id, inbox_events.c.target_id).where(
                inbox_events.c.item_id.in_(ids)
            )
            for target_id in {pair for pair in conn.execute(pairs.distinct())}:
                counts[target_id[1]] = counts.get(target_id[1], 0) + step
        unnamed = [target_id for target_id in counts if target_id not in names]
        if unnamed:  # targets only the grouped items and the user's marks counted: few
            names.update(
                conn.execute(
                    sa.select(targets.c.id, shown)
                    .outerjoin(parent, parent.c.id == targets.c.parent_id)
                    .where(targets.c.id.in_(unnamed))
                ).all()
            )
    out: dict[str, int] = {}
    for target_id, n in counts.items():
        if n > 0 and target_id in names:
            out[names[target_id]] = out.get(names[target_id], 0) + n
    if only is not None:
        wanted = set(only)
        out = {name: n for name, n in out.items() if name in wanted}
    return out


def last_visit(store: Store, user: str) -> datetime | None:
    """The start of the user's previous visit: what "new since my last visit" means."""
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(inbox_visits.c.last_visit_at).where(inbox_visits.c.user == user)
        ).scalar()


def item_for_alert(store: Store, target: str, kind: str, capture_id: str | None) -> int | None:
    """The item an alert's link names: by its capture, else the target's newest event
    of that kind."""
    kinds = ALERT_KINDS.get(kind, (kind,))
    query = (
        sa.select(inbox_events.c.item_id)
        .join(targets, targets.c.id == inbox_events.c.target_id)
        .where(targets.c.name == target, inbox_events.c.kind.in_(kinds))
        .order_by(inbox_events.c.id.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        if capture_id:
            found = conn.execute(query.where(inbox_events.c.capture_id == capture_id)).scalar()
            if found is not None:
                return int(found)
        found = conn.execute(query).scalar()
    return int(found) if found is not None else None


def events_of_captures(store: Store, capture_ids: Sequence[str]) -> int:
    """How many inbox events these captures made: what a rule silencing their
    changes would have kept out of the inbox."""
    if not capture_ids:
        return 0
    count = 0
    with store.engine.connect() as conn:
        for start in range(0, len(capture_ids), 500):
            chunk = list(capture_ids[start : start + 500])
            count += conn.execute(
                sa.select(sa.func.count()).where(inbox_events.c.capture_id.in_(chunk))
            ).scalar_one()
    return int(count)


def people(store: Store) -> list[str]:
    """Names seen in the inbox (readers, actors, assignees): whom to assign to."""
    with store.engine.connect() as conn:
        names = set(conn.execute(sa.select(inbox_visits.c.user)).scalars())
        names |= set(conn.execute(sa.select(inbox_actions.c.user).distinct()).scalars())
        names |= set(
            conn.execute(
                sa.select(inbox_items.c.assignee)
                .where(inbox_items.c.assignee.is_not(None))
                .distinct()
            ).scalars()
        )
    return sorted(names)


# -- written by the web UI ---------------------------------------------------------------


class InboxWriter:
    """Triage and reading state, written by the web UI with a connection of its own
    (a row or two per action; SQLite serialises them with a running check). It never
    creates or migrates the index."""

    def __init__(self, root: Path, index: str | None = None) -> None:
        self._connected = SideEngine(root, index)
        self.index = self._connected.index
        self.exists = self._connected.exists

    def close(self) -> None:
        self._connected.close()

    def visit(self, user: str, now: datetime) -> None:
        """A look at the inbox: a new visit if the last one was ``VISIT_GAP`` ago."""
        with self._connected().begin() as conn:
            row = conn.execute(sa.select(inbox_visits).where(inbox_visits.c.user == user)).first()
            if row is None:
                conn.execute(sa.insert(inbox_visits).values(user=user, visit_at=now))
            elif row.visit_at is None or now - row.visit_at >= VISIT_GAP:
                conn.execute(
                    sa.update(inbox_visits)
                    .where(inbox_visits.c.user == user)
                    .values(last_visit_at=row.visit_at, visit_at=now)
                )

    def mark(self, user: str, item_ids: Sequence[int], read: bool, now: datetime) -> None:
        """Mark items read or unread for ``user`` only."""
        if not item_ids:
            return
        rows = [{"user": user, "item_id": i, "read": read, "at": now} for i in item_ids]
        with self._connected().begin() as conn:
            conn.execute(
                sa.delete(inbox_reads).where(
                    inbox_reads.c.user == user, inbox_reads.c.item_id.in_(item_ids)
                )
            )
            conn.execute(sa.insert(inbox_reads), rows)

    def mark_all_read(self, user: str, now: datetime) -> None:
        """Everything up to now is read for ``user`` (their marks are no longer needed)."""
        with self._connected().begin() as conn:
            conn.execute(sa.delete(inbox_reads).where(inbox_reads.c.user == user))
            updated = conn.execute(
                sa.update(inbox_visits).where(inbox_visits.c.user == user).values(read_before=now)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(inbox_visits).values(user=user, read_before=now))

    def set_state(
        self, user: str, item_ids: Sequence[int], state: str | None, now: datetime
    ) -> None:
        """Shared: reviewed, important, noise, or none again; kept in each item's history."""
        if state is not None and state not in STATES:
            raise ValueError(f"no state {state!r}; one of {', '.join(STATES)}")
        self._act(user, item_ids, now, "state", state or "", state=state)

    def assign(
        self, user: str, item_ids: Sequence[int], assignee: str | None, now: datetime
    ) -> None:
        """Shared: give items to a colleague (by name), or to nobody."""
        self._act(user, item_ids, now, "assign", assignee or "", assignee=assignee or None)

    def note(self, user: str, item_id: int, text: str, now: datetime) -> None:
        """A shared note on an item, with its author and time."""
        self._act(user, [item_id], now, "note", text)

    def rule_added(self, user: str, item_id: int, rule: str, now: datetime) -> None:
        """A rule made from the item, written into the config: kept in its history."""
        self._act(user, [item_id], now, "rule", rule)

    def _act(
        self,
        user: str,
        item_ids: Sequence[int],
        now: datetime,
        action: str,
        value: str,
        **values: Any,
    ) -> None:
        if not item_ids:
            return
        with self._connected().begin() as conn:
            if values:
                conn.execute(
                    sa.update(inbox_items).where(inbox_items.c.id.in_(item_ids)).values(**values)
                )
            conn.execute(
                sa.insert(inbox_actions),
                [
                    {"item_id": i, "user": user, "at": now, "action": action, "value": value}
                    for i in item_ids
                ],
            )
