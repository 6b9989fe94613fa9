"""JSON endpoints a page fills its list from, proposed as JSON listings (``items:``,
or ``html:`` with ``links:``).

Two sources: the JSON answers the page's scripts fetched while the browser rendered
it (``Observed``), read for a list of objects with a URL and a title, or for HTML
holding a list of links; and, for a page fetched over plain HTTP, the endpoints of
two platforms whose shell pages write them literally: MIIT's jpaas "build unit"
script tag (its ``queryData``) and gov.cn's policy-library search API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html

from watcher.check.paging import PAGES
from watcher.check.regions import DATE, absolute
from watcher.fetch.visits import Observed

__all__ = ["Endpoint", "json_listings"]

# a list's HTML and its base URL -> the item links' CSS, the first titles, the item URLs
ListFromHtml = Callable[[str, str], tuple[str, tuple[str, ...], tuple[str, ...]] | None]

_MAX_OBSERVED = 20
_MAX_DEPTH = 6  # levels of a JSON answer searched for its list
_URLISH = re.compile(r"^(?:https?://|/|\./|\.\./)\S+$|\.s?html?(?:\?\S*)?$", re.IGNORECASE)
_WORDY = re.compile(r"[\u4e00-\u9fff]{4}|[A-Za-z]{4}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PAGE_PARAMS = ("p", "page", "pageno", "pageindex", "pagenum", "curpage", "currentpage", "pn")
_GOV_SEARCH = re.compile(r"(?:https?:)?(?://[\w.-]+)?/search-gov/data")
_GOV_SEARCH_QUERY = {"sort": "pubtime", "sortType": "1", "searchfield": "title"}
_GOV_SEARCH_PAGE = {"p": "1", "n": "20"}
_JPAAS_LINKS = "li.cf a.fl"  # MIIT's unit rows (li.cf) and their title links (a.fl[title])


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A JSON listing found for the page: the target's keys, and what it showed."""

    fragment: dict[str, Any]
    label: str
    sample: tuple[str, ...]
    urls: tuple[str, ...] = ()  # the items' URLs, when the answer was seen


def json_listings(
    html: str, url: str, observed: Sequence[Observed], from_html: ListFromHtml
) -> list[Endpoint]:
    """The page's JSON listings, the richest first; each endpoint once."""
    found: list[tuple[int, Endpoint]] = []
    for seen in observed[:_MAX_OBSERVED]:
        data = _json(seen.body)
        if data is not None:
            found += _from_answer(data, seen.url, url, from_html)
    found.sort(key=lambda pair: pair[0], reverse=True)
    shells = [(0, e) for e in _from_scripts(html, url)]
    out: list[Endpoint] = []
    seen_urls: set[str] = set()
    for _, endpoint in [*found, *shells]:
        key = _without_page(endpoint.fragment["url"])
        if key not in seen_urls:
            seen_urls.add(key)
            out.append(endpoint)
    return out


def _json(body: bytes) -> Any:
    text = body.decode("utf-8", "replace").strip()
    if not text.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


# --- an answer the page fetched --------------------------------------------------------


def _from_answer(
    data: Any, endpoint: str, page_url: str, from_html: ListFromHtml
) -> list[tuple[int, Endpoint]]:
    out = []
    for path, rows in _row_lists(data, "", 0):
        keys = _item_keys(rows)
        if keys is None:
            continue
        url_key, title_key, date_key = keys
        follow: dict[str, Any] = {"items": path, "url": url_key, "title": title_key}
        if date_key:
            follow["date"] = date_key
        follow.update(_paged(endpoint))
        follow["select"] = "auto"
        titles = tuple(_clean(str(r.get(title_key, ""))) for r in rows[:3])
        joined = (absolute(endpoint, str(r.get(url_key, ""))) for r in rows)
        urls = tuple(u for u in joined if u)
        label = f"JSON listing: {len(rows)} items at {_short(endpoint)}{_pages(follow)}"
        found = Endpoint(_fragment(endpoint, page_url, follow), label, titles, urls)
        out.append((len(rows), found))
    for path, text in _html_strings(data, "", 0):
        listed = from_html(text, endpoint)
        if listed is None:
            continue
        links, titles, urls = listed
        follow = {"html": path, "links": links, **_paged(endpoint), "select": "auto"}
        where = f"{_short(endpoint)}{_pages(follow)}"
        label = f"List HTML in JSON ({path}): {len(urls)} links at {where}"
        found = Endpoint(_fragment(endpoint, page_url, follow), label, titles, urls)
        out.append((len(urls), found))
    return out


def _row_lists(value: Any, path: str, depth: int) -> Iterator[tuple[str, list[dict]]]:
    """(JMESPath, rows) of every list of objects, and of objects one level into each
    element of a list (MIIT's search: ``dataResults[].groupData[0].data``)."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _row_lists(inner, _join(path, key), depth + 1)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if _item_keys(value) is not None:
            yield path or "@", value
            return
        for inner_path in _inner_paths(value[0], "", 0):
            rows = [_at(v, inner_path) for v in value]
            if all(isinstance(r, dict) for r in rows):
                yield f"{path}[].{inner_path}", rows
        yield from _row_lists(value[0], f"{path}[0]", depth + 1)


def _inner_paths(value: Any, path: str, depth: int) -> Iterator[str]:
    if depth > 3:
        return
    if isinstance(value, dict):
        if path and _item_keys([value]) is not None:
            yield path
            return
        for key, inner in value.items():
            yield from _inner_paths(inner, _join(path, key), depth + 1)
    elif isinstance(value, list) and value and path:
        yield from _inner_paths(value[0], f"{path}[0]", depth + 1)


def _at(value: Any, path: str) -> Any:
    import jmespath

    try:
        return jmespath.search(path, value)
    except jmespath.exceptions.JMESPathError:
        return None


def _item_keys(rows: list[dict]) -> tuple[str, str, str | None] | None:
    """The URL, title and date fields most rows have, or None: not a list of documents."""
    half = max(1, len(rows) // 2)

    def share(test: Callable[[Any], bool], key: str) -> int:
        return sum(1 for r in rows if test(r.get(key)))

    keys = [k for k in rows[0] if isinstance(k, str) and _IDENT.fullmatch(k)]
    urls = [k for k in keys if share(_is_url, k) >= half]
    titles = [k for k in keys if k not in urls and share(_is_title, k) >= half]
    if not urls or not titles:
        return None
    url_key = min(urls, key=lambda k: (k.lower() != "url", "url" not in k.lower()))
    title_key = min(titles, key=lambda k: (k.lower() != "title", "title" not in k.lower()))
    dates = [k for k in keys if share(lambda v: isinstance(v, str) and DATE.search(v), k) >= half]
    if not dates:
        return url_key, title_key, None
    named = [k for k in dates if "time" in k.lower() or "date" in k.lower()]
    return url_key, title_key, (named or dates)[0]


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and len(value) < 2000 and bool(_URLISH.search(value.strip()))


def _is_title(value: Any) -> bool:
    return isinstance(value, str) and not _is_url(value) and bool(_WORDY.search(value))


def _html_strings(value: Any, path: str, depth: int) -> Iterator[tuple[str, str]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _html_strings(inner, _join(path, key), depth + 1)
    elif isinstance(value, str) and path and value.count("<a ") >= 1 and "href" in value:
        yield path, value


def _join(path: str, key: Any) -> str:
    name = str(key)
    part = name if _IDENT.fullmatch(name) else json.dumps(name, ensure_ascii=False)
    return f"{path}.{part}" if path else part


# --- shell pages that write their endpoint ---------------------------------------------


def _from_scripts(html: str, url: str) -> list[Endpoint]:
    out = []
    if "querydata" in html.lower():
        out += _jpaas_units(html, url)
    if "search-gov/data" in html:
        out += _gov_search(html, url)
    return out


def _jpaas_units(html: str, url: str) -> list[Endpoint]:
    """MIIT's column pages: ``<script parseType="buildstatic" url=… queryData="{'…'}">``."""
    try:
        root = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    out = []
    for script in root.iter("script"):
        query, path = script.get("querydata"), script.get("url")
        if not query or not path:
            continue
        try:
            fields = json.loads(query.replace("'", '"'))
        except ValueError:
            continue
        if not isinstance(fields, dict):
            continue
        params = {str(k): unquote(str(v)) for k, v in fields.items()}
        endpoint = f"{urljoin(url, path)}?{urlencode(params)}"
        follow = {"html": "data.html", "links": _JPAAS_LINKS, "select": "auto"}
        label = f"Column unit (jpaas): list HTML in data.html at {_short(endpoint)}"
        out.append(Endpoint(_fragment(endpoint, url, follow), label, ()))
    return out


def _gov_search(html: str, url: str) -> list[Endpoint]:
    """gov.cn's policy library: its app's search API, sorted by time (its ranking has
    been seen to ignore the query), the collection ``t`` taken from the page's URL."""
    match = _GOV_SEARCH.search(html)
    if match is None:
        return []
    base = urljoin(url, match.group(0))
    query = dict(parse_qsl(urlsplit(url).query))
    params = {"t": query["t"]} if "t" in query else {}
    params.update({**_GOV_SEARCH_QUERY, **_GOV_SEARCH_PAGE})
    endpoint = f"{base}?{urlencode(params)}"
    follow = {
        "items": "searchVO.listVO",
        "url": "url",
        "title": "title",
        "date": "pubtimeStr",
        "pages": PAGES,
        "page_param": "p",
        "select": "auto",
    }
    label = f"JSON listing: the policy library's search API at {_short(endpoint)}, 2 pages"
    return [Endpoint(_fragment(endpoint, url, follow), label, ())]


# --- shared -----------------------------------------------------------------------------


def _fragment(endpoint: str, page_url: str, follow: dict[str, Any]) -> dict[str, Any]:
    """The target watches the endpoint, sent as the page's scripts send it (with the
    page as Referer: MIIT's APIs want it)."""
    return {"url": endpoint, "headers": {"Referer": page_url}, "follow": follow}


def _paged(endpoint: str) -> dict[str, Any]:
    """``page_param`` when the endpoint's query numbers its pages."""
    for name, value in parse_qsl(urlsplit(endpoint).query, keep_blank_values=True):
        if name.lower() in _PAGE_PARAMS and value.isdigit():
            return {"pages": PAGES, "page_param": name}
    return {}


def _without_page(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() not in _PAGE_PARAMS]
    return f"{parts.netloc}{parts.path}?{urlencode(sorted(query))}"


def _pages(follow: dict[str, Any]) -> str:
    return f", {follow['pages']} pages" if "pages" in follow else ""


def _short(endpoint: str) -> str:
    return urlsplit(endpoint).path or endpoint


def _clean(title: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", title).split())
