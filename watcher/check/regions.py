"""Repeated link blocks of a page that look like a notice list, and CSS that names
them, for the proposals of a new target.

A notice list is a run of sibling elements of one tag (``li``, ``tr``, ``div.item``)
each leading to one page (a title link, maybe repeated by a "source" link) and most
showing a date. Of all such runs the one with most dated items whose links look like
articles (a number or a hash in the path) wins; a site's menu (short texts, no dates,
section URLs) loses. The item links' CSS is built from the run's container and
checked against the page: it must match the run's links and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from cssselect import SelectorError
from lxml import etree
from lxml import html as lxml_html
from lxml.cssselect import CSSSelector

from watcher.analysis.filelinks import is_attachment_url

__all__ = [
    "ListGroup",
    "absolute",
    "css_name",
    "link_selector",
    "list_groups",
    "matches",
    "parse_page",
    "unique_selector",
]

_DROPPED = ("script", "style", "noscript", "template", "head", "iframe", "svg")
_HIDDEN = etree.XPath(
    "//*[@hidden] | //*[@style][contains(translate(@style, 'DISPLAYNOE \t\r\n',"
    " 'displaynoe'), 'display:none')]"
)
# a full date, or a list row's MM-DD (SASTIND's rows give no year)
DATE = re.compile(
    r"(?:19|20)\d\d\s*[-./年]\s*\d{1,2}\s*[-./月]\s*\d{1,2}|(?<![\d.:-])\d{1,2}-\d{1,2}(?![\d:-])"
)
# an article's path: a long number (content_6946880, t20190918_693227, c10912345) or hex id
_ARTICLE_PATH = re.compile(r"\d{5,}|[0-9a-f]{16,}", re.IGNORECASE)
_INDEX_PATH = re.compile(r"/(?:index|home|list)(?:_\d+)*\.s?html?$|/$", re.IGNORECASE)
_NAME = re.compile(r"-?[A-Za-z_][A-Za-z0-9_-]{0,63}")  # a plain CSS identifier
_MIN_TITLE = 6  # characters: a menu entry (首页, 政务公开) is shorter
_MAX_ITEM_ANCHORS = 4  # links of one item (its title, a source, a "more" to the same page)
_MAX_ITEM_CHARS = 2000  # text of one item: a row with its summary, not a page section


@dataclass(frozen=True, slots=True)
class ListGroup:
    """One run of sibling items, each with its one link."""

    container: etree._Element
    items: tuple[etree._Element, ...]
    links: tuple[etree._Element, ...]  # the title link of each item, in order
    urls: tuple[str, ...]
    titles: tuple[str, ...]
    dated: int  # items showing a date
    articles: int  # items whose link looks like an article's (and titled)

    @property
    def rank(self) -> tuple[int, int, int]:
        return self.dated + self.articles, self.articles, len(self.items)

    @property
    def text_size(self) -> int:
        return sum(len(_compact(i.text_content())) for i in self.items)


def parse_page(html: str) -> etree._Element | None:
    """The page as the listing reader parses it (``lxml.html``), without scripts and
    hidden blocks; None for a page with no markup."""
    if not html.strip():
        return None
    try:
        root = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None
    etree.strip_elements(root, *_DROPPED, with_tail=False)
    for element in _HIDDEN(root):
        parent = element.getparent()
        if parent is not None:
            element.drop_tree()
    return root


def list_groups(root: etree._Element, base_url: str) -> list[ListGroup]:
    """Runs of items worth proposing as a listing, best first; one run per set of links
    (of equals, rows rather than their bare links, the innermost: its items are the
    rows). Linear in the page: each element's links and text size are counted once."""
    host = urlsplit(base_url).hostname or ""
    index = _index(root, base_url)
    found: list[ListGroup] = []
    for parent in root.iter():
        if not isinstance(parent.tag, str):
            continue
        runs: dict[tuple[str, str | None], list[etree._Element]] = {}
        for child in parent:
            if isinstance(child.tag, str):
                runs.setdefault((child.tag, None), []).append(child)
                runs.setdefault((child.tag, child.get("class") or ""), []).append(child)
        for (tag, kind), children in runs.items():
            if kind is not None and len(children) == len(runs[(tag, None)]):
                continue  # one class for all: the same run
            group = _group(parent, children, host, index)
            if group is not None:
                found.append(group)
    depth = {g.container: sum(1 for _ in g.container.iterancestors()) for g in found}
    found.sort(key=lambda g: (g.rank, g.items[0].tag != "a", depth[g.container]), reverse=True)
    seen: set[frozenset[str]] = set()
    out = []
    for group in found:
        key = frozenset(group.urls)
        if key in seen:
            continue
        seen.add(key)
        out.append(group)
    return out


@dataclass(frozen=True, slots=True)
class _Index:
    anchors: dict[etree._Element, list[etree._Element]]  # the first few followable links
    sizes: dict[etree._Element, int]  # characters of text, whitespace left out
    base_url: str
    joined: dict[str, str] = field(default_factory=dict)

    def url(self, link: etree._Element) -> str:
        """The link's absolute URL (each href joined once); "" for one that is no URL."""
        href = link.get("href", "").strip()
        found = self.joined.get(href)
        if found is None:
            found = self.joined[href] = absolute(self.base_url, href) or ""
        return found


def _index(root: etree._Element, base_url: str) -> _Index:
    anchors: dict[etree._Element, list[etree._Element]] = {}
    sizes: dict[etree._Element, int] = {}
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for element in reversed(elements):  # children before their parents
        found = [element] if element.tag == "a" and _followable(element.get("href")) else []
        size = len(_compact(element.text or ""))
        for child in element:
            if isinstance(child.tag, str):
                if len(found) <= _MAX_ITEM_ANCHORS:
                    found.extend(anchors[child][: _MAX_ITEM_ANCHORS + 1 - len(found)])
                size += sizes[child]
            size += len(_compact(child.tail or ""))
        anchors[element] = found
        sizes[element] = size
    return _Index(anchors, sizes, base_url)


def _group(
    parent: etree._Element,
    children: list[etree._Element],
    host: str,
    index: _Index,
) -> ListGroup | None:
    items, links, urls, titles = [], [], [], []
    dated = articles = 0
    for child in children:
        if index.sizes[child] > _MAX_ITEM_CHARS:
            continue
        link = _item_link(child, index)
        if link is None:
            continue
        url = index.url(link)
        title = _title(link)
        items.append(child)
        links.append(link)
        urls.append(url)
        titles.append(title)
        if DATE.search(child.text_content()):
            dated += 1
        parts = urlsplit(url)
        path, same_site = parts.path, (parts.hostname or "") == host
        if (
            not is_attachment_url(url)
            and len(title) >= _MIN_TITLE
            and _ARTICLE_PATH.search(path)
            and not _INDEX_PATH.search(path)
            and (same_site or dated)
        ):
            articles += 1
    if len(set(urls)) != len(urls) or not items:
        return None
    titled = sum(len(t) >= _MIN_TITLE for t in titles)
    if titled * 2 < len(items):  # a menu, a pager, a row of icons
        return None
    if articles == 0 or (len(items) == 1 and not dated):
        return None
    return ListGroup(
        parent, tuple(items), tuple(links), tuple(urls), tuple(titles), dated, articles
    )


def _item_link(item: etree._Element, index: _Index) -> etree._Element | None:
    """The link of an item that leads to one page: the titled or longest of its links."""
    anchors = index.anchors[item]
    if not anchors or len(anchors) > _MAX_ITEM_ANCHORS:  # none, or a block of links
        return None
    urls = {index.url(a) for a in anchors}
    if len(urls) != 1 or "" in urls:
        return None
    return max(anchors, key=lambda a: (bool(a.get("title")), len(_title(a))))


def absolute(base_url: str, href: str) -> str | None:
    """``href`` joined to the page's URL; None for what is no URL (``http://[::1``)."""
    try:
        return urljoin(base_url, href.strip())
    except ValueError:
        return None


def _followable(href: str | None) -> bool:
    href = (href or "").strip().lower()
    return bool(href) and not href.startswith(("#", "javascript:", "mailto:", "tel:"))


def _title(link: etree._Element) -> str:
    return " ".join((link.get("title") or link.text_content()).split())


def _compact(text: str) -> str:
    return "".join(text.split())


# --- CSS -------------------------------------------------------------------------------


def css_name(element: etree._Element) -> str:
    """``tag#id``, else ``tag.class`` (its first plain class), else ``tag``."""
    tag = element.tag
    name = element.get("id") or ""
    if _NAME.fullmatch(name):
        return f"{tag}#{name}"
    for token in (element.get("class") or "").split():
        if _NAME.fullmatch(token):
            return f"{tag}.{token}"
    return tag


def unique_selector(element: etree._Element, root: etree._Element) -> str | None:
    """A selector that matches ``element`` alone in ``root``: its own name when that is
    unique, else the nearest uniquely named ancestor's, a child path down to it."""
    path: list[str] = []
    node: etree._Element | None = element
    while node is not None and isinstance(node.tag, str):
        name = css_name(node)
        path.insert(0, name)
        selector = " > ".join(path)
        if name != node.tag and matches(root, selector) == [element]:
            return selector
        if node.tag == "body":
            return selector if matches(root, selector) == [element] else None
        node = node.getparent()
    return None


def link_selector(group: ListGroup, root: etree._Element) -> str | None:
    """CSS matching the group's item links and no other link of the page, as short as
    can be: ``div.list_infor_news li a`` rather than a path of every level."""
    wanted = list(group.links)
    anchor = _anchor(group.container, root)
    if anchor is None:
        return None
    anchor_css, anchor_element = anchor
    item = group.items[0]
    inner = _inner_path(item, group.links[0])
    item_tags = [item.tag, css_name(item)]
    link_names = [group.links[0].tag, css_name(group.links[0])]
    via = " > " if anchor_element is group.container else " "
    candidates: list[str] = []
    for item_name in dict.fromkeys(item_tags):
        for link_name in dict.fromkeys(link_names):
            if item is group.links[0]:
                candidates.append(f"{anchor_css}{via}{link_name}")
                continue
            candidates.append(f"{anchor_css} {item_name} {link_name}")
            strict = " > ".join([item_name, *inner[:-1], link_name])
            candidates.append(f"{anchor_css}{via}{strict}")
    for selector in candidates:
        if matches(root, selector) == wanted:
            return selector
    return None


def _anchor(container: etree._Element, root: etree._Element) -> tuple[str, etree._Element] | None:
    """The container's own unique name, or its nearest uniquely named ancestor's."""
    node: etree._Element | None = container
    while node is not None and isinstance(node.tag, str):
        if node.tag in ("body", "html"):
            return node.tag, node
        name = css_name(node)
        if name != node.tag and len(matches(root, name)) == 1:
            return name, node
        node = node.getparent()
    return None


def _inner_path(item: etree._Element, link: etree._Element) -> list[str]:
    """Tags from below ``item`` down to ``link`` (``link`` included)."""
    path = []
    node: etree._Element | None = link
    while node is not None and node is not item:
        path.insert(0, node.tag)
        node = node.getparent()
    return path


def matches(root: etree._Element, selector: str) -> list[etree._Element]:
    """What ``selector`` matches in ``root``, as the listing reader and ``extract`` match
    it (HTML rules: tag names without case); none for a selector cssselect cannot read."""
    try:
        return list(CSSSelector(selector, translator="html")(root))
    except (SelectorError, etree.XPathError):
        return []


def texts(elements: Iterable[etree._Element]) -> list[str]:
    return [" ".join(e.text_content().split()) for e in elements]


def first_lines(text: str, count: int = 3) -> tuple[str, ...]:
    lines: Sequence[str] = [line for line in text.splitlines() if line.strip()]
    return tuple(lines[:count])
