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
* Undeclared legacy bytes: GB18030 and Big5 both decode almost any byte string
  without error, so neither strict decoding nor a general detector tells them
  apart on short pages. We decode both and keep the one whose CJK characters are
  mostly the common ones of that encoding (GB2312 level 1 / Big5 level 1);
  charset-normalizer only decides when neither reads as Chinese and nothing
  was declared. A declared page with a UTF-8 or matching charset never reaches
  a detector, so the common case costs one strict decode.
* Undecodable bytes become U+FFFD and are counted; decoding never raises.
"""

from __future__ import annotations

import codecs
import re
import threading
from functools import lru_cache
from typing import Literal

from watcher.core.models import Decoded

__all__ = ["decode_html", "encoding_for_label"]

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

_counter = threading.local()


def _count_and_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _counter.n = getattr(_counter, "n", 0) + 1
    return "\ufffd", exc.end


codecs.register_error("watcher.count-replace", _count_and_replace)


def _decode_replacing(body: bytes, encoding: str) -> tuple[str, int]:
    """Decode, replacing bad sequences with U+FFFD; return the text and their count."""
    _counter.n = 0
    text = body.decode(encoding, "watcher.count-replace")
    return text, _counter.n


_CUT_OFF_REASONS = frozenset(
    {"unexpected end of data", "incomplete multibyte sequence", "truncated data"}
)


def _decode_strict(body: bytes, encoding: str) -> tuple[str, int] | None:
    """Strict decode, forgiving only a multibyte character cut off at the end.

    Size caps and truncated transfers cut pages mid-character; that one cut must
    not turn a clean page into "undecodable".
    """
    try:
        return body.decode(encoding), 0
    except UnicodeDecodeError as exc:
        cut_off = exc.reason in _CUT_OFF_REASONS and exc.end == len(body)
        if not cut_off or len(body) - exc.start > 3:
            return None
        try:
            return body[: exc.start].decode(encoding) + "\ufffd", 1
        except UnicodeDecodeError:
            return None
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


def _detect_chinese(body: bytes) -> tuple[str, str, int] | None:
    """Choose GB18030 or Big5 by how Chinese each reading looks; ties go to GB18030."""
    best: tuple[float, str, str, int] | None = None
    for encoding, common in _common_characters().items():
        decoded = _decode_strict(body, encoding)
        if decoded is None:
            continue
        share = _common_share(decoded[0], common)
        if best is None or share > best[0]:
            best = (share, encoding, *decoded)
    if best is None or best[0] < _MIN_COMMON_SHARE:
        return None
    return best[2], best[1], best[3]


def _detect_other(body: bytes) -> tuple[str, str, int] | None:
    """charset-normalizer over the encodings this domain meets, for non-Chinese bytes."""
    from charset_normalizer import from_bytes  # imported late: only needed here

    try:
        match = from_bytes(body, cp_isolation=_DETECTOR_CANDIDATES).best()
    except Exception:  # a detector bug must not fail a fetch
        return None
    encoding = encoding_for_label(match.encoding) if match is not None else None
    if encoding is None:
        return None
    text, replaced = _decode_replacing(body, encoding)
    return text, encoding, replaced


# --- the entry point ------------------------------------------------------------------


def decode_html(body: bytes, content_type: str | None) -> Decoded:
    """Decode an HTML response body; never raises, records how the charset was chosen."""
    body = bytes(body or b"")
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            text, replaced = _decode_replacing(body[len(bom) :], encoding)
            return Decoded(text, encoding, "bom", replaced)

    declared = _declarations(body, content_type)
    if body.isascii() and not (declared and declared[0][0] in _UTF16):
        if declared:
            return Decoded(body.decode("ascii"), declared[0][0], declared[0][1])
        return Decoded(body.decode("ascii"), "utf-8", "utf-8")

    utf8 = None if body.isascii() else _decode_strict(body, "utf-8")
    if utf8 is not None:
        # Valid multibyte UTF-8 is overwhelming evidence; a declaration only names it.
        source = next((src for enc, src in declared if enc == "utf-8"), "utf-8")
        return Decoded(utf8[0], "utf-8", source, utf8[1])
    return _decode_legacy(body, declared)


def _decode_legacy(body: bytes, declared: list[tuple[str, _Declared]]) -> Decoded:
    """Bytes that are not UTF-8: a declaration that fits, else detection, else GB18030.

    A multibyte declaration that decodes cleanly beats a single-byte one (which
    decodes anything): a Tomcat-default ``ISO-8859-1`` header must not win over a
    ``gb2312`` meta on GBK bytes.
    """
    ranked = sorted(declared, key=lambda pair: pair[0] in _SINGLE_BYTE)
    for encoding, source in ranked:
        if encoding == "utf-8":
            continue
        decoded = _decode_strict(body, encoding)
        if decoded is not None:
            return Decoded(decoded[0], encoding, source, decoded[1])

    # No declaration fits. Chinese detection is strict and checked for plausibility,
    # so it may overrule a declaration; the general detector may not.
    detected = _detect_chinese(body) or (None if declared else _detect_other(body))
    if detected is not None:
        return Decoded(detected[0], detected[1], "detected", detected[2])
    if declared:
        encoding, source = declared[0]
        text, replaced = _decode_replacing(body, encoding)
        return Decoded(text, encoding, source, replaced)
    text, replaced = _decode_replacing(body, "gb18030")
    return Decoded(text, "gb18030", "fallback", replaced)
