"""Issue 15's rough edges, over plain HTTP: titles instead of internal names, a
listing's notices with their 文号, 发布日期, attachments and fates, failing targets
in plain words, and readable error pages with the right status.

Real parts: the site of tests/uisite.py checked by ``watcher check``, the real app
through TestClient on http://127.0.0.1; the app's clock is injected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import feedparser
import pytest
from clock import FakeClock
from fastapi.testclient import TestClient
from uisite import ADDED, ITEMS, PDF_TITLE, UISite, build

from watcher.web.app import create_app


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> UISite:
    return build(tmp_path_factory.mktemp("ui-lists"))


@pytest.fixture(scope="module")
def client(site: UISite) -> Iterator[TestClient]:
    asked: list[str] = []

    async def check_now(name: str) -> bool:  # the service's hook: starts a configured one
        asked.append(name)
        return name in ("miit-notices", "policy", "county")

    clock = FakeClock(datetime.now(UTC))
    app = create_app(site.data, site.config, check_now=check_now, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.asked = asked  # type: ignore[attr-defined]
        yield c


def row_of(html: str, name: str) -> str:
    found = re.search(rf'<tr [^>]*data-name="{re.escape(name)}".*?</tr>', html, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


# -- the listing --------------------------------------------------------------------------


def test_notices_have_their_number_date_and_attachments_under_them(
    client: TestClient, site: UISite
) -> None:
    html = client.get("/t/miit-notices").text
    assert "<th>文号</th><th>发布日期</th>" in html
    added = row_of(html, site.names[ADDED[0]])
    assert '<td class="docno">工信部装〔2026〕12号</td>' in added
    assert '<td class="date">2026-11-27</td>' in added
    order = re.findall(r'data-name="([^"]+)"', html)
    notice, pdf = site.names[ADDED[0]], site.names["/files/list.pdf"]
    assert order.index(pdf) == order.index(notice) + 1  # right under its notice
    attachment = row_of(html, pdf)
    assert 'class="d-active attachment"' in attachment and PDF_TITLE in attachment
    assert '<td class="date">2026-11-10</td>' in row_of(html, site.names[ITEMS[1][0]])


def test_new_only_for_what_the_last_check_found_and_never_on_a_removed_one(
    client: TestClient, site: UISite
) -> None:
    html = client.get("/t/miit-notices").text
    assert 'class="mark new"' in row_of(html, site.names[ADDED[0]])
    for path in ("/art/3.html", "/art/2.html", "/art/1.html"):  # seen by the first check
        assert 'class="mark new"' not in row_of(html, site.names[path])


def test_a_removed_notice_says_when_and_links_its_evidence(
    client: TestClient, site: UISite
) -> None:
    html = client.get("/t/miit-notices").text
    removed = row_of(html, site.names["/art/1.html"])
    assert '<span class="mark removed">removed</span>' in removed
    assert re.search(r'<span class="since">\d{4}-\d\d-\d\d \d\d:\d\d Beijing time</span>', removed)
    assert "(HTTP 410)" in removed
    (evidence,) = site.captures(site.names["/art/1.html"])
    assert f'<a href="/c/{evidence}" class="evidence">' in removed
    assert client.get(f"/c/{evidence}").status_code == 200


def test_an_edited_notice_says_edited_once_and_links_the_diff(
    client: TestClient, site: UISite
) -> None:
    name = site.names["/art/2.html"]
    first, edit = site.captures(name)
    row = row_of(client.get("/t/miit-notices").text, name)
    href = f"/t/{name}/diff?from={first}&amp;to={edit}"
    assert f'<a href="{href}" class="edited">edited 1×</a>' in row
    assert "captures" not in row
    assert client.get(href.replace("&amp;", "&")).status_code == 200


# -- titles -------------------------------------------------------------------------------


def test_a_documents_page_is_headed_by_its_title_with_the_name_small(
    client: TestClient, site: UISite
) -> None:
    name = site.names[ADDED[0]]
    html = client.get(f"/t/{name}").text
    assert f"<h1>{ADDED[1]}</h1>" in html
    assert '<p class="internal-name"' in html and f">{name}</p>" in html
    assert f"<title>{ADDED[1]} — watcher</title>" in html
    diff = client.get(f"/t/{site.names['/art/2.html']}/diff").text
    assert f"<title>{ITEMS[1][1]}: diff — watcher</title>" in diff


def test_feeds_name_documents_and_listings_by_title(client: TestClient, site: UISite) -> None:
    every = feedparser.parse(client.get("/feed.atom").content)
    titles = [e.title for e in every.entries]
    assert titles and not [t for t in titles if "~" in t], titles
    assert f"{PDF_TITLE} new notice — 船舶" in titles
    one = feedparser.parse(client.get(f"/t/{site.names[ADDED[0]]}/feed.atom").content)
    assert one.feed.title == f"watcher: {ADDED[1]}"


def test_search_shows_an_attachment_by_its_title(client: TestClient, site: UISite) -> None:
    html = client.get("/search", params={"q": "重工集团"}).text
    assert re.search(f'class="result-title"[^>]*>{re.escape(PDF_TITLE)}</a>', html)


def test_hits_are_given_the_titles_of_their_targets(client: TestClient, site: UISite) -> None:
    """The route hands the page titles by name; the filter's options are (title, name)."""
    response = client.get("/hits")
    context = response.context  # type: ignore[attr-defined]
    pdf = site.names["/files/list.pdf"]
    assert context["titles"][pdf] == PDF_TITLE
    assert (PDF_TITLE, pdf) in context["target_options"]
    assert ("MIIT 通知公告", "miit-notices") in context["target_options"]


# -- statuses -----------------------------------------------------------------------------


def test_a_target_that_never_worked_is_not_one_that_just_broke(
    client: TestClient, site: UISite
) -> None:
    html = client.get("/").text
    never = re.search(
        r'<div class="sub err trouble"[^>]*>([^<]*)</div>', row_of_target(html, "county")
    )
    assert never, html
    port = site.refused_port
    assert re.fullmatch(
        rf"never succeeded \(3 checks\): connection refused by 127\.0\.0\.1:{port}"
        r" — next try \d\d:\d\d Beijing time",
        never.group(1),
    )
    broke = re.search(
        r'<div class="sub err trouble"[^>]*>([^<]*)</div>', row_of_target(html, "policy")
    )
    assert broke and re.fullmatch(
        r"failing since \d{4}-\d\d-\d\d \d\d:\d\d Beijing time \(2 checks\): the server answered"
        r" HTTP 503 Service Unavailable — next try \d\d:\d\d Beijing time",
        broke.group(1),
    )
    page = client.get("/t/county").text
    assert '<p class="trouble never">never succeeded (3 checks)' in page


def row_of_target(html: str, name: str) -> str:
    found = re.search(rf'<tr[^>]*>\s*<td><a href="/t/{name}".*?</tr>', html, re.S)
    assert found, name
    return found.group(0)


# -- error pages --------------------------------------------------------------------------


def test_check_now_on_a_document_is_a_page_pointing_to_its_listing(
    client: TestClient, site: UISite
) -> None:
    name = site.names[ADDED[0]]
    html = client.get(f"/t/{name}").text
    assert "Check now" not in html and 'href="/t/miit-notices">check the listing now' in html
    token = csrf_of(client.get("/t/miit-notices").text)
    answer = client.post(f"/t/{name}/check", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "checked with its listing" in answer.text and 'href="/t/miit-notices"' in answer.text
    assert name not in client.asked  # type: ignore[attr-defined]


def test_the_latest_change_link_only_when_there_are_two_captures(client: TestClient) -> None:
    none = client.get("/t/county").text
    assert "/t/county/diff" not in none and "no capture yet: no change to show" in none
    one = client.get("/t/policy").text
    assert 'href="/t/policy/diff"' not in one and "one capture so far" in one
    assert 'href="/t/miit-notices/diff">latest change' in client.get("/t/miit-notices").text


def test_a_page_past_the_end_says_so_and_links_the_last(client: TestClient) -> None:
    answer = client.get("/t/policy", params={"page": 99})
    assert answer.status_code == 404
    assert "page 99 is past the end: 1 capture, 1 page" in answer.text
    assert '<a href="/t/policy?page=1" class="way-on">' in answer.text


def test_bad_query_values_are_a_readable_400_page_and_the_api_keeps_json(
    client: TestClient, site: UISite
) -> None:
    for path in (
        f"/t/{site.names['/art/2.html']}/diff?lines=abc",
        "/t/policy?page=x",
        "/hits?page=x",
    ):
        answer = client.get(path)
        assert answer.status_code == 400, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "is not a whole number" in answer.text and "<h1>" in answer.text
    api = client.get("/api/hits", params={"limit": "abc"})
    assert api.status_code == 422 and api.json()["detail"][0]["loc"][-1] == "limit"
