"""A listing page → its items (URL, title, date) and the URL of its next page.

HTML listings: links matched by CSS, in the page or in the HTML that a JSON
answer carries (MIIT's column units keep the list in ``data.html``). JSON
listings (gov.cn's policy library): objects found by JMESPath, each giving its
URL, title and date by JMESPath. Titles lose their highlight markup (``<em>``),
dates are read from the item's row when the site prints them next to the link.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from watcher.config import Follow

_DATE = re.compile(r"(20\d\d|19\d\d)\s*(?:[-./年])\s*(\d{1,2})\s*(?:[-./月])\s*(\d{1,2})\s*日?")
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")


class ListingError(ValueError):
    """The listing's answer does not have the shape the config describes."""


@dataclass(frozen=True, slots=True)
class Item:
    url: str
    title: str
    date: str | None = None  # YYYY-MM-DD when one was found
    # a JSON listing's own fields of the item, as given (gov.cn: pcode, puborg, pubtime …)
    fields: dict[str, Any] | None = field(default=None, compare=False, hash=False)


# A JSON listing's field -> the notice metadata key it means (the keys of a capture's
# ``metadata``). gov.cn's policy library (pcode, puborg, pubtime / pubtimeStr) and
# MIIT's policy-file search (publishgroupname, deploytime). Epoch times are read in
# Beijing time, as the pages write theirs. Fields not named here are kept, unmapped.
LISTED_FIELDS: dict[str, str] = {
    "pcode": "document_number",
    "puborg": "issuer",
    "publishgroupname": "issuer",
    "pubtime": "published_date",
    "pubtimestr": "published_date",
    "deploytime": "published_date",
}
_BEIJING = dt.timezone(dt.timedelta(hours=8))


def listed_metadata(fields: Mapping[str, Any] | None) -> dict[str, str]:
    """The notice metadata a JSON listing's item fields state, under the capture's keys.

    A field whose value is not one of its kind (a 发文字号 that is no number, a date
    that is none) is left out here; it stays in the item's fields as given.
    """
    from watcher.analysis.metadata import normalize_date, normalize_document_number

    out: dict[str, str] = {}
    for name, value in (fields or {}).items():
        key = LISTED_FIELDS.get(str(name).lower())
        if key is None or key in out or value is None or isinstance(value, bool):
            continue
        if key == "published_date":
            found = _epoch_date(value) if isinstance(value, int | float) else None
            found = found or (normalize_date(value) if isinstance(value, str) else None)
        elif key == "document_number" and isinstance(value, str):
            # a form not known (国办发明电〔2024〕) is kept as written, as on a page
            raw = _clean(value)
            found = normalize_document_number(raw) or (raw if _DIGIT.search(raw) else None)
            if found:
                out["document_number_raw"] = raw
        else:
            found = _clean(value) if isinstance(value, str) else None
        if found:
            out[key] = found
    return out


def _epoch_date(value: float) -> str | None:
    """Epoch milliseconds (or seconds) as Beijing time, ``YYYY-MM-DDTHH:MM:SS``."""
    seconds = value / 1000 if value > 10**11 else value
    try:
        moment = dt.datetime.fromtimestamp(seconds, _BEIJING)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S") if 1949 <= moment.year <= 2100 else None


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
        if not isinstance(url, str) or _joined(base_url, url.strip()) is None:
            continue
        title = jmespath.search(follow.title, row)
        date = jmespath.search(follow.date, row) if follow.date else None
        out.append(
            Item(
                url=urljoin(base_url, url.strip()),
                title=_clean(str(title)) if title is not None else "",
                date=_date(str(date)) if date is not None else None,
                fields=dict(row) if isinstance(row, dict) else None,
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
        url = _joined(base_url, href)
        if url is None:  # no URL at all (http://[::1): not an item
            continue
        # a[title] keeps the full title where the visible text is cut ("…")
        title = a.get("title") or a.text_content()
        row = a.getparent()
        while row is not None and row.tag not in ("li", "tr", "dd", "p", "div"):
            row = row.getparent()
        context = row.text_content() if row is not None else ""
        out.append(Item(url, _clean(title), _date(context)))
    return out


def _joined(base_url: str, href: str) -> str | None:
    try:
        return urljoin(base_url, href) if href else None
    except ValueError:
        return None


def _clean(title: str) -> str:
    return _SPACE.sub(" ", _TAGS.sub("", title)).strip()


def _date(text: str) -> str | None:
    match = _DATE.search(text)
    if not match:
        return None
    year, month, day = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"
