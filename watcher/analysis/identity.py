"""One notice across sites: the identity of a captured notice, from its 文号 and
issuer, or else from its title and a sketch of its text.

A repost on a provincial site keeps the 文号 but not the page around it, and is
sometimes edited; so a notice without a 文号 is compared by a bottom-k MinHash
sketch of its 5-character shingles (the 64 smallest 64-bit hashes), which
estimates the Jaccard similarity of two texts from 64 numbers each. Plain
Python: the sketch of a 5,000-character notice takes about a millisecond, and
``bench/documents.py`` measures it against datasketch's MinHash on the same pairs.
"""

from __future__ import annotations

import bisect
import heapq
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from itertools import accumulate, repeat
from operator import add, sub

from watcher.analysis.citations import citations_in
from watcher.analysis.deadlines import deadlines_in
from watcher.analysis.metadata import normalize_document_number
from watcher.store.facts import SKETCH, NoticeFacts, jaccard

__all__ = ["SKETCH_SIZE", "document_key", "facts_of", "similarity", "sketch", "title_key"]

SKETCH_SIZE = SKETCH  # hashes kept per text
SHINGLE = 5  # characters per shingle: long enough that shared phrases are rare
MIN_TEXT = 80  # characters (normalised) under which a text is too short to sketch
# characters of a text sketched, from its start: a notice runs to a few thousand, a long
# one to tens of thousands, and its opening identifies it; past this a page is a report
# or a table, whose sketch would cost 100 ms a megabyte and say no more
SKETCHED = 100_000
_MASK = (1 << 64) - 1
_CHUNK = 100_000  # shingles hashed at a time: a 1 MB page's whole set would take 30 MB
_SHORT_PIECE = 64  # characters of a run cut with the others in one set
_MIX = 0x9E3779B97F4A7C15  # an odd constant: spreads CRC-32's values over 64 bits
_NOT_WORD = re.compile(r"[\W_]+")
_WORDS = re.compile(r"[^\W_]+")  # finding the words costs less than removing the rest
# Characters NFKC leaves alone or turns into punctuation that ``normalised`` drops, none
# of which combines with a neighbour (no combining class, never the second half of a
# composition): ASCII, the CJK ideographs, CJK and full-width punctuation. Text is
# normalised only in the runs of other characters (with the character before each, which
# a combining mark may join), which gives what NFKC of the whole text gives.
_STABLE = (
    "\x00-\x7f\xa0\xb7\u2014\u2018\u2019\u201c\u201d\u2026\u3000-\u3003\u3008-\u3011"
    "\u3014\u3015\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff5e"
)
_UNSTABLE = re.compile(f"[^{_STABLE}]+")
# the organ's part that a site appends to a page title: "…的通知_工业和信息化部"
_TITLE_TAIL = re.compile(r"[_|｜\-—–]+(?P<site>[^_|｜\-—–《》〈〉（）()\d]{2,30})$")
# what a notice's own title ends in, never a site's name
_KINDS = ("通知", "公告", "通告", "决定", "意见", "办法", "规定", "方案", "计划", "函", "批复")
_TITLE_HEAD = re.compile(r"^(?:转发|关于转发)")
# 文号 prefixes that say the kind of document, not who issued it
_GENERIC_PREFIXES = ("公告", "通告", "令", "公示")
_GENERIC_NUMBER = re.compile(r"(公告|通告)((?:19|20)\d\d)年第(\d{1,6})号")


def normalised(text: str) -> str:
    """Letters, digits and Hanzi only, width- and case-folded: what two copies share."""
    return "".join(_WORDS.findall(_nfkc(text))).lower()


def _nfkc(text: str) -> str:
    """NFKC where it changes more than punctuation; a page of Hanzi and ASCII costs
    one scan (normalising a whole page took a third of a first capture's sketch)."""
    pieces: list[str] = []
    last = 0
    for run in _UNSTABLE.finditer(text):
        start = max(run.start() - 1, last)
        pieces += (text[last:start], unicodedata.normalize("NFKC", text[start : run.end()]))
        last = run.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def sketch(text: str) -> tuple[int, ...]:
    """The bottom-k MinHash of ``text``'s shingles, ascending; () for a short text."""
    flat, runs = _flattened(text)
    return _sketch(flat, runs) if len(flat) >= MIN_TEXT else ()


def _flattened(text: str) -> tuple[str, list[str]]:
    """``normalised(text)`` of the text's first ``SKETCHED`` characters, and the runs of
    words it is made of."""
    runs = _WORDS.findall(_nfkc(text[:SKETCHED]))  # the words between punctuation
    return "".join(runs).lower(), runs


def _sketch(flat: str, runs: list[str]) -> tuple[int, ...]:
    kept: set[int] = set()
    for shingles in _shingle_sets(flat, runs):  # the smallest of all are the smallest of each
        crcs = map(zlib.crc32, map(str.encode, shingles))
        hashes = [(c * _MIX) & _MASK for c in crcs]
        kept = set(heapq.nsmallest(SKETCH_SIZE, kept.union(hashes) if kept else hashes))
    return tuple(sorted(kept))


def _shingle_sets(flat: str, runs: list[str]) -> Iterator[set[str]]:
    """Every shingle of ``flat``, in sets of at most about ``_CHUNK``.

    A page that repeats its phrases (a policy on shipbuilding names 船舶 in every other
    clause, a table repeats its cells) has most shingles many times over, and cutting
    each is most of the sketch's time. There each distinct run of words (``runs``, the
    text between punctuation) is cut once, and so is each distinct stretch of 8
    characters around a run's end, which holds every shingle across it. A text that
    repeats less is cut whole, as that costs less.
    """
    ends = list(accumulate(map(len, runs)))
    if ends[-1] != len(flat) or len(set(runs)) * 2 > len(runs):  # or lower() changed lengths
        yield from _cut(flat)
        return
    edge = SHINGLE - 1
    inner = set(map(flat.__getitem__, map(slice, [0, *ends[:-1]], ends)))
    first = bisect.bisect_left(ends, edge)  # the runs ending before a shingle's length
    around = {flat[: end + edge] for end in ends[:first]}
    lefts, rights = map(sub, ends[first:], repeat(edge)), map(add, ends[first:], repeat(edge))
    around.update(map(flat.__getitem__, map(slice, lefts, rights)))
    pieces = [p for p in (*inner, *around) if len(p) > edge]
    short = [p for p in pieces if len(p) <= _SHORT_PIECE]
    for batch in range(0, len(short), _CHUNK // _SHORT_PIECE):
        yield {
            p[i : i + SHINGLE]
            for p in short[batch : batch + _CHUNK // _SHORT_PIECE]
            for i in range(len(p) - edge)
        }
    for piece in pieces:
        if len(piece) > _SHORT_PIECE:
            yield from _cut(piece)


def _cut(flat: str) -> Iterator[set[str]]:
    """The shingles of one string, ``_CHUNK`` starts at a time."""
    starts = len(flat) - SHINGLE + 1
    for chunk in range(0, starts, _CHUNK):
        yield {flat[i : i + SHINGLE] for i in range(chunk, min(chunk + _CHUNK, starts))}


def similarity(a: Iterable[int], b: Iterable[int]) -> float:
    """Estimated Jaccard similarity of two texts from their sketches."""
    return jaccard(a, b, SKETCH_SIZE)


def title_key(title: str | None) -> str | None:
    """A title as every site writes it: no site suffix, no 转发, no punctuation."""
    if not title:
        return None
    title = title.strip()
    tail = _TITLE_TAIL.search(title)
    if tail and not tail["site"].endswith(_KINDS):
        title = title[: tail.start()]
    key = normalised(_TITLE_HEAD.sub("", title))
    return key if len(key) >= 6 else None


def document_key(number: str | None, issuer: str | None) -> str | None:
    """A 文号 (as written or normalised) names one document; one whose prefix is only
    its kind (公告2022年第8号, as a listing may give it) does so with its issuer."""
    if not number:
        return None
    folded = normalize_document_number(number) or _generic_number(number)
    if folded is None:
        return None
    if folded.startswith(_GENERIC_PREFIXES):
        return f"{normalised(issuer)}{folded}" if issuer else None
    return folded


def _stays_linked(key: str | None, linked_to: tuple[str | None] | None) -> bool:
    """Whether the store keeps the copy on its document without looking for one
    (``works._link``): it does unless both the page and the document have a 文号, and
    they differ."""
    if linked_to is None:
        return False
    (linked_key,) = linked_to
    return key is None or linked_key is None or key == linked_key


def _generic_number(number: str) -> str | None:
    match = _GENERIC_NUMBER.fullmatch("".join(unicodedata.normalize("NFKC", number).split()))
    return f"{match[1]}{match[2]}年第{int(match[3])}号" if match else None


def facts_of(
    text: str,
    metadata: Mapping[str, str] | None,
    title: str,
    linked_to: tuple[str | None] | None = None,
) -> NoticeFacts | None:
    """What ties a captured notice to its copies, the documents it cites and the
    dates it asks for; None for a page that is neither numbered nor long enough.

    ``linked_to``: the key of the document this target's notice already is a copy of
    (None for one without a 文号). The copy stays linked unless the page now names
    another 文号 than that document's, so only then is the sketch made, which serves
    to find a document (it was a sixth of a changed page's CPU).
    """
    meta = metadata or {}
    number = meta.get("document_number") or meta.get("listing_document_number")
    issuer = meta.get("issuer") or meta.get("listing_issuer")
    shown_title = meta.get("title") or title
    key = document_key(number, issuer)
    number = normalize_document_number(number) if number else None
    flat, runs = _flattened(text)
    long_enough = len(flat) >= MIN_TEXT
    marks = _sketch(flat, runs) if long_enough and not _stays_linked(key, linked_to) else ()
    if key is None and not long_enough:
        return None
    return NoticeFacts(
        key=key,
        document_number=number,
        issuer=issuer,
        title=shown_title,
        title_key=title_key(shown_title),
        sketch=marks,
        citations=tuple(
            replace(c, title_key=title_key(c.title))
            for c in citations_in(text)
            if c.number is None or c.number != number
        ),
        deadlines=tuple(deadlines_in(text, meta.get("published_date"))),
    )
