"""One document across sites: a notice ("work") and its copies on the watched
targets, the documents it cites, the dates it asks for, and who follows it.

A capture's facts (``NoticeFacts``, found by ``watcher.analysis.identity`` in the
analysis worker) are linked in the transaction that stores the capture: same
文号 (with issuer), or else a near-duplicate text (bottom-k MinHash sketches,
candidates found through an index on their hashes) with or without the same
title. ``watcher.store.index`` calls ``record``; the web UI reads the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from watcher.store import inboxlog, outbox
from watcher.store.facts import SKETCH, Citation, Deadline, NoticeFacts, jaccard
from watcher.store.schema import (
    captures,
    targets,
    work_citations,
    work_copies,
    work_deadlines,
    work_follows,
    work_hash_counts,
    work_sketches,
    works,
)

TEXT_MATCH = 0.5  # estimated Jaccard similarity that makes two texts one document
TITLE_MATCH = 0.2  # the same, for two texts with the same title
# sketch hashes shared (of a full sketch) below which the estimate cannot reach TITLE_MATCH
CANDIDATE_SHARED = 12
CANDIDATES = 8  # the documents sharing the most hashes that are compared
COMMON = 50  # a hash in more documents' sketches than this is boilerplate: not a lead
BEIJING = timedelta(hours=8)  # a deadline is a Beijing date
_SIGNED = 1 << 63  # SQLite integers are signed 64-bit: sketches are stored shifted


@dataclass(frozen=True, slots=True)
class Linked:
    """How a capture was linked: its document, and whether that is new."""

    work_id: int
    created: bool
    how: str  # number | text | title | first | same target
    similarity: float | None


# -- written with a capture ------------------------------------------------------------


def record(
    conn: sa.Connection,
    *,
    capture_id: str,
    target_id: int,
    at: datetime,
    facts: NoticeFacts,
) -> Linked:
    """Link the capture to its document (made if new), with its citations and
    deadlines; a new notice citing a followed document is an inbox event and an alert."""
    linked, copy = _link(conn, target_id, at, facts)
    if copy is None:
        conn.execute(
            _INSERT_COPY,
            {
                "work_id": linked.work_id,
                "target_id": target_id,
                "first_seen_at": at,
                "first_capture_id": capture_id,
                "last_capture_id": capture_id,
                "last_seen_at": at,
                "linked_by": linked.how,
                "similarity": linked.similarity,
            },
        )
    else:
        conn.execute(_UPDATE_COPY, {"copy": copy, "capture": capture_id, "at": at})
    if linked.created:
        _resolve_pending(conn, linked.work_id, facts)
    fresh = _add_citations(conn, linked.work_id, at, facts.citations)
    _add_deadlines(conn, linked.work_id, target_id, capture_id, facts.deadlines)
    if linked.created:
        _tell_followers(conn, linked.work_id, target_id, capture_id, at, facts, fresh)
    return linked


def _link(
    conn: sa.Connection, target_id: int, at: datetime, facts: NoticeFacts
) -> tuple[Linked, int | None]:
    """The capture's document, and the target's copy row if it is on it already."""
    own = conn.execute(_OWN_COPY, {"target": target_id}).first()
    numbered = None
    if facts.key is not None:
        numbered = conn.execute(_NUMBERED, {"key": facts.key}).scalar()
    if own is not None:
        if facts.key is None or own.key == facts.key:
            return Linked(own.id, False, "same target", None), own.copy
        if own.key is None and numbered is None:  # the page now shows its 文号
            _name(conn, own.id, facts)
            return Linked(own.id, False, "same target", None), own.copy
        # the page now names another document: it is a copy of that one
        conn.execute(_DELETE_COPY, {"target": target_id})
    if numbered is not None:
        return Linked(numbered, False, "number", None), None
    match = _near_duplicate(conn, facts)
    if match is not None:
        work_id, how, score = match
        if facts.key is not None:
            _name(conn, work_id, facts)
        return Linked(work_id, False, how, score), None
    work_id = conn.execute(
        _INSERT_WORK,
        {
            "key": facts.key,
            "document_number": facts.document_number,
            "issuer": facts.issuer,
            "title": facts.title or "",
            "title_key": facts.title_key,
            "first_seen_at": at,
            "first_target_id": target_id,
        },
    ).inserted_primary_key[0]
    if facts.sketch:
        stored = [h - _SIGNED for h in facts.sketch]
        conn.execute(_INSERT_SKETCH, [{"work_id": work_id, "hash": h} for h in stored])
        _count_hashes(conn, stored)
    return Linked(int(work_id), True, "first", None), None


# statements built once: building one (and keying it for the compiled cache) cost more
# than running it, and a first cycle links every new notice (an IN list of 64 literals
# most of all)
_OWN_COPY = (
    sa.select(works.c.id, works.c.key, work_copies.c.id.label("copy"))
    .select_from(work_copies.join(works, works.c.id == work_copies.c.work_id))
    .where(work_copies.c.target_id == sa.bindparam("target"))
)
_NUMBERED = sa.select(works.c.id).where(works.c.key == sa.bindparam("key"))
_DELETE_COPY = sa.delete(work_copies).where(work_copies.c.target_id == sa.bindparam("target"))
_INSERT_WORK = sa.insert(works)
_INSERT_SKETCH = sa.insert(work_sketches)
_INSERT_COPY = sa.insert(work_copies)
_UPDATE_COPY = (
    sa.update(work_copies)
    .where(work_copies.c.id == sa.bindparam("copy"))
    .values(last_capture_id=sa.bindparam("capture"), last_seen_at=sa.bindparam("at"))
)
_HASHES = sa.bindparam("hashes", expanding=True)
_KNOWN_HASHES = sa.select(work_hash_counts.c.hash).where(work_hash_counts.c.hash.in_(_HASHES))
_COUNT_HASHES = (
    sa.update(work_hash_counts)
    .where(work_hash_counts.c.hash.in_(_HASHES))
    .values(works=work_hash_counts.c.works + 1)
)
_COMMON_HASHES = sa.select(work_hash_counts.c.hash).where(
    work_hash_counts.c.hash.in_(_HASHES), work_hash_counts.c.works > COMMON
)


_shared = sa.func.count().label("shared")
_CANDIDATES = (
    sa.select(works.c.id, works.c.key, works.c.title_key, _shared)
    .select_from(work_sketches.join(works, works.c.id == work_sketches.c.work_id))
    .where(work_sketches.c.hash.in_(_HASHES))
    .group_by(works.c.id)
    .having(_shared >= sa.bindparam("needed"))
    .order_by(_shared.desc())
    .limit(CANDIDATES)
)
_SKETCHES = sa.select(work_sketches.c.work_id, work_sketches.c.hash).where(
    work_sketches.c.work_id.in_(sa.bindparam("works", expanding=True))
)


def _count_hashes(conn: sa.Connection, stored: list[int]) -> None:
    """How many documents' sketches hold each hash (portable: update, then insert)."""
    known = set(conn.execute(_KNOWN_HASHES, {"hashes": stored}).scalars())
    if known:
        conn.execute(_COUNT_HASHES, {"hashes": list(known)})
    fresh = [{"hash": h, "works": 1} for h in stored if h not in known]
    if fresh:
        conn.execute(sa.insert(work_hash_counts), fresh)


def _name(conn: sa.Connection, work_id: int, facts: NoticeFacts) -> None:
    """A document first seen without its 文号 takes the one a copy shows."""
    conn.execute(
        sa.update(works)
        .where(works.c.id == work_id, works.c.key.is_(None))
        .values(key=facts.key, document_number=facts.document_number, issuer=facts.issuer)
    )


def _near_duplicate(conn: sa.Connection, facts: NoticeFacts) -> tuple[int, str, float] | None:
    """The document whose text this one repeats (or, with the same title, resembles).

    Two sketches estimating a similarity of at least ``TITLE_MATCH`` share at least
    that share of their hashes, so only documents sharing that many are compared;
    hashes in the sketches of more than ``COMMON`` documents (a phrase every notice
    has: 各省、自治区、直辖市) lead nowhere and are left out of the search, not the score.
    """
    if not facts.sketch:
        return None
    stored = [h - _SIGNED for h in facts.sketch]
    common = set(conn.execute(_COMMON_HASHES, {"hashes": stored}).scalars())
    rare = [h for h in stored if h not in common]
    needed = max(2, -(-CANDIDATE_SHARED * len(rare) // SKETCH))  # of the rare ones
    if len(rare) < needed:
        return None  # boilerplate only
    rows = conn.execute(_CANDIDATES, {"hashes": rare, "needed": needed}).all()
    rows = [r for r in rows if facts.key is None or r.key in (None, facts.key)]
    if not rows:  # another 文号 is another document, however alike
        return None
    sketches: dict[int, set[int]] = {}
    for work_id, value in conn.execute(_SKETCHES, {"works": [r.id for r in rows]}):
        sketches.setdefault(work_id, set()).add(value + _SIGNED)
    best: tuple[int, str, float] | None = None
    for row in rows:
        score = jaccard(facts.sketch, sketches.get(row.id, ()))
        same_title = facts.title_key is not None and row.title_key == facts.title_key
        if score >= TEXT_MATCH or (same_title and score >= TITLE_MATCH):
            how = "title" if score < TEXT_MATCH else "text"
            if best is None or score > best[2]:
                best = (row.id, how, round(score, 3))
    return best


def _add_citations(
    conn: sa.Connection, work_id: int, at: datetime, cited: Sequence[Citation]
) -> list[int]:
    """The citations not yet known for this document, resolved where possible."""
    if not cited:
        return []
    known = {
        (r.number, r.title)
        for r in conn.execute(
            sa.select(work_citations.c.number, work_citations.c.title).where(
                work_citations.c.work_id == work_id
            )
        )
    }
    fresh = []
    for c in cited:
        if (c.number, c.title) in known:
            continue
        target = _resolve(conn, c, work_id)
        fresh.append(
            conn.execute(
                sa.insert(work_citations).values(
                    work_id=work_id,
                    number=c.number,
                    title=c.title,
                    title_key=c.title_key,
                    snippet=c.snippet,
                    cited_id=target,
                    found_at=at,
                )
            ).inserted_primary_key[0]
        )
    return [int(i) for i in fresh]


def _resolve(conn: sa.Connection, cited: Citation, citing: int) -> int | None:
    if cited.number:
        found = conn.execute(
            sa.select(works.c.id).where(
                sa.or_(works.c.key == cited.number, works.c.document_number == cited.number),
                works.c.id != citing,
            )
        ).scalar()
        if found is not None:
            return int(found)
    key = cited.title_key
    if key:
        found = conn.execute(
            sa.select(works.c.id).where(works.c.title_key == key, works.c.id != citing).limit(1)
        ).scalar()
        if found is not None:
            return int(found)
    return None


def _resolve_pending(conn: sa.Connection, work_id: int, facts: NoticeFacts) -> None:
    """Citations seen before the document they cite was: they point to it now."""
    which = []
    if facts.document_number:
        which.append(work_citations.c.number == facts.document_number)
    if facts.title_key:
        untitled = work_citations.c.number.is_(None)
        which.append(sa.and_(untitled, work_citations.c.title_key == facts.title_key))
    if which:
        conn.execute(
            sa.update(work_citations)
            .where(
                work_citations.c.cited_id.is_(None),
                work_citations.c.work_id != work_id,
                sa.or_(*which),
            )
            .values(cited_id=work_id)
        )


def _add_deadlines(
    conn: sa.Connection,
    work_id: int,
    target_id: int,
    capture_id: str,
    asked: Sequence[Deadline],
) -> None:
    if not asked:
        return
    known = {
        (r.date, r.kind)
        for r in conn.execute(
            sa.select(work_deadlines.c.date, work_deadlines.c.kind).where(
                work_deadlines.c.work_id == work_id
            )
        )
    }
    rows = [
        {
            "work_id": work_id,
            "date": d.date,
            "kind": d.kind,
            "sentence": d.sentence,
            "capture_id": capture_id,
            "target_id": target_id,
        }
        for d in asked
        if (d.date, d.kind) not in known
    ]
    if rows:
        conn.execute(sa.insert(work_deadlines), rows)


def _tell_followers(
    conn: sa.Connection,
    work_id: int,
    target_id: int,
    capture_id: str,
    at: datetime,
    facts: NoticeFacts,
    fresh: list[int],
) -> None:
    """ "工信部规〔2022〕12号 is cited by a new notice of 江苏省工信厅": one inbox item and
    one alert per followed document this new notice cites."""
    if not fresh:
        return
    rows = conn.execute(
        sa.select(works.c.id, works.c.document_number, works.c.title)
        .select_from(work_citations.join(works, works.c.id == work_citations.c.cited_id))
        .where(
            work_citations.c.id.in_(fresh),
            sa.exists().where(work_follows.c.work_id == works.c.id),
        )
        .distinct()
    ).all()
    if not rows:
        return
    name = conn.execute(sa.select(targets.c.name).where(targets.c.id == target_id)).scalar()
    who = facts.issuer or str(name)
    for row in rows:
        cited = row.document_number or f"《{row.title}》"
        title = f"{cited} is cited by a new notice of {who}"
        detail = f"/d/{row.id}: cited by /d/{work_id} ({facts.title or name})"
        inboxlog.record_cited(
            conn, at=at, target_id=target_id, capture_id=capture_id, title=title, detail=detail
        )
        link = f"{facts.base_url.rstrip('/')}/d/{row.id}" if facts.base_url else f"/d/{row.id}"
        citing = f"{facts.title or name}"
        text = f"{title}\n\n{citing}\n{link}"
        outbox.insert(
            conn,
            [
                outbox.NewMessage(
                    kind="cited",
                    target=str(name),
                    capture_id=capture_id,
                    tags=facts.notify,
                    title=title,
                    body_text=text,
                    body_html=_html(title, citing, link),
                    body_markdown=f"**{title}**\n\n{citing}\n\n[{link}]({link})",
                    created_at=at,
                )
            ],
        )


def _html(title: str, citing: str, link: str) -> str:
    from html import escape

    return (
        f"<p><b>{escape(title)}</b></p><p>{escape(citing)}</p>"
        f'<p><a href="{escape(link, quote=True)}">{escape(link)}</a></p>'
    )


def remind(
    engine: sa.Engine,
    now: datetime,
    before: timedelta,
    tags: Sequence[str],
    base_url: str | None = None,
) -> int:
    """One alert per deadline due within ``before`` (Beijing dates) not yet reminded
    of, to ``tags``; how many were queued."""
    today = (now.astimezone(UTC) + BEIJING).date()
    until = (now.astimezone(UTC) + BEIJING + before).date()
    with engine.begin() as conn:
        due = conn.execute(
            sa.select(
                work_deadlines,
                works.c.document_number,
                works.c.title,
                targets.c.name.label("target"),
            )
            .select_from(
                work_deadlines.join(works, works.c.id == work_deadlines.c.work_id).join(
                    targets, targets.c.id == work_deadlines.c.target_id
                )
            )
            .where(
                work_deadlines.c.reminded_at.is_(None),
                work_deadlines.c.date >= today.isoformat(),
                work_deadlines.c.date <= until.isoformat(),
            )
            .order_by(work_deadlines.c.date, work_deadlines.c.id)
        ).all()
        for row in due:
            days = (date.fromisoformat(row.date) - today).days
            when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
            title = f"Deadline {when} ({row.date}, {row.kind}): {row.document_number or row.title}"
            link = f"{base_url.rstrip('/')}/d/{row.work_id}" if base_url else f"/d/{row.work_id}"
            citing = f"{row.title}\n{row.sentence}"
            outbox.insert(
                conn,
                [
                    outbox.NewMessage(
                        kind="deadline",
                        target=row.target,
                        capture_id=row.capture_id,
                        tags=tuple(tags),
                        title=title,
                        body_text=f"{title}\n\n{citing}\n{link}",
                        body_html=_html(title, citing, link),
                        body_markdown=f"**{title}**\n\n{citing}\n\n[{link}]({link})",
                        created_at=now,
                    )
                ],
            )
        if due:
            conn.execute(
                sa.update(work_deadlines)
                .where(work_deadlines.c.id.in_([r.id for r in due]))
                .values(reminded_at=now)
            )
    return len(due)


# -- written by the web UI -------------------------------------------------------------


def follow(engine: sa.Engine, work_id: int, user: str, at: datetime, on: bool = True) -> None:
    """Follow (or stop following) a document: its new citations become events."""
    with engine.begin() as conn:
        conn.execute(
            sa.delete(work_follows).where(
                work_follows.c.work_id == work_id, work_follows.c.user == user
            )
        )
        if on:
            conn.execute(sa.insert(work_follows).values(work_id=work_id, user=user, at=at))


# -- read by the web UI ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkRow:
    id: int
    key: str | None
    document_number: str | None
    issuer: str | None
    title: str
    first_seen_at: datetime
    copies: int = 0

    def label(self) -> str:
        return self.document_number or self.title or f"document {self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "document_number": self.document_number,
            "issuer": self.issuer,
            "title": self.title,
            "first_seen_at": self.first_seen_at.isoformat(),
            "copies": self.copies,
        }


@dataclass(frozen=True, slots=True)
class CopyRow:
    target: str
    url: str
    first_seen_at: datetime
    first_capture_id: str
    last_capture_id: str
    linked_by: str
    similarity: float | None
    versions: tuple[tuple[str, datetime, str], ...]  # (capture id, fetched_at, kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "url": self.url,
            "first_seen_at": self.first_seen_at.isoformat(),
            "first_capture_id": self.first_capture_id,
            "last_capture_id": self.last_capture_id,
            "linked_by": self.linked_by,
            "similarity": self.similarity,
            "versions": [
                {"capture_id": c, "fetched_at": at.isoformat(), "kind": k}
                for c, at, k in self.versions
            ],
        }


@dataclass(frozen=True, slots=True)
class CitationRow:
    work_id: int  # the citing document
    number: str | None
    title: str | None
    snippet: str
    cited_id: int | None
    other: str | None  # the other document's label, when known

    def to_json(self) -> dict[str, Any]:
        return {
            "citing_id": self.work_id,
            "number": self.number,
            "title": self.title,
            "snippet": self.snippet,
            "cited_id": self.cited_id,
        }


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    work_id: int
    date: str
    kind: str
    sentence: str
    capture_id: str
    target: str
    label: str

    def to_json(self) -> dict[str, Any]:
        return {
            "document_id": self.work_id,
            "document": self.label,
            "date": self.date,
            "kind": self.kind,
            "sentence": self.sentence,
            "capture_id": self.capture_id,
            "target": self.target,
        }


_COPIES = sa.func.count(work_copies.c.id).label("copies")


def _work_select() -> sa.Select[Any]:
    return (
        sa.select(
            works.c.id,
            works.c.key,
            works.c.document_number,
            works.c.issuer,
            works.c.title,
            works.c.first_seen_at,
            _COPIES,
        )
        .select_from(works.outerjoin(work_copies, work_copies.c.work_id == works.c.id))
        .group_by(works.c.id)
    )


def _work(row: sa.Row[Any]) -> WorkRow:
    return WorkRow(
        row.id, row.key, row.document_number, row.issuer, row.title, row.first_seen_at, row.copies
    )


def work(engine: sa.Engine, work_id: int) -> WorkRow | None:
    with engine.connect() as conn:
        row = conn.execute(_work_select().where(works.c.id == work_id)).first()
    return _work(row) if row else None


def all_works(engine: sa.Engine, limit: int = 500, offset: int = 0) -> list[WorkRow]:
    with engine.connect() as conn:
        rows = conn.execute(
            _work_select().order_by(works.c.first_seen_at.desc()).limit(limit).offset(offset)
        )
        return [_work(r) for r in rows]


def copies(engine: sa.Engine, work_id: int) -> list[CopyRow]:
    """Every copy, first seen first: who published first and who followed."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(work_copies, targets.c.name, targets.c.url)
            .select_from(work_copies.join(targets, targets.c.id == work_copies.c.target_id))
            .where(work_copies.c.work_id == work_id)
            .order_by(work_copies.c.first_seen_at, work_copies.c.id)
        ).all()
        found = []
        for r in rows:
            versions = conn.execute(
                sa.select(captures.c.id, captures.c.fetched_at, captures.c.kind)
                .where(captures.c.target_id == r.target_id, captures.c.id >= r.first_capture_id)
                .order_by(captures.c.fetched_at)
            ).all()
            found.append(
                CopyRow(
                    r.name,
                    r.url,
                    r.first_seen_at,
                    r.first_capture_id,
                    r.last_capture_id,
                    r.linked_by,
                    r.similarity,
                    tuple((v.id, v.fetched_at, v.kind) for v in versions),
                )
            )
    return found


def cites(engine: sa.Engine, work_id: int) -> list[CitationRow]:
    """What a document cites, each resolved to a known document where possible."""
    other = works.alias("other")
    return _citations_of(engine, work_citations.c.work_id == work_id, "cited", other)


def cited_by(engine: sa.Engine, work_id: int) -> list[CitationRow]:
    """The known documents that cite this one."""
    other = works.alias("other")
    return _citations_of(engine, work_citations.c.cited_id == work_id, "citing", other)


def _citations_of(engine: sa.Engine, where: Any, side: str, other: Any) -> list[CitationRow]:
    mine = work_citations.c.cited_id if side == "cited" else work_citations.c.work_id
    joined = other.c.id == mine
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                work_citations,
                sa.func.coalesce(other.c.document_number, other.c.title).label("other"),
            )
            .select_from(work_citations.outerjoin(other, joined))
            .where(where)
            .order_by(work_citations.c.id)
        )
        return [
            CitationRow(r.work_id, r.number, r.title, r.snippet, r.cited_id, r.other) for r in rows
        ]


def all_citations(engine: sa.Engine) -> list[CitationRow]:
    return _citations_of(engine, sa.true(), "cited", works.alias("other"))


def deadlines(
    engine: sa.Engine, since: str | None = None, work_id: int | None = None
) -> list[DeadlineRow]:
    """Deadlines from ``since`` (a YYYY-MM-DD) on, soonest first; or one document's."""
    query = (
        sa.select(
            work_deadlines,
            targets.c.name,
            sa.func.coalesce(works.c.document_number, works.c.title).label("label"),
        )
        .select_from(
            work_deadlines.join(works, works.c.id == work_deadlines.c.work_id).join(
                targets, targets.c.id == work_deadlines.c.target_id
            )
        )
        .order_by(work_deadlines.c.date, work_deadlines.c.id)
    )
    if since is not None:
        query = query.where(work_deadlines.c.date >= since)
    if work_id is not None:
        query = query.where(work_deadlines.c.work_id == work_id)
    with engine.connect() as conn:
        return [
            DeadlineRow(r.work_id, r.date, r.kind, r.sentence, r.capture_id, r.name, r.label or "")
            for r in conn.execute(query)
        ]


def followers(engine: sa.Engine, work_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(work_follows.c.user)
                .where(work_follows.c.work_id == work_id)
                .order_by(work_follows.c.user)
            ).scalars()
        )


def works_of_targets(engine: sa.Engine, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each named target's document and its number of copies, for links from
    listings, captures and the inbox."""
    if not names:
        return {}
    mine = work_copies.alias("mine")
    copies = (
        sa.select(sa.func.count())
        .where(work_copies.c.work_id == mine.c.work_id)
        .scalar_subquery()
        .label("copies")
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(targets.c.name, mine.c.work_id, copies)
            .select_from(mine.join(targets, targets.c.id == mine.c.target_id))
            .where(targets.c.name.in_(list(names)))
        )
        return {r.name: (r.work_id, r.copies) for r in rows}


def work_of_target(engine: sa.Engine, name: str) -> int | None:
    found = works_of_targets(engine, [name]).get(name)
    return found[0] if found else None


def work_of_capture(engine: sa.Engine, capture_id: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(work_copies.c.work_id)
            .select_from(
                work_copies.join(captures, captures.c.target_id == work_copies.c.target_id)
            )
            .where(captures.c.id == capture_id)
        ).scalar()
