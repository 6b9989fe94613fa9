"""What a keyword group would have hit: the stored captures of the last 30 days
whose text holds one of its terms, on how many targets, with a few examples.

An admin tunes a group by trying aliases, so the answer must come while they
wait: one request matches for at most ``BUDGET`` seconds and then says how far it
got ("at least N"); what it learnt is kept per text (a text never changes under its
SHA-256) and per term, so the next request, or a draft that adds one alias to a
group, only matches what is new. Matching is ``watcher.keywords``' own, each term
on its own (overlapping aliases of a group are one hit in a check; here each
alias is counted where it occurs, which is what tuning needs).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from watcher.core.budget import OverBudget
from watcher.core.clock import Clock
from watcher.core.terms import field_of
from watcher.core.text import snippet
from watcher.keywords import KeywordMatcher
from watcher.store import views
from watcher.store.index import Store

__all__ = ["BUDGET", "WINDOW", "Example", "Preview", "TermCache", "preview_groups"]

WINDOW = timedelta(days=30)
BUDGET = 1.8  # seconds from the first read: the page is served in about 2 s
EXAMPLES = 3  # example captures shown per group, from different targets first
CACHE_TEXTS = 100_000  # texts whose per-term results are kept (a few hundred bytes each)

Found = tuple[int, str]  # occurrences of a term in a text, and the first one's snippet


@dataclass(frozen=True, slots=True)
class Example:
    capture_id: str
    target: str
    fetched_at: datetime
    term: str
    snippet: str


@dataclass
class Preview:
    """One group's preview; ``complete`` False: the budget ran out first, so the
    counts are lower bounds over the ``read`` newest of ``total`` captures."""

    terms: tuple[str, ...]
    captures: int = 0
    targets: int = 0
    per_term: dict[str, int] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    unmatched: tuple[str, ...] = ()  # issuer:/docno: terms: a notice's metadata, not its text
    complete: bool = True
    read: int = 0
    total: int = 0
    seconds: float = 0.0
    error: str = ""  # a pattern that ran out of time, or texts that could not be read


class TermCache:
    """Per stored text and term, what matching found; least recently used texts go
    first past ``size``. Shared by the requests of one app (thread-safe)."""

    def __init__(self, size: int = CACHE_TEXTS) -> None:
        self.size = size
        self._texts: OrderedDict[str, dict[str, Found]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str, terms: Iterable[str]) -> dict[str, Found] | None:
        """The results of ``terms`` on the text, or None while one is unknown."""
        with self._lock:
            known = self._texts.get(digest)
            if known is None or any(t not in known for t in terms):
                return None
            self._texts.move_to_end(digest)
            return known

    def missing(self, digest: str, terms: Sequence[str]) -> list[str]:
        with self._lock:
            known = self._texts.get(digest, {})
            return [t for t in terms if t not in known]

    def learn(self, digest: str, found: Mapping[str, Found]) -> dict[str, Found]:
        with self._lock:
            known = self._texts.setdefault(digest, {})
            known.update(found)
            self._texts.move_to_end(digest)
            while len(self._texts) > self.size:
                self._texts.popitem(last=False)
            return known

    def __len__(self) -> int:
        return len(self._texts)


@lru_cache(maxsize=64)
def _matcher(terms: tuple[str, ...], regex_timeout: float) -> KeywordMatcher:
    """Each term its own group: no alias hides another's occurrences."""
    return KeywordMatcher({str(i): [t] for i, t in enumerate(terms)}, regex_timeout)


def _match(text: str, terms: Sequence[str], regex_timeout: float) -> dict[str, Found]:
    found: dict[str, Found] = {t: (0, "") for t in terms}
    for hit in _matcher(tuple(terms), regex_timeout).occurrences(text):
        count, first = found[hit.term]
        found[hit.term] = (count + 1, first or snippet(text, hit.start, hit.end))
    return found


def preview_groups(
    store: Store,
    groups: Sequence[tuple[str, Sequence[str]]],
    cache: TermCache,
    clock: Clock,
    *,
    budget: float = BUDGET,
    regex_timeout: float = 1.0,
) -> list[Preview]:
    """Previews of ``groups`` ((label, terms) pairs, a draft among them), in their
    order, from one pass over the stored texts newest first."""
    previews = [Preview(tuple(terms)) for _, terms in groups]
    textual = {t for _, terms in groups for t in terms if field_of(t) is None}
    terms = sorted(textual)
    for one in previews:
        one.unmatched = tuple(t for t in one.terms if t not in textual)
    started = clock.monotonic()
    rows = views.recent_texts(store, clock.now() - WINDOW)
    seen: list[set[str]] = [set() for _ in previews]
    stopped, error, unreadable, read = False, "", 0, 0
    for row in rows:
        found = cache.get(row.text_sha256, terms)
        if found is None:
            if stopped or clock.monotonic() - started >= budget:
                stopped = True
                continue  # the texts already known still count
            text = views.text_by_digest(store, row.text_sha256)
            if text is None:
                unreadable += 1
                continue
            missing = cache.missing(row.text_sha256, terms)
            try:
                found = cache.learn(row.text_sha256, _match(text, missing, regex_timeout))
            except OverBudget as exc:
                stopped, error = True, f"{exc} on capture {row.capture_id} ({row.target})"
                continue
        read += 1
        for one, targets in zip(previews, seen, strict=True):
            _tally(one, targets, row, found)
    seconds = clock.monotonic() - started
    if unreadable and not error:
        error = f"{unreadable} stored texts could not be read (see `watcher verify`)"
    for one, targets in zip(previews, seen, strict=True):
        one.targets, one.complete, one.read, one.total = len(targets), not stopped, read, len(rows)
        one.seconds, one.error = seconds, error
    return previews


def _tally(one: Preview, targets: set[str], row: views.StoredText, found: dict[str, Found]) -> None:
    held = [t for t in one.terms if found.get(t, (0, ""))[0]]
    if not held:
        return
    one.captures += 1
    for term in held:
        one.per_term[term] = one.per_term.get(term, 0) + 1
    if len(one.examples) < EXAMPLES and row.target not in targets:
        term = held[0]
        one.examples.append(
            Example(row.capture_id, row.target, row.fetched_at, term, found[term][1])
        )
    targets.add(row.target)
