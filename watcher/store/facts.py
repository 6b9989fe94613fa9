"""A notice's facts as the analysis worker finds them (its identity, citations and
deadlines) and the sketch's similarity: plain data, kept apart from ``works`` so a
worker process that makes them never loads SQLAlchemy (about 25 MB a process)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["SKETCH", "Citation", "Deadline", "NoticeFacts", "jaccard"]

SKETCH = 64  # hashes in a full sketch (watcher.analysis.identity makes them)


@dataclass(frozen=True, slots=True)
class Citation:
    """A document a notice cites, by 文号, by 《title》, or both."""

    number: str | None
    title: str | None
    snippet: str
    title_key: str | None = None  # the title as a document's title_key is written


@dataclass(frozen=True, slots=True)
class Deadline:
    """A date a notice asks something by (``kind``: submit, comments, apply, deadline)."""

    date: str  # YYYY-MM-DD
    kind: str
    sentence: str


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """What ties a capture to its document; built in the analysis worker."""

    key: str | None  # the 文号 (with the issuer where the 文号 does not name it)
    document_number: str | None
    issuer: str | None
    title: str | None
    title_key: str | None
    sketch: tuple[int, ...]
    citations: tuple[Citation, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    notify: tuple[str, ...] = field(default=(), compare=False)  # the target's alert tags
    base_url: str | None = field(default=None, compare=False)  # for links in alerts


def jaccard(a: Iterable[int], b: Iterable[int], size: int = SKETCH) -> float:
    """Estimated Jaccard similarity of two bottom-k sketches."""
    first, second = set(a), set(b)
    union = sorted(first | second)[:size]
    if not union:
        return 0.0
    return sum(1 for h in union if h in first and h in second) / len(union)
