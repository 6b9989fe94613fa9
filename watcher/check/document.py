"""The parts of a notice page worth keeping, as CSS a listing's ``follow: select``
can name: the title, the 文号/metadata block, the body and an attachment list.

Found inside the article ``select: auto`` finds: the body is the block holding most
of its text, the title the block showing the ``<title>``'s first part, the metadata
a short block of labels (发布时间, 来源, 发文字号 …), the attachments a block of file
links outside the body. Each part must be named by an id or a class that no other
element of the page has; a page without such names keeps ``select: auto``.
"""

from __future__ import annotations

import re

from lxml import etree

from watcher.analysis.article import article_region
from watcher.analysis.extract import page_tree
from watcher.analysis.filelinks import is_attachment_url
from watcher.check.regions import matches, unique_selector

__all__ = ["document_parts"]

_META = re.compile(
    r"发布(?:时间|日期)|成文日期|发文(?:字号|机关)|索\s*引\s*号|主题分类|信息来源|来\s*源[:：]"
)
_TITLE_SEPARATORS = re.compile(r"\s*(?:_|--|—|–|\||｜|-\s)\s*")
_META_MAX = 400  # characters: a metadata block is labels and values, not a paragraph
_CONTAINERS = ("div", "td", "article", "section", "main", "table", "tbody", "tr")
_DESCEND = 0.6  # a child holding this share of the article's text is the body's way down


def document_parts(html: str, url: str) -> tuple[str, ...]:
    """Selectors of the title, metadata, body and attachments, in page order; () when
    the page has no body with a name, or nothing beside it."""
    root, title = page_tree(html)
    if root is None:
        return ()
    region = article_region(root, title)
    if region is None:
        return ()
    sizes = _sizes(region)
    body = _body(region, sizes)
    wanted = _compact(_TITLE_SEPARATORS.split(title.strip())[0]) if title else ""
    heading = _heading(region, wanted, body, sizes)
    taken = [p for p in (body, heading) if p is not None]
    meta = _metadata(region, taken, sizes)
    if meta is None:
        meta = _metadata_before(region)
    if meta is not None:
        taken.append(meta)
    files = _attachments(region, taken)
    parts = [p for p in (heading, meta, body, files) if p is not None]
    if len(parts) < 2:
        return ()
    order = {e: n for n, e in enumerate(root.iter())}
    fresh, _ = page_tree(html)
    selectors = []
    for part in sorted(parts, key=order.__getitem__):
        selector = unique_selector(part, root)
        if selector is None or not ("#" in selector or "." in selector):
            return ()
        if fresh is None or len(matches(fresh, selector)) != 1:
            return ()
        selectors.append(selector)
    return tuple(selectors)


def _compact(text: str | None) -> str:
    return "".join(text.split()) if text else ""


def _sizes(region: etree._Element) -> dict[etree._Element, tuple[int, int]]:
    """(characters, characters of link text) under each element."""
    out: dict[etree._Element, tuple[int, int]] = {}
    elements = [e for e in region.iter() if isinstance(e.tag, str)]
    for element in reversed(elements):
        own, linked = len(_compact(element.text)), 0
        for child in element:
            if isinstance(child.tag, str):
                text, links = out[child]
                own += text
                linked += links
            own += len(_compact(child.tail))
        out[element] = (own, own if element.tag == "a" else linked)
    return out


def _plain(element: etree._Element, sizes: dict) -> int:
    text, links = sizes.get(element, (0, 0))
    return text - links


def _body(region: etree._Element, sizes: dict) -> etree._Element:
    """Down into the child holding most of the text, then up to the outermost
    element holding the same text (``div#con_con`` around its one wrapper)."""
    node = region
    while True:
        children = [c for c in node if c.tag in _CONTAINERS]
        if not children:
            break
        best = max(children, key=lambda c: _plain(c, sizes))
        if _plain(best, sizes) < _DESCEND * _plain(node, sizes):
            break
        node = best
    while node is not region:
        parent = node.getparent()
        if parent is None or parent is region or sizes[parent][0] != sizes[node][0]:
            break
        node = parent
    return node


def _heading(
    region: etree._Element, wanted: str, body: etree._Element, sizes: dict
) -> etree._Element | None:
    """The outermost element outside the body whose text is the title."""
    if not wanted:
        return None
    for element in region.iter():
        if not isinstance(element.tag, str) or element is region or _overlaps(element, [body]):
            continue
        shown = _compact("".join(element.itertext()))
        close = 0.6 * len(wanted) <= len(shown) <= 1.3 * len(wanted)
        if close and (wanted in shown or shown in wanted):
            return element
    return None


def _metadata(region: etree._Element, taken: list, sizes: dict) -> etree._Element | None:
    """The outermost short block of labels that holds none of the other parts."""
    for element in region.iter():
        if not isinstance(element.tag, str) or element is region or _overlaps(element, taken):
            continue
        if sizes[element][0] <= _META_MAX and _META.search("".join(element.itertext())):
            return element
    return None


def _metadata_before(region: etree._Element) -> etree._Element | None:
    """A labels block just above the article (gov.cn's table.bd1 above its body)."""
    sibling = region.getprevious()
    for _ in range(3):
        if sibling is None:
            return None
        text = "".join(sibling.itertext()) if isinstance(sibling.tag, str) else ""
        if len(_compact(text)) <= _META_MAX and len(set(_META.findall(text))) >= 2:
            return sibling
        sibling = sibling.getprevious()
    return None


def _attachments(region: etree._Element, taken: list) -> etree._Element | None:
    """The smallest block outside the other parts holding every file link left."""
    files = [
        a
        for a in region.iter("a")
        if is_attachment_url(a.get("href", "")) and not _inside(a, taken)
    ]
    if not files:
        return None
    block = files[0].getparent()
    while block is not None and block is not region:
        if all(block in a.iterancestors() for a in files) and not _overlaps(block, taken):
            return block
        block = block.getparent()
    return None


def _inside(element: etree._Element, parts: list) -> bool:
    return any(p is element or p in element.iterancestors() for p in parts)


def _overlaps(element: etree._Element, parts: list) -> bool:
    """``element`` is one of ``parts``, inside one, or holds one."""
    return _inside(element, parts) or any(element in p.iterancestors() for p in parts)
