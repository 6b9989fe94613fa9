"""``select: auto``: the article of a notice page, without the site around it.

Government notice templates (gov.cn's TRS pages, Hanweb/jpaas, SASTIND's) put
one article in a frame of navigation, breadcrumbs, share bars, QR codes and a
footer carrying the 网站标识码. Watching the whole page makes every edit of that
frame a change; writing a ``select`` per site is what users ask to skip.

The method, chosen by measurement (``bench/article.py``: precision and recall
of characters against hand-checked bodies, and time per page, compared with
trafilatura and readability-lxml), works on the tree ``extract`` already parsed:

1. short blocks that are the frame's furniture go: 扫一扫, 网站标识码, 分享到,
   字号/打印/关闭 bars, ICP numbers, 当前位置 breadcrumbs, 相关新闻 boxes;
2. the core is found by descending from ``<body>`` into the child that holds
   most of the text that is not link text, while it holds most of it;
3. the article is the nearest element holding both the core and the page's
   heading (the element whose text is the ``<title>``'s first part), so the
   title, dates, 文号 block and attachment list come along;
4. inside it, blocks that are mostly links and no attachments (related
   articles, tag clouds) go.

A change to these rules changes texts of record: bump ``EXTRACTION_VERSION`` in
``extract.py`` with it, so stored captures are read again before comparing.
"""

from __future__ import annotations

import re

from lxml import etree

from watcher.analysis.filelinks import is_attachment_url

__all__ = ["AUTO", "article_region"]

AUTO = "auto"  # the value of `select` that asks for this

# A block this short whose text says one of these is furniture, not the article ...
_FURNITURE = re.compile(
    r"扫一扫|网站标识码|分享到|打印本页|关闭窗口|字号[:：]|字体[:：]|【\s*[大中小]\s*】"
    r"|\[\s*打印\s*\]|打印\s*[|丨]?\s*关闭|ICP备|公网安备"
    r"|当前位置|您现在的位置|您的位置|相关(?:稿件|新闻|文章|链接|阅读)|友情链接|上一篇|下一篇"
    r"|二维码|^首页\s*[>＞›»]"
)
# ... and these are the footer's, but a notice may say them too (主办单位 of a
# conference, a contact's E-mail): they go only outside the article's core.
_FOOTER = re.compile(r"版权所有|主办单位|技术支持|TEL[:：]|E-?mail[:：]|联系我们", re.IGNORECASE)
_FURNITURE_MAX_CHARS = 80
# ... unless it also holds the article's own facts: a date line with a 字号 bar in it.
_ARTICLE_FACTS = re.compile(
    r"(?:发布|成文|印发)(?:时间|日期)|来源[:：]|\d{4}-\d{1,2}-\d{1,2}|\d{4}年\d{1,2}月\d{1,2}日"
)
_TITLE_SEPARATORS = re.compile(r"\s*(?:_|--|—|–|\||｜|-\s)\s*")
_CONTAINERS = ("div", "td", "article", "section", "main", "table", "tbody", "tr", "center")
_DESCEND_SHARE = 0.6  # a child holding this much of its parent's own text is the way down
_LINKY_SHARE = 0.6  # a block whose text is this much link text is a link list
_GROW_SHARE = 0.25  # a parent adding at most this much text to the article is taken too


def article_region(root: etree._Element, title: str) -> etree._Element | None:
    """The element holding the page's article (``root`` is changed: furniture goes)."""
    body = root.find("body")
    if body is None:
        body = root
    wanted = _compact(_TITLE_SEPARATORS.split(title.strip())[0]) if title else ""
    sizes, _ = _counts(body)  # so that only small subtrees have their text joined
    headings = _headings(body, wanted, sizes)
    _drop_furniture(body, _FURNITURE, sizes, protected=headings)
    text, links = _counts(body)
    core = _core(body, text, links)
    if core is None:
        return None
    _drop_furniture(body, _FOOTER, text, protected=[*headings, core], inside=core)
    text, links = _counts(body)
    heading = _nearest(_headings(body, wanted, text), core, text)
    region = _common_ancestor(core, heading) if heading is not None else core
    region = _grown(region, body, text, links)
    _drop_link_lists(region, text, links, keep={core, heading})
    return region


def _compact(text: str | None) -> str:
    return "".join(text.split()) if text else ""


def _drop_furniture(
    body: etree._Element,
    pattern: re.Pattern[str],
    sizes: dict[etree._Element, int],
    protected: list[etree._Element],
    inside: etree._Element | None = None,
) -> None:
    """Remove the outermost short blocks that are a share bar, a footer line ...

    A block holding a protected element (the page's heading) or a date line (a
    title with a 字号 bar beside it) stays, the furniture inside it goes; nothing
    inside ``inside`` (the core, for footer words a notice may use) goes.
    """
    kept = {a for h in protected for a in (h, *h.iterancestors())}
    if inside is not None:
        kept.update(inside.iter())
    matches = []
    for element in body.iter(*_CONTAINERS, "p", "span", "li", "ul", "dl", "font", "em", "a"):
        if element in kept or sizes.get(element, 0) > _FURNITURE_MAX_CHARS:
            continue
        text = _compact("".join(element.itertext()))
        short = len(text) <= _FURNITURE_MAX_CHARS
        if short and pattern.search(text) and not _ARTICLE_FACTS.search(text):
            matches.append(element)
    chosen = set(matches)
    for element in matches:
        if not any(ancestor in chosen for ancestor in element.iterancestors()):
            _drop(element)


def _drop(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail and tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _counts(
    body: etree._Element,
) -> tuple[dict[etree._Element, int], dict[etree._Element, int]]:
    """Characters of text (no whitespace) under each element, and how many are link text."""
    text: dict[etree._Element, int] = {}
    links: dict[etree._Element, int] = {}
    elements = [e for e in body.iter() if isinstance(e.tag, str)]
    for element in reversed(elements):  # children before their parents
        own = len(_compact(element.text))
        linked = 0
        for child in element:
            if isinstance(child.tag, str):
                own += text[child]
                linked += links[child]
            own += len(_compact(child.tail))
        text[element] = own
        links[element] = own if element.tag == "a" else linked
    return text, links


def _plain(element: etree._Element, text: dict, links: dict) -> int:
    return text.get(element, 0) - links.get(element, 0)


def _core(body: etree._Element, text: dict, links: dict) -> etree._Element | None:
    """Descend into the child holding most non-link text while it holds most of it."""
    if _plain(body, text, links) == 0:
        return None
    node = body
    while True:
        children = [c for c in node if isinstance(c.tag, str)]
        if not children:
            return node
        best = max(children, key=lambda c: _plain(c, text, links))
        if _plain(best, text, links) < _DESCEND_SHARE * _plain(node, text, links):
            return node
        node = best


def _headings(
    body: etree._Element, wanted: str, sizes: dict[etree._Element, int]
) -> list[etree._Element]:
    """Elements showing the page's title (its first part), or h1/h2 when it has none."""
    found = []
    for element in body.iter():
        if not isinstance(element.tag, str):
            continue
        if not wanted:
            if element.tag in ("h1", "h2"):
                found.append(element)
            continue
        if not len(wanted) // 2 <= sizes.get(element, 0) <= 2 * len(wanted):
            continue
        shown = _compact("".join(element.itertext()))
        if wanted in shown or (len(shown) >= 0.6 * len(wanted) and shown in wanted):
            found.append(element)
    return found


def _nearest(
    candidates: list[etree._Element], core: etree._Element, text: dict
) -> etree._Element | None:
    """The heading closest to the core in the tree (the largest of equals)."""
    above = {a: depth for depth, a in enumerate((core, *core.iterancestors()))}
    candidates = [c for c in candidates if c not in above and c.getparent() is not None]
    if not candidates:
        return None

    def distance(element: etree._Element) -> tuple[int, int]:
        for up, ancestor in enumerate(element.iterancestors()):
            if ancestor in above:
                return above[ancestor] + up, -text.get(element, 0)
        return 1 << 30, 0

    return min(candidates, key=distance)


def _common_ancestor(a: etree._Element, b: etree._Element) -> etree._Element:
    above_a = {a, *a.iterancestors()}
    for element in (b, *b.iterancestors()):
        if element in above_a:
            return element
    return a


def _grown(region: etree._Element, body: etree._Element, text: dict, links: dict):
    """Take the parent too while it adds little text (a date line, an attachment list)."""
    while region is not body:
        parent = region.getparent()
        if parent is None:
            break
        added = text.get(parent, 0) - text.get(region, 0)
        if added > _GROW_SHARE * _plain(region, text, links):
            break
        region = parent
    return region


def _drop_link_lists(
    region: etree._Element, text: dict, links: dict, keep: set[etree._Element | None]
) -> None:
    """Blocks inside the article that are mostly links to other pages, not to files."""
    protected = set()
    for element in keep:
        if element is not None:
            protected.add(element)
            protected.update(element.iterancestors())
    doomed = []
    for element in region.iter(*_CONTAINERS, "ul", "ol", "dl", "p"):
        if element in protected or element is region:
            continue
        size = text.get(element, 0)
        if size < 10 or links.get(element, 0) < _LINKY_SHARE * size:
            continue
        if any(is_attachment_url(a.get("href", "")) for a in element.iter("a")):
            continue
        doomed.append(element)
    chosen = set(doomed)
    for element in doomed:
        if not any(ancestor in chosen for ancestor in element.iterancestors()):
            _drop(element)
