"""What the web UI, the API and the feeds read from the store: one question each.

Each function is one read with its SQL, answered in dataclasses; the routes only
shape the answers. They were tuned on a large store (``bench/web.py``): the last
change is a correlated subquery (one index probe per target), and search reads
the index newest first, in pages, so its cost follows the page asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from watcher.store import dialects
from watcher.store.blobs import BlobError
from watcher.store.index import CaptureRow, Store, capture_query, to_capture
from watcher.store.schema import (
    CHANGE_KINDS,
    captures,
    checks,
    document_events,
    documents,
    hits,
    search_texts,
    targets,
)
from watcher.store.search import Query

# in literals, so that both databases use the partial index ix_captures_changes
IS_CHANGE = captures.c.kind.in_([sa.literal_column(f"'{kind}'") for kind in CHANGE_KINDS])


@dataclass(frozen=True, slots=True)
class TargetSummary:
    name: str
    url: str
    last_checked_at: datetime | None
    last_status: str | None
    last_error: str | None
    consecutive_errors: int
    last_change_at: datetime | None
    last_capture_id: str | None
    captures: int | None  # None: not counted (``summaries(counted=False)``)
    hits_7d: int
    groups_7d: tuple[str, ...]


def summaries(
    store: Store,
    now: datetime | None = None,
    *,
    counted: bool = True,
    ids: Collection[int] | None = None,
) -> dict[str, TargetSummary]:
    """Every target in the store (or those of ``ids``) with its state, last change and
    recent hits, and with ``counted`` its captures: a read of the whole (target, time)
    index, the dashboard's largest cost on PostgreSQL, for pages that do not show it."""
    since = (now or datetime.now(UTC)) - timedelta(days=7)
    last_change_at = (
        sa.select(captures.c.fetched_at)
        .where(captures.c.target_id == targets.c.id, IS_CHANGE)
        .order_by(captures.c.fetched_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    counts = sa.select(captures.c.target_id, sa.func.count().label("n")).group_by(
        captures.c.target_id
    )
    if ids is not None:  # else every capture is counted for a few rows
        counts = counts.where(
            captures.c.target_id.in_(sa.bindparam("counted", list(ids), expanding=True))
        )
    counts = counts.subquery()
    recent = _recent_hits(store, since, ids).subquery()
    query = (
        sa.select(
            targets.c.name,  # what a summary holds, no more: 10,000 rows are read at once
            targets.c.url,
            targets.c.last_checked_at,
            targets.c.last_status,
            targets.c.last_error,
            targets.c.consecutive_errors,
            targets.c.last_capture_id,
            last_change_at.label("last_change_at"),
            (counts.c.n if counted else sa.null()).label("capture_count"),
            recent.c.n.label("hits_7d"),
            recent.c.groups.label("groups_7d"),
        )
        .outerjoin(recent, recent.c.target_id == targets.c.id)
        .where(targets.c.kind == "page")  # a listing's documents are shown under it
    )
    if counted:
        query = query.outerjoin(counts, counts.c.target_id == targets.c.id)
    if ids is not None:
        query = query.where(targets.c.id.in_(sa.bindparam("ids", list(ids), expanding=True)))
    out = {}
    with store.engine.connect() as conn:
        for r in conn.execute(query):
            at = r.last_change_at
            out[r.name] = TargetSummary(
                name=r.name,
                url=r.url,
                last_checked_at=r.last_checked_at,
                last_status=r.last_status,
                last_error=r.last_error,
                consecutive_errors=r.consecutive_errors,
                last_change_at=captures.c.fetched_at.type.process_result_value(at, None)
                if isinstance(at, str)
                else at,
                last_capture_id=r.last_capture_id,
                captures=(r.capture_count or 0) if counted else None,
                hits_7d=int(r.hits_7d or 0),
                groups_7d=tuple(sorted((r.groups_7d or "").split(","))) if r.groups_7d else (),
            )
    return out


def _recent_hits(
    store: Store, since: datetime, ids: Collection[int] | None = None
) -> sa.Select[Any]:
    """Per target (of ``ids``, or all), its added hits since ``since`` and their groups
    (comma-joined)."""
    query = (
        sa.select(
            captures.c.target_id,
            sa.func.sum(hits.c.count).label("n"),
            dialects.of(store.engine).joined_distinct(hits.c.group_name).label("groups"),
        )
        .join(hits, hits.c.capture_id == captures.c.id)
        .where(captures.c.fetched_at >= since, hits.c.where == "added")
        .group_by(captures.c.target_id)
    )
    if ids is not None:  # else every hit of the week is summed for a few rows
        query = query.where(
            captures.c.target_id.in_(sa.bindparam("recent", list(ids), expanding=True))
        )
    return query


def recent_hits(
    store: Store, now: datetime | None = None
) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Per target with any, its hits of the last 7 days and their groups: what a
    summary's ``hits_7d`` and ``groups_7d`` become as the days pass."""
    since = (now or datetime.now(UTC)) - timedelta(days=7)
    recent = _recent_hits(store, since).subquery()
    query = sa.select(targets.c.name, recent.c.n, recent.c.groups).join(
        recent, recent.c.target_id == targets.c.id
    )
    with store.engine.connect() as conn:
        return {
            name: (int(n or 0), tuple(sorted(groups.split(","))) if groups else ())
            for name, n, groups in conn.execute(query)
        }


@dataclass(frozen=True, slots=True)
class RowsVersion:
    """The newest check, document event and target (each its index's last entry)."""

    check: int | None
    event: int | None
    target: int | None


def touched(store: Store, since: RowsVersion) -> set[int] | None:
    """Targets whose summary, fate or failing run may differ from what was read at
    ``since``: those checked since, those registered since, and the listings whose
    documents' states moved; None when there are more than one read should name (read
    them all). Three reads from the ends of primary keys, from LATE_COMMITS below the
    ids seen (rows that committed after one with a higher id)."""
    dialect = dialects.of(store.engine)
    queries = []
    for table, column, newest in (
        (checks, checks.c.target_id, since.check),
        (targets, targets.c.id, since.target),
        (document_events, document_events.c.listing_id, since.event),
    ):
        queries.append(sa.select(column).where(table.c.id > (newest or 0) - dialect.LATE_COMMITS))
    with store.engine.connect() as conn:
        ids = {row[0] for row in conn.execute(sa.union(*queries))}
    return ids if len(ids) <= dialect.IN_BATCH else None


def rows_version(store: Store) -> RowsVersion:
    """What every target's summary, fate and failing run follows: the newest check,
    document event and target (each its index's last entry). Rows read under the same
    version are the same rows, so the web UI may keep them between requests."""
    newest = [
        sa.select(sa.func.max(t.c.id)).scalar_subquery() for t in (checks, document_events, targets)
    ]
    with store.engine.connect() as conn:
        return RowsVersion(*conn.execute(sa.select(*newest)).one())


def timeline(store: Store, name: str, page: int, per_page: int) -> tuple[list[CaptureRow], int]:
    """One page of a target's captures, newest first, and how many there are."""
    base = capture_query().where(targets.c.name == name)
    query = base.order_by(captures.c.fetched_at.desc(), captures.c.id.desc())
    query = query.limit(per_page).offset((page - 1) * per_page)
    total_query = (
        sa.select(sa.func.count())
        .select_from(captures.join(targets, targets.c.id == captures.c.target_id))
        .where(targets.c.name == name)
    )
    with store.engine.connect() as conn:
        rows = [to_capture(r) for r in conn.execute(query)]
        total = conn.execute(total_query).scalar_one()
    return rows, total


@dataclass(frozen=True, slots=True)
class HitRow:
    capture_id: str
    previous_id: str | None
    target: str
    fetched_at: datetime
    group: str
    term: str
    where: str
    count: int
    spans: str = ""  # "start:length,…" in the capture's text (the previous one's if removed)


def hit_rows(
    store: Store,
    group: str | None = None,
    target: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[HitRow]:
    """Keyword hits over time, newest first: the policy trail."""
    query = (
        sa.select(
            hits.c.capture_id,
            captures.c.previous_id,
            targets.c.name,
            captures.c.fetched_at,
            hits.c.group_name,
            hits.c.term,
            hits.c.where,
            hits.c.count,
            hits.c.spans,
        )
        .join(captures, captures.c.id == hits.c.capture_id)
        .join(targets, targets.c.id == captures.c.target_id)
        .order_by(captures.c.fetched_at.desc(), hits.c.id)
        .limit(limit)
        .offset(offset)
    )
    if group:
        query = query.where(hits.c.group_name == group)
    if target:
        query = query.where(targets.c.name == target)
    with store.engine.connect() as conn:
        return [HitRow(*r[:-1], spans=r[-1] or "") for r in conn.execute(query)]


def added_terms(store: Store, capture_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
    """The terms each capture added, with their counts, in the order found (no text
    is read): what a feed entry's title names."""
    found: dict[str, list[tuple[str, int]]] = {i: [] for i in capture_ids}
    if not capture_ids:
        return found
    query = (
        sa.select(hits.c.capture_id, hits.c.term, hits.c.count)
        .where(hits.c.capture_id.in_(capture_ids), hits.c.where == "added")
        .order_by(hits.c.id)
    )
    with store.engine.connect() as conn:
        for capture_id, term, count in conn.execute(query):
            found[capture_id].append((term, count))
    return found


def changes(store: Store, target: str | None = None, limit: int = 50) -> list[CaptureRow]:
    """The newest changes (and first captures), for feeds; a listing's include its
    documents'."""
    query = capture_query().where(captures.c.kind.in_(CHANGE_KINDS))
    if target:
        listing = sa.select(targets.c.id).where(targets.c.name == target).scalar_subquery()
        query = query.where(sa.or_(targets.c.name == target, targets.c.parent_id == listing))
    query = query.order_by(captures.c.fetched_at.desc(), captures.c.id.desc()).limit(limit)
    with store.engine.connect() as conn:
        return [to_capture(r) for r in conn.execute(query)]


def changes_with_hits(store: Store, group: str, limit: int = 50) -> list[CaptureRow]:
    """The newest captures that added a hit of the keyword group."""
    has_hit = sa.exists().where(
        hits.c.capture_id == captures.c.id, hits.c.group_name == group, hits.c.where == "added"
    )
    query = (
        capture_query()
        .where(has_hit)
        .order_by(captures.c.fetched_at.desc(), captures.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [to_capture(r) for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class SearchResult:
    capture: CaptureRow  # the newest capture of the newest matching text
    snippets: list[str]
    versions: int = 1  # distinct matching texts of this target that were read
    versions_exact: bool = True  # False: the search stopped before reading them all


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What a search is narrowed to: one target, a kind of target, a time range."""

    target: str | None = None
    kind: str | None = None  # page | document | attachment (``targets.kind``)
    since: datetime | None = None  # captures fetched at or after
    until: datetime | None = None  # ... and before


Confirm = Callable[[str], list[str] | None]  # a text's snippets if it matches, else None


def search(
    store: Store,
    query: Query,
    confirm: Confirm,
    limit: int = 20,
    offset: int = 0,
    budget: int = 400,
    narrow: SearchFilter | None = None,
) -> tuple[list[SearchResult], bool]:
    """One result per target (a page, a listing's document or attachment) holding
    every term of ``query``: its newest matching text first (search_texts ids grow
    as texts are first stored), with its newest capture, snippets and how many
    versions matched; the same page is not listed once per capture.

    The index is read 100 texts at a time, newest first, so the cost follows the
    page asked for, not the number of matching texts. Candidates (all tokens present)
    are confirmed on the stored text by ``confirm`` (the keyword matcher, which sits
    above the store); ``budget`` caps the texts read for one page.
    """
    groups: dict[str, SearchResult] = {}
    seen_texts: set[tuple[str, str]] = set()
    read = 0
    before = 2**62
    wanted = offset + limit + 1  # one more than the page: is there a next page?
    first, *others = [b.tokens for b in query.branches]
    base = capture_query().join(search_texts, search_texts.c.text_sha256 == captures.c.text_sha256)
    if narrow and narrow.target:
        base = base.where(targets.c.name == narrow.target)
    if narrow and narrow.kind:
        base = base.where(targets.c.kind == narrow.kind)
    if narrow and narrow.since:
        base = base.where(captures.c.fetched_at >= narrow.since)
    if narrow and narrow.until:
        base = base.where(captures.c.fetched_at < narrow.until)

    def page(stopped: bool) -> tuple[list[SearchResult], bool]:
        results = list(groups.values())
        if stopped:
            results = [replace(r, versions_exact=False) for r in results]
        return results[offset : offset + limit], len(results) > offset + limit or stopped

    while True:
        with store.engine.connect() as conn:
            text_ids = dialects.of(conn).texts_matching(conn, first, before, 100, *others)
            if not text_ids:
                return page(False)
            before = text_ids[-1]
            chunk = [
                to_capture(r)
                for r in conn.execute(
                    base.where(search_texts.c.id.in_(text_ids)).order_by(
                        search_texts.c.id.desc(), captures.c.fetched_at.desc(), captures.c.id.desc()
                    )
                )
            ]
        for capture in chunk:
            key = (capture.target, capture.text_sha256)
            if key in seen_texts:
                continue  # an older capture of the same text: its newest one is shown
            if len(groups) >= wanted and capture.target not in groups:
                return page(True)
            seen_texts.add(key)
            if read >= budget:
                return page(True)
            read += 1
            try:
                text = store.text(capture)
            except Exception:
                continue
            snippets = confirm(text)
            if snippets is None:
                continue  # tokens all there, but not the words or phrases themselves
            found = groups.get(capture.target)
            if found is None:
                groups[capture.target] = SearchResult(capture, snippets)
            else:
                groups[capture.target] = replace(found, versions=found.versions + 1)


@dataclass(frozen=True, slots=True)
class CheckStats:
    by_status: dict[str, int]
    histogram: list[tuple[float, int]]  # (bucket's upper bound in s, checks up to it)
    total_seconds: float
    count: int


def check_stats(store: Store) -> CheckStats:
    """Checks by status, a duration histogram (cumulative per bucket), sum and count."""
    buckets = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
    with store.engine.connect() as conn:
        by_status = {
            s: n
            for s, n in conn.execute(
                sa.select(checks.c.status, sa.func.count()).group_by(checks.c.status)
            )
        }
        columns = [sa.func.sum(sa.case((checks.c.duration <= b, 1), else_=0)) for b in buckets]
        row = conn.execute(
            sa.select(*columns, sa.func.sum(checks.c.duration), sa.func.count())
        ).one()
    histogram = [(b, int(row[i] or 0)) for i, b in enumerate(buckets)]
    return CheckStats(by_status, histogram, float(row[-2] or 0.0), int(row[-1]))


def capture_pair(
    store: Store, name: str, from_id: str | None, to_id: str | None
) -> tuple[CaptureRow, CaptureRow]:
    """Two captures of a target; by default the newest and the one before it."""
    if to_id:
        new = store.capture(to_id, name)
    else:
        newest = store.history(name, 1)
        if not newest:
            raise LookupError(f"no captures of {name!r}")
        new = newest[0]
    if from_id:
        old = store.capture(from_id, name)
    elif new.previous_id:
        old = store.capture(new.previous_id)
    else:
        old = new
    if new.target != name or old.target != name:
        raise LookupError("both captures must belong to the target")
    return old, new


@dataclass(frozen=True, slots=True)
class ListedDocument:
    name: str
    kind: str
    url: str
    title: str
    listed_date: str | None
    first_seen_at: datetime
    state: str
    delisted_at: datetime | None
    captures: int
    hits: int
    last_capture_id: str | None
    listed_fields: dict[str, Any] | None = None  # a JSON listing's own fields of the item
    reason: str | None = None  # what was seen when its state last changed
    parent: str | None = None  # an attachment's notice (its target name)
    state_since: datetime | None = None  # when it became removed, suspected …
    evidence_id: str | None = None  # its last good capture: what it said before it went
    metadata: dict[str, Any] | None = None  # its newest capture's 文号, 发布日期 …
    edits: int = 0  # captures that changed its text
    last_edit: tuple[str, str] | None = None  # (previous, changed) capture ids of the last
    new: bool = False  # first seen in the listing's latest check, and not gone

    @property
    def document_number(self) -> str:
        """The 文号 as written, for the listing's table."""
        md = self.metadata or {}
        return str(md.get("document_number_raw") or md.get("document_number") or "")

    @property
    def published(self) -> str:
        """发布日期 from the notice itself, else the date the listing showed."""
        md = self.metadata or {}
        return str(md.get("published_date") or self.listed_date or "")


GONE_STATES = ("removed", "suspected", "broken")


def listed_documents(store: Store, listing: str, limit: int = 200) -> list[ListedDocument]:
    """A listing's documents and attachments, newest first, each with what its row
    needs: its notice (attachments), 文号 and 发布日期, edits, and its removal."""
    doc = targets.alias("doc")
    listing_row = targets.alias("listing")
    parent = targets.alias("parent")
    newest = captures.alias("newest")
    stats = (
        sa.select(
            captures.c.target_id,
            sa.func.count().label("n"),
            sa.func.sum(captures.c.hit_count).label("hits"),
            sa.func.sum(sa.case((captures.c.kind == "changed", 1), else_=0)).label("edits"),
        )
        .group_by(captures.c.target_id)
        .subquery()
    )
    last_edit = (
        sa.select(captures.c.id)
        .where(captures.c.target_id == doc.c.id, captures.c.kind == "changed")
        .order_by(captures.c.fetched_at.desc(), captures.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    edit = captures.alias("edit")
    query = (
        sa.select(
            doc.c.name,
            doc.c.kind,
            documents.c.url,
            documents.c.title,
            documents.c.listed_date,
            documents.c.first_seen_at,
            documents.c.state,
            documents.c.delisted_at,
            documents.c.reason,
            documents.c.state_since,
            documents.c.last_good_capture_id,
            stats.c.n,
            stats.c.hits,
            stats.c.edits,
            doc.c.last_capture_id,
            documents.c.metadata.label("listed_fields"),
            parent.c.name.label("parent"),
            newest.c.metadata.label("capture_metadata"),
            edit.c.id.label("edit_id"),
            edit.c.previous_id.label("edit_previous"),
            listing_row.c.last_checked_at.label("listing_checked_at"),
        )
        .join(doc, doc.c.id == documents.c.target_id)
        .join(listing_row, listing_row.c.id == documents.c.listing_id)
        .outerjoin(parent, parent.c.id == documents.c.parent_id)
        .outerjoin(stats, stats.c.target_id == documents.c.target_id)
        .outerjoin(newest, newest.c.id == doc.c.last_capture_id)
        .outerjoin(edit, edit.c.id == last_edit)
        .where(listing_row.c.name == listing)
        .order_by(documents.c.first_seen_at.desc(), documents.c.position)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [
            ListedDocument(
                r.name,
                r.kind,
                r.url,
                r.title,
                r.listed_date,
                r.first_seen_at,
                r.state,
                r.delisted_at,
                r.n or 0,
                int(r.hits or 0),
                r.last_capture_id,
                r.listed_fields,
                r.reason,
                parent=r.parent,
                state_since=r.state_since,
                evidence_id=r.last_good_capture_id,
                metadata=r.capture_metadata,
                edits=int(r.edits or 0),
                last_edit=(r.edit_previous, r.edit_id) if r.edit_id and r.edit_previous else None,
                new=_is_new(r.first_seen_at, r.state, r.delisted_at, r.listing_checked_at),
            )
            for r in conn.execute(query)
        ]


def _is_new(
    first_seen: datetime, state: str, delisted: datetime | None, checked: datetime | None
) -> bool:
    """New: first seen by the listing's latest check (its documents are registered
    after the listing's own fetch), neither a baseline nor gone nor delisted."""
    if state in (*GONE_STATES, "baseline") or delisted is not None or checked is None:
        return False
    return first_seen >= checked


def nested(docs: list[ListedDocument]) -> list[tuple[ListedDocument, list[ListedDocument]]]:
    """Notices with their attachments under them; an attachment whose notice is not
    among ``docs`` stands alone."""
    names = {d.name for d in docs}
    under: dict[str, list[ListedDocument]] = {}
    for d in docs:
        if d.kind == "attachment" and d.parent in names:
            under.setdefault(d.parent or "", []).append(d)
    return [
        (d, under.get(d.name, []))
        for d in docs
        if not (d.kind == "attachment" and d.parent in names)
    ]


def display_titles(
    store: Store, names: Iterable[str], configured: Mapping[str, str]
) -> dict[str, str]:
    """What a person calls each target: a listed document's title, else the config's
    title, else its name (``sastind-notices~d8bc0e5e8769`` is nobody's word for it)."""
    wanted = list(dict.fromkeys(names))
    found: dict[str, str] = {}
    # only a listing's documents have a row in ``documents``, and only their names hold
    # a "~" (``documents.document_name``): the dashboard's thousands of pages ask nothing
    listed = [n for n in wanted if "~" in n]
    if listed:
        newest = captures.alias("newest")
        query = (
            sa.select(targets.c.name, documents.c.title, newest.c.title.label("page_title"))
            .join(documents, documents.c.target_id == targets.c.id)
            .outerjoin(newest, newest.c.id == targets.c.last_capture_id)
            .where(targets.c.name.in_(listed))
        )
        with store.engine.connect() as conn:
            for name, title, page_title in conn.execute(query):
                if (title or page_title or "").strip():
                    found[name] = (title or page_title).strip()
    return {n: found.get(n) or configured.get(n) or n for n in wanted}


def display_title(store: Store, name: str, configured: Mapping[str, str]) -> str:
    """One target's display title (see ``display_titles``)."""
    return display_titles(store, [name], configured)[name]


@dataclass(frozen=True, slots=True)
class FailingRun:
    """A target's current run of failed checks."""

    since: datetime  # the first failed check of the run
    checks: int
    ever_succeeded: bool


def failing_runs(store: Store, ids: Collection[int] | None = None) -> dict[str, FailingRun]:
    """Per target that fails now (of ``ids``, or all): since when, how many checks, and
    whether any check ever succeeded (a target that never worked is not one that just
    broke)."""
    # Only the failing targets' checks, through ix_checks_target_time: their last good
    # check is one probe from the newest end, and the run is the range after it. A scan
    # of every check (300,000 in a year of 1,000 targets) cost the dashboard 370 ms on
    # SQLite, and the grouped "last good check" still read them all on PostgreSQL.
    last_ok = (
        sa.select(checks.c.checked_at)
        .where(checks.c.target_id == targets.c.id, checks.c.status != "error")
        .order_by(checks.c.checked_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    failing = sa.select(targets.c.id, targets.c.name, last_ok.label("ok_at")).where(
        targets.c.consecutive_errors > 0
    )
    if ids is not None:
        failing = failing.where(targets.c.id.in_(sa.bindparam("ids", list(ids), expanding=True)))
    failing = failing.subquery()
    # '' sorts before every stored time: a target never good has all its checks in the run
    after = sa.func.coalesce(failing.c.ok_at, sa.literal("", sa.String()))
    query = (
        sa.select(
            failing.c.name,
            sa.func.min(checks.c.checked_at),
            sa.func.count(),
            sa.func.max(failing.c.ok_at),
        )
        .select_from(failing)
        .join(checks, checks.c.target_id == failing.c.id)
        .where(checks.c.checked_at > after, checks.c.status == "error")
        .group_by(failing.c.name)
    )
    out = {}
    with store.engine.connect() as conn:
        for name, since, count, ok_at in conn.execute(query):
            since = (
                checks.c.checked_at.type.process_result_value(since, None)
                if isinstance(since, str)
                else since
            )
            out[name] = FailingRun(since, int(count), ok_at is not None)
    return out


def document_of(store: Store, name: str) -> tuple[ListedDocument, str] | None:
    """A document target's row and its listing's name (None for a page of the config)."""
    doc = targets.alias("doc")
    listing_row = targets.alias("listing")
    query = (
        sa.select(listing_row.c.name)
        .select_from(documents)
        .join(doc, doc.c.id == documents.c.target_id)
        .join(listing_row, listing_row.c.id == documents.c.listing_id)
        .where(doc.c.name == name)
    )
    with store.engine.connect() as conn:
        listing = conn.execute(query).scalar()
    if listing is None:
        return None
    found = [d for d in listed_documents(store, listing, limit=100000) if d.name == name]
    return (found[0], listing) if found else None


def unindexed_count(store: Store) -> int:
    """Stored texts not yet in the search index (`watcher run` adds them when idle)."""
    with store.engine.connect() as conn:
        texts = conn.execute(sa.select(sa.func.count(sa.distinct(captures.c.text_sha256)))).scalar()
        indexed = conn.execute(sa.select(sa.func.count()).select_from(search_texts)).scalar()
    return max(0, (texts or 0) - (indexed or 0))


def fetch_learned(store: Store, name: str) -> str | None:
    """What `fetch: auto` found the target needs (``browser``), if anything."""
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(targets.c.fetch_learned).where(targets.c.name == name)
        ).scalar()


def last_fates(store: Store, ids: Collection[int] | None = None) -> dict[str, str]:
    """Per listing (of ``ids``, or all), what its last check did to its documents:
    "2 new, 1 removed"."""
    latest = sa.select(
        document_events.c.listing_id, sa.func.max(document_events.c.at).label("at")
    ).group_by(document_events.c.listing_id)
    if ids is not None:
        listed = sa.bindparam("ids", list(ids), expanding=True)
        latest = latest.where(document_events.c.listing_id.in_(listed))
    latest = latest.subquery()
    query = (
        sa.select(targets.c.name, document_events.c.state, document_events.c.reason)
        .join(latest, latest.c.listing_id == document_events.c.listing_id)
        .join(targets, targets.c.id == document_events.c.listing_id)
        .where(document_events.c.at == latest.c.at)
        .order_by(document_events.c.id)
    )
    counts: dict[str, dict[str, int]] = {}
    with store.engine.connect() as conn:
        for name, state, reason in conn.execute(query):
            if state == "captured":
                if reason not in ("new", "baseline"):
                    continue
                state = "archived" if reason == "baseline" else "new"
            mine = counts.setdefault(name, {})
            mine[state] = mine.get(state, 0) + 1
    return {name: ", ".join(f"{n} {w}" for w, n in c.items()) for name, c in counts.items()}


@dataclass(frozen=True, slots=True)
class FateEntry:
    """A document's change of state, for the feeds."""

    id: int
    at: datetime
    listing: str
    document: str  # its target name
    url: str
    title: str
    state: str
    reason: str | None
    evidence_id: str | None


TOLD_STATES = ("suspected", "removed", "restored", "delisted", "broken", "blocked")


def fate_entries(store: Store, listing: str | None = None, limit: int = 50) -> list[FateEntry]:
    """The newest removals, delistings, restorations and failures of documents."""
    listing_row = targets.alias("listing")
    doc = targets.alias("doc")
    query = (
        sa.select(
            document_events.c.id,
            document_events.c.at,
            listing_row.c.name.label("listing"),
            doc.c.name.label("document"),
            documents.c.url,
            documents.c.title,
            document_events.c.state,
            document_events.c.reason,
            document_events.c.evidence_id,
        )
        .join(listing_row, listing_row.c.id == document_events.c.listing_id)
        .join(doc, doc.c.id == document_events.c.target_id)
        .join(documents, documents.c.target_id == document_events.c.target_id)
        .where(document_events.c.state.in_(TOLD_STATES))
        .order_by(document_events.c.at.desc(), document_events.c.id.desc())
        .limit(limit)
    )
    if listing is not None:
        query = query.where(listing_row.c.name == listing)
    with store.engine.connect() as conn:
        return [FateEntry(**r._mapping) for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class StoredText:
    """A capture as the keyword preview reads it: which text, of which target, when."""

    capture_id: str
    target: str
    fetched_at: datetime
    text_sha256: str


def recent_texts(store: Store, since: datetime, limit: int = 200_000) -> list[StoredText]:
    """New and changed captures fetched since ``since``, newest first: the texts a
    keyword group would have been matched on (an unchanged check adds none)."""
    query = (
        sa.select(captures.c.id, targets.c.name, captures.c.fetched_at, captures.c.text_sha256)
        .join(targets, targets.c.id == captures.c.target_id)
        .where(captures.c.fetched_at >= since, captures.c.kind.in_(CHANGE_KINDS))
        .order_by(captures.c.fetched_at.desc(), captures.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [StoredText(*row) for row in conn.execute(query)]


def text_by_digest(store: Store, digest: str) -> str | None:
    """A stored text by its SHA-256; None when its blob is missing or damaged (the
    reader says so, and ``watcher verify`` tells which)."""
    try:
        return store.blobs.get(digest).decode("utf-8")
    except (BlobError, UnicodeDecodeError):
        return None
