"""Small typed domain objects shared by the pipeline stages.

Each stage takes and returns these, never the whole store or a dict, so a
stage can be tested on its own (fetch -> extract -> store -> diff -> keywords).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(slots=True)
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
    hits: list[Hit] = field(default_factory=list)
    documents: list[dict[str, object]] = field(default_factory=list)
    error: str | None = None
    title: str = ""
    # listing: documents confirmed gone (not `removed`: that is the removed characters)
    removed_documents: list[str] = field(default_factory=list)
    deferred: int = 0  # listing: new documents over the cap, fetched by later checks
    looks_removed: bool = False  # the page says it is gone (soft 404)
    error_kind: str | None = None  # a failed fetch: http, blocked, timeout, connection …
    links: tuple[tuple[str, str], ...] = ()  # documents: attachment links (url, text)

    def to_json(self) -> dict[str, object]:
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
            "hits": [h.to_json() for h in self.hits],
            "documents": self.documents,
            "removed_documents": self.removed_documents,
            "deferred": self.deferred,
            "error": self.error,
        }
