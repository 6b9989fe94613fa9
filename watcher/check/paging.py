"""How a listing page leads to its next page, as ``follow:`` keys: a 下一页 link
(``next``), a query parameter numbering the pages (``page_param``), or the numbered
files of TRS and SASTIND lists (``index_1.html``, ``index_10126608_2.html``), whose
page-2 link is ``next`` for following two pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from lxml import etree

from watcher.check.regions import absolute, css_name

__all__ = ["Paging", "paging_of"]

_NEXT_TEXT = re.compile(r"^(?:下一?页|后一?页|下页|next(?:page)?|[>›»]{1,2})[>›»]?$", re.IGNORECASE)
_LAST_TEXT = re.compile(r"^(?:尾页|末页|最后一?页|last)$", re.IGNORECASE)
_PAGE_PARAMS = ("page", "p", "pageno", "pageindex", "pagenum", "curpage", "currentpage", "pn")
# index_1.html (TRS: page 2), index_10126608_2.html (SASTIND), home_1.htm (gov.cn)
_NUMBERED_FILE = re.compile(r"/(index|home|list)((?:_\d+)*)_(\d+)\.(s?html?)$", re.IGNORECASE)
_PAGE_TWO_IS_ONE = re.compile(r"_1\.s?html?'\]$")  # next: a[href$='index_1.htm']
_TOTAL_TEXT = re.compile(r"共\s*(\d{1,6})\s*页")
_TRS_SCRIPT = re.compile(r"createPageHTML\(\s*['\"]?(\d{1,6})")
PAGES = 2  # listing pages a proposal follows: the first, and one more for what scrolled


@dataclass(frozen=True, slots=True)
class Paging:
    keys: dict[str, object]  # follow keys: pages with next or page_param
    total: int | None  # pages the listing has in all, when it says


def paging_of(root: etree._Element, raw_html: str, url: str) -> Paging | None:
    """The listing's paging, or None when it shows no next page."""
    anchors = [a for a in root.iter("a") if (a.get("href") or "").strip()]
    keys = _next_keys(root, anchors, url)
    if keys is None:
        return None
    return Paging(keys, _total(root, raw_html) or _last_page(anchors, url, keys))


def _next_keys(root: etree._Element, anchors: list, url: str) -> dict[str, object] | None:
    for anchor in anchors:
        if _NEXT_TEXT.match(_text(anchor)) or _NEXT_TEXT.match(anchor.get("title") or ""):
            href = anchor.get("href", "").strip()
            if href.lower().startswith("javascript:"):
                continue
            param = _page_param(url, absolute(url, href) or "")
            if param is not None:
                return {"pages": PAGES, "page_param": param}
            selector = _next_selector(anchor, root)
            if selector is not None:
                return {"pages": PAGES, "next": selector}
    for anchor in anchors:  # numbered pages without a 下一页 link
        param = _page_param(url, absolute(url, anchor.get("href", "")) or "")
        if param is not None:
            return {"pages": PAGES, "page_param": param}
    second = _second_file(anchors, url)
    if second is not None:
        return {"pages": PAGES, "next": f"a[href$='{second}']"}
    return None


def _last_page(anchors: list, url: str, keys: dict[str, object]) -> int | None:
    """The page number the 尾页 link leads to: its page parameter, or its numbered file
    (TRS counts index_1 as page 2)."""
    for anchor in anchors:
        if not _LAST_TEXT.match(_text(anchor)):
            continue
        target = absolute(url, anchor.get("href", "")) or ""
        param = keys.get("page_param")
        if param is not None:
            value = dict(parse_qsl(urlsplit(target).query)).get(str(param), "")
            return int(value) if value.isdigit() else None
        match = _NUMBERED_FILE.search(urlsplit(target).path)
        if match is None:
            return None
        zero_based = _PAGE_TWO_IS_ONE.search(str(keys.get("next", ""))) is not None
        return int(match.group(3)) + (1 if zero_based else 0)
    return None


def _text(anchor: etree._Element) -> str:
    return "".join(anchor.text_content().split())


def _page_param(url: str, target: str) -> str | None:
    """The query parameter that alone tells ``target`` from ``url``, when it numbers pages."""
    if not target:
        return None
    here, there = urlsplit(url), urlsplit(target)
    if (here.netloc, here.path) != (there.netloc, there.path):
        return None
    mine = dict(parse_qsl(here.query, keep_blank_values=True))
    theirs = dict(parse_qsl(there.query, keep_blank_values=True))
    differing = [k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k)]
    if len(differing) != 1:
        return None
    name = differing[0]
    value = theirs.get(name, "")
    if name.lower() in _PAGE_PARAMS and value.isdigit() and int(value) >= 2:
        return name
    return None


def _next_selector(anchor: etree._Element, root: etree._Element) -> str | None:
    """``a.next`` when its class names it first on the page, else ``a:contains('下一页')``."""
    name = css_name(anchor)
    candidates = [name] if name != "a" else []
    text = _text(anchor)
    if text and "'" not in text and "\\" not in text:
        candidates.append(f"a:contains('{text}')")
    for selector in candidates:
        try:
            found = root.cssselect(selector)
        except Exception:
            continue
        if found and found[0] is anchor:
            return selector
    return None


def _second_file(anchors: list[etree._Element], url: str) -> str | None:
    """The file name of page 2 among numbered list files linked from page 1."""
    here = _NUMBERED_FILE.search(urlsplit(url).path)
    current = int(here.group(3)) if here else None
    numbered: dict[int, str] = {}
    for anchor in anchors:
        path = urlsplit(absolute(url, anchor.get("href", "")) or "").path
        match = _NUMBERED_FILE.search(path)
        if match and int(match.group(3)) != current:
            numbered.setdefault(int(match.group(3)), path.rsplit("/", 1)[-1])
    if not numbered or current is not None:  # from page 1 only: its smallest number
        return None
    return numbered[min(numbered)]


def _total(root: etree._Element, raw_html: str) -> int | None:
    for pattern, text in ((_TOTAL_TEXT, root.text_content()), (_TRS_SCRIPT, raw_html)):
        match = pattern.search(text)
        if match and int(match.group(1)) >= 1:
            return int(match.group(1))
    return None
