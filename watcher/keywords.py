"""Keyword groups matched where a change added or removed them.

Both the terms and the page text are normalised the same way before matching
(NFKC so full-width ＳＡＳＴＩＮＤ is SASTIND, traditional→simplified with OpenCC
so 國防科工局 is 国防科工局, Latin matched case-insensitively), while hit positions and
snippets refer to the original text the analyst will read.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import opencc

from watcher.diff import TextDiff
from watcher.models import Hit, Where

SNIPPET_CONTEXT = 30
REGEX_PREFIX = "re:"


@functools.cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _to_simplified(text: str) -> str:
    return _t2s().convert(text)


def _nfkc(text: str) -> str:
    if unicodedata.is_normalized("NFKC", text):  # the usual case, and much cheaper
        return text
    return unicodedata.normalize("NFKC", text)


# Latin case is handled by compiling every pattern with IGNORECASE: casefolding
# a whole page costs more than all other steps together.
_STEPS: tuple[Callable[[str], str], ...] = (_nfkc, _to_simplified)


def normalize_term(text: str) -> str:
    """The form a term or a text is compared in."""
    for step in _STEPS:
        text = step(text)
    return text


def normalize(text: str) -> tuple[str, list[int] | None]:
    """Normalise ``text`` and map each normalised index back to an original index.

    The map is ``None`` when every step kept the length (the usual case), meaning
    positions are the same on both sides.
    """
    mapping: list[int] | None = None
    for step in _STEPS:
        converted = step(text)
        if len(converted) != len(text):
            converted, step_map = _per_char(text, step)
            mapping = step_map if mapping is None else [mapping[i] for i in step_map]
        text = converted
    return text, mapping


def _per_char(text: str, step: Callable[[str], str]) -> tuple[str, list[int]]:
    """Slow path for a step that changes length: convert one character at a time."""
    out: list[str] = []
    mapping: list[int] = []
    for i, ch in enumerate(text):
        converted = step(ch)
        out.append(converted)
        mapping.extend([i] * len(converted))
    return "".join(out), mapping


@dataclass(frozen=True, slots=True)
class Term:
    group: str
    source: str  # as written in the config, e.g. "re:军民(两用|结合)"
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Occurrence:
    group: str
    term: str
    start: int  # in the original text
    end: int


class KeywordMatcher:
    """Compiled keyword groups; build once per config and reuse for every check."""

    def __init__(self, groups: Mapping[str, Sequence[str]]) -> None:
        self.terms: tuple[Term, ...] = tuple(
            Term(group, source, _compile(source))
            for group, terms in groups.items()
            for source in terms
        )

    def restricted(self, groups: Iterable[str]) -> KeywordMatcher:
        """The same matcher limited to a target's groups (no recompiling)."""
        wanted = set(groups)
        clone = KeywordMatcher({})
        clone.terms = tuple(t for t in self.terms if t.group in wanted)
        return clone

    def occurrences(self, text: str) -> list[Occurrence]:
        """Every match in ``text``; overlapping aliases of one group count once (the longest)."""
        if not self.terms or not text:
            return []
        normalised, mapping = normalize(text)
        found: list[Occurrence] = []
        for term in self.terms:
            for m in term.pattern.finditer(normalised):
                if m.end() > m.start():
                    start, end = _original_span(m.start(), m.end(), mapping, len(text))
                    found.append(Occurrence(term.group, term.source, start, end))
        return _drop_overlapping_aliases(found)


def _compile(source: str) -> re.Pattern[str]:
    if source.startswith(REGEX_PREFIX):
        return re.compile(normalize_term(source[len(REGEX_PREFIX) :]), re.IGNORECASE)
    return re.compile(re.escape(normalize_term(source)), re.IGNORECASE)


def _original_span(start: int, end: int, mapping: list[int] | None, length: int) -> tuple[int, int]:
    if mapping is None:
        return start, end
    original_end = mapping[end] if end < len(mapping) else length
    return mapping[start], max(original_end, mapping[end - 1] + 1)


def _drop_overlapping_aliases(found: list[Occurrence]) -> list[Occurrence]:
    found.sort(key=lambda o: (o.group, o.start, -(o.end - o.start)))
    kept: list[Occurrence] = []
    for occ in found:
        last = kept[-1] if kept else None
        if last and last.group == occ.group and occ.start < last.end:
            continue
        kept.append(occ)
    kept.sort(key=lambda o: (o.start, o.group))
    return kept


def snippet(text: str, start: int, end: int, context: int = SNIPPET_CONTEXT) -> str:
    """The match with about ``context`` characters each side, on one line."""
    left = max(0, start - context)
    right = min(len(text), end + context)
    body = text[left:right].replace("\n", " ").strip()
    return ("…" if left > 0 else "") + body + ("…" if right < len(text) else "")


def changed_ranges(diff: TextDiff) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Inserted spans in the new text and deleted spans in the old text."""
    inserted: list[tuple[int, int]] = []
    deleted: list[tuple[int, int]] = []
    old_pos = new_pos = 0
    for op in diff.ops:
        n = len(op.text)
        if op.kind == "insert":
            inserted.append((new_pos, new_pos + n))
            new_pos += n
        elif op.kind == "delete":
            deleted.append((old_pos, old_pos + n))
            old_pos += n
        else:
            old_pos += n
            new_pos += n
    return inserted, deleted


def _overlaps(spans: list[tuple[int, int]], starts: list[int], start: int, end: int) -> bool:
    i = bisect.bisect_right(starts, start) - 1
    candidates = spans[i : i + 2] if i >= 0 else spans[:1]
    return any(s < end and start < e for s, e in candidates)


def _hits_in(
    matcher: KeywordMatcher, text: str, spans: list[tuple[int, int]] | None, where: Where
) -> list[Hit]:
    starts = [s for s, _ in spans] if spans is not None else []
    hits = []
    for occ in matcher.occurrences(text):
        if spans is None or _overlaps(spans, starts, occ.start, occ.end):
            hits.append(
                Hit(occ.group, occ.term, snippet(text, occ.start, occ.end), where, occ.start)
            )
    return hits


def find_hits(
    matcher: KeywordMatcher, old_text: str | None, new_text: str, diff: TextDiff | None
) -> list[Hit]:
    """Hits where the change added a term (including one completed by the edit,
    e.g. 船只 → 船舶) and, separately, where a term went away with removed text.

    With no previous text (a first capture) every occurrence is an added hit.
    """
    if old_text is None or diff is None:
        return _hits_in(matcher, new_text, None, "added")
    if not diff.changed:
        return []
    inserted, deleted = changed_ranges(diff)
    added = _hits_in(matcher, new_text, inserted, "added") if inserted else []
    removed = _hits_in(matcher, old_text, deleted, "removed") if deleted else []
    if removed:
        removed = _disappeared(matcher, removed, old_text, new_text)
    return added + removed


def _disappeared(matcher: KeywordMatcher, removed: list[Hit], old: str, new: str) -> list[Hit]:
    """Keep removed hits only for terms the new text has fewer of: an edit that
    rewrites 国防科工局 as 國防科工局 did not make the term go away."""
    before = Counter(o.term for o in matcher.occurrences(old))
    after = Counter(o.term for o in matcher.occurrences(new))
    return [h for h in removed if after[h.term] < before[h.term]]
