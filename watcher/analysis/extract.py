"""HTML text -> ``Document``: the part of a page that is compared between versions.

The text of record is what a reader sees, and what analysts quote. It keeps
block structure (one paragraph, heading, list item, table row or div-level block
per line; cells of a row joined with `` | ``); every kind of space (U+3000,
``&nbsp;``, ``&ensp;``, tabs, ...) collapses to one, zero-width characters go,
lines are stripped and empty lines dropped. A space stays wherever the page shows
one, also between Hanzi: joint issuers (工业和信息化部 国家发展改革委), a
contact's name and number (王 堃 电话), spans of a metadata row laid out apart.
Whitespace-only edits are still not changes: the analysis compares
``watcher.core.text.comparison_key`` of two texts, which folds the spaces beside
Hanzi and full-width punctuation away.

Without ``select`` the page's ``<title>`` is the first line, so a keyword only in
the title is found and a change of the title alone is a change; with ``select``
the user chose a region, and only the region counts (the title is still the
Document's ``title``). Text hidden from readers (``display:none`` in a style
attribute, the ``hidden`` attribute, hidden inputs) is dropped with its subtree;
``aria-hidden`` hides only from screen readers and stays. ``EXTRACTION_VERSION``
changes whenever the same bytes give a different text.

Built on lxml directly: BeautifulSoup's tree building costs several times the
parse itself (see ``bench/extract_speed.py``). Nothing here recurses in Python,
so 10,000 nested tags cannot raise RecursionError; the C recursion of the XSLT
layout step is only used on trees at most 100 levels deep, and libxml2's own
depth limit (which would silently truncate a page) is met by re-parsing without
inline tags, then without structure, with a warning.

``select`` matching nothing is not an error: ``extract_with_report`` returns the
(empty) Document together with warnings such as
``select 'div#con_con' matched nothing`` for the caller to show; ``extract``
returns the Document alone.
"""

from __future__ import annotations

import html as html_lib
import re
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import regex
from cssselect import HTMLTranslator, SelectorError
from lxml import etree

from watcher.analysis.article import AUTO, article_region
from watcher.analysis.filelinks import mark_attachment_links
from watcher.core.budget import DEFAULT_REGEX_TIMEOUT, compile_user_pattern, timed_out
from watcher.core.models import Document, Link

__all__ = [
    "EXTRACTION_VERSION",
    "TreeReader",
    "check_pattern",
    "check_selector",
    "extract",
    "extract_with_report",
    "page_tree",
    "title_of",
]

# Bumped whenever the same bytes give a different text of record, so that a capture
# made by older code is compared after re-extracting its bytes (no false alert on
# upgrade). 1: spaces beside Hanzi removed, hidden text kept, no title line.
EXTRACTION_VERSION = 2

# Elements whose content is never page text.
_DROP_TAGS = (
    *("head", "title", "script", "style", "noscript", "template", "iframe", "frame"),
    *("svg", "math", "object", "embed", "canvas", "datalist"),
    "select",  # jump menus (友情链接 dropdowns): form options, not page text
)

# Elements a reader never sees: ``display:none`` in a style attribute (spaces and
# case ignored), the ``hidden`` attribute, hidden inputs. ``aria-hidden`` only
# hides from screen readers, and stays.
_HIDDEN = etree.XPath(
    "//*[@hidden] | //*[@style][contains(translate(@style, 'DISPLAYNOE \t\r\n',"
    " 'displaynoe'), 'display:none')] | //input[@type][translate(@type, 'HIDEN', 'hiden')"
    " = 'hidden']"
)

# Elements that start and end a line.
_BLOCK_TAGS = (
    *("address", "article", "aside", "blockquote", "body", "caption", "center", "dd"),
    *("details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure"),
    *("footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "html"),
    *("legend", "li", "listing", "main", "menu", "nav", "ol", "option", "p", "plaintext"),
    *("pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul", "xmp"),
)
_CELL_TAGS = ("td", "th")
_BREAK_TAGS = ("br", "hr")

# Markers put into the text before it is joined: Unicode noncharacters, legal in
# XML text but never in real text. They are removed from the input; one written
# as a character reference (``&#xFDD0;``) just becomes a line break.
_LINE = "\ufdd0"
_CELL = "\ufdd1"

# Characters lxml refuses in text it is given, plus our markers; replaced by a space.
_RESERVED_CHARS = (_LINE, _CELL, "\ufffe", "\uffff")
_RESERVED = re.compile(f"[{''.join(_RESERVED_CHARS)}]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_CONTROL_BYTES_TO_SPACE = bytes.maketrans(_CONTROL_BYTES, b" " * len(_CONTROL_BYTES))

# Invisible characters dropped from text: zero-width spaces and joiners, BOM, soft
# hyphen, and control characters (a page can smuggle those in as ``&#1;``).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f\x80-\x84\x86-\x9f\u200b-\u200d\u2060\ufeff\u00ad\ufffe\uffff]"
)
_ANY_SPACE = re.compile(f"[\\s{_LINE}{_CELL}]+")
_NOT_INLINE_NORMAL = re.compile(f"[\\s{_LINE}{_CELL}]|{_INVISIBLE.pattern}")
# What lxml refuses to store in text (after parsing, entities can still produce it).
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SKIPPED_SCHEMES = ("javascript:", "vbscript:", "mailto:", "tel:", "data:", "about:")
_URL_INNER_JUNK = re.compile("[\t\n\r]")
# A path and an optional query, without what urljoin would rewrite (fragments,
# empty queries, ";params", backslashes).
_PLAIN_HREF = re.compile(r"[^\s\\;?#\[\]]+(?:\?[^\s\\;#\[\]]+)?")

_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TITLE_SCAN_CHARS = 65_536

# Fallbacks for pages nested deeper than libxml2's limit (2048 with huge_tree),
# where parsing would silently stop: first drop inline tags (unclosed <font>/<span>
# runs in Word-exported notices are the usual cause), then all structure.
_INLINE_TAG = re.compile(
    r"</?(?:font|span|b|i|u|s|em|strong|small|big|sub|sup|strike|tt|o:p|ins|del|mark)\b[^>]*>",
    re.IGNORECASE,
)
_DEAD_CONTENT = re.compile(
    r"<(script|style|noscript|template|svg|math)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_ANY_TAG = re.compile(r"<(?!a\b|/a\b|br\b)/?[a-zA-Z][^>]*>")

# Text is laid out by an XSLT stylesheet (C speed) when the tree is shallow enough
# for libxslt's recursion to be safe on a small thread stack; deeper trees take an
# iterative path in Python that gives the same text.
_XSLT_MAX_DEPTH = 100
_DEEPER_THAN_XSLT_LIMIT = etree.XPath("boolean(" + "*/" * _XSLT_MAX_DEPTH + "*)")
_LAYOUT_XSLT = f"""\
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text" encoding="UTF-8"/>
  <xsl:template match="{"|".join(_BLOCK_TAGS)}">
    <xsl:text>&#xFDD0;</xsl:text><xsl:apply-templates/><xsl:text>&#xFDD0;</xsl:text>
  </xsl:template>
  <xsl:template match="{"|".join(_BREAK_TAGS)}">&#xFDD0;</xsl:template>
  <xsl:template match="{"|".join(_CELL_TAGS)}">&#xFDD1;<xsl:apply-templates/></xsl:template>
  <xsl:template match="pre//text()">
    <xsl:value-of select="translate(., '&#10;', '&#xFDD0;')"/>
  </xsl:template>
</xsl:stylesheet>
"""

_local = threading.local()


# --- public API -----------------------------------------------------------------------


class TreeReader(Protocol):
    """Reads what it wants of a page from the tree extraction parsed: a page is parsed
    once (a second parse was a tenth of a first capture's analysis). Must not raise or
    change the tree."""

    def whole(self, root: etree._Element) -> None:
        """The page as parsed, its ``<head>`` included."""

    def shown(self, root: etree._Element) -> None:
        """The page as a reader sees it: no head, scripts or hidden elements; before
        ``select`` and ``exclude``."""


def extract(
    html: str,
    base_url: str,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    ignore: Sequence[str | re.Pattern[str]] = (),
) -> Document:
    """Title, normalised block text and absolute links of a page (or its selected part)."""
    return extract_with_report(html, base_url, select=select, exclude=exclude, ignore=ignore)[0]


def extract_with_report(
    html: str,
    base_url: str,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    ignore: Sequence[str | re.Pattern[str]] = (),
    links: bool = True,
    regex_timeout: float = DEFAULT_REGEX_TIMEOUT,
    reader: TreeReader | None = None,
) -> tuple[Document, list[str]]:
    """Like ``extract``, plus warnings the caller should show the user.

    ``links=False`` skips collecting links (a tenth of the time) when the caller
    only compares text. ``reader`` is handed the parsed tree on the way.

    Warnings name selectors that matched nothing and pages too deeply nested to
    parse with their structure. Invalid selectors or patterns raise ValueError
    (validate them at config load with ``check_selector`` / ``check_pattern``);
    an ignore pattern that runs longer than ``regex_timeout`` on the page raises
    ``PatternTimeout``.
    """
    select, exclude = _as_list(select), _as_list(exclude)
    if isinstance(ignore, str | re.Pattern):
        ignore = [ignore]
    patterns = [_compile_ignore(p) for p in ignore]
    select_xpaths = [_xpath_for(s) for s in select if s != AUTO]
    exclude_xpaths = [_xpath_for(s) for s in exclude]

    root, warnings = _parse(html)
    if root is None:
        warnings += [f"select {s!r} matched nothing" for s in select]
        return Document(title="", text=""), warnings

    title = _title(root)
    base = _base_url(root, base_url)
    _to_shown(root, reader)
    # the title is read as part of the page, unless the user chose a region
    head = [title] if title and not select else []
    title = title or _first_heading(root)
    for xpath in exclude_xpaths:
        for element in root.xpath(xpath):
            _drop(element)

    if select == [AUTO]:
        article = article_region(root, title)
        regions = [article] if article is not None else []
        if article is None:
            warnings.append("select: auto found no article text")
    elif select:
        regions, unmatched = _select(root, select, select_xpaths)
        warnings += [f"select {s!r} matched nothing" for s in unmatched]
    else:
        regions = [root]

    found = _links(regions, base) if links else []
    mark_attachment_links(regions)  # "[file.pdf]" after each attachment link's text
    laid_out = _LINE.join([*head, *_laid_out_text(root, regions)])
    del root, regions  # the tree goes before its text is normalised: not both at once
    text = _normalise(laid_out)
    del laid_out
    if patterns:
        for pattern in patterns:
            text = _remove(pattern, text, regex_timeout)
        text = _normalise(text.replace("\n", _LINE))
    return Document(title=title, text=text, links=tuple(found)), warnings


def page_tree(html: str, reader: TreeReader | None = None) -> tuple[etree._Element | None, str]:
    """The page as ``select`` sees it (no scripts, no hidden text) and its title: for
    proposing selectors that ``extract`` will match the same way, and for a
    ``reader`` of a page that is not extracted."""
    root, _ = _parse(html)
    if root is None:
        return None, ""
    title = _title(root)
    _to_shown(root, reader)
    return root, title or _first_heading(root)


def _to_shown(root: etree._Element, reader: TreeReader | None) -> None:
    """Remove what a reader of the page never sees, showing the tree to ``reader``
    before and after."""
    if reader is not None:
        reader.whole(root)
    etree.strip_elements(root, *_DROP_TAGS, with_tail=False)
    for element in _HIDDEN(root):
        _drop(element)
    if reader is not None:
        reader.shown(root)


def title_of(html: str) -> str:
    """The normalised ``<title>`` of a page without parsing it (cheap, for listings/logs)."""
    match = _TITLE.search(html, 0, _TITLE_SCAN_CHARS)
    return _inline(html_lib.unescape(match.group(1))) if match else ""


def check_selector(selector: str) -> None:
    """Raise ValueError with a readable message if ``selector`` is not valid CSS."""
    _xpath_for(selector)


def check_pattern(pattern: str) -> None:
    """Raise ValueError with a readable message if ``pattern`` is not a valid regex."""
    _compile_ignore_str(pattern)


# --- parsing --------------------------------------------------------------------------


def _parser() -> etree.HTMLParser:
    """One parser per thread: extraction runs in executor threads."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.HTMLParser(
            encoding="utf-8",
            remove_comments=True,
            remove_pis=True,
            no_network=True,
            huge_tree=True,
        )
        _local.parser = parser
    return parser


def _parse(html: str) -> tuple[etree._Element | None, list[str]]:
    """Parse text as UTF-8 bytes (lxml refuses a str carrying an encoding declaration)."""
    root, too_deep = _parse_bytes(_to_parser_bytes(html))
    if not too_deep:
        return root, []
    del root  # one tree at a time
    root, too_deep = _parse_bytes(_to_parser_bytes(_INLINE_TAG.sub("", html)))
    if not too_deep:
        return root, ["page nests tags too deeply; inline formatting tags were ignored"]
    del root
    flat = _ANY_TAG.sub("<br>", _DEAD_CONTENT.sub(" ", _INLINE_TAG.sub("", html)))
    root, _ = _parse_bytes(_to_parser_bytes(flat))
    return root, ["page nests tags too deeply; its structure was ignored (select cannot match)"]


def _to_parser_bytes(html: str) -> bytes:
    """UTF-8 bytes without the characters lxml refuses or that we use as markers."""
    if any(ch in html for ch in _RESERVED_CHARS):
        html = _RESERVED.sub(" ", html)
    try:
        data = html.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        data = _SURROGATES.sub("\ufffd", html).encode("utf-8")
    return data.translate(_CONTROL_BYTES_TO_SPACE)


def _parse_bytes(data: bytes) -> tuple[etree._Element | None, bool]:
    """The root (None for an empty document) and whether libxml2 hit its depth limit."""
    if not data.strip():
        return None, False
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return None, False
    error = parser.error_log.last_error
    too_deep = error is not None and "depth" in (error.message or "").lower()
    if root is not None:
        _adopt_stray_roots(root)
    return root, too_deep


def _adopt_stray_roots(root: etree._Element) -> None:
    """Move content that libxml2 put beside the root into the root's body.

    Templates that include a header with its own ``</html>`` (gov.cn does) make
    libxml2 start a second top-level ``<html>`` for the rest of the page; without
    this step the article itself would be outside the tree we read.
    """
    strays = [s for s in root.itersiblings() if isinstance(s.tag, str)]
    if not strays:
        return
    body = root.find("body")
    if body is None:
        body = etree.SubElement(root, "body")
    for stray in strays:
        _append_text(body, stray.text)
        for child in list(stray):
            if child.tag in ("head", "body"):
                _append_text(body, child.text)
                body.extend(list(child))
                _append_text(body, child.tail)
            else:
                body.append(child)


# --- selection ------------------------------------------------------------------------


def _as_list(value: Sequence[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else [s for s in value if s and s.strip()]


@lru_cache(maxsize=1024)
def _xpath_for(selector: str) -> str:
    try:
        xpath = HTMLTranslator().css_to_xpath(selector)
        etree.XPath(xpath)  # cssselect can emit XPath that libxml2 rejects
    except (SelectorError, etree.XPathError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from None
    return xpath


@lru_cache(maxsize=256)
def _compile_ignore_str(pattern: str) -> regex.Pattern[str]:
    try:
        return compile_user_pattern(pattern, regex.MULTILINE)
    except ValueError as exc:
        raise ValueError(str(exc).replace("regular expression", "ignore pattern", 1)) from None


def _compile_ignore(pattern: str | re.Pattern[str]) -> re.Pattern[str] | regex.Pattern[str]:
    """A compiled ``re`` pattern is the caller's own and runs as given; text from
    targets.yaml runs in the regex module, with a time limit."""
    return pattern if isinstance(pattern, re.Pattern) else _compile_ignore_str(pattern)


def _remove(pattern: re.Pattern[str] | regex.Pattern[str], text: str, seconds: float) -> str:
    if isinstance(pattern, re.Pattern):
        return pattern.sub("", text)
    try:  # the interpreter lock released: the event loop answers meanwhile
        return pattern.sub("", text, timeout=seconds, concurrent=True)
    except TimeoutError:
        raise timed_out("ignore pattern", pattern.pattern, seconds) from None


def _select(
    root: etree._Element, selectors: list[str], xpaths: list[str]
) -> tuple[list[etree._Element], list[str]]:
    """Union of the matches in document order, without elements inside other matches."""
    unmatched = [s for s, xp in zip(selectors, xpaths, strict=True) if not root.xpath(xp)]
    if len(unmatched) == len(selectors):
        return [], unmatched
    union = " | ".join(f"({xp})" for xp in xpaths) if len(xpaths) > 1 else xpaths[0]
    chosen: list[etree._Element] = []
    members: set[etree._Element] = set()
    for element in root.xpath(union):
        if not any(ancestor in members for ancestor in element.iterancestors()):
            chosen.append(element)
        members.add(element)
    return chosen, unmatched


def _set_text(element: etree._Element, text: str) -> None:
    try:
        element.text = text
    except ValueError:  # characters lxml accepted from the parser but refuses from us
        element.text = _XML_UNSAFE.sub(" ", text)


def _set_tail(element: etree._Element, tail: str) -> None:
    try:
        element.tail = tail
    except ValueError:
        element.tail = _XML_UNSAFE.sub(" ", tail)


def _append_text(parent: etree._Element, text: str | None) -> None:
    """Add text at the end of ``parent`` (after its last child)."""
    if not text:
        return
    if len(parent):
        last = parent[-1]
        _set_tail(last, (last.tail or "") + text)
    else:
        _set_text(parent, (parent.text or "") + text)


def _drop(element: etree._Element) -> None:
    """Remove an element and its content, keeping the text that follows it."""
    parent = element.getparent()
    if parent is None:
        element.clear()
        return
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            _set_tail(previous, (previous.tail or "") + tail)
        else:
            _set_text(parent, (parent.text or "") + tail)
    parent.remove(element)


# --- text -----------------------------------------------------------------------------


def _laid_out_text(root: etree._Element, regions: list[etree._Element]) -> list[str]:
    """Each region's text with line and cell markers where its blocks and cells are."""
    if not _DEEPER_THAN_XSLT_LIMIT(root):
        layout = _layout_xslt()
        try:
            return [str(layout(region)) for region in regions]
        except etree.XSLTError:  # not seen; the iterative path gives the same text
            pass
    return [_marked_text(region) for region in regions]


def _layout_xslt() -> etree.XSLT:
    layout = getattr(_local, "layout", None)
    if layout is None:
        layout = _local.layout = etree.XSLT(etree.XML(_LAYOUT_XSLT.encode()))
    return layout


def _marked_text(region: etree._Element) -> str:
    """The stylesheet's output, built by marking the tree iteratively (deep trees)."""
    for element in region.iter(*_BLOCK_TAGS, *_BREAK_TAGS, *_CELL_TAGS):
        tag = element.tag
        if tag in _BREAK_TAGS:
            _set_tail(element, _LINE + (element.tail or ""))
        elif tag in _CELL_TAGS:
            _set_text(element, _CELL + (element.text or ""))
        else:
            _set_text(element, _LINE + (element.text or ""))
            _set_tail(element, _LINE + (element.tail or ""))
            if tag == "pre":
                _keep_pre_lines(element)
    return "".join(region.itertext())


def _keep_pre_lines(pre: etree._Element) -> None:
    for element in pre.iter():
        if element.text:
            _set_text(element, element.text.replace("\n", _LINE))
        if element is not pre and element.tail:
            _set_tail(element, element.tail.replace("\n", _LINE))


def _normalise(raw: str) -> str:
    """Marked text -> one stripped, non-empty line per block, spaces collapsed."""
    raw = _INVISIBLE.sub("", raw)
    # str.split() knows the same whitespace as re's \s (U+3000, nbsp, ...) and is
    # several times faster than a regex over mostly-CJK text. Line by line: the
    # words of a whole 19 MB page as strings took 130 MB.
    lines = [" ".join(line.split()) for line in raw.split(_LINE)]
    if _CELL in raw:
        lines = [_join_cells(line) if _CELL in line else line for line in lines]
    return "\n".join(filter(None, lines))


def _join_cells(line: str) -> str:
    return " | ".join(cell for cell in map(str.strip, line.split(_CELL)) if cell)


def _inline(raw: str) -> str:
    """Text that is one line (titles, link text): all whitespace collapsed."""
    if not _NOT_INLINE_NORMAL.search(raw):
        return raw
    return _ANY_SPACE.sub(" ", _INVISIBLE.sub("", raw)).strip()


def _title(root: etree._Element) -> str:
    element = root.find(".//title")
    return _inline("".join(element.itertext())) if element is not None else ""


def _first_heading(root: etree._Element) -> str:
    element = root.find(".//h1")
    return _inline("".join(element.itertext())) if element is not None else ""


# --- links ----------------------------------------------------------------------------


def _base_url(root: etree._Element, base_url: str) -> str:
    element = root.find(".//base[@href]")
    if element is None:
        return base_url
    return _Resolver(base_url)(element.get("href", "")) or base_url


class _Resolver:
    """``urljoin`` against one base, with a fast path for the common link shapes.

    A listing page holds hundreds of links and urljoin costs ~15 µs each. Plain
    absolute, root-relative and same-directory links (no ``..``, fragment or
    other oddity) are joined by concatenation, which gives exactly urljoin's
    result for them; everything else goes through urljoin.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.origin: str | None = None
        self.directory: str | None = None
        try:
            parts = urlsplit(base)
        except ValueError:
            return
        path = parts.path or "/"
        if parts.scheme in ("http", "https") and parts.netloc and "/." not in path:
            self.origin = f"{parts.scheme}://{parts.netloc}"
            self.directory = self.origin + path[: path.rfind("/") + 1]

    def __call__(self, href: str) -> str | None:
        """The absolute URL of a link target, or None for targets that are not pages."""
        href = href.strip()
        if "\t" in href or "\n" in href or "\r" in href:
            href = _URL_INNER_JUNK.sub("", href)
        if not href or href[0] == "#" or href[:11].lower().startswith(_SKIPPED_SCHEMES):
            return None
        joined = self._concatenated(href)
        if joined is not None:
            return joined
        try:
            return urljoin(self.base, href)
        except ValueError:  # e.g. a malformed IPv6 host
            return None

    def _concatenated(self, href: str) -> str | None:
        if self.origin is None or self.directory is None or not _PLAIN_HREF.fullmatch(href):
            return None
        if href.startswith(("http://", "https://")):
            return href
        if "//" in href or ":" in href.partition("/")[0]:
            return None  # scheme-relative, a scheme, or empty segments urljoin collapses
        if "/." in "/" + href:
            same_directory = href.startswith("./") and "/." not in href[1:]
            return self.directory + href[2:] if same_directory else None
        return self.origin + href if href[0] == "/" else self.directory + href


def _links(regions: Iterable[etree._Element], base: str) -> list[Link]:
    """Every ``<a href>`` in the regions, absolute, first occurrence of each URL kept."""
    resolve = _Resolver(base)
    seen: set[str] = set()
    links = []
    for region in regions:
        for anchor in region.iter("a"):
            href = anchor.get("href")
            url = resolve(href) if href is not None else None
            if url is None or url in seen:
                continue
            seen.add(url)
            links.append(Link(url=url, text=_link_text(anchor)))
    return links


def _link_text(anchor: etree._Element) -> str:
    text = _inline("".join(anchor.itertext()) if len(anchor) else anchor.text or "")
    if text:
        return text
    for attribute in ("title", "aria-label"):
        text = _inline(anchor.get(attribute) or "")
        if text:
            return text
    image = anchor.find(".//img[@alt]")
    return _inline(image.get("alt", "")) if image is not None else ""
