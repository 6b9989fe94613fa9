"""Hits per term and direction: a keyword-dense first capture is one entry per term
with its count and first snippets in --json, alerts and the UI, every position in
the store; the hand-off from a worker is ints, not objects; and the keyword screen
that spares a page that cannot match its normalising never misses a match."""

from __future__ import annotations

import json
import pickle
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from govpages import CMSE, NOTICE
from httpserver import HTTPServer

from watcher.alerts.compose import Composer
from watcher.alerts.events import Event
from watcher.analysis import analyse
from watcher.cli.main import main
from watcher.core.models import SNIPPETS_PER_TERM, TermHits
from watcher.core.text import t2s
from watcher.keywords import KeywordMatcher, _fold_spaces, find_hits, normalize
from watcher.store.index import Store
from watcher.web.app import create_app

PAGES = Path(__file__).parent / "fixtures" / "pages"
SPACE = {"space": ["空间站"], "crewed": ["载人航天"], "absent": ["船舶"]}
REPEAT = 20  # the real report's body twenty times: a page that names 空间站 340 times


def dense_page() -> bytes:
    """The real CMSE report with its article repeated: as keyword-dense as a page on
    shipbuilding policy is for 船舶."""
    html = CMSE.read_text("utf-8")
    start, end = html.index("<p"), html.rindex("</p>") + 4
    return (html[:start] + html[start:end] * REPEAT + html[end:]).encode("utf-8")


def check_json(config: Path, data: Path) -> dict:
    runner = CliRunner()
    result = runner.invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--json", "--no-notify"]
    )
    assert result.exit_code == 0, result.output
    return {r["target"]: r for r in map(json.loads, result.stdout.splitlines())}


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The dense page checked once by ``watcher check --json``: config, data, its line."""
    folder = tmp_path_factory.mktemp("dense")
    with HTTPServer() as server:
        server.route("/report", body=dense_page(), headers={"Content-Type": "text/html"})
        config = folder / "targets.yaml"
        groups = "\n".join(f"  {g}: [{', '.join(t)}]" for g, t in SPACE.items())
        config.write_text(
            f"settings: {{host_delay: 0}}\nkeywords:\n{groups}\n"
            f"targets:\n  - name: report\n    url: {server.url('/report')}\n",
            encoding="utf-8",
        )
        data = folder / "snapshots"
        return config, data, check_json(config, data)["report"]


def test_a_dense_first_capture_is_one_json_entry_per_term_and_every_position_stored(
    dense: tuple[Path, Path, dict],
) -> None:
    _, data, line = dense
    with Store(data, readonly=True) as store:
        capture = store.capture(line["capture_id"])
        text = store.text(capture)
        stored = store.hits_of(capture.id)
    counts = {term: text.count(term) for term in ("空间站", "载人航天")}
    assert counts["空间站"] > 300 and counts["载人航天"] > 100
    in_order = sorted(counts, key=text.index)  # each term where it first occurs
    assert [(h["term"], h["where"], h["count"]) for h in line["hits"]] == [
        (term, "added", counts[term]) for term in in_order
    ]
    for hit in line["hits"]:
        shown = hit["snippets"]
        assert len(shown) == SNIPPETS_PER_TERM and shown[0]["snippet"] == hit["snippet"]
        for one in shown:
            start, length = one["position"], one["length"]
            assert text[start : start + length] == hit["term"] and hit["term"] in one["snippet"]
    assert len(json.dumps(line, ensure_ascii=False)) < 6000  # not 500 entries
    # the store keeps every position
    assert capture.hit_count == sum(counts.values()) == len(stored)
    assert all(text[h.position : h.position + h.length] == h.term for h in stored)


async def test_the_capture_page_lists_a_term_once_with_its_count_and_first_snippets(
    dense: tuple[Path, Path, dict],
) -> None:
    config, data, line = dense
    count = next(h["count"] for h in line["hits"] if h["term"] == "空间站")
    transport = httpx.ASGITransport(app=create_app(data, config))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        page = (await client.get(f"/c/{line['capture_id']}")).text
    listed = page[page.index('<ul class="hit-list">') :]
    listed = listed[: listed.index("</ul></li></ul>")]
    assert listed.count('<span class="group"') == 2
    assert f'<span class="hit-count">×{count}</span>' in listed
    assert f"and {count - SNIPPETS_PER_TERM} more" in listed
    assert listed.count("空间站") < 20  # three snippets, not 340


def test_an_alert_names_each_term_once_with_its_count_and_first_snippets() -> None:
    text = "\n".join([f"{'甲' * 40}空间站{'乙' * 40}" for _ in range(300)] + ["载人航天工程。"])
    hits = tuple(find_hits(KeywordMatcher(SPACE), None, text, None))
    event = Event(
        "new",
        "report",
        "CMSE 报告",
        "http://127.0.0.1/report",
        datetime(2026, 1, 1, tzinfo=UTC),
        capture_id="01A",
        hits=hits,
        added=len(text),
    )
    composed = Composer().compose(event)
    assert "空间站 ×300, 载人航天" in composed.title
    for body in (composed.text, composed.html, composed.markdown):
        assert body.count("空间站") == 1 + SNIPPETS_PER_TERM  # named once, three snippets
        assert "×300" in body and body.count("载人航天") == 2


def test_hits_cross_the_process_boundary_as_ints_not_objects(tmp_path: Path) -> None:
    body = dense_page()
    page = analyse.Page(
        body=body,
        content_type="text/html",
        final_url="http://127.0.0.1/report",
        groups=tuple(SPACE),
    )
    analyse.init(SPACE, tmp_path, fsync=False)
    analysis = analyse.run(page)
    occurrences = sum(h.count for h in analysis.hits)
    assert occurrences > 400 and len(analysis.hits) == 2
    hits = pickle.dumps(analysis.hits, pickle.HIGHEST_PROTOCOL)
    assert len(hits) < 8 * occurrences  # two ints each, no snippet or object each
    back = pickle.dumps(analysis, pickle.HIGHEST_PROTOCOL)
    shown = pickle.dumps(analysis.excerpt, pickle.HIGHEST_PROTOCOL)  # bounded: 1,500 characters
    facts = pickle.dumps(analysis.facts, pickle.HIGHEST_PROTOCOL)  # bounded: a 64-hash sketch
    assert len(facts) < 2000
    assert len(back) < len(hits) + len(shown) + len(facts) + 1000  # and nothing else of any size
    assert pickle.loads(back) == analysis
    going = pickle.dumps(page, pickle.HIGHEST_PROTOCOL)
    assert len(body) < len(going) < len(body) + 1000  # the body once, nothing else page-sized


# --- the screen: a page that cannot match is not normalised, and nothing is missed ------

VARIANTS = [
    ("国防科工局", "通知：國防科工局發布。"),  # traditional
    ("国防科工局", "国防\n科工局"),  # a line break inside, as a <br> leaves it
    ("工业互联网", "推進工業互聯網發展"),
    ("SASTIND", "ＳＡＳＴＩＮＤ"),  # full-width
    ("SASTIND", "the sastind site"),  # case
    ("工信部联规[2022]12号", "按照工信部联规 （２０２２） 12 号文件"),  # a 文号 written otherwise
    ("船舶", "⾈船舶"),
    ("株式会社", "㍿"),  # one character that NFKC makes four
]


@pytest.mark.parametrize(("term", "text"), VARIANTS)
def test_traditional_full_width_and_spaced_forms_still_match(term: str, text: str) -> None:
    matcher = KeywordMatcher({"g": [term]})
    assert matcher.terms[0].may_match(text)
    assert [h.term for h in find_hits(matcher, None, text, None)] == [term]


def real_texts() -> list[str]:
    return [p.read_text("utf-8") for p in sorted(PAGES.glob("*/*.expected.txt"))]


def test_pages_that_cannot_match_are_not_normalised() -> None:
    matcher = KeywordMatcher({"ship": ["船舶"], "sastind": ["国防科工局"], "ii": ["工业互联网"]})
    texts = real_texts()
    assert len(texts) >= 6
    for text in texts:
        assert not any(term.may_match(text) for term in matcher.terms)
        assert find_hits(matcher, None, text, None) == []
    assert KeywordMatcher({"r": ["re:船.舶"]}).terms[0].may_match("x")  # a pattern always may


def test_the_screen_misses_nothing_the_normalised_match_finds() -> None:
    """Terms cut from real pages, looked for in those pages written in traditional
    characters and full-width Latin: the screened match equals the unscreened one."""
    rng = random.Random(19)
    wide = {
        ord(c): ord(c) + 0xFEE0
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    }
    for text in real_texts():
        words = re.findall(r"[\u4e00-\u9fffA-Za-z0-9]{2,}", text)
        terms = list(
            dict.fromkeys(w[: rng.randint(2, 5)] for w in rng.sample(words, min(40, len(words))))
        )
        matcher = KeywordMatcher({f"g{i}": [t] for i, t in enumerate(terms)})
        # as a check does: every term's spellings learned at once (one term at a time,
        # three OpenCC converters were built for each: 70 s of this test)
        assert matcher.occurrences(text)  # the terms came from the page
        for variant in (text, t2s_inverse(text), text.translate(wide)):
            folded = _fold_spaces(normalize(variant)[0])[0]
            for term in matcher.terms:
                if term.pattern.search(folded):
                    assert term.may_match(variant), (term.source, variant[:80])
            assert matcher.occurrences(variant) == matcher._found(matcher.terms, variant)
            assert matcher.occurrences(variant)  # the terms came from the page


def t2s_inverse(text: str) -> str:
    """The text in traditional characters (OpenCC s2t), as a Hong Kong site writes it."""
    import opencc

    converted = opencc.OpenCC("s2t").convert(text)
    assert converted != text and t2s().convert(converted) != converted
    return converted


def test_a_gbk_notice_still_hits_through_the_screen(tmp_path: Path) -> None:
    body = NOTICE.read_bytes()
    page = analyse.Page(body=body, content_type="text/html", final_url="http://127.0.0.1/n")
    text = analyse.read_page(page).document.text
    term = next(w for w in ("通知", "工业", "船舶") if w in text)
    hits = find_hits(KeywordMatcher({"g": [term]}), None, text, None)
    assert isinstance(hits[0], TermHits) and hits[0].count == text.count(term)
