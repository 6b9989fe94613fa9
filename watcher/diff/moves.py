"""Moved blocks: lines a change deleted in one place and inserted in another.

A line diff sees a paragraph that moved as one deletion plus one insertion, so
its characters would count as added and removed and every keyword in it as
"added". Here deleted and inserted lines of *different* changed regions are
paired: first by hashing their text (runs of equal lines become one move); then
the lines left over that start or end like no line of their own region (those
are edits in place) are paired when equal after whitespace folding, or when all
but one edited stretch of them is the same (``SIMILAR``), so that a moved
paragraph with a small edit inside is a move plus that edit.

The work is bounded: a line text that was deleted or inserted more than
``MAX_SHARED`` times is no anchor, fuzzy pairing tries at most ``MAX_TRIES``
lines per deleted line, and every line comparison is counted against a budget
linear in the changed lines (and the diff's deadline).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain

import fast_diff_match_patch as dmp

MIN_CHARS = 8  # non-whitespace characters a move holds at least; less stays delete + insert
MAX_SHARED = 8  # a line text deleted or inserted more often than this anchors nothing
FUZZY_MIN = 20  # characters a line needs to be paired despite an edit
FUZZY_MAX = 5000  # longer lines are paired only when equal (a char diff costs too much)
ANCHOR = 12  # first / last characters that find candidates for a fuzzy pair
SIMILAR = 0.8  # share of equal characters that makes an edited line the same line moved
BALANCED = 0.1  # a region whose sides differ in length by less than this is edited in place
MAX_TRIES = 4  # candidates checked with a char diff per deleted line
WORK_PER_LINE = 64  # comparisons allowed per changed line ...
WORK_BASE = 4096  # ... plus this

Region = tuple[int, int, int, int]  # old_start, old_end, new_start, new_end (half-open)
CharOps = tuple[tuple[str, str], ...]  # ("=", "+", "-") and text, for an edited pair


@dataclass(frozen=True, slots=True)
class Match:
    """Old lines [old_start, old_end) are new lines [new_start, new_end)."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int


@dataclass(slots=True)
class MoveSearch:
    matches: list[Match] = field(default_factory=list)  # sorted by old_start, merged
    edited: dict[int, CharOps] = field(default_factory=dict)  # old line -> its char ops
    comparisons: int = 0  # line comparisons spent (exact steps and char-diff checks)
    exhausted: bool = False  # the budget or the deadline stopped the search


def fold(line: str) -> str:
    """A line's text without any whitespace (ideographic spaces included)."""
    return "".join(line.split())


class _Search:
    def __init__(
        self, old: Sequence[str], new: Sequence[str], regions: Sequence[Region], deadline: float
    ) -> None:
        self.old, self.new, self.deadline, self.regions = old, new, deadline, regions
        self.old_region = [-1] * len(old)
        self.new_region = [-1] * len(new)
        for r, (a, b, c, d) in enumerate(regions):
            self.old_region[a:b] = [r] * (b - a)
            self.new_region[c:d] = [r] * (d - c)
        self.used_old: set[int] = set()
        self.used_new: set[int] = set()
        self.claimed: set[int] = set()  # regions with lines already paired
        changed = sum(b - a + d - c for a, b, c, d in regions)
        self.budget = WORK_BASE + WORK_PER_LINE * changed
        self.result = MoveSearch()

    def spend(self) -> bool:
        """Count one comparison; False once the budget or the deadline is gone."""
        self.result.comparisons += 1
        if self.result.comparisons > self.budget or (
            self.result.comparisons % 256 == 0 and time.perf_counter() >= self.deadline
        ):
            self.result.exhausted = True
        return not self.result.exhausted

    def free_old(self, i: int) -> bool:
        return 0 <= i < len(self.old) and self.old_region[i] >= 0 and i not in self.used_old

    def free_new(self, j: int) -> bool:
        return 0 <= j < len(self.new) and self.new_region[j] >= 0 and j not in self.used_new

    def claim(self, match: Match) -> None:
        self.used_old.update(range(match.old_start, match.old_end))
        self.used_new.update(range(match.new_start, match.new_end))
        self.claimed.update((self.old_region[match.old_start], self.new_region[match.new_start]))
        self.result.matches.append(match)

    # -- equal lines ----------------------------------------------------------------------

    def exact(self) -> None:
        """Runs of equal lines; the hashing is done by sets (the lines' hashes are
        already cached by the line diff), so only shared lines cost Python work."""
        deleted = Counter(chain.from_iterable(self.old[a:b] for a, b, _, _ in self.regions))
        inserted = Counter(chain.from_iterable(self.new[c:d] for _, _, c, d in self.regions))
        shared = {
            line
            for line in deleted.keys() & inserted.keys()
            if deleted[line] <= MAX_SHARED and inserted[line] <= MAX_SHARED and line.strip()
        }
        if not shared:
            return
        where: dict[str, list[int]] = {}
        for _, _, c, d in self.regions:
            for j in range(c, d):
                if self.new[j] in shared:
                    where.setdefault(self.new[j], []).append(j)
        for a, b, _, _ in self.regions:
            for i in range(a, b):
                if self.result.exhausted:
                    return
                if self.old[i] in shared and i not in self.used_old:
                    self.exact_from(i, where[self.old[i]])

    def exact_from(self, i: int, places: list[int]) -> None:
        best: Match | None = None
        best_chars = 0
        for j in places:
            if not self.free_new(j) or self.new_region[j] == self.old_region[i]:
                continue
            k, chars = self.extend(i, j)
            if chars > best_chars:
                best, best_chars = Match(i, i + k, j, j + k), chars
        if best is not None and best_chars >= MIN_CHARS:
            self.claim(self.with_blank_lines_before(best))

    def extend(self, i: int, j: int) -> tuple[int, int]:
        """Equal lines from ``i`` and ``j`` on: how many, and their characters."""
        k = chars = 0
        while self.free_old(i + k) and self.free_new(j + k) and self.spend():
            line = self.old[i + k]
            if line != self.new[j + k]:
                break
            chars += len(line.strip())
            k += 1
        return k, chars

    def with_blank_lines_before(self, m: Match) -> Match:
        """Blank lines just before a moved run moved with it."""
        i, j = m.old_start, m.new_start
        while (
            self.free_old(i - 1)
            and self.free_new(j - 1)
            and not self.old[i - 1].strip()
            and not self.new[j - 1].strip()
            and self.spend()
        ):
            i, j = i - 1, j - 1
        return Match(i, m.old_end, j, m.new_end)

    # -- lines equal but for whitespace, or for one small edit ----------------------------

    def unpaired(self) -> tuple[list[int], list[int]]:
        """Free deleted and inserted lines that may have moved: not in a region whose
        two sides are about as long (lines edited in place, the usual change), and
        starting or ending like no line of the other side of their region."""
        olds: list[int] = []
        news: list[int] = []
        for r, (a, b, c, d) in enumerate(self.regions):
            if r not in self.claimed and a < b and c < d:  # cheap: the usual region
                old_chars, new_chars = sum(map(len, self.old[a:b])), sum(map(len, self.new[c:d]))
                if abs(old_chars - new_chars) <= BALANCED * max(old_chars, new_chars):
                    continue
            old = self.free_lines(a, b, self.old, self.used_old, r in self.claimed)
            new = self.free_lines(c, d, self.new, self.used_new, r in self.claimed)
            if not old or not new:
                olds += [i for i, _ in old]
                news += [j for j, _ in new]
                continue
            old_chars, new_chars = sum(len(x) for _, x in old), sum(len(x) for _, x in new)
            if abs(old_chars - new_chars) <= BALANCED * max(old_chars, new_chars):
                continue
            new_heads, new_tails = {x[:ANCHOR] for _, x in new}, {x[-ANCHOR:] for _, x in new}
            old_heads, old_tails = {x[:ANCHOR] for _, x in old}, {x[-ANCHOR:] for _, x in old}
            olds += [
                i for i, x in old if x[:ANCHOR] not in new_heads and x[-ANCHOR:] not in new_tails
            ]
            news += [
                j for j, x in new if x[:ANCHOR] not in old_heads and x[-ANCHOR:] not in old_tails
            ]
        return (
            [i for i in olds if len(self.old[i].strip()) >= MIN_CHARS],
            [j for j in news if len(self.new[j].strip()) >= MIN_CHARS],
        )

    @staticmethod
    def free_lines(
        start: int, end: int, lines: Sequence[str], used: set[int], claimed: bool
    ) -> list[tuple[int, str]]:
        pairs = list(zip(range(start, end), lines[start:end], strict=True))
        return [(k, x) for k, x in pairs if k not in used] if claimed else pairs

    def fuzzy(self) -> None:
        olds, news = self.unpaired()
        if not olds or not news:
            return
        folded: dict[str, list[int]] = {}
        heads: dict[str, list[int]] = {}
        tails: dict[str, list[int]] = {}
        for j in news:
            key = fold(self.new[j])
            folded.setdefault(key, []).append(j)
            if FUZZY_MIN <= len(key) <= FUZZY_MAX:
                heads.setdefault(key[:ANCHOR], []).append(j)
                tails.setdefault(key[-ANCHOR:], []).append(j)
        for i in olds:
            if self.result.exhausted:
                return
            key = fold(self.old[i])
            best: tuple[float, int, CharOps] | None = None
            for j in self.candidates(i, key, folded, heads, tails)[:MAX_TRIES]:
                if not self.spend():
                    break
                score, ops = self.similarity(self.old[i], self.new[j])
                if score >= SIMILAR and (best is None or score > best[0]):
                    best = (score, j, ops)
            if best is not None:
                self.claim(Match(i, i + 1, best[1], best[1] + 1))
                self.result.edited[i] = best[2]

    def candidates(
        self,
        i: int,
        key: str,
        folded: dict[str, list[int]],
        heads: dict[str, list[int]],
        tails: dict[str, list[int]],
    ) -> list[int]:
        """Free lines of other regions, equal folded, or starting or ending alike."""
        lists = [folded.get(key, [])]
        if FUZZY_MIN <= len(key) <= FUZZY_MAX:
            lists += [heads.get(key[:ANCHOR], []), tails.get(key[-ANCHOR:], [])]
        found: list[int] = []
        for places in lists:
            if len(places) > MAX_SHARED:
                continue
            for j in places:
                if j in found or not self.free_new(j):
                    continue
                if self.new_region[j] != self.old_region[i]:
                    found.append(j)
        return found

    def similarity(self, a: str, b: str) -> tuple[float, CharOps]:
        """How much of two lines is the same around one edited stretch (folded), and
        their char ops; the char diff only runs when that is at least ``SIMILAR``."""
        x, y = fold(a), fold(b)
        total = len(x) + len(y)
        same = _common_prefix(x, y)
        same += _common_prefix(x[same:][::-1], y[same:][::-1])
        score = 2 * same / total if total else 0.0
        if score < SIMILAR:
            return score, ()
        remaining = max(self.deadline - time.perf_counter(), 0.001)
        limit = 0 if remaining == float("inf") else remaining
        raw = dmp.diff(
            a, b, timelimit=limit, checklines=False, cleanup="Semantic", counts_only=False
        )
        return score, tuple((op, text) for op, text in raw if text)

    def merged(self) -> list[Match]:
        """Matches that continue each other on both sides, as one move."""
        out: list[Match] = []
        for m in sorted(self.result.matches, key=lambda m: m.old_start):
            last = out[-1] if out else None
            if last and last.old_end == m.old_start and last.new_end == m.new_start:
                out[-1] = Match(last.old_start, m.old_end, last.new_start, m.new_end)
            else:
                out.append(m)
        return out


def _common_prefix(a: str, b: str) -> int:
    """Length of the common start, by halving (C-speed slice compares, not a loop per char)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def find_moves(
    old_lines: Sequence[str],
    new_lines: Sequence[str],
    regions: Sequence[Region],
    deadline: float = float("inf"),
) -> MoveSearch:
    """Pair deleted with inserted lines of different changed ``regions`` into moves."""
    if sum(1 for r in regions if r[0] < r[1]) == 0 or sum(1 for r in regions if r[2] < r[3]) == 0:
        return MoveSearch()
    if len(regions) < 2:
        return MoveSearch()
    search = _Search(old_lines, new_lines, regions, deadline)
    search.exact()
    search.fuzzy()
    search.result.matches = search.merged()
    return search.result
