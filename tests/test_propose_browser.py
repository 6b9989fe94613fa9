"""JSON listings proposed from what a page's scripts fetched, in the real Chromium over a
real local site: the browser keeps the answers (at most 20, none too large), ``watcher
test``'s trial hands them on, and the proposals read back the served items."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from httpserver import HTTPServer

from watcher.check.propose import Observed, propose
from watcher.check.trial import trial
from watcher.config import parse_config_text
from watcher.fetch.browser import BrowserOptions, BrowserPool
from watcher.fetch.visits import MAX_OBSERVED, MAX_OBSERVED_BYTES
from watcher.listings.items import items_of
from watcher.service.runtime import Paths, Runtime
from watcher.store.index import Store

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
)
SITES = Path(__file__).parent / "fixtures" / "sites"
HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json; charset=utf-8"}

# a column shell: its script asks the unit API for the list's HTML and a search API for
# items, and writes both into the page (as MIIT's unitbuild.js and gov.cn's app do);
# #done appears once every fetch has answered, and the visits wait for it
SHELL = """<!doctype html><html><head><meta charset="utf-8"><title>时政要闻</title></head>
<body><div class="nav"><a href="/">首页</a></div><div id="list"></div><div id="more"></div>
<script>
Promise.all([
  fetch('/api-gateway/unit?parseType=buildstatic&pageNo=1').then(r => r.json()).then(j => {
    document.getElementById('list').innerHTML = j.data.html; }),
  fetch('/search/data?t=zhengcelibrary_gw&p=1&n=20').then(r => r.json()).then(j => {
    document.getElementById('more').textContent = j.searchVO.listVO.length + ' items'; }),
  EXTRA
]).then(() => { const done = document.createElement('p'); done.id = 'done';
  document.body.appendChild(done); });
</script></body></html>"""


def _site(server: HTTPServer, extra: str = "") -> str:
    server.route("/column/", body=SHELL.replace("EXTRA", extra or "null").encode(), headers=HTML)
    server.route(
        "/api-gateway/unit",
        body=(SITES / "miit.gov.cn" / "unit_szyw.json").read_bytes(),
        headers=JSON,
    )
    server.route(
        "/search/data", body=(SITES / "gov.cn" / "search_bm.json").read_bytes(), headers=JSON
    )
    return server.url("/column/")


def _loaded(fragment: dict, url: str):
    text = yaml.safe_dump({"targets": [{"name": "proposed", "url": url, **fragment}]})
    return parse_config_text(text, "proposed.yaml").targets[0]


async def test_json_listings_from_the_answers_the_page_fetched(http_server: HTTPServer) -> None:
    url = _site(http_server)
    async with BrowserPool() as pool:
        seen = await pool.fetch(
            url, BrowserOptions(observe=True, screenshot=False, wait_for="#done")
        )
    assert {urlsplit_path(o.url) for o in seen.observed} == {"/api-gateway/unit", "/search/data"}
    proposals = propose(seen.html.decode(), url, seen.observed)
    labels = [p.label for p in proposals]
    # the unit's list is what the page shows: first; the search answer, not shown: last
    assert proposals[0].kind == "json-listing" and "data.html" in labels[0], labels
    assert proposals[1].kind == "listing", labels  # the same list as rendered HTML
    assert proposals[-1].kind == "json-listing" and "data.html" not in labels[-1], labels

    for proposal in (proposals[0], proposals[-1]):
        target = _loaded(proposal.fragment, url)
        assert target.headers["Referer"] == url
        answer = next(o for o in seen.observed if o.url == target.url)
        found = items_of(answer.body.decode(), "application/json", target.url, target.follow)
        assert found and proposal.sample == tuple(i.title for i in found[:3])
        if target.follow.html is not None:  # the unit: HTML inside the JSON
            assert target.follow.html == "data.html"
            assert [i.title for i in found] == [
                "工业和信息化部召开工业互联网和船舶工业数字化转型推进会",
                "全国工业和信息化主管部门负责同志座谈会在京召开",
            ]
            assert target.follow.page_param == "pageNo" and target.follow.pages == 2
        else:  # the search API: items with their url, title and date
            assert (target.follow.items, target.follow.url, target.follow.title) == (
                "searchVO.listVO",
                "url",
                "title",
            )
            assert target.follow.date == "pubtimeStr" and target.follow.page_param == "p"
            assert found[0].date is not None


async def test_the_browser_keeps_at_most_20_answers_none_too_large(
    http_server: HTTPServer,
) -> None:
    big = json.dumps({"rows": ["x" * 1024] * (MAX_OBSERVED_BYTES // 1024 + 10)}).encode()
    http_server.route("/big.json", body=big, headers=JSON)
    for n in range(30):
        http_server.route(f"/n{n}.json", body=json.dumps({"n": n}).encode(), headers=JSON)
    extra = ", ".join(["fetch('/big.json')", *(f"fetch('/n{n}.json')" for n in range(30))])
    url = _site(http_server, extra)
    async with BrowserPool() as pool:
        seen = await pool.fetch(
            url, BrowserOptions(observe=True, screenshot=False, wait_for="#done")
        )
        plain = await pool.fetch(url, BrowserOptions(screenshot=False, wait_for="#done"))
    assert http_server.hits("/n29.json") == 2  # every answer was fetched ...
    assert all(len(o.body) <= MAX_OBSERVED_BYTES for o in seen.observed)  # ... few kept
    assert "/big.json" not in {urlsplit_path(o.url) for o in seen.observed}
    assert 0 < len(seen.observed) <= MAX_OBSERVED - 1  # the big one took a place, then was dropped
    assert plain.observed == ()  # a check keeps none


async def test_watcher_tests_trial_hands_on_what_a_rendered_page_fetched(
    http_server: HTTPServer,
) -> None:
    url = _site(http_server)
    text = yaml.safe_dump(
        {"targets": [{"name": "shell", "url": url, "fetch": "browser", "wait_for": "#done"}]}
    )
    config = parse_config_text(text, "targets.yaml")
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder), fsync=False) as store:
        paths = Paths(Path(folder) / "targets.yaml", Path(folder), Path(folder))
        async with Runtime(config, paths, store) as runtime:
            found = await trial(config, store, runtime.pages, config.targets[0], runtime.clock)
    assert found.result.status == "new", found.result.error
    assert {urlsplit_path(o.url) for o in found.observed} == {"/api-gateway/unit", "/search/data"}
    assert all(isinstance(o, Observed) for o in found.observed)
    proposals = propose("<html><body></body></html>", url, found.observed)
    assert {p.kind for p in proposals} == {"json-listing"}


def urlsplit_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path
