"""``select: auto``: the article of a page without the site around it.

Each page's expected body (``<page>.article.txt`` beside it) was cut by hand from
the page's whole text: the lines from the heading to the end of the body and its
attachment list, without the 字号/打印/分享 bars between them, and read against the
page in a browser. ``bench/article.py`` measures the same pages against
trafilatura and readability-lxml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from httpserver import HTTPServer

from watcher.analysis.extract import extract, extract_with_report
from watcher.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLES = [
    "pages/gov.cn/gongbao_2007-23_content_711039.html",
    "pages/shanxi.gov.cn/article_t20190918_693227.html",
    "pages/fgw.zj.gov.cn/article_art_1621004_30332664.html",
    "pages/cmse.gov.cn/article_t20120624_43188.html",
    "pages/cmse.gov.cn/article_t20210106_47506.html",
    "pages/kepu.gov.cn/article_content_1755244.html",
    "sites/miit.gov.cn/article.html",
    "sites/sastind.gov.cn/article.html",
]
FURNITURE = ("扫一扫", "网站标识码", "分享到", "ICP备", "打印", "相关", "首页", "二维码")


def lines(text: str) -> list[str]:
    return ["".join(line.split()) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("page", ARTICLES)
def test_auto_keeps_the_hand_checked_body_and_drops_the_frame(page: str) -> None:
    path = FIXTURES / page
    expected = lines(Path(f"{path}.article.txt").read_text(encoding="utf-8"))
    got = lines(
        extract(path.read_text(encoding="utf-8"), "https://x.gov.cn/a.html", select="auto").text
    )
    assert got[: len(expected)] == expected
    extra = got[len(expected) :]  # kepu's 编辑 line is the only extra line allowed
    assert sum(len(x) for x in extra) <= 10, extra
    assert not [w for w in FURNITURE for x in got if w in x and w not in "".join(expected)]


def test_auto_on_a_page_without_text_warns_and_is_empty() -> None:
    document, warnings = extract_with_report(
        "<html><body><img src=a.png></body></html>", "https://x/", select=["auto"]
    )
    assert document.text == ""
    assert warnings == ["select: auto found no article text"]


def test_auto_still_honours_exclude() -> None:
    page = (FIXTURES / "sites/miit.gov.cn/article.html").read_text(encoding="utf-8")
    text = extract(page, "https://x/", select=["auto"], exclude=["#con_time"]).text
    assert "发布时间" not in text and "工信部信管〔2026〕188号" in text


def test_watcher_test_shows_what_auto_kept(tmp_path: Path) -> None:
    page = (FIXTURES / "sites/sastind.gov.cn/article.html").read_bytes()
    with HTTPServer() as server:
        server.route(
            "/c1/content.html", body=page, headers={"Content-Type": "text/html; charset=utf-8"}
        )
        config = tmp_path / "targets.yaml"
        config.write_text(
            "targets:\n  - name: sastind-article\n"
            f"    url: {server.url('/c1/content.html')}\n    select: auto\n",
            encoding="utf-8",
        )
        args = [
            "--config",
            str(config),
            "--data",
            str(tmp_path / "data"),
            "test",
            "sastind-article",
        ]
        human = CliRunner().invoke(main, args)
        as_json = CliRunner().invoke(main, [*args, "--json"])
    assert human.exit_code == 0, human.output
    assert "国防科工局召开船舶工业军民融合发展推进会" in human.stdout
    assert "网站标识码" not in human.stdout and "分享到" not in human.stdout
    text = json.loads(as_json.stdout)["text"]
    assert lines(text) == lines(
        (FIXTURES / "sites/sastind.gov.cn/article.html.article.txt").read_text(encoding="utf-8")
    )


def test_auto_on_a_deeply_nested_page_finds_the_text() -> None:
    body = (
        "<div>" * 1500 + "<h1>关于船舶工业的通知</h1><p>" + "正文。" * 50 + "</p>" + "</div>" * 1500
    )
    page = f"<html><head><title>关于船舶工业的通知_通知</title></head><body>{body}</body></html>"
    text = extract(page, "https://x/", select="auto").text
    assert text.splitlines() == ["关于船舶工业的通知", "正文。" * 50]


def test_auto_keeps_footer_words_a_notice_itself_uses() -> None:
    """主办单位 of a conference and a contact's E-mail are the notice's, not the footer's."""
    page = (FIXTURES / "sites/miit.gov.cn/article.html").read_text(encoding="utf-8")
    extra = "<p>主办单位：中国船舶工业行业协会</p><p>联系人：王 堃 E-mail：wangkun@miit.gov.cn</p>"
    page = page.replace(
        '<p style="text-align:right">工业和信息化部</p>',
        extra + '<p style="text-align:right">工业和信息化部</p>',
    )
    text = extract(page, "https://x/", select="auto").text
    assert "主办单位：中国船舶工业行业协会" in text
    assert "联系人：王 堃 E-mail：wangkun@miit.gov.cn" in text
    assert "主办单位：中华人民共和国工业和信息化部" not in text  # the footer's
