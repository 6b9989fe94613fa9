"""Response bytes -> HTML text, with the evidence of how the charset was chosen.

Order: BOM -> HTTP ``Content-Type`` charset -> ``<meta>`` charset in the first 4 KB
-> detection. Declarations are checked against the bytes, because Chinese government
pages (and corpora of them) often lie: a ``gb2312`` meta over UTF-8 bytes, or a
server-default ``ISO-8859-1`` / ``UTF-8`` header over GBK bytes.

Decisions worth knowing:

* GB labels (``gb2312``, ``gbk``, ...) decode as ``gb18030``, the superset: pages
  declare gb2312 and use GBK characters such as 镕 堃 喆. ``big5`` decodes as
  ``big5hkscs``; ``iso-8859-1``/``ascii`` as ``cp1252`` (WHATWG).
* Non-ASCII bytes that are valid UTF-8 are UTF-8, whatever the declaration says.
* The bytes outrank declarations. When no reading is clean (one broken byte in a
  GBK page behind a server-default ``charset=utf-8``), the declaration stands
  unless it misreads most of the page and another reading nearly none of it; a
  ``windows-1252`` label (``iso-8859-1`` too) never fails to decode, so its evidence
  is whether the high bytes come in pairs, as CJK does and Western text does not.
  An overruled declaration is a warning of the capture.
* Undeclared legacy bytes: GB18030 and Big5 both decode almost any byte string
  without error, so neither strict decoding nor a general detector tells them
  apart on short pages. We decode both and keep the one whose CJK characters are
  mostly the common ones of that encoding (GB2312 level 1 / Big5 level 1);
  charset-normalizer only decides when neither reads as Chinese and nothing
  was declared. A declared page with a UTF-8 or matching charset never reaches
  a detector, so the common case costs one strict decode.
* Undecodable bytes become U+FFFD; decoding never raises. How many bytes, and where
  the first ones are (byte offsets in the body), is recorded (``warnings_of``), so a
  capture says when its text is not all the page's.
* A page that is UTF-8 but for some runs (a GBK paragraph pasted into a UTF-8 page)
  is read as UTF-8, and each bad run that decodes cleanly as common Chinese in
  GB18030 is read as GB18030; that too is recorded, never silent. A run that does
  not read as Chinese stays U+FFFD.
"""

from __future__ import annotations

import codecs
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from watcher.core.models import Decoded

__all__ = ["MAX_OFFSETS", "decode_html", "encoding_for_label", "warnings_of"]

_META_SCAN_BYTES = 4096
_SAMPLE_CHARS = 4000  # non-ASCII characters scored when telling GB from Big5
_MIN_COMMON_SHARE = 0.5

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^\s"';,]{1,64})""", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta\b[^>]{0,512}?charset\s*=\s*["']?\s*([a-z0-9_.:+-]{1,64})""", re.IGNORECASE
)

# Labels Python does not know, or knows under another name, mapped to the codec we use.
_LABELS: dict[str, str] = {
    "x-gbk": "gb18030",
    "csgb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gb_2312": "gb18030",
    "csiso58gb231280": "gb18030",
    "iso-ir-58": "gb18030",
    "windows-936": "gb18030",
    "ms936": "gb18030",
    "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "windows-31j": "cp932",
    "x-sjis": "cp932",
    "windows-874": "cp874",
    "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "unicode-1-1-utf-8": "utf-8",
}

# Python codec names (as codecs.lookup reports them) -> the codec actually used.
# Anything not listed here (base64, rot-13, undefined, unicode-escape, idna, utf-7,
# ...) is not a web page encoding and is ignored.
_CODECS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf-16": "utf-16",
    "utf-16-le": "utf-16-le",
    "utf-16-be": "utf-16-be",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "big5hkscs": "big5hkscs",
    "cp950": "cp950",
    "shift_jis": "cp932",
    "cp932": "cp932",
    "euc_jp": "euc_jp",
    "iso2022_jp": "iso2022_jp",
    "euc_kr": "cp949",
    "cp949": "cp949",
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "cp874": "cp874",
    "koi8-r": "koi8-r",
    "koi8-u": "koi8-u",
    "cp866": "cp866",
    "mac-roman": "mac-roman",
    "mac-cyrillic": "mac-cyrillic",
    **{f"cp125{n}": f"cp125{n}" for n in range(9)},
    **{f"iso8859-{n}": f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)},
}

_SINGLE_BYTE = frozenset(
    name
    for name in _CODECS.values()
    if name.startswith(("cp12", "iso8859", "koi8", "mac-", "cp866", "cp874"))
)
_UTF16 = frozenset({"utf-16", "utf-16-le", "utf-16-be"})

_Declared = Literal["header", "meta"]

_DETECTOR_CANDIDATES = [
    "gb18030",
    "big5hkscs",
    "utf_8",
    "shift_jis",
    "euc_jp",
    "euc_kr",
    "cp1252",
    "utf_16",
]


# --- replacement counting -------------------------------------------------------------

MAX_OFFSETS = 10
"""Offsets of undecodable (or recovered) bytes kept as evidence: the first ones."""


@dataclass(slots=True)
class _Reading:
    """Decoded text and what decoding had to do to the bytes."""

    text: str
    replaced: int = 0  # sequences replaced by U+FFFD
    bad_bytes: int = 0
    bad_offsets: list[int] = field(default_factory=list)
    recovered_bytes: int = 0
    recovered_offsets: list[int] = field(default_factory=list)

    def bad(self, start: int, end: int) -> None:
        self.replaced += 1
        self.bad_bytes += end - start
        if len(self.bad_offsets) < MAX_OFFSETS:
            self.bad_offsets.append(start)

    def shifted(self, by: int) -> _Reading:
        """Offsets counted from the start of the body (after a BOM was cut off)."""
        self.bad_offsets = [o + by for o in self.bad_offsets]
        self.recovered_offsets = [o + by for o in self.recovered_offsets]
        return self


_state = threading.local()

# A run of GB18030 multibyte characters (two-byte, or four-byte with digits).
_GB_RUN = re.compile(
    rb"(?:[\x81-\xfe][\x40-\x7e\x80-\xfe]|[\x81-\xfe][\x30-\x39][\x81-\xfe][\x30-\x39])+"
)


def _count_and_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _state.reading.bad(exc.start, exc.end)
    return "\ufffd", exc.end


def _utf8_or_gb18030(exc: UnicodeError) -> tuple[str, int]:
    """UTF-8 errors: a run of bytes that reads cleanly as common Chinese in GB18030 is
    taken as such (a GBK paragraph pasted into a UTF-8 page); anything else is U+FFFD."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    reading: _Reading = _state.reading
    run = _GB_RUN.match(exc.object, exc.start)
    if run is not None and run.end() > exc.start + 1:
        try:
            text = bytes(exc.object[exc.start : run.end()]).decode("gb18030")
        except UnicodeDecodeError:
            text = ""
        if text and _common_share(text, _common_characters()["gb18030"]) >= _MIN_COMMON_SHARE:
            reading.recovered_bytes += run.end() - exc.start
            if len(reading.recovered_offsets) < MAX_OFFSETS:
                reading.recovered_offsets.append(exc.start)
            return text, run.end()
    reading.bad(exc.start, exc.end)
    return "\ufffd", exc.end


codecs.register_error("watcher.count-replace", _count_and_replace)
codecs.register_error("watcher.utf8-or-gb18030", _utf8_or_gb18030)


def _decode_replacing(
    body: bytes, encoding: str, handler: str = "watcher.count-replace"
) -> _Reading:
    """Decode, replacing bad sequences with U+FFFD, and record where they were."""
    _state.reading = reading = _Reading("")
    try:
        reading.text = body.decode(encoding, handler)
    finally:
        del _state.reading
    return reading


_CUT_OFF_REASONS = frozenset(
    {"unexpected end of data", "incomplete multibyte sequence", "truncated data"}
)


def _decode_strict(body: bytes, encoding: str) -> _Reading | None:
    """Strict decode, forgiving only a multibyte character cut off at the end.

    Size caps and truncated transfers cut pages mid-character; that one cut must
    not turn a clean page into "undecodable" (it is still recorded).
    """
    try:
        return _Reading(body.decode(encoding))
    except UnicodeDecodeError as exc:
        cut_off = exc.reason in _CUT_OFF_REASONS and exc.end == len(body)
        if not cut_off or len(body) - exc.start > 3:
            return None
        try:
            reading = _Reading(body[: exc.start].decode(encoding) + "\ufffd")
        except UnicodeDecodeError:
            return None
        reading.bad(exc.start, len(body))
        return reading
    except (LookupError, UnicodeError):
        return None


# --- declarations ---------------------------------------------------------------------


@lru_cache(maxsize=256)
def encoding_for_label(label: str | None) -> str | None:
    """The Python codec to use for a declared charset label, or None if unusable."""
    if not label:
        return None
    key = label.strip().strip("\"'").strip().lower()
    if key in _LABELS:
        return _LABELS[key]
    try:
        name = codecs.lookup(key).name
    except (LookupError, ValueError):
        return None
    return _CODECS.get(name)


def _header_encoding(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type[:1024])
    return encoding_for_label(match.group(1)) if match else None


def _meta_encoding(body: bytes) -> str | None:
    match = _META_CHARSET.search(body, 0, _META_SCAN_BYTES)
    if not match:
        return None
    encoding = encoding_for_label(match.group(1).decode("ascii"))
    # A meta readable as ASCII cannot be in UTF-16; WHATWG reads it as UTF-8.
    return "utf-8" if encoding in _UTF16 else encoding


def _declarations(body: bytes, content_type: str | None) -> list[tuple[str, _Declared]]:
    """(codec, "header"|"meta") pairs in precedence order, without repeats."""
    header = _header_encoding(content_type)
    meta = _meta_encoding(body)
    found: list[tuple[str, _Declared]] = []
    if header:
        found.append((header, "header"))
    if meta and meta != header:
        found.append((meta, "meta"))
    return found


# --- detection ------------------------------------------------------------------------


def _characters(encoding: str, leads: range, trails: list[int]) -> frozenset[str]:
    chars = set()
    for lead in leads:
        for trail in trails:
            try:
                chars.add(bytes((lead, trail)).decode(encoding))
            except UnicodeDecodeError:
                continue
    return frozenset(chars)


@lru_cache(maxsize=1)
def _common_characters() -> dict[str, frozenset[str]]:
    """Punctuation plus the level-1 (most frequent) Hanzi of GB2312 and of Big5.

    These cover well over 99% of running Chinese text, while the same bytes read
    in the other encoding land mostly on kana, Greek, Cyrillic or rare characters.
    """
    high = list(range(0xA1, 0xFF))
    big5_trails = list(range(0x40, 0x7F)) + high
    gb = _characters("gb2312", range(0xA1, 0xA4), high) | _characters(
        "gb2312", range(0xB0, 0xD8), high
    )
    big5 = _characters("big5", range(0xA1, 0xC7), big5_trails)
    return {"gb18030": gb, "big5hkscs": big5}


_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")


def _common_share(text: str, common: frozenset[str]) -> float:
    """Share of the first few thousand non-ASCII characters that are common ones."""
    sample = _ASCII_RUNS.sub("", text[: _SAMPLE_CHARS * 50])[:_SAMPLE_CHARS]
    if not sample:
        return 0.0
    return sum(map(common.__contains__, sample)) / len(sample)


def _detect_chinese(body: bytes) -> tuple[_Reading, str] | None:
    """Choose GB18030 or Big5 by how Chinese each reading looks; ties go to GB18030."""
    best: tuple[float, _Reading, str] | None = None
    for encoding, common in _common_characters().items():
        decoded = _decode_strict(body, encoding)
        if decoded is None:
            continue
        share = _common_share(decoded.text, common)
        if best is None or share > best[0]:
            best = (share, decoded, encoding)
    if best is None or best[0] < _MIN_COMMON_SHARE:
        return None
    return best[1], best[2]


def _detect_other(body: bytes) -> tuple[_Reading, str] | None:
    """charset-normalizer over the encodings this domain meets, for non-Chinese bytes."""
    from charset_normalizer import from_bytes  # imported late: only needed here

    try:
        match = from_bytes(body, cp_isolation=_DETECTOR_CANDIDATES).best()
    except Exception:  # a detector bug must not fail a fetch
        return None
    encoding = encoding_for_label(match.encoding) if match is not None else None
    if encoding is None:
        return None
    return _decode_replacing(body, encoding), encoding


# --- the entry point ------------------------------------------------------------------


def _result(
    reading: _Reading, encoding: str, source: str, declared: list[tuple[str, _Declared]]
) -> Decoded:
    return Decoded(
        reading.text,
        encoding,
        source,  # type: ignore[arg-type]
        reading.replaced,
        declared=tuple((where, codec) for codec, where in declared),
        bad_bytes=reading.bad_bytes,
        bad_offsets=tuple(reading.bad_offsets),
        recovered_bytes=reading.recovered_bytes,
        recovered_offsets=tuple(reading.recovered_offsets),
    )


def decode_html(body: bytes, content_type: str | None) -> Decoded:
    """Decode an HTML response body; never raises, records how the charset was chosen
    and which bytes could not be decoded (``bad_*``) or were read as GB18030 inside a
    UTF-8 page (``recovered_*``)."""
    body = bytes(body or b"")
    declared = _declarations(body, content_type)
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            reading = _decode_replacing(body[len(bom) :], encoding).shifted(len(bom))
            return _result(reading, encoding, "bom", declared)

    if body.isascii() and not (declared and declared[0][0] in _UTF16):
        if declared:
            return _result(_Reading(body.decode("ascii")), *declared[0], declared)
        return _result(_Reading(body.decode("ascii")), "utf-8", "utf-8", declared)

    utf8 = None if body.isascii() else _decode_strict(body, "utf-8")
    if utf8 is not None:
        # Valid multibyte UTF-8 is overwhelming evidence; a declaration only names it.
        source = next((src for enc, src in declared if enc == "utf-8"), "utf-8")
        return _result(utf8, "utf-8", source, declared)
    return _decode_legacy(body, declared)


def _decode_legacy(body: bytes, declared: list[tuple[str, _Declared]]) -> Decoded:
    """Bytes that are not UTF-8: a declaration that fits, else detection, else the
    reading the evidence of the bytes favours (declared), else UTF-8 with its bad runs
    read as GB18030 where they can be, else GB18030 (undeclared).

    A multibyte declaration that decodes cleanly beats a single-byte one (which
    decodes anything): a Tomcat-default ``ISO-8859-1`` header must not win over a
    ``gb2312`` meta on GBK bytes. A windows-1252 declaration fits only bytes that do
    not look CJK (see ``_paired``), since it never fails.
    """
    non_ascii = len(body.translate(None, _ASCII))
    ranked = sorted(declared, key=lambda pair: pair[0] in _SINGLE_BYTE)
    for encoding, source in ranked:
        if encoding == "utf-8":
            continue
        if encoding == _WESTERN:
            if _paired(body) * 4 > non_ascii:
                continue  # CJK-looking bytes: judged by evidence below
            return _result(_decode_replacing(body, encoding), encoding, source, declared)
        decoded = _decode_strict(body, encoding)
        if decoded is not None:
            return _result(decoded, encoding, source, declared)

    # No declaration fits. Chinese detection is strict and checked for plausibility,
    # so it may overrule a declaration; the general detector may not.
    detected = _detect_chinese(body) or (None if declared else _detect_other(body))
    if detected is not None:
        return _result(detected[0], detected[1], "detected", declared)
    if declared:
        return _by_evidence(body, ranked, declared, non_ascii)
    mixed = _mostly_utf8(body, non_ascii)
    if mixed is not None:
        return _result(mixed, "utf-8", "utf-8", declared)
    return _result(_decode_replacing(body, "gb18030"), "gb18030", "fallback", declared)


_WESTERN = "cp1252"  # what iso-8859-1, latin1, ascii and windows-1252 labels decode as
_HIGH = bytes(int(b > 0x7F) for b in range(256))  # translate: ASCII -> 0, high -> 1


def _paired(body: bytes) -> int:
    """High bytes next to another high byte (about: two per adjacent pair): nearly all
    of GBK or UTF-8 Chinese, few of a Western page (an accented letter sits between
    ASCII ones)."""
    return 2 * body.translate(_HIGH).count(b"\x01\x01")


def _by_evidence(
    body: bytes,
    ranked: list[tuple[str, _Declared]],
    declared: list[tuple[str, _Declared]],
    non_ascii: int,
) -> Decoded:
    """No reading is clean: keep the first declaration unless it gets more than a
    quarter of the non-ASCII bytes wrong and another reading (the other declaration,
    UTF-8, GB18030, Big5) at most a tenth as many. One broken byte in a GBK page
    behind a ``charset=utf-8`` header then costs one U+FFFD, not the page; the
    overruled declaration stays in ``declared`` and ``warnings_of`` says so."""
    utf8_source = next((src for enc, src in declared if enc == "utf-8"), "utf-8")
    reading, wrong = _read_as(body, ranked[0][0], non_ascii)
    chosen = (reading, *ranked[0])
    if wrong * 4 > non_ascii:  # it misreads much: read the others too
        seen = {ranked[0][0]}
        fewest = wrong // 10 + 1  # to overrule, at most a tenth as many
        others = [*ranked[1:], ("utf-8", utf8_source), ("gb18030", "detected")]
        for encoding, source in [*others, ("big5hkscs", "detected")]:
            if encoding in seen:
                continue
            seen.add(encoding)
            other, other_wrong = _read_as(body, encoding, non_ascii)
            if other_wrong < fewest:
                chosen, fewest = (other, encoding, source), other_wrong
    return _result(*chosen, declared)


def _read_as(body: bytes, encoding: str, non_ascii: int) -> tuple[_Reading, int]:
    """A tolerant reading and how many non-ASCII bytes it (likely) gets wrong."""
    if encoding == "utf-8":
        reading = _decode_replacing(body, "utf-8", "watcher.utf8-or-gb18030")
        return reading, reading.bad_bytes + reading.recovered_bytes
    reading = _decode_replacing(body, encoding)
    if encoding == _WESTERN:  # never wrong by its errors; by CJK-looking pairs
        return reading, max(reading.bad_bytes, _paired(body))
    common = _common_characters().get(encoding)
    if common is not None and _common_share(reading.text, common) < _MIN_COMMON_SHARE:
        return reading, non_ascii  # decodes, but not as Chinese
    return reading, reading.bad_bytes


def _mostly_utf8(body: bytes, non_ascii: int) -> _Reading | None:
    """An undeclared UTF-8 page with some bytes that are not UTF-8 (a GBK paragraph
    pasted in, a damaged character): read as UTF-8, each bad run as GB18030 if it
    reads cleanly as common Chinese, else U+FFFD; when most non-ASCII bytes are UTF-8."""
    reading, foreign = _read_as(body, "utf-8", non_ascii)
    return None if foreign * 2 > non_ascii else reading


_ASCII = bytes(range(128))  # deleted, to count the high bytes


_HOW = {
    "bom": "its byte-order mark",
    "header": "the header declares",
    "meta": "the <meta> declares",
    "detected": "detected",
    "utf-8": "valid UTF-8",
    "fallback": "nothing fits better",
}


def warnings_of(decoded: Decoded) -> list[dict[str, object]]:
    """What decoding did to the bytes, as warnings to keep with the capture and show:
    a declaration the bytes overruled, bytes that could not be decoded, and bytes read
    in another encoding than the page's."""
    declared = {where: codec for where, codec in decoded.declared}
    said = ", ".join(f"{codec} ({where})" for where, codec in decoded.declared) or "nothing"
    found: list[dict[str, object]] = []
    overruled = {w: c for w, c in decoded.declared if c != decoded.encoding}
    if overruled and not decoded.text.isascii():  # ASCII reads the same in all of them
        named = ", ".join(f"{codec} ({where})" for where, codec in overruled.items())
        found.append(
            {
                "kind": "declaration-overruled",
                "message": (
                    f"declared {named}, which the bytes are not: decoded as"
                    f" {decoded.encoding} ({_HOW[decoded.source]})"
                ),
                "overruled": overruled,
                "encoding": decoded.encoding,
                "source": decoded.source,
                "declared": declared,
            }
        )
    if decoded.bad_bytes:
        first = ", ".join(f"{o:,}" for o in decoded.bad_offsets)
        found.append(
            {
                "kind": "undecodable",
                "message": (
                    f"{decoded.bad_bytes:,} bytes could not be decoded as {decoded.encoding}"
                    f" and show as U+FFFD (\ufffd); first at byte {first}; declared: {said}"
                ),
                "bytes": decoded.bad_bytes,
                "sequences": decoded.replaced,
                "offsets": list(decoded.bad_offsets),
                "encoding": decoded.encoding,
                "declared": declared,
            }
        )
    if decoded.recovered_bytes:
        first = ", ".join(f"{o:,}" for o in decoded.recovered_offsets)
        found.append(
            {
                "kind": "mixed-encoding",
                "message": (
                    f"{decoded.recovered_bytes:,} bytes were not {decoded.encoding} but read"
                    f" cleanly as gb18030 and were decoded as such; runs start at byte {first};"
                    f" declared: {said}"
                ),
                "bytes": decoded.recovered_bytes,
                "offsets": list(decoded.recovered_offsets),
                "encoding": decoded.encoding,
                "recovered_as": "gb18030",
                "declared": declared,
            }
        )
    return found
