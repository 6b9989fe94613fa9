"""Search finds a 文号 however it is written: brackets, full-width digits, spaces.

Real-shaped pages (the gov.cn page with its policy table, the kepu.gov.cn page with a
number cited in its body) are checked into a real store, indexed, and searched
through the JSON API.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from govpages import gov_policy_page
from httpserver import HTTPServer

from watcher.cli.main import main
from watcher.core.text import fold_document_numbers, normalize_document_numbers
from watcher.web.app import create_app

KEPU = Path(__file__).parent / "fixtures" / "pages" / "kepu.gov.cn" / "article_content_1755244.html"
CITED = "<p>按照工信部联规［２０２２］１２号文件要求，推进长三角一体化发展。</p>"


def kepu_citing() -> bytes:
    """The real kepu.gov.cn page, its body citing the number in full-width forms."""
    html = KEPU.read_text(encoding="utf-8")
    anchor = "<!--/enpcontent-->"
    assert anchor in html
    return html.replace(anchor, CITED + anchor, 1).encode("utf-8")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("numbers")
    html = {"Content-Type": "text/html; charset=utf-8"}
    with HTTPServer() as server:
        server.route("/policy", body=gov_policy_page(), headers=html)
        server.route("/kepu", body=kepu_citing(), headers=html)
        config = folder / "targets.yaml"
        config.write_text(
            "settings: {host_delay: 0}\ntargets:\n"
            f"  - name: policy\n    url: {server.url('/policy')}\n"
            f"  - name: kepu\n    url: {server.url('/kepu')}\n",
            encoding="utf-8",
        )
        data = folder / "snapshots"
        for command in (["check", "--json", "--no-notify"], ["reindex"]):
            result = CliRunner().invoke(
                main, ["--config", str(config), "--data", str(data), *command]
            )
            assert result.exit_code == 0, result.output
        yield config, data


def search(store, q: str) -> dict:  # type: ignore[no-untyped-def]
    config, data = store

    async def ask() -> dict:
        app = create_app(data, config)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.get("/api/search", params={"q": q})
            assert response.status_code == 200, response.text
            return response.json()

    return asyncio.run(ask())


VARIANTS = [
    "工信部联规〔2022〕12号",
    "工信部联规[2022]12号",
    "工信部联规（2022）12号",
    "工信部联规【2022】12号",
    "工信部联规(2022)12号",
    "工信部联规［2022］12号",
    "工信部联规〔２０２２〕１２号",
    "工信部联规［２０２２］１２号",
    '"工信部联规 [2022] 12 号"',
    "〔2022〕",
    "[2022]",
    "（２０２２）",
]


@pytest.mark.parametrize("q", VARIANTS)
def test_every_way_of_writing_the_number_finds_both_pages(store, q: str) -> None:  # type: ignore[no-untyped-def]
    found = search(store, q)
    targets = sorted(r["capture"]["target"] for r in found["results"])
    assert targets == ["kepu", "policy"], json.dumps(found, ensure_ascii=False)
    snippets = {r["capture"]["target"]: " ".join(r["snippets"]) for r in found["results"]}
    # snippets are cut from the stored text as it is written, not from the folded form
    assert "工信部联规〔2022〕12号" in snippets["policy"]
    if "工信部联规" in q:
        assert "工信部联规［２０２２］１２号" in snippets["kepu"]


def test_another_number_is_not_found(store) -> None:  # type: ignore[no-untyped-def]
    assert search(store, "工信部联规[2022]13号")["results"] == []
    assert search(store, "工信部联规[2021]12号")["results"] == []


@pytest.mark.parametrize(
    ("written", "folded"),
    [
        ("工信部联规[2022]12号", "工信部联规〔2022〕12号"),
        ("国办发 （２０２４） 5 号", "国办发〔2024〕5号"),
        ("浙政办发【2024】7号", "浙政办发〔2024〕7号"),
        ("苏政发﹝2024﹞8号", "苏政发〔2024〕8号"),
        ("国务院令 第 750 号", "国务院令第750号"),
        ("按照国发(2023)1号文件", "按照国发〔2023〕1号文件"),
        ("见附件(1)和 (2) 项", "见附件(1)和 (2) 项"),  # not a year: left alone
        ("2022年 (全年)", "2022年 (全年)"),
    ],
)
def test_the_fold(written: str, folded: str) -> None:
    assert normalize_document_numbers(written) == folded
    text, mapping = fold_document_numbers(written)
    positions = list(mapping) if mapping is not None else list(range(len(text)))
    assert len(positions) == len(text)
    # every folded character comes from the original one it stands for
    for char, i in zip(text, positions, strict=True):
        assert char in (written[i], unicodedata.normalize("NFKC", written[i])) or (
            char in "〔〕" and written[i] in "〔〕[]（）［］()【】〖〗﹝﹞"
        )


def test_a_keyword_written_one_way_hits_the_others_at_their_place() -> None:
    from watcher.keywords import KeywordMatcher, find_hits

    text = KEPU.with_name(KEPU.name + ".expected.txt").read_text(encoding="utf-8")
    cited = "按照工信部联规 （２０２２） 12 号文件要求"
    text = f"{text}\n{cited}\n另见国发[2023]1号。"
    matcher = KeywordMatcher({"numbers": ["工信部联规[2022]12号", "国发〔2023〕1号"]})
    hits = find_hits(matcher, None, text, None)
    spans = [text[h.position : h.position + h.length] for h in hits]
    assert spans == ["工信部联规 （２０２２） 12 号", "国发[2023]1号"]  # as written on the page
    assert "按照工信部联规 （２０２２） 12 号文件要求" in hits[0].snippet
