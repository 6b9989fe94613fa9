"""A listing page → its items (URL, title, date) and the URL of its next page.

HTML listings: links matched by CSS, in the page or in the HTML that a JSON
answer carries (MIIT's column units keep the list in ``data.html``). JSON
listings (gov.cn's policy library): objects found by JMESPath, each giving its
URL, title and date by JMESPath. Titles lose their highlight markup (``<em>``),
dates are read from the item's row when the site prints them next to the link.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from watcher.config import Follow

_DATE = re.compile(r"(20\d\d|19\d\d)\s*(?:[-./年])\s*(\d{1,2})\s*(?:[-./月])\s*(\d{1,2})\s*日?")
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


class ListingError(ValueError):
    """The listing's answer does not have the shape the config describes."""


@dataclass(frozen=True, slots=True)
class Item:
    url: str
    title: str
    date: str | None = None  # YYYY-MM-DD when one was found


def items_of(text: str, content_type: str | None, base_url: str, follow: Follow) -> list[Item]:
    """The listing's items in page order, each URL once (the first wins)."""
    if follow.items is not None:
        found = _json_items(_json(text), base_url, follow)
    else:
        html = text
        if follow.html is not None:
            import jmespath

            html = jmespath.search(follow.html, _json(text))
            if not isinstance(html, str):
                raise ListingError(f"{follow.html!r} does not point at HTML text in the answer")
        found = _html_items(html, base_url, follow.links or "a")
    seen: set[str] = set()
    out = []
    for item in found:
        if item.url not in seen and urlsplit(item.url).scheme in ("http", "https"):
            seen.add(item.url)
            out.append(item)
    return out


def next_page(text: str, base_url: str, follow: Follow, page: int) -> str | None:
    """The URL of listing page ``page + 1`` (pages count from 1), if there is one."""
    if page >= follow.pages:
        return None
    if follow.page_param:
        parts = urlsplit(base_url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query[follow.page_param] = str(page + 1)
        return urlunsplit(parts._replace(query=urlencode(query)))
    if follow.next:
        from lxml import html as lxml_html

        tree = lxml_html.fromstring(text or "<html></html>")
        links = tree.cssselect(follow.next)
        href = links[0].get("href") if links else None
        if href and not href.lower().startswith("javascript:"):
            return urljoin(base_url, href)
    return None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ListingError(f"the listing's answer is not JSON: {exc}") from None


def _json_items(data: Any, base_url: str, follow: Follow) -> list[Item]:
    import jmespath

    assert follow.items is not None
    rows = jmespath.search(follow.items, data)
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise ListingError(f"{follow.items!r} does not point at a list in the answer")
    out = []
    for row in rows:
        url = jmespath.search(follow.url, row)
        if not isinstance(url, str) or not url.strip():
            continue
        title = jmespath.search(follow.title, row)
        date = jmespath.search(follow.date, row) if follow.date else None
        out.append(
            Item(
                url=urljoin(base_url, url.strip()),
                title=_clean(str(title)) if title is not None else "",
                date=_date(str(date)) if date is not None else None,
            )
        )
    return out


def _html_items(html: str, base_url: str, links: str) -> list[Item]:
    from lxml import html as lxml_html

    if not html.strip():
        return []
    tree = lxml_html.fromstring(html)
    out = []
    for a in tree.cssselect(links):
        href = (a.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith("javascript:"):
            continue
        # a[title] keeps the full title where the visible text is cut ("…")
        title = a.get("title") or a.text_content()
        row = a.getparent()
        while row is not None and row.tag not in ("li", "tr", "dd", "p", "div"):
            row = row.getparent()
        context = row.text_content() if row is not None else ""
        out.append(Item(urljoin(base_url, href), _clean(title), _date(context)))
    return out


def _clean(title: str) -> str:
    return _SPACE.sub(" ", _TAGS.sub("", title)).strip()


def _date(text: str) -> str | None:
    match = _DATE.search(text)
    if not match:
        return None
    year, month, day = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"
