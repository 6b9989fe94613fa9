"""Attachment bytes -> text: the PDF, DOCX and XLSX files that ministry notices link to.

A notice often says little more than "see the attachment"; the attachment is where
a change (a new list of companies, an amended article) actually happens, so its
text is compared and searched for keywords like a page's. Other formats (DOC, WPS,
XLS, OFD, ZIP, RAR...) are only identified: their bytes are kept as evidence, and
``AttachmentText.note`` says that there is no text extractor for them.

The text is normalised like the HTML extraction's (``watcher.analysis.extract``): one
paragraph, table row or spreadsheet row per line, cells joined with `` | ``, runs of
whitespace (U+3000 included) collapsed, empty lines dropped, no space between two
CJK characters. For PDFs, lines that a paragraph wraps into are joined again (by
their positions on the page: the line before reaches the right margin and the next
one is not indented), page-number lines (``— 3 —``, ``第3页 共20页``) at the top or
bottom of a page are dropped, and a paragraph running over a page break is joined:
a keyword wrapped as ``船舶\\n工业`` would otherwise never match, and one inserted
sentence would shift every following line break of the diff.

PDF fonts whose ToUnicode map gives Kangxi radicals (U+2F00...) or CJK radical
supplement code points instead of the ideographs (``⼯`` for 工, ``⻔`` for 门, as in
Chromium's exports with Noto CJK) are mapped back, so ``国防科工局`` is found.

PDF text comes from pypdf rather than pdfminer.six. Both gave the same, readable
characters on Chinese PDFs (reportlab's STSong-Light CID font, an embedded TrueType
subset, a Chromium export with Noto CJK Type3 glyphs, and one placing every character
separately), but on 20-page files pypdf was as fast (Chromium) to 4x faster
(0.13-1.9 s against 0.3-3.3 s), and bounds what a hostile file costs: a 1 MB PDF whose
page inflates to 1 GB took pypdf 0.24 s and 37 MB, pdfminer 30 s and 2 GB (it inflates
every stream in full, inside a page, where no time check can stop it). pypdf 7 caps
inflated streams (75 MB), arrays, page trees and form XObject uses
(``pypdf.Configuration``); here also the tokens of one content stream
(``PDF_MAX_STREAM_TOKENS``).

Nothing here raises on a corrupt or hostile file: ``extract_attachment_text``
returns ``extracted=False`` with the reason in ``note``. Time is checked between
pages and between the operators of a page, every spreadsheet row, every 1,024
shared strings and every 4,096 XML events of a DOCX, so a file stops soon after its
budget; only one content stream is parsed whole before its first operator (up to
~2-5 s for 500,000 tokens on a busy machine). Memory is bounded whatever the bytes:
a DOCX is parsed as a stream holding one paragraph or table row at a time (at most
``_DOCX_MAX_BLOCK_ELEMENTS`` elements), its text kept in batches and reading stopped
at twice ``MAX_TEXT_CHARS``; an XLSX keeps at most ``_XLSX_MAX_SHARED_STRINGS``
shared strings (openpyxl would keep them all); a PDF's page tree is walked only to
its first ``max_pages`` pages. The inflated XML of DOCX/XLSX is capped by
``MAX_XML_BYTES`` (16 MB for the XLSX parts openpyxl reads whole), a part over it
refused unread. A file over a budget says which one in ``note``. DOCX text is the
body's (paragraphs, tables, text boxes, tracked insertions); headers, footers,
footnotes and list numbers are not included.

Measured by ``bench/bombs.py``: a 265 KB DOCX of 62 MB of tiny paragraphs took 949 MB
over the reader's start and 18 s, now 10 MB, stopped by its 20 s budget; a 237 KB
XLSX of 62 MB of shared strings 347 MB and 70 s, now 17 MB and 2 s of CPU; a 100,000-
page PDF (16 MB) 437 MB and 23 s, now 72 MB and 5 s.
"""

from __future__ import annotations

import functools
import io
import math
import re
import statistics
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from lxml import etree

from watcher.analysis import extract as _html
from watcher.analysis.filelinks import (
    ATTACHMENT_EXTENSIONS,
    attachment_name,
    extension_of,
    is_attachment_url,
)
from watcher.core.budget import FILE_TEXT_SECONDS
from watcher.core.text import CJK

__all__ = [
    "ATTACHMENT_EXTENSIONS",
    "MAX_TEXT_CHARS",
    "MAX_XML_BYTES",
    "PDF_MAX_STREAM_TOKENS",
    "AttachmentText",
    "extract_attachment_text",
    "is_attachment_url",
    "sniff_kind",
]

MAX_TEXT_CHARS = 2_000_000
"""Text kept from one attachment (a 200-page notice is ~200,000 characters)."""

PDF_MAX_STREAM_TOKENS = 500_000
"""Tokens pypdf may parse in one content stream (its default, 2,000,000, takes ~8 s;
a dense real page has tens of thousands). The time budget is checked between the
operators of a page, but one stream is parsed whole before its first operator."""

MAX_XML_BYTES = 64_000_000
"""Inflated size allowed for one XML part of a DOCX/XLSX (a zip bomb is refused unread)."""

_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024  # readers accept junk before the header (ISO 32000 implementation note)
_PDF_EOF_WINDOW = 2048  # a complete file ends with %%EOF, give or take trailing junk
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")  # file, empty archive, spanned
# A member's local header: signature, 26 bytes of fields, then its name.
_LOCAL_HEADER_NAME = re.compile(rb"PK\x03\x04.{26}(word/|xl/|ppt/|OFD\.xml)", re.DOTALL)
_RAR_MAGIC = b"Rar!\x1a\x07"
_7Z_MAGIC = b"7z\xbc\xaf\x27\x1c"
_MARKUP_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<script", b"<meta")

# Stream names in an OLE compound file's directory (UTF-16LE), which tell its application.
_OLE_WORD = "WordDocument".encode("utf-16-le")
_OLE_EXCEL = ("Workbook".encode("utf-16-le"), "Book\x00".encode("utf-16-le"))
_OLE_POWERPOINT = "PowerPoint Document".encode("utf-16-le")

_KIND_BY_MIME = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-works": "wps",
    "application/kswps": "wps",
    "application/wps-office.wps": "wps",
    "application/ofd": "ofd",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
}
_KIND_BY_EXTENSION = {
    **{".pdf": "pdf", ".doc": "doc", ".docx": "docx", ".xls": "xls", ".xlsx": "xlsx"},
    **{".et": "xls", ".wps": "wps", ".ofd": "ofd", ".zip": "zip"},
}
# What a note calls each kind.
_LABEL = {
    **{"pdf": "PDF", "docx": ".docx", "xlsx": ".xlsx", "doc": ".doc", "xls": ".xls"},
    **{"wps": ".wps", "ofd": "OFD", "zip": ".zip archive", "other": "this file type"},
}

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_CONTENT_TYPE = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_DOCX_MAIN_TYPES = (
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
)

_DOCX_EVENTS_PER_TIME_CHECK = 4_096
_DOCX_MAX_BLOCK_ELEMENTS = 200_000
"""XML elements of one paragraph or table row, which is held whole until its end."""

_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_XLSX_MAX_CELLS = 2_000_000
_XLSX_MAX_SHARED_STRINGS = 500_000
"""Shared strings kept (a 100,000-row list of companies has tens of thousands)."""
_XLSX_MAX_WHOLE_PART = 16_000_000  # styles, workbook, theme: openpyxl reads them whole

# Lines that are only a page number, e.g. "— 3 —", "- 3 -", "3", "第3页", "第 3 页 共 20 页",
# "3/20", "Page 3 of 20" (matched after whitespace is removed).
_PAGE_NUMBER = re.compile(
    r"[-—–－_·•]*(?:第?\d{1,4}页?(?:(?:[/／]|共)\d{1,4}页?)?|(?i:page)\d{1,4}(?:(?i:of)\d{1,4})?)"
    r"[-—–－_·•]*"
)
_CJK_CHAR = re.compile(f"[{CJK}]")
_UNREADABLE = re.compile("[\ufffd\ue000-\uf8ff]")  # glyphs without a Unicode mapping

# PDF fonts whose ToUnicode map sends a glyph to a radical code point rather than to
# the ideograph drawn with the same glyph. Kangxi radicals and compatibility
# ideographs have NFKC mappings; the supplement's standalone-looking forms get a table.
_RADICAL_SUPPLEMENT = {
    **{"⺁": "厂", "⺊": "卜", "⺎": "兀", "⺒": "巳", "⺓": "幺", "⺝": "月", "⺟": "母"},
    **{"⺠": "民", "⺦": "丬", "⺩": "王", "⺬": "示", "⺯": "糸", "⺽": "臼", "⻄": "西"},
    **{"⻅": "见", "⻆": "角", "⻉": "贝", "⻋": "车", "⻓": "长", "⻔": "门", "⻘": "青"},
    **{"⻙": "韦", "⻚": "页", "⻛": "风", "⻜": "飞", "⻝": "食", "⻢": "马", "⻣": "骨"},
    **{"⻤": "鬼", "⻥": "鱼", "⻦": "鸟", "⻧": "卤", "⻨": "麦", "⻩": "黄", "⻪": "黾"},
    **{"⻬": "齐", "⻮": "齿", "⻰": "龙", "⻳": "龟"},
}


def _radical_table() -> dict[int, str]:
    table = {ord(k): v for k, v in _RADICAL_SUPPLEMENT.items()}
    for first, last in ((0x2F00, 0x2FD5), (0xF900, 0xFAD9)):
        for code in range(first, last + 1):
            mapped = unicodedata.normalize("NFKC", chr(code))
            if mapped != chr(code) and len(mapped) == 1:
                table[code] = mapped
    return table


_RADICALS = _radical_table()
_HAS_RADICAL = re.compile("[\u2e80-\u2fdf\uf900-\ufaff]")


@dataclass(frozen=True)
class AttachmentText:
    """What an attachment yielded: its text, or why there is none.

    ``note`` is empty when the whole file was read; otherwise it says what was
    left out ("first 200 of 5,000 pages") or why there is no text ("no text
    extractor for .doc; kept as evidence", "scanned PDF: no text layer").
    """

    kind: str  # pdf | docx | xlsx | doc | xls | wps | ofd | zip | other
    text: str
    extracted: bool
    note: str


# --- public API -----------------------------------------------------------------------


def sniff_kind(
    body: bytes, content_type: str | None, url: str | None, file_name: str | None = None
) -> str:
    """The kind of file, by magic bytes first (servers label attachments
    ``application/octet-stream`` or even ``text/html``), then the declared
    content type, then the extension of the file's name (``file_name``, from a
    ``Content-Disposition`` header), of the name a download link holds in its
    query, or of the URL's path.

    Returns ``pdf``, ``docx``, ``xlsx``, ``doc``, ``xls``, ``wps``, ``ofd``,
    ``zip`` or ``other`` (RAR/7z archives, slides, HTML error pages, unknown).
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    extension = extension_of(file_name) or extension_of(attachment_name(url)) or _extension(url)
    if _PDF_MAGIC in body[:_PDF_MAGIC_WINDOW]:
        return "pdf"
    if body.startswith(_OLE_MAGIC):
        return _ole_kind(body, mime, extension)
    if body.startswith(_ZIP_MAGICS):
        return _zip_kind(body)
    if body.startswith((_RAR_MAGIC, _7Z_MAGIC)) or _looks_like_markup(body):
        return "other"
    return _KIND_BY_MIME.get(mime) or _KIND_BY_EXTENSION.get(extension, "other")


def extract_attachment_text(
    body: bytes,
    content_type: str | None = None,
    url: str | None = None,
    *,
    file_name: str | None = None,
    max_pages: int = 200,
    timeout: float = FILE_TEXT_SECONDS,
) -> AttachmentText:
    """The normalised text of an attachment, never raising on a bad file.

    ``max_pages`` caps the PDF pages read; ``timeout`` (seconds) is checked
    between pages and spreadsheet row batches, so a file stops soon after it,
    keeping what was read (with a note saying so).
    """
    if max_pages < 1 or not timeout > 0:
        raise ValueError("max_pages must be at least 1 and timeout positive")
    deadline = time.monotonic() + timeout
    kind = sniff_kind(body, content_type, url, file_name)
    extractor = _EXTRACTORS.get(kind)
    if extractor is None:
        return AttachmentText(kind, "", False, _no_extractor_note(kind, body, file_name or url))
    try:
        lines, notes = extractor(body, max_pages, deadline)
        text = _normalise(lines)
    except Exception as exc:  # any failure of a parser on a hostile file is a note
        return AttachmentText(kind, "", False, f"{_LABEL[kind]} could not be read: {_why(exc)}")
    if len(text) > MAX_TEXT_CHARS:
        text = text[: text.rfind("\n", 0, MAX_TEXT_CHARS) + 1 or MAX_TEXT_CHARS].rstrip("\n")
        if not any(note.startswith("text cut at") for note in notes):
            notes.append(f"text cut at {MAX_TEXT_CHARS:,} characters")
    if not text:
        return AttachmentText(kind, "", False, "; ".join(notes) or "no text in the file")
    unreadable = len(_UNREADABLE.findall(text))
    if unreadable > len(text) // 5:
        notes.append(f"{unreadable:,} characters have no Unicode mapping (unreadable font)")
    return AttachmentText(kind, text, True, "; ".join(notes))


# --- identification ---------------------------------------------------------------


def _extension(url: str | None) -> str:
    """The lower-case extension of a URL's last path segment ("" if none)."""
    if not url:
        return ""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return ""
    name = unquote(path).rsplit("/", 1)[-1].split(";", 1)[0].strip().lower()
    return name[name.rindex(".") :] if "." in name else ""


def _ole_kind(body: bytes, mime: str, extension: str) -> str:
    """DOC, XLS or WPS by the streams a compound file holds, else by its labels."""
    if _OLE_WORD in body:
        return "wps" if extension == ".wps" or _KIND_BY_MIME.get(mime) == "wps" else "doc"
    if any(name in body for name in _OLE_EXCEL):
        return "xls"
    if _OLE_POWERPOINT in body:
        return "other"
    guess = _KIND_BY_EXTENSION.get(extension) or _KIND_BY_MIME.get(mime)
    return guess if guess in ("doc", "xls", "wps") else "other"


def _zip_kind(body: bytes) -> str:
    """DOCX, XLSX, OFD or a plain archive, by the member names."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            names = archive.namelist()
    except Exception:  # truncated: the names are also in each member's local header
        return _zip_kind_by_scan(body)
    if any(name.startswith("word/") for name in names):
        return "docx"
    if any(name.startswith("xl/") for name in names):
        return "xlsx"
    if any(name.lower() == "ofd.xml" for name in names):
        return "ofd"
    if any(name.startswith("ppt/") for name in names):
        return "other"
    return "zip"


def _zip_kind_by_scan(body: bytes) -> str:
    names = {m.group(1) for m in _LOCAL_HEADER_NAME.finditer(body)}
    for prefix, kind in ((b"word/", "docx"), (b"xl/", "xlsx"), (b"OFD.xml", "ofd")):
        if prefix in names:
            return kind
    return "other" if b"ppt/" in names else "zip"


def _looks_like_markup(body: bytes) -> bool:
    start = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith(_MARKUP_STARTS)


def _no_extractor_note(kind: str, body: bytes, url: str | None) -> str:
    if not body:
        return "empty file"
    if kind == "other":
        if body.startswith(_RAR_MAGIC):
            return "RAR archive: no text extractor; kept as evidence"
        if body.startswith(_7Z_MAGIC):
            return "7z archive: no text extractor; kept as evidence"
        if _looks_like_markup(body):
            return (
                "an HTML/XML page, not a file (an error or login page, or a document"
                " saved as HTML); kept as evidence"
            )
        extension = _extension(url)
        label = extension or "this file type"
        return f"no text extractor for {label}; kept as evidence"
    return f"no text extractor for {_LABEL[kind]}; kept as evidence"


def _why(exc: BaseException) -> str:
    message = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# --- text normalisation ------------------------------------------------------------


class _BoundedText:
    """Lines as a reader finds them, under a budget of characters.

    Lines are joined in batches as they come (as ``_normalise`` would join them), so
    two million one-character paragraphs cost their characters, not a string object
    each. Reading stops at twice ``MAX_TEXT_CHARS``: normalising can shrink the text
    (runs of spaces), and the final cut keeps ``MAX_TEXT_CHARS``.
    """

    _BATCH = 4_096

    def __init__(self) -> None:
        self.count = 0
        self.chars = 0
        self.limit = 2 * MAX_TEXT_CHARS
        self._chunks: list[str] = []
        self._batch: list[str] = []

    @property
    def full(self) -> bool:
        return self.chars > self.limit

    def add(self, line: str) -> None:
        self._batch.append(line)
        self.count += 1
        self.chars += len(line) + 1
        if len(self._batch) >= self._BATCH:
            self._flush()

    def cut_note(self) -> str:
        return f"text cut at {MAX_TEXT_CHARS:,} characters (reading stopped at {self.limit:,})"

    def lines(self) -> list[str]:
        self._flush()
        return self._chunks

    def _flush(self) -> None:
        if self._batch:
            self._chunks.append(
                _html._LINE.join(ln.replace("\n", _html._LINE) for ln in self._batch)
            )
            self._batch = []


def _normalise(lines: Iterable[str]) -> str:
    """Lines -> the HTML extraction's normal form, radicals mapped to ideographs."""
    text = _html._LINE.join(line.replace("\n", _html._LINE) for line in lines)
    if _HAS_RADICAL.search(text):
        text = text.translate(_RADICALS)
    return _html._normalise(text)


# --- PDF -----------------------------------------------------------------------------

# Display width of a character in ems, to estimate where a run of text ends.
_WIDE = frozenset("WF")


def _ems(text: str) -> float:
    return sum(1.0 if unicodedata.east_asian_width(c) in _WIDE else 0.5 for c in text)


@dataclass
class _Line:
    """One line of a PDF page as pypdf broke it, with where it sits (None: unknown)."""

    text: str
    x0: float | None = None  # where the visible text starts (after leading spaces)
    x1: float | None = None  # estimated end of the text
    y: float | None = None  # baseline
    size: float | None = None  # font size in page units


class _LineCollector:
    """pypdf ``visitor_text`` callback: its text chunks, split into positioned lines.

    A chunk's matrices give the position of its first character, so only the
    first visible part of a chunk is positioned; a line that starts in an
    unpositioned part has no known place and is never joined to another.
    """

    def __init__(self) -> None:
        self.lines: list[_Line] = []
        self._line = _Line("")
        self._started = False  # the line has visible text
        self._single_end: float | None = None  # end of the line's last part if one character
        self._shifts: dict[tuple[float, float], float] = {}  # TJ's leading offset, in ems

    def operator(self, operator: bytes, operands: Any, tm: Any) -> None:
        """pypdf ``visitor_operand_before``: notes where a ``TJ`` really starts.

        Word and WPS exports push a right-aligned signature or date to its place with
        a displacement at the start of a ``TJ`` array (``[-18000 (工业和信息化部)] TJ``),
        not with a text position; pypdf reports the text at the unshifted position (the
        left margin), where it would read as the next line of the paragraph.
        """
        if operator != b"TJ" or not operands or not isinstance(operands[0], list):
            return
        lead = 0.0
        for item in operands[0]:
            if isinstance(item, str | bytes):
                break
            try:
                lead -= float(item) / 1000.0
            except (TypeError, ValueError):
                return
        if lead:
            try:
                key = (round(float(tm[4]), 2), round(float(tm[5]), 2))
            except (TypeError, ValueError, IndexError):
                return
            self._shifts.setdefault(key, lead)

    def __call__(self, text: str, cm: Any, tm: Any, font: Any, font_size: Any) -> None:
        if not text:
            return
        position = _position(cm, tm, font_size)
        if position is not None and self._shifts:
            try:
                lead = self._shifts.pop((round(float(tm[4]), 2), round(float(tm[5]), 2)), 0.0)
            except (TypeError, ValueError, IndexError):
                lead = 0.0
            if lead and text.strip():
                x, y, size = position
                position = (x + lead * size, y, size)
        for index, part in enumerate(text.split("\n")):
            if index:
                self._end_line()
            if not part:
                continue
            self._add(part, position)
            if part.strip():
                position = None

    def finish(self) -> list[_Line]:
        self._end_line()
        return self.lines

    def _add(self, part: str, position: tuple[float, float, float] | None) -> None:
        line = self._line
        line.text += part
        if not part.strip():
            return
        if position is None:
            if not self._started:
                line.x0 = None
            line.x1 = self._single_end = None
        else:
            x, y, size = position
            visible = part.strip()
            start = x + _ems(part[: len(part) - len(part.lstrip())]) * size
            if not self._started:
                line.x0 = start
                line.y, line.size = y, size
            elif (
                len(visible) == 1
                and self._single_end is not None
                and -0.2 * size < start - self._single_end < 1.0 * size
                and line.text[: -len(part)].endswith(" ")
            ):
                # Letter-spaced text drawn a character at a time ("2 0 2 7", "L N G"):
                # the space pypdf put between two such characters is not in the text.
                kept = line.text[: -len(part)].rstrip(" ")
                line.text = kept + part
            line.x1 = x + _ems(part.rstrip()) * size
            self._single_end = line.x1 if len(visible) == 1 else None
        self._started = True

    def _end_line(self) -> None:
        line = self._line
        if line.text.strip():
            if line.x0 is not None and line.size:
                # pypdf gives a chunk the position of the last Td/Tm, not where the
                # previous glyphs ended, so a line's end is also estimated from its start.
                estimate = line.x0 + _ems(line.text.strip()) * line.size
                line.x1 = estimate if line.x1 is None else max(line.x1, estimate)
            self.lines.append(line)
        self._line = _Line("")
        self._started = False
        self._single_end = None


def _position(cm: Any, tm: Any, font_size: Any) -> tuple[float, float, float] | None:
    """(x, y, font size) in page space for upright text, else None."""
    try:
        a, b, c, d, e, f = (float(v) for v in tm)
        ca, cb, cc, cd, ce, cf = (float(v) for v in cm)
        m = (
            a * ca + b * cc,
            a * cb + b * cd,
            c * ca + d * cc,
            c * cb + d * cd,
            e * ca + f * cc + ce,
            e * cb + f * cd + cf,
        )
        size = float(font_size) * math.hypot(m[2], m[3])
    except (TypeError, ValueError):
        return None
    upright = m[0] > 0 and m[3] > 0 and abs(m[1]) < 1e-3 * m[0] and abs(m[2]) < 1e-3 * m[3]
    if not upright or not size > 0 or not all(map(math.isfinite, (*m, size))):
        return None
    return m[4], m[5], size


@dataclass(frozen=True)
class _Margins:
    left: float
    right: float
    size: float  # of the body text


def _margins(lines: list[_Line], previous: _Margins | None) -> _Margins | None:
    """Where body text starts and ends on a page (lines in the most common font size)."""
    placed = [ln for ln in lines if ln.x0 is not None and ln.x1 is not None and ln.size]
    if len(placed) < 3:
        return previous
    body_size = statistics.mode(round(ln.size, 1) for ln in placed if ln.size)
    body = [ln for ln in placed if ln.size and abs(ln.size - body_size) <= 0.15 * body_size]
    if not body:
        return previous
    return _Margins(
        left=min(ln.x0 for ln in body if ln.x0 is not None),
        right=max(ln.x1 for ln in body if ln.x1 is not None),
        size=body_size,
    )


def _drop_page_numbers(lines: list[_Line]) -> list[_Line]:
    """Without a page-number line at the top or bottom of the page."""
    if not lines:
        return lines
    placed = [ln for ln in lines if ln.y is not None]
    ends = {id(lines[0]), id(lines[-1])}
    if placed:
        ends |= {id(max(placed, key=lambda ln: ln.y or 0.0))}
        ends |= {id(min(placed, key=lambda ln: ln.y or 0.0))}
    return [
        ln
        for ln in lines
        if id(ln) not in ends or not _PAGE_NUMBER.fullmatch("".join(ln.text.split()))
    ]


def _separator(
    before: _Line,
    before_margins: _Margins | None,
    after: _Line,
    after_margins: _Margins | None,
    same_page: bool,
) -> str | None:
    """How two consecutive lines join: None (a new paragraph), "" or " "."""
    if None in (before.x1, before.y, before.size, after.x0, after.y, after.size):
        return None
    assert before.x1 is not None and before.y is not None and before.size
    assert after.x0 is not None and after.y is not None and after.size
    size = before.size
    if abs(after.size - size) > 0.15 * size:
        return None  # a heading and its text, body and footnote
    if same_page:
        rise = before.y - after.y
        if abs(rise) < 0.3 * size and after.x0 >= before.x1 - size:
            return " "  # one visual line that pypdf broke in two
        if not 0.5 * size < rise <= 2.6 * size:
            return None  # a blank line between, or columns, or text out of order
    if before_margins is None or after_margins is None:
        return None
    if before.x1 < before_margins.right - 2.0 * size:
        return None  # the line ends short: the paragraph ends there
    flush_left = after.x0 <= after_margins.left + 0.8 * size
    if not flush_left and not (same_page and _centred_title(before, after, before_margins)):
        return None  # indented: a new paragraph
    last, first = before.text.rstrip()[-1:], after.text.lstrip()[:1]
    return "" if _CJK_CHAR.match(last) or _CJK_CHAR.match(first) else " "


def _centred_title(before: _Line, after: _Line, margins: _Margins) -> bool:
    """A title larger than the body text, wrapped into centred lines."""
    if before.x0 is None or after.x1 is None or before.size is None:
        return False
    if before.size < 1.15 * margins.size or before.x0 > margins.left + 2.0 * before.size:
        return False
    middle = (before.x0 + (before.x1 or before.x0)) / 2
    return abs((after.x0 or 0.0) + after.x1 - 2 * middle) < 2 * before.size


def _pdf_paragraphs(pages: list[list[_Line]]) -> list[str]:
    """Lines of all pages -> paragraphs, wrapped lines joined (across pages too)."""
    paragraphs: list[str] = []
    previous: _Line | None = None
    previous_margins: _Margins | None = None
    margins: _Margins | None = None
    for lines in pages:
        lines = _drop_page_numbers(lines)
        margins = _margins(lines, margins)
        for index, line in enumerate(lines):
            join = None
            if previous is not None:
                join = _separator(previous, previous_margins, line, margins, index > 0)
            if join is None:
                paragraphs.append(line.text.strip())
            else:
                paragraphs[-1] = paragraphs[-1].rstrip() + join + line.text.strip()
            previous, previous_margins = line, margins
    return paragraphs


def _pdf_lines(body: bytes, max_pages: int, deadline: float) -> tuple[list[str], list[str]]:
    from pypdf import PdfReader, apply_configuration

    if b"%%EOF" not in body[-_PDF_EOF_WINDOW:]:
        # pypdf would rebuild what it can, and half a document reads as a deletion
        return [], ["truncated PDF: no %%EOF at the end (an incomplete download?)"]
    reader = PdfReader(io.BytesIO(body), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:  # e.g. AES without the cryptography package
            return [], [f"encrypted PDF could not be opened: {_why(exc)}"]
        if not opened:
            return [], ["encrypted PDF: a password is needed to open it"]
    first, total = _first_pages(reader, max_pages, deadline)
    pages: list[list[_Line]] = []
    failed = 0
    stopped = ""  # why the pages were not all read

    def check_time(collector: _LineCollector) -> Callable[..., None]:
        def before(operator: bytes, operands: Any, cm: Any, tm: Any) -> None:
            if time.monotonic() > deadline:
                raise _OutOfTime
            collector.operator(operator, operands, tm)

        return before

    if len(first) < min(total, max_pages):  # the page tree took the whole budget
        stopped = f"stopped after 0 of {total:,} pages: time budget spent"
    for number, page in enumerate(first):
        if time.monotonic() > deadline:
            stopped = f"stopped after {number:,} of {total:,} pages: time budget spent"
            break
        collector = _LineCollector()
        try:
            with apply_configuration(stream_parsing_work_maximum_count=PDF_MAX_STREAM_TOKENS):
                page.extract_text(
                    visitor_text=collector, visitor_operand_before=check_time(collector)
                )
        except _OutOfTime:  # keep what the page gave so far
            stopped = f"stopped in page {number + 1:,} of {total:,}: time budget spent"
        except Exception:
            failed += 1
            collector = _LineCollector()
        pages.append(collector.finish())
        if stopped:
            break
    if not stopped and total > max_pages:
        stopped = f"first {max_pages:,} of {total:,} pages"
    notes = [stopped] if stopped else []
    if failed:
        notes.append(f"{failed:,} of {len(pages):,} pages could not be read")
    if pages and not any(pages) and failed < len(pages) and "time" not in stopped:
        scanned = any(_has_image(page) for page in first[:20])
        notes.insert(0, "scanned PDF: no text layer" if scanned else "PDF without text or images")
    return _pdf_paragraphs(pages), notes


_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")  # ISO 32000 table 31
_PDF_MAX_TREE_DEPTH = 64


def _first_pages(reader: Any, limit: int, deadline: float) -> tuple[list[Any], int]:
    """The first ``limit`` pages, walking only as much of the page tree as they need,
    and the page count the tree claims.

    pypdf's ``reader.pages`` builds every page object first: 19 s and 400 MB for a
    16 MB file of 100,000 pages, before the first one is read.
    """
    from pypdf import PageObject
    from pypdf.generic import DictionaryObject, IndirectObject

    root = reader.root_object["/Pages"].get_object()
    claimed = root.get("/Count")
    pages: list[Any] = []
    seen: set[int] = set()
    stack = [(iter(root.get("/Kids") or ()), {k: root[k] for k in _INHERITED if k in root})]
    complete = True
    while stack:
        if len(pages) >= limit or time.monotonic() > deadline:
            complete = False
            break
        kids, inherited = stack[-1]
        kid = next(kids, None)
        if kid is None:
            stack.pop()
            continue
        reference = kid if isinstance(kid, IndirectObject) else None
        node = kid.get_object()
        if not isinstance(node, DictionaryObject) or id(node) in seen:
            continue  # not a node, or a cycle in the tree
        seen.add(id(node))
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            if len(stack) < _PDF_MAX_TREE_DEPTH:
                own = {k: node[k] for k in _INHERITED if k in node}
                stack.append((iter(node.get("/Kids") or ()), {**inherited, **own}))
            continue
        page = PageObject(reader, reference)
        if reference is None:
            page.update(node)
        for key, value in inherited.items():
            if key not in page:
                page[key] = value
        pages.append(page)
    count = int(claimed) if isinstance(claimed, int) else 0
    return pages, len(pages) if complete else max(len(pages), count)


class _OutOfTime(Exception):
    """Raised from pypdf's per-operator callback once the time budget is spent."""


def _has_image(page: Any) -> bool:
    """Whether a page draws an image (so a page without text is a scan)."""
    try:
        xobjects = page["/Resources"].get_object()["/XObject"].get_object()
        return any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.values())
    except Exception:
        return False


# --- DOCX ----------------------------------------------------------------------------


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, refusing more than MAX_XML_BYTES once inflated."""
    info = archive.getinfo(name)
    if info.file_size > MAX_XML_BYTES:
        raise ValueError(f"{name} inflates to {info.file_size:,} bytes")
    with archive.open(info) as member:  # zipfile stops at the declared size
        return member.read(MAX_XML_BYTES + 1)


def _xml(data: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    return etree.fromstring(data, parser)


def _docx_main_part(archive: zipfile.ZipFile) -> str:
    """The main document part named by [Content_Types].xml (usually word/document.xml)."""
    names = set(archive.namelist())
    if "[Content_Types].xml" in names:
        types = _xml(_read_member(archive, "[Content_Types].xml"))
        for override in types.iter(f"{_CONTENT_TYPE}Override"):
            if override.get("ContentType") in _DOCX_MAIN_TYPES:
                name = (override.get("PartName") or "").lstrip("/")
                if name in names:
                    return name
    return "word/document.xml"


def _docx_lines(body: bytes, max_pages: int, deadline: float) -> tuple[list[str], list[str]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        name = _docx_main_part(archive)
        info = archive.getinfo(name)
        if info.file_size > MAX_XML_BYTES:
            raise ValueError(f"{name} inflates to {info.file_size:,} bytes")
        text = _BoundedText()
        with archive.open(info) as member:  # zipfile stops at the declared size
            stopped = _docx_stream(member, text, deadline)
    return text.lines(), [stopped] if stopped else []


def _docx_stream(source: IO[bytes], text: _BoundedText, deadline: float) -> str:
    """Paragraphs and table rows as they are parsed, each freed once read.

    The tree built is never more than the path to the current element plus the one
    paragraph or table row being read, so a part of two million tiny paragraphs costs
    their text, not their elements. Returns why it stopped early ("" if it did not).
    """
    events = etree.iterparse(
        source,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    modes: list[str] = []  # per open element outside blocks: what it is to the reader
    inside = 0  # depth inside the paragraph or row being read, or being skipped
    held = 0  # elements of that paragraph or row
    skipping = False
    count = 0
    for event, element in events:
        count += 1
        if not count % _DOCX_EVENTS_PER_TIME_CHECK and time.monotonic() > deadline:
            return f"stopped after {text.count:,} paragraphs and rows: time budget spent"
        if inside:  # the hot path: an element of a block, kept until the block's end
            if event == "start":
                inside += 1
                held += 1
                if held > _DOCX_MAX_BLOCK_ELEMENTS and not skipping:
                    return (
                        f"stopped after {text.count:,} paragraphs and rows: one has more"
                        f" than {_DOCX_MAX_BLOCK_ELEMENTS:,} XML elements"
                    )
                continue
            inside -= 1
            if inside and not skipping:
                continue
            if not inside and not skipping:
                for fallback in list(element.iter(_MC_FALLBACK)):  # the same text again
                    fallback.getparent().remove(fallback)
                is_row = element.tag == f"{_W}tr"
                text.add(_docx_row(element) if is_row else _docx_paragraph(element))
                if text.full:
                    return text.cut_note()
        elif event == "start":  # outside blocks; skipped elements are freed at their end
            mode = _docx_mode(modes[-1] if modes else "", element.tag)
            if mode in ("held", "skip"):
                inside, held, skipping = 1, 1, mode == "skip"
            else:
                modes.append(mode)
            continue
        else:
            modes.pop()
        element.clear()  # read or skipped: only the path to the next element stays
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]
    return ""


def _docx_mode(outer: str, tag: object) -> str:
    """What an element is to the reader, given its parent's mode.

    ``document`` (the root), ``pass`` (a container of the body's blocks), ``held``
    (a paragraph or top-level table row, or inside one: read at its end), ``table``
    (inside a top-level table, outside its rows), ``skip`` (not text of the body).
    The same choices as ``_docx_blocks`` makes over a whole tree.
    """
    if not outer:
        return "document"
    if outer == "document":
        return "pass" if tag == f"{_W}body" else "skip"
    if tag == _MC_FALLBACK:
        return "skip"
    if outer == "table":
        if tag == f"{_W}tr":
            return "held"
        return "skip" if tag == f"{_W}tbl" else "table"  # a nested table's rows are its cell's
    if tag == f"{_W}p":
        return "held"
    if tag == f"{_W}tbl":
        return "table"
    if isinstance(tag, str) and not tag.endswith(("}sectPr", "}tblPr", "}tblGrid")):
        return "pass"
    return "skip"


def _docx_blocks(container: etree._Element, lines: list[str]) -> None:
    """Paragraphs (one line each) and table rows (cells joined with " | ") in order."""
    for child in container:
        tag = child.tag
        if tag == f"{_W}p":
            lines.append(_docx_paragraph(child))
        elif tag == f"{_W}tbl":
            for row in child.iter(f"{_W}tr"):
                if next(row.iterancestors(f"{_W}tbl"), None) is child:
                    lines.append(_docx_row(row))  # not a nested table's: its cell's text
        elif isinstance(tag, str) and not tag.endswith(("}sectPr", "}tblPr", "}tblGrid")):
            _docx_blocks(child, lines)  # sdt/sdtContent, customXml, ins, ...


def _docx_row(row: etree._Element) -> str:
    """A table row: its cells' text joined with " | " (a cell's lines with spaces)."""
    cells = []
    for cell in row.iterchildren(f"{_W}tc"):
        cell_lines: list[str] = []
        _docx_blocks(cell, cell_lines)
        cells.append(" ".join(" ".join(cell_lines).split()))
    return " | ".join(c for c in cells if c)


_DOCX_TEXT_TAGS = (f"{_W}t", f"{_W}tab", f"{_W}ptab", f"{_W}br", f"{_W}cr", f"{_W}noBreakHyphen")


def _docx_paragraph(paragraph: etree._Element) -> str:
    parts = []
    for element in paragraph.iter(*_DOCX_TEXT_TAGS):
        tag = element.tag
        if tag == f"{_W}t":  # text and the tails of unexpanded entity references
            parts.append((element.text or "") + "".join(c.tail or "" for c in element))
        elif tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
        elif tag == f"{_W}noBreakHyphen":
            parts.append("-")
        else:
            parts.append(" ")
    return "".join(parts)


# --- XLSX ----------------------------------------------------------------------------


def _xlsx_lines(body: bytes, max_pages: int, deadline: float) -> tuple[list[str], list[str]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        for info in archive.infolist():
            if not info.filename.endswith((".xml", ".rels")):
                continue
            streamed = info.filename.startswith("xl/worksheets/") or info.filename.endswith(
                "sharedStrings.xml"
            )  # other parts are read whole by openpyxl
            if info.file_size > (MAX_XML_BYTES if streamed else _XLSX_MAX_WHOLE_PART):
                raise ValueError(f"{info.filename} inflates to {info.file_size:,} bytes")

    strings = _SharedStrings(deadline)
    workbook = _xlsx_reader()(io.BytesIO(body), strings).read_only_workbook()
    lines: list[str] = []
    notes: list[str] = []
    cells = 0
    try:
        if strings.out_of_time:
            return [], [strings.stopped]
        sheets = workbook.worksheets
        for sheet in sheets:
            if len(sheets) > 1:
                lines.append(sheet.title)
            rows = sheet.iter_rows(values_only=True)
            while True:
                if time.monotonic() > deadline:
                    notes.append(f"stopped in sheet {sheet.title!r}: time budget spent")
                    return lines, notes
                try:
                    row = next(rows, None)
                except _StringsCut:
                    notes.append(strings.stopped)
                    return lines, notes
                if row is None:
                    break
                values = [_cell(v) for v in row if v is not None]
                line = " | ".join(v for v in values if v)
                if line:
                    lines.append(line)
                cells += len(row)
                if cells > _XLSX_MAX_CELLS:
                    notes.append(f"stopped after {_XLSX_MAX_CELLS:,} cells")
                    return lines, notes
    finally:
        workbook.close()
    return lines, [*notes, strings.stopped] if strings.stopped else notes


class _StringsCut(Exception):
    """A cell refers to a shared string past the ones read."""


class _SharedStrings(list[str]):
    """The shared strings read, within their budget; a cell referring past them
    raises ``_StringsCut`` (openpyxl would read them all, whatever their number)."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.stopped = ""  # why not all were read
        self.out_of_time = False

    def read(self, source: IO[bytes]) -> None:
        events = etree.iterparse(
            source,
            events=("end",),
            tag=f"{_S}si",
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        chars = 0
        for _, si in events:
            text = _shared_string(si)
            self.append(text)
            chars += len(text)
            si.clear()
            parent = si.getparent()
            while parent is not None and si.getprevious() is not None:
                del parent[0]
            if len(self) >= _XLSX_MAX_SHARED_STRINGS or chars > 2 * MAX_TEXT_CHARS:
                self.stopped = (
                    f"stopped at shared string {len(self):,}: the budget is"
                    f" {_XLSX_MAX_SHARED_STRINGS:,} strings or {2 * MAX_TEXT_CHARS:,} characters"
                )
                return
            if not len(self) % 1_024 and time.monotonic() > self.deadline:
                self.stopped = f"stopped at shared string {len(self):,}: time budget spent"
                self.out_of_time = True
                return

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int) and index >= len(self) and self.stopped:
            raise _StringsCut
        return super().__getitem__(index)


def _shared_string(si: etree._Element) -> str:
    """A shared string's text as openpyxl gives it: its own ``t``, then its runs' ``t``
    (phonetic runs left out)."""
    plain = ""
    runs = []
    for child in si:
        if child.tag == f"{_S}t":
            plain = child.text or ""
        elif child.tag == f"{_S}r":
            for t in child.iterchildren(f"{_S}t"):
                runs.append(t.text or "")
    return (plain + "".join(runs)).replace("x005F_", "")


@functools.cache
def _xlsx_reader() -> Any:
    """openpyxl's reader, its shared strings read by ``_SharedStrings``."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.xml.constants import SHARED_STRINGS

    class Reader(ExcelReader):  # type: ignore[misc]
        def __init__(self, source: IO[bytes], strings: _SharedStrings) -> None:
            super().__init__(source, read_only=True, data_only=True)
            self._strings = strings

        def read_strings(self) -> None:
            self.shared_strings = self._strings
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as source:
                    self._strings.read(source)

        def read_only_workbook(self) -> Any:
            self.read()
            return self.wb

    return Reader


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return " ".join(str(value).split())


_Extractor = Callable[[bytes, int, float], tuple[list[str], list[str]]]
_EXTRACTORS: dict[str, _Extractor] = {"pdf": _pdf_lines, "docx": _docx_lines, "xlsx": _xlsx_lines}
