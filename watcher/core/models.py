"""Small typed domain objects shared by the pipeline stages.

Each stage takes and returns these, never the whole store or a dict, so a
stage can be tested on its own (fetch -> extract -> store -> diff -> keywords).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Status = Literal["new", "changed", "unchanged", "error"]
Where = Literal["added", "removed"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What came back from one HTTP fetch (after redirects and retries)."""

    url: str
    final_url: str
    status_code: int
    headers: list[tuple[str, str]]
    body: bytes  # decoded from any Content-Encoding, capped in size
    fetched_at: datetime  # UTC, when the final response arrived
    duration: float  # seconds, all attempts included
    attempts: int = 1
    not_modified: bool = False  # a 304 answer to a conditional request

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Decoded:
    """HTML text and how its charset was decided (kept as evidence)."""

    text: str
    encoding: str  # Python codec name actually used, e.g. "gb18030"
    source: Literal["bom", "header", "meta", "detected", "utf-8", "fallback"]
    replaced: int = 0  # count of undecodable sequences replaced by U+FFFD
    declared: tuple[tuple[str, str], ...] = ()  # (where, codec): what header and meta said
    bad_bytes: int = 0  # bytes replaced by U+FFFD
    bad_offsets: tuple[int, ...] = ()  # where the first of them are in the body (bytes)
    recovered_bytes: int = 0  # bytes of a UTF-8 page that were read as GB18030 instead
    recovered_offsets: tuple[int, ...] = ()  # where the first of those runs start


@dataclass(frozen=True, slots=True)
class Link:
    url: str  # absolute
    text: str


@dataclass(frozen=True, slots=True)
class Document:
    """The part of a page that is compared between versions."""

    title: str
    text: str  # one block per line, whitespace normalised, ignore rules applied
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    group: str
    term: str  # the alias as written in the config
    snippet: str  # about 30 characters of context on each side
    where: Where
    position: int  # character offset in the text the hit was found in
    length: int = 0  # characters matched

    def to_json(self) -> dict[str, object]:
        return {
            "group": self.group,
            "term": self.term,
            "snippet": self.snippet,
            "where": self.where,
            "position": self.position,
            "length": self.length,
        }


SNIPPETS_PER_TERM = 3  # occurrences of a term shown in context; the rest are counted


@dataclass(frozen=True, slots=True)
class TermHits:
    """A term's hits in one direction of one change: every position, the first few
    in context. One object per term, not per occurrence: a first capture of a page
    on shipbuilding names 船舶 hundreds of times, and its hits come back from an
    analysis worker pickled, then go to alerts, ``--json`` and the index."""

    group: str
    term: str  # the alias as written in the config
    where: Where
    spans: tuple[int, ...]  # start, length, start, length … in the text they were found in
    snippets: tuple[str, ...] = ()  # the first SNIPPETS_PER_TERM occurrences in context

    @property
    def count(self) -> int:
        return len(self.spans) // 2

    @property
    def position(self) -> int:
        return self.spans[0]

    @property
    def length(self) -> int:
        return self.spans[1]

    @property
    def snippet(self) -> str:
        """The first occurrence in context (what a template showing one line uses)."""
        return self.snippets[0] if self.snippets else ""

    def occurrences(self) -> list[tuple[int, int]]:
        """(start, length) of every occurrence, in order."""
        return list(zip(self.spans[::2], self.spans[1::2], strict=True))

    def shown(self) -> list[Hit]:
        """The occurrences in ``snippets``, one ``Hit`` each."""
        pairs = zip(self.snippets, self.spans[::2], self.spans[1::2], strict=False)
        return [Hit(self.group, self.term, s, self.where, p, n) for s, p, n in pairs]

    def to_json(self) -> dict[str, object]:
        return {
            "group": self.group,
            "term": self.term,
            "where": self.where,
            "count": self.count,
            "snippet": self.snippet,
            "position": self.position,
            "length": self.length,
            "snippets": [
                {"snippet": h.snippet, "position": h.position, "length": h.length}
                for h in self.shown()
            ],
        }


def occurrence_count(hits: Sequence[TermHits]) -> int:
    """Occurrences in all, whatever the terms."""
    return sum(h.count for h in hits)


@dataclass(frozen=True, slots=True)
class DocumentCheck:
    """A listing's document checked in this check and found new or changed."""

    url: str
    title: str
    status: Status
    capture_id: str | None
    hits: tuple[TermHits, ...] = ()
    kind: str = "document"  # or "attachment"
    warnings: tuple[dict[str, object], ...] = ()  # its capture's (see CheckResult)
    metadata: dict[str, str] | None = None  # its capture's 发文字号, dates, issuer …

    def to_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "title": self.title,
            "status": self.status,
            "capture_id": self.capture_id,
            "kind": self.kind,
            "hits": [h.to_json() for h in self.hits],
            "warnings": list(self.warnings),
            "metadata": dict(self.metadata or {}),
        }


DocumentState = Literal[
    "captured", "suspected", "removed", "restored", "delisted", "broken", "blocked", "deferred"
]


@dataclass(frozen=True, slots=True)
class DocumentFate:
    """A document whose standing changed in a check (captured, suspected or confirmed
    removed, delisted, restored, broken, blocked), or deferred to a later check;
    ``reason`` says what was seen (``HTTP 404``, ``soft 404``, the challenge …)."""

    url: str
    title: str
    evidence_id: str | None = None  # its last good capture
    failed_checks: int = 0
    state: DocumentState | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "title": self.title,
            "state": self.state,
            "reason": self.reason,
            "evidence_id": self.evidence_id,
            "failed_checks": self.failed_checks,
        }


@dataclass(frozen=True, slots=True)
class ListingOutcome:
    """What a listing's check did to its documents, each kind of fate on its own."""

    new: tuple[DocumentCheck, ...] = ()
    changed: tuple[DocumentCheck, ...] = ()
    suspected: tuple[DocumentFate, ...] = ()
    removed: tuple[DocumentFate, ...] = ()
    delisted: tuple[DocumentFate, ...] = ()
    restored: tuple[DocumentFate, ...] = ()
    blocked: tuple[DocumentFate, ...] = ()
    broken: tuple[DocumentFate, ...] = ()
    deferred: tuple[DocumentFate, ...] = ()  # new items over ``max_new``, for later checks
    fates: tuple[DocumentFate, ...] = ()  # every document whose state changed, in order


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One target's outcome of one check; the CLI and the scheduler report these."""

    target: str
    url: str
    status: Status
    fetched_at: datetime
    capture_id: str | None = None
    previous_id: str | None = None
    final_url: str | None = None
    http_status: int | None = None
    duration: float = 0.0
    size: int = 0
    added: int = 0
    removed: int = 0
    hits: tuple[TermHits, ...] = ()  # per term and direction: counts, the first snippets
    error: str | None = None
    title: str = ""
    looks_removed: bool = False  # the page says it is gone (soft 404)
    error_kind: str | None = None  # a failed fetch: http, blocked, timeout, connection …
    attachment_links: tuple[tuple[str, str], ...] = ()  # a document's (url, text) links
    select_missed: bool = False  # a document's ``follow.select`` matched nothing: whole page
    listing: ListingOutcome | None = None  # a listing target's documents
    # what reading the stored bytes could not do right (undecodable bytes, …): the
    # capture's warnings, each {"kind", "message", …details}
    warnings: tuple[dict[str, object], ...] = ()
    moved: int = 0  # characters of text that moved, counted neither as added nor removed
    metadata: dict[str, str] | None = None  # the capture's 发文字号, dates, issuer …

    def to_json(self) -> dict[str, object]:
        listing = self.listing or ListingOutcome()
        return {
            "target": self.target,
            "status": self.status,
            "capture_id": self.capture_id,
            "previous_id": self.previous_id,
            "url": self.url,
            "final_url": self.final_url,
            "http_status": self.http_status,
            "fetched_at": self.fetched_at.isoformat().replace("+00:00", "Z"),
            "duration": round(self.duration, 3),
            "size": self.size,
            "title": self.title,
            "added": self.added,
            "removed": self.removed,
            "moved": self.moved,
            "hits": [h.to_json() for h in self.hits],
            "metadata": dict(self.metadata or {}),  # keys: README, "Notice metadata"
            "documents": [d.to_json() for d in listing.new],
            # `removed` is the removed characters (DESIGN.md); documents gone are these
            "removed_documents": [d.url for d in listing.removed],
            "deferred": len(listing.deferred),
            "changed_documents": [d.to_json() for d in listing.changed],
            "suspected_documents": [d.to_json() for d in listing.suspected],
            "delisted_documents": [d.to_json() for d in listing.delisted],
            "restored_documents": [d.to_json() for d in listing.restored],
            "warnings": list(self.warnings),
            "blocked_documents": [d.to_json() for d in listing.blocked],
            "broken_documents": [d.to_json() for d in listing.broken],
            # every document whose state changed in this check, with what was seen
            "document_fates": [d.to_json() for d in listing.fates],
            "error": self.error,
        }
