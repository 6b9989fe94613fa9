"""Keyword groups matched where a change added or removed them.

Both the terms and the page text are normalised the same way before matching
(NFKC so full-width ＳＡＳＴＩＮＤ is SASTIND, traditional→simplified with OpenCC
so 國防科工局 is 国防科工局, Latin matched case-insensitively), while hit positions and
snippets refer to the original text the analyst will read.

Normalising a page costs more than matching on it, so each term first screens the
text as written for any form normalising could turn into it (its traditional and
full-width characters, either case, whitespace inside); a page where no term can
be is not normalised, and only the terms that may be there are matched.

Whitespace is folded for matching as a reader reads: a space or line break beside
a Hanzi or full-width punctuation goes (a title split by ``<br>``, 国防 科工局),
and a line break between Latin words is a space. Edits that only add or remove
such whitespace never make a hit (``changed_ranges`` trims them off).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import regex

from watcher.core.budget import DEFAULT_REGEX_TIMEOUT, compile_user_pattern, timed_out
from watcher.core.models import SNIPPETS_PER_TERM, TermHits, Where
from watcher.core.terms import field_of
from watcher.core.text import MATCH_SPACE, fold_document_numbers, snippet, t2s
from watcher.diff.ops import NEW_KINDS, OLD_KINDS, TextDiff

REGEX_PREFIX = "re:"
FIELD_LABELS = {"issuer": "发文机关", "document_number": "文号"}


# Code points NFKC turns into letters or digits: full-width ＡＢＣ１２３, circled
# numbers, CJK compatibility ideographs... found once by asking unicodedata
# (~15 ms). Full-width punctuation is left alone: terms are words, and a page
# has many more ，：（） than anything else NFKC would touch.
# BMP only: with any astral range in the class, the regex engine can no longer
# use its bitmap and tests every range at every character (20x slower).
_NFKC_SCAN = ((0, 0xD800), (0xE000, 0x10000))


@functools.cache
def _nfkc_points() -> tuple[int, ...]:
    return tuple(
        cp for start, end in _NFKC_SCAN for cp in range(start, end) if _folds_to_word(chr(cp))
    )


@functools.cache
def _nfkc_unstable() -> re.Pattern[str]:
    ranges: list[list[int]] = []
    for cp in _nfkc_points():  # as ranges: a class of 4,600 single characters matches slowly
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{body}]")


def _folds_to_word(ch: str) -> bool:
    folded = unicodedata.normalize("NFKC", ch)
    return folded != ch and any(c.isalnum() for c in folded)


@functools.cache
def _nfkc_char(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch)


def _nfkc(text: str) -> tuple[str, list[int] | None]:
    """NFKC of the characters that fold to letters or digits, one by one.

    Whole-text NFKC costs more than everything else in a check put together.
    """
    pieces: list[str] = []
    spans: list[tuple[int, str]] = []
    last = 0
    for m in _nfkc_unstable().finditer(text):
        replacement = _nfkc_char(m.group())
        pieces.append(text[last : m.start()])
        pieces.append(replacement)
        last = m.end()
        if len(replacement) != 1:
            spans.append((m.start(), replacement))
    if not pieces:
        return text, None
    pieces.append(text[last:])
    return "".join(pieces), _map_expansions(len(text), spans) if spans else None


def _map_expansions(length: int, spans: list[tuple[int, str]]) -> list[int]:
    mapping: list[int] = []
    last = 0
    for start, replacement in spans:
        mapping.extend(range(last, start))
        mapping.extend([start] * len(replacement))
        last = start + 1
    mapping.extend(range(last, length))
    return mapping


def _per_char(text: str, step: Callable[[str], str]) -> tuple[str, list[int]]:
    """Slow path for a step that changes length: convert one character at a time."""
    out: list[str] = []
    mapping: list[int] = []
    for i, ch in enumerate(text):
        converted = step(ch)
        out.append(converted)
        mapping.extend([i] * len(converted))
    return "".join(out), mapping


def normalize_term(text: str) -> str:
    """The form a term or a text is compared in."""
    return _fold_spaces(t2s().convert(_nfkc(fold_document_numbers(text)[0])[0]))[0]


def _fold_spaces(text: str) -> tuple[str, list[tuple[int, int]] | None]:
    """Whitespace folded for matching, and where it was cut: (folded index, shift)
    pairs, ascending, or None when nothing was cut."""
    text = text.replace("\n", " ").replace("\r", " ")  # str.translate is slow on Hanzi
    if " " not in text and "\t" not in text and "\u3000" not in text:
        return text, None
    pieces: list[str] = []
    shifts: list[tuple[int, int]] = []
    last = cut = 0
    for m in MATCH_SPACE.finditer(text):
        pieces.append(text[last : m.start()])
        cut += m.end() - m.start()
        shifts.append((m.start() - cut + m.end() - m.start(), cut))
        last = m.end()
    if not shifts:
        return text, None
    pieces.append(text[last:])
    return "".join(pieces), shifts


def _unfolded(index: int, shifts: list[tuple[int, int]], starts: list[int]) -> int:
    """The index before folding of a folded index."""
    i = bisect.bisect_right(starts, index) - 1
    return index + shifts[i][1] if i >= 0 else index


def normalize(text: str) -> tuple[str, list[int] | None]:
    """Normalise ``text`` and map each normalised index back to an original index.

    The map is ``None`` when no step changed the length (the usual case), meaning
    positions are the same on both sides. Latin case is left alone: patterns are
    compiled with IGNORECASE, which is much cheaper than casefolding a page.
    """
    text, folded = fold_document_numbers(text)  # 国发[2022]5号 is 国发〔2022〕5号
    text, mapping = _nfkc(text)
    simplified = t2s().convert(text)
    if len(simplified) != len(text):  # a phrase rule changed length: go per character
        convert = t2s().convert
        simplified, step = _per_char(text, convert)
        mapping = step if mapping is None else [mapping[i] for i in step]
    if folded is not None:
        mapping = folded if mapping is None else [folded[i] for i in mapping]
    return simplified, mapping


@dataclass(frozen=True, slots=True)
class Term:
    group: str
    source: str  # as written in the config, e.g. "re:军民(两用|结合)"
    pattern: re.Pattern[str] | regex.Pattern[str]  # a user's pattern: regex, timed

    def may_match(self, text: str) -> bool:
        """Whether ``text`` can hold this term at all, without normalising it (a
        user's pattern always may)."""
        if not isinstance(self.pattern, re.Pattern):
            return True
        screen = _screen(self.pattern.pattern, self.pattern.flags)
        return any((lead is None or lead.search(text)) and p.search(text) for lead, p in screen)


@dataclass(frozen=True, slots=True)
class Occurrence:
    group: str
    term: str
    start: int  # in the original text
    end: int


class KeywordMatcher:
    """Compiled keyword groups; build once per config and reuse for every check."""

    def __init__(
        self, groups: Mapping[str, Sequence[str]], regex_timeout: float = DEFAULT_REGEX_TIMEOUT
    ) -> None:
        self.terms: tuple[Term, ...] = tuple(
            Term(group, source, _compile(source))
            for group, terms in groups.items()
            for source in terms
            if field_of(source) is None
        )
        self.fields: tuple[tuple[str, str, str, str], ...] = tuple(
            (group, source, *_field_term(source))
            for group, terms in groups.items()
            for source in terms
            if field_of(source) is not None
        )  # (group, term, metadata key, normalised value)
        self.regex_timeout = regex_timeout  # per pattern and text; then PatternTimeout
        self._literals = frozenset(
            _literal(t.pattern.pattern) for t in self.terms if isinstance(t.pattern, re.Pattern)
        )

    def restricted(
        self, groups: Iterable[str], regex_timeout: float | None = None
    ) -> KeywordMatcher:
        """The same matcher limited to a target's groups (no recompiling)."""
        wanted = set(groups)
        clone = KeywordMatcher({}, self.regex_timeout if regex_timeout is None else regex_timeout)
        clone.terms = tuple(t for t in self.terms if t.group in wanted)
        clone.fields = tuple(f for f in self.fields if f[0] in wanted)
        clone._literals = self._literals
        return clone

    def spellings(self) -> dict[str, frozenset[str]]:
        """Its literal terms' traditional spellings, learned in this process if need be:
        what ``teach_spellings`` gives a worker so that it never loads OpenCC's
        simplified → traditional dictionaries (about 40 MB each time) for them."""
        if not _SPELLINGS.keys() >= self._literals:
            _learn_spellings(self._literals)
        return {term: _SPELLINGS[term] for term in self._literals}

    def occurrences(self, text: str) -> list[Occurrence]:
        """Every match in ``text``; overlapping aliases of one group count once (the longest)."""
        # the terms' own forms first: a page that cannot hold any costs no normalising
        if text and not _SPELLINGS.keys() >= self._literals:
            _learn_spellings(self._literals)  # once per process and config, all terms at once
        terms = [t for t in self.terms if t.may_match(text)] if text else []
        return self._found(terms, text) if terms else []

    def occurrences_in(self, text: str, windows: Windows) -> list[Occurrence]:
        """``occurrences`` within these stretches of ``text`` (None: all of it), with
        positions in the whole text."""
        if windows is None:
            return self.occurrences(text)
        found: list[Occurrence] = []
        for start, end in windows:
            found += [
                Occurrence(o.group, o.term, o.start + start, o.end + start)
                for o in self.occurrences(text[start:end])
            ]
        return found

    def _found(self, terms: Sequence[Term], text: str) -> list[Occurrence]:
        """``terms`` matched on the normalised text, whatever the screen says."""
        normalised, mapping = normalize(text)
        folded, shifts = _fold_spaces(normalised)
        starts = [s for s, _ in shifts] if shifts else []
        found: list[Occurrence] = []
        for term in terms:
            for m in self._matches(term, folded):
                if m.end() > m.start():
                    first, last = m.start(), m.end()
                    if shifts:
                        first = _unfolded(first, shifts, starts)
                        last = _unfolded(last - 1, shifts, starts) + 1
                    start, end = _original_span(first, last, mapping, len(text))
                    found.append(Occurrence(term.group, term.source, start, end))
        return _drop_overlapping_aliases(found)

    def _matches(self, term: Term, text: str) -> list[re.Match[str]] | list[regex.Match[str]]:
        if isinstance(term.pattern, re.Pattern):  # an escaped literal: nothing to backtrack
            return list(term.pattern.finditer(text))
        try:  # the interpreter lock released: the event loop answers meanwhile
            return list(term.pattern.finditer(text, timeout=self.regex_timeout, concurrent=True))
        except TimeoutError:
            pattern = term.source[len(REGEX_PREFIX) :]
            raise timed_out("keyword pattern", pattern, self.regex_timeout) from None


# --- the screen: where a term could be, in the text as written ---------------------------


@functools.cache
def _sources() -> tuple[dict[str, str], dict[str, str]]:
    """For each character of normalised text, the characters of a page that become
    it (NFKC, then traditional → simplified, one character at a time); and the
    characters that become several (㈱ is (株)), which a screen cannot place.

    Found once by converting every character NFKC or OpenCC may change (40 ms)."""
    unstable = [chr(cp) for cp in _nfkc_points()]
    chars = unstable + [chr(cp) for start, end in _HANZI for cp in range(start, end)]
    once = [_nfkc_char(c) for c in unstable] + chars[len(unstable) :]
    simplified = t2s().convert("\n".join(once)).split("\n")
    sources: dict[str, list[str]] = {}
    expanding: dict[str, str] = {}
    for char, becomes in zip(chars, simplified, strict=True):
        if becomes == char:
            continue
        if len(becomes) == 1:
            sources.setdefault(becomes, []).append(char)
        else:
            expanding[char] = becomes
    return {k: "".join(v) for k, v in sources.items()}, expanding


# where OpenCC's t2s changes characters (measured over all of Unicode): the ideographs
_HANZI = ((0x3400, 0xA000), (0xF900, 0xFB00), (0x20000, 0x32400))
_BRACKETS = ("〔[（［(【〖﹝", "〕]）］)】〗﹞")  # what a 文号's brackets are folded from


@functools.lru_cache(maxsize=1024)
def _screen(term: str, flags: int) -> tuple[tuple[re.Pattern[str] | None, re.Pattern[str]], ...]:
    """Patterns over the text as written, one of which finds every place the
    normalised literal ``term`` can match: each character as any character that
    normalises to it (traditional, full-width, either case, a 文号's brackets),
    any whitespace between them, and the term's own traditional spellings; plus,
    if any, the characters that normalise to several including one of the term's.

    A superset: it may find what matching will not (then matching decides), never
    miss what it would. Each pattern may come with a lead: its part from the first
    character that has one form, which the regex engine finds as fast as a plain
    string (a class of forms first is ten times slower: 工 has two)."""
    literal = _literal(term)
    sources, expanding = _sources()
    seen = {c for ch in literal for c in (ch, ch.lower(), ch.upper())}
    forms_of = []
    for ch in literal:
        if ch.isspace():
            continue
        forms = {ch, ch.lower(), ch.upper()}
        forms |= {s for f in list(forms) for s in sources.get(f, "")}
        forms |= {b for brackets in _BRACKETS if ch in brackets for b in brackets}
        forms_of.append(forms)
    classes = ["[" + "".join(sorted(re.escape(f) for f in forms)) + "]" for forms in forms_of]
    single = next((i for i, forms in enumerate(forms_of) if len(forms) == 1), 0)
    lead = re.compile(r"\s*".join(classes[single:]), flags) if single else None
    patterns = [(lead, re.compile(r"\s*".join(classes), flags))] if classes else []
    for spelling in _spellings(literal) - {literal}:
        spelt = r"\s*".join(re.escape(c) for c in spelling if not c.isspace())
        patterns.append((None, re.compile(spelt, flags)))
    placed = "".join(c for c, becomes in expanding.items() if seen & set(becomes))
    if placed:
        patterns.append((None, re.compile("[" + re.escape(placed) + "]")))
    return tuple(patterns) or ((None, re.compile("")),)


def _literal(pattern: str) -> str:
    """A literal term's compiled pattern, unescaped."""
    return re.sub(r"\\(.)", r"\1", pattern)


_SPELLINGS: dict[str, frozenset[str]] = {}  # a term → its traditional spellings


def _spellings(term: str) -> frozenset[str]:
    """The term's traditional spellings as whole words, as OpenCC writes them
    (phrases included: a phrase's characters need not be each one's usual form)."""
    if term not in _SPELLINGS:
        _learn_spellings([term])
    return _SPELLINGS[term]


def teach_spellings(spellings: Mapping[str, frozenset[str]]) -> None:
    """Terms' spellings as another process learned them (``KeywordMatcher.spellings``)."""
    _SPELLINGS.update(spellings)


def _learn_spellings(terms: Iterable[str]) -> None:
    """Spell the terms with OpenCC's three simplified → traditional converters, then
    let the converters go: their dictionaries hold about 40 MB, in every analysis
    worker, for a few words."""
    import opencc

    from watcher.core.heap import trim

    missing = [t for t in terms if t not in _SPELLINGS]
    if not missing:
        return
    converters = [opencc.OpenCC(config) for config in ("s2t", "s2tw", "s2hk")]
    for term in missing:
        _SPELLINGS[term] = frozenset(c.convert(term) for c in converters)
    del converters
    trim()


def _field_term(source: str) -> tuple[str, str]:
    key, value = field_of(source)  # type: ignore[misc]
    return key, normalize_term(value)


def metadata_hits(
    matcher: KeywordMatcher, metadata: Mapping[str, str] | None, text: str
) -> list[TermHits]:
    """Hits of ``issuer:`` (contains) and ``docno:`` (starts with) terms on a new
    notice's metadata; the hit points at the value where the text shows it."""
    if not matcher.fields or not metadata:
        return []
    found = []
    for group, term, key, wanted in matcher.fields:
        value = metadata.get(key) or metadata.get(f"listing_{key}") or ""
        folded = normalize_term(value)
        if not wanted or not (
            folded.startswith(wanted) if key == "document_number" else wanted in folded
        ):
            continue
        at = text.find(value) if value else -1
        where, length = (at, len(value)) if at >= 0 else (0, 0)
        shown = f"{FIELD_LABELS[key]}：{value}"
        found.append(TermHits(group, term, "added", (where, length), (shown,)))
    return found


def _compile(source: str) -> re.Pattern[str] | regex.Pattern[str]:
    if source.startswith(REGEX_PREFIX):  # a pattern's brackets are syntax: not folded
        pattern = t2s().convert(_nfkc(source[len(REGEX_PREFIX) :])[0])
        return compile_user_pattern(pattern, regex.IGNORECASE)
    term = normalize_term(source)
    # IGNORECASE defeats the regex engine's fast literal search: use it only for cased terms
    flags = re.IGNORECASE if term.lower() != term.upper() else 0
    return re.compile(re.escape(term), flags)


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


def changed_ranges(diff: TextDiff) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Inserted spans in the new text and deleted spans in the old text, without
    their edge whitespace (an inserted space inside a term does not add it); a moved
    block's text is neither (see ``TextDiff.changed_spans``), its edges are empty spans."""
    inserted: list[tuple[int, int]] = []
    deleted: list[tuple[int, int]] = []
    old_pos = new_pos = 0
    for op in diff.ops:
        n = len(op.text)
        if op.kind == "insert":
            _add_trimmed(inserted, op.text, new_pos)
        elif op.kind == "delete":
            _add_trimmed(deleted, op.text, old_pos)
        if op.kind in OLD_KINDS:
            old_pos += n
        if op.kind in NEW_KINDS:
            new_pos += n
    edges_in, edges_out = diff.changed_spans()  # a move's edges: empty spans
    inserted += [span for span in edges_in if span[0] == span[1]]
    deleted += [span for span in edges_out if span[0] == span[1]]
    return sorted(set(inserted)), sorted(set(deleted))


def _add_trimmed(spans: list[tuple[int, int]], text: str, at: int) -> None:
    inner = text.lstrip()
    if inner:
        start = at + len(text) - len(inner)
        spans.append((start, start + len(inner.rstrip())))


def _overlaps(spans: list[tuple[int, int]], starts: list[int], start: int, end: int) -> bool:
    i = bisect.bisect_right(starts, start) - 1
    candidates = spans[i : i + 2] if i >= 0 else spans[:1]
    return any(s < end and start < e for s, e in candidates)


def _hits_in(
    found_in: list[Occurrence], text: str, spans: list[tuple[int, int]] | None, where: Where
) -> list[TermHits]:
    """Per term, every occurrence of ``found_in`` (the text's) in ``spans`` (None:
    anywhere), the first few cut in context: one object per term, whatever the count."""
    starts = [s for s, _ in spans] if spans is not None else []
    found: dict[tuple[str, str], list[int]] = {}
    for occ in found_in:
        if spans is None or _overlaps(spans, starts, occ.start, occ.end):
            found.setdefault((occ.group, occ.term), []).extend((occ.start, occ.end - occ.start))
    return [
        TermHits(group, term, where, tuple(flat), _snippets(text, flat))
        for (group, term), flat in found.items()
    ]


def _snippets(text: str, flat: list[int]) -> tuple[str, ...]:
    shown = flat[: 2 * SNIPPETS_PER_TERM]
    return tuple(snippet(text, p, p + n) for p, n in zip(shown[::2], shown[1::2], strict=True))


def find_hits(
    matcher: KeywordMatcher, old_text: str | None, new_text: str, diff: TextDiff | None
) -> list[TermHits]:
    """Hits where the change added a term (including one completed by the edit,
    e.g. 船只 → 船舶) and, separately, where a term went away with removed text:
    per term and direction, added first, each in order of its first occurrence.

    With no previous text (a first capture) every occurrence is an added hit.
    """
    if old_text is None or diff is None:
        return _in_order(_hits_in(matcher.occurrences(new_text), new_text, None, "added"))
    if not diff.changed:
        return []
    inserted, deleted = changed_ranges(diff)
    old_windows, new_windows = _windows(matcher, diff, old_text, new_text)
    # each text matched once: the removed hits' check below counts the same occurrences
    in_new = matcher.occurrences_in(new_text, new_windows) if inserted else None
    added = _hits_in(in_new, new_text, inserted, "added") if in_new is not None else []
    in_old = matcher.occurrences_in(old_text, old_windows) if deleted else []
    removed = _hits_in(in_old, old_text, deleted, "removed") if deleted else []
    if removed:
        in_new = matcher.occurrences_in(new_text, new_windows) if in_new is None else in_new
        removed = _disappeared(removed, in_old, in_new)
    return _in_order(added + removed)


WINDOWED_FROM = 20_000  # characters, old and new: from here only the edits' windows are matched
WINDOW_MARGIN = 64  # characters of unchanged text kept on each side of an edit, at least

Windows = list[tuple[int, int]] | None  # (start, end) spans of a text; None: all of it


def _windows(
    matcher: KeywordMatcher, diff: TextDiff, old_text: str, new_text: str
) -> tuple[Windows, Windows]:
    """The stretches of each text around the edits, for a long text and literal terms:
    an added or removed hit overlaps an edit, so it lies within a term's length of it,
    and an occurrence in the unchanged text between the windows is in both texts, so
    counting per text within the windows tells which terms went away as counting in
    the whole texts does. A few edits on a long page no longer normalise it all
    (a fifth of a changed page's CPU). Windows correspond: each side's window of an
    edit reaches into the same unchanged text, and two edits closer than twice the
    margin share one window on both sides.

    A user's pattern may match any length, so with one the whole texts are matched."""
    if len(old_text) + len(new_text) < WINDOWED_FROM or not matcher.terms:
        return None, None
    if not all(isinstance(t.pattern, re.Pattern) for t in matcher.terms):
        return None, None
    longest = max(len(_literal(t.pattern.pattern)) for t in matcher.terms)
    margin = max(WINDOW_MARGIN, 4 * longest)  # a term's characters with spaces between
    old_windows: list[tuple[int, int]] = []
    new_windows: list[tuple[int, int]] = []
    old_pos = new_pos = 0
    edit: tuple[int, int] | None = None  # where the open window's edits began
    for op in diff.ops:
        n = len(op.text)
        if op.kind == "equal":
            if edit is not None and n > 2 * margin:
                _close(old_windows, new_windows, edit, (old_pos, new_pos), margin)
                edit = None
        elif edit is None:
            edit = (old_pos, new_pos)
        if op.kind in OLD_KINDS:
            old_pos += n
        if op.kind in NEW_KINDS:
            new_pos += n
    if edit is not None:
        _close(old_windows, new_windows, edit, (old_pos, new_pos), margin)
    old_windows = [(max(0, a), min(len(old_text), b)) for a, b in old_windows]
    new_windows = [(max(0, a), min(len(new_text), b)) for a, b in new_windows]
    return old_windows, new_windows


def _close(
    old_windows: list[tuple[int, int]],
    new_windows: list[tuple[int, int]],
    start: tuple[int, int],
    end: tuple[int, int],
    margin: int,
) -> None:
    old_windows.append((start[0] - margin, end[0] + margin))
    new_windows.append((start[1] - margin, end[1] + margin))


def _in_order(hits: list[TermHits]) -> list[TermHits]:
    return sorted(hits, key=lambda h: (h.where != "added", h.position))


def _disappeared(
    removed: list[TermHits], in_old: list[Occurrence], in_new: list[Occurrence]
) -> list[TermHits]:
    """Keep removed hits only for terms the new text has fewer of: an edit that
    rewrites 国防科工局 as 國防科工局 did not make the term go away."""
    before = Counter(o.term for o in in_old)
    after = Counter(o.term for o in in_new)
    return [h for h in removed if after[h.term] < before[h.term]]


def all_terms_in(terms: Sequence[str]) -> Callable[[str], list[str] | None]:
    """A search's confirmation: a text's first snippets when every term (normalised,
    as keywords match) is in it, else None."""
    matcher = KeywordMatcher({str(i): [term] for i, term in enumerate(terms)})
    wanted = {str(i) for i in range(len(terms))}

    def confirm(text: str) -> list[str] | None:
        found = find_hits(matcher, None, text, None)
        if {h.group for h in found} != wanted:
            return None
        shown = sorted((s.position, s.snippet) for h in found for s in h.shown())
        return [context for _, context in shown[:3]]

    return confirm


def any_branch_in(branches: Sequence[Sequence[str]]) -> Callable[[str], list[str] | None]:
    """A search with ``OR``: the snippets of the first alternative whose terms are
    all in the text, else None."""
    confirms = [all_terms_in(terms) for terms in branches]

    def confirm(text: str) -> list[str] | None:
        for one in confirms:
            found = one(text)
            if found is not None:
                return found
        return None

    return confirm
