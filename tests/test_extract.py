"""extract: block text, whitespace normalisation, select/exclude/ignore, links, hostile input.

Golden files: ``tests/fixtures/pages/<site>/<page>.expected.txt``. Regenerate with
``WATCHER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_extract.py`` and read the diff.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.analysis import extract as extract_module
from watcher.analysis.decode import decode_html
from watcher.analysis.extract import (
    check_pattern,
    check_selector,
    extract,
    extract_with_report,
    title_of,
)
from watcher.core.models import Document, Link
from watcher.core.text import comparison_key

PAGES = Path(__file__).parent / "fixtures" / "pages"
UPDATE_GOLDEN = os.environ.get("WATCHER_UPDATE_GOLDEN") == "1"
BASE = "http://www.example.gov.cn/n1/c2/content.html"


@dataclass(frozen=True)
class Golden:
    page: str
    url: str
    select: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    # Facts checked on top of the golden text.
    title: str = ""
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()  # navigation and script text outside the selection
    first_line: str = ""
    selected_links: int = 0
    page_links_at_least: int = 1
    known_link: tuple[str, str] | None = None  # (url, text) somewhere on the whole page


GOLDEN = [
    Golden(
        page="gov.cn/gongbao_2007-23_content_711039.html",
        url="https://www.gov.cn/gongbao/content/2007/content_711039.htm",
        select=("#UCAP-CONTENT",),
        title="全国人民代表大会常务委员会关于批准财政部发行特别国债购买外汇及调整2007 年末"
        "国债余额限额的决议__2007年第23号国务院公报_中国政府网",
        first_line="全国人民代表大会常务委员会",
        present=(
            "会议决定：批准发行15500亿元特别国债购买外汇，批准2007年末国债余额限额调整为53365.53亿元。",
        ),
        absent=("扫一扫在手机打开当前页", "相关稿件", "国务院客户端", "simplePage", "首页"),
        page_links_at_least=25,
        known_link=("https://www.gov.cn/gongbao/currentissue.htm", "国务院公报"),
    ),
    Golden(
        page="cmse.gov.cn/article_t20120624_43188.html",
        url="http://www.cmse.gov.cn/ztbd/xwfbh/201206/t20120624_43188.html",
        select=(".wzxq > .title", ".pubDate", "#dochtmlcon"),
        title="天宫一号与神舟九号载人交会对接任务第二场新闻发布会_中国载人航天官方网站",
        first_line="天宫一号与神舟九号载人交会对接任务第二场新闻发布会",
        present=("发布日期: 2012-06-24", "北京时间6月24日12时55分，在航天员的精准操控下"),
        absent=("字号", "[打印]", "$(", "fontArr"),
        page_links_at_least=20,
    ),
    Golden(
        page="cmse.gov.cn/article_t20210106_47506.html",
        url="http://www.cmse.gov.cn/xwzx/zhxw/202101/t20210106_47506.html",
        select=(".wzxq > .title", ".pubDate", "#dochtmlcon"),
        title="载人航天工程全线备战空间站建造任务_中国载人航天官方网站",
        first_line="载人航天工程全线备战空间站建造任务",
        present=("发布日期: 2021-01-05", "中国运载火箭技术研究院"),
        absent=("字号", "fontArr", "首页"),
        page_links_at_least=20,
    ),
    Golden(
        page="fgw.zj.gov.cn/article_art_1621004_30332664.html",
        url="http://fgw.zj.gov.cn/art/2016/11/22/art_1621004_30332664.html",
        select=(".con-title", ".small-title", "#zoom"),
        ignore=(r"浏览次数[:：]\s*\d*",),
        title="1-10月德清县固定资产投资结构趋稳趋优",
        first_line="1-10月德清县固定资产投资结构趋稳趋优",
        present=("发布日期：2016-11-22", "信息来源：省发改委", "位列三县两区第一"),
        absent=("浏览次数", "打印", "关闭", "bdshare", "分享到"),
        page_links_at_least=20,
    ),
    Golden(
        page="shanxi.gov.cn/article_t20190918_693227.html",
        url="http://www.shanxi.gov.cn/yw/sxyw/201909/t20190918_693227.shtml",
        select=(".detail-article-title", ".article-infos-source", ".article-body"),
        title="山西品牌丝路行（南美站）正式启动 - 山西省人民政府门户网站",
        first_line="山西品牌丝路行（南美站）正式启动",
        present=(
            "时间：2019-09-18 06:23 来源： 山西日报",
            "山西品牌丝路行主题为“走丝绸之路，促合作共赢”。",
        ),
        absent=("打印", "放大", "createPageHTML", "document.write", "本频道最多"),
        page_links_at_least=100,
    ),
    Golden(
        page="kepu.gov.cn/article_content_1755244.html",
        url="http://www.kepu.gov.cn/politics/2023-12/01/content_1755244.html",
        select=(".detil-new-title", "#content"),
        title="习近平主持召开深入推进长三角一体化发展座谈会-中国科普网",
        first_line="习近平主持召开深入推进长三角一体化发展座谈会",
        present=("来源：新华社", "2023-12-01 14:43", "中共中央政治局常委、国务院总理李强"),
        absent=("编辑：毛梦囡", "相关新闻", "无标题文档", "热词"),
        page_links_at_least=20,
        known_link=("http://www.kepu.gov.cn/politics/index.html", "时政新闻"),
    ),
    Golden(
        page="jiujiang.gov.cn/irs_search_results.html",
        url="https://zmhd.jiujiang.gov.cn/irs-c-web/search.shtml?q=%E7%A7%8D%E6%A4%8D",
        select=("div.item.is-news",),
        title="九江市智能检索",
        first_line="政务信息 棉花种植面积核实种植户公示",
        present=("瑞昌市人民政府 发布时间：2025-11-05 16:28:36",),
        absent=("已为您找到", "您可能感兴趣", "上一页"),
        selected_links=10,
        page_links_at_least=30,
    ),
]


def _golden_id(golden: Golden) -> str:
    return golden.page.split("/")[0]


def _html(page: str) -> str:
    return decode_html((PAGES / page).read_bytes(), None).text


def _run(golden: Golden) -> tuple[Document, list[str]]:
    return extract_with_report(
        _html(golden.page),
        golden.url,
        select=golden.select,
        exclude=golden.exclude,
        ignore=golden.ignore,
    )


# --- golden pages ---------------------------------------------------------------------


@pytest.mark.parametrize("golden", GOLDEN, ids=_golden_id)
def test_golden_text(golden: Golden) -> None:
    document, warnings = _run(golden)
    assert warnings == []
    expected_file = PAGES / (golden.page + ".expected.txt")
    if UPDATE_GOLDEN:
        expected_file.write_text(document.text + "\n", encoding="utf-8")
    assert document.text + "\n" == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("golden", GOLDEN, ids=_golden_id)
def test_golden_facts(golden: Golden) -> None:
    document, _ = _run(golden)
    assert document.title == golden.title
    lines = document.text.splitlines()
    assert lines[0] == golden.first_line
    for sentence in golden.present:
        assert sentence in lines or any(sentence in line for line in lines), sentence
    for junk in golden.absent:
        assert junk not in document.text, junk
    assert len(document.links) == golden.selected_links
    assert "\ufffd" not in document.text


@pytest.mark.parametrize("golden", GOLDEN, ids=_golden_id)
def test_whole_page_links_are_absolute_and_unique(golden: Golden) -> None:
    document = extract(_html(golden.page), golden.url)
    links = document.links
    assert len(links) >= golden.page_links_at_least
    assert all(link.url.startswith(("http://", "https://")) for link in links)
    assert len({link.url for link in links}) == len(links)
    assert not any(link.url.lower().startswith(("javascript:", "mailto:")) for link in links)
    if golden.known_link:
        url, text = golden.known_link
        assert Link(url=url, text=text) in links


@pytest.mark.parametrize("golden", GOLDEN, ids=_golden_id)
def test_whole_page_has_no_script_or_style_text(golden: Golden) -> None:
    text = extract(_html(golden.page), golden.url).text
    for code in ("function(", "function (", "var ", "$(document", "{display:", "document.write"):
        assert code not in text, code


def test_gov_cn_article_after_a_stray_html_end_tag_is_kept() -> None:
    """The gov.cn template closes </html> after its header; the article follows it."""
    text = extract(_html("gov.cn/gongbao_2007-23_content_711039.html"), BASE).text
    assert "第十届全国人民代表大会常务委员会第二十八次会议" in text
    assert "网站标识码bm01000001" in text  # the footer, after the article


def test_both_layout_paths_give_the_same_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shallow trees are laid out by XSLT, deep ones by marking the tree: same output."""

    def documents() -> list[Document]:
        small = [extract(html, BASE) for html in (BLOCKS_HTML, PAGE, CLEAN)]
        return [_run(golden)[0] for golden in GOLDEN] + small

    by_xslt = documents()
    monkeypatch.setattr(extract_module, "_DEEPER_THAN_XSLT_LIMIT", lambda root: True)
    assert documents() == by_xslt


def test_extraction_is_thread_safe() -> None:
    serial = [_run(golden)[0] for golden in GOLDEN] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda g: _run(g)[0], GOLDEN * 3))
    assert parallel == serial


# --- block structure ------------------------------------------------------------------

BLOCKS_HTML = """<html><head><title>t</title><style>p{}</style></head><body>
<h1>标题</h1>
<p>第一段<br>第二行<br/><br>第三行</p>
<div><div><div><p>嵌套段落</p></div></div></div>
<ul><li>甲</li><li>乙<ul><li>乙一</li></ul></li></ul>
<table>
  <tr><th>序号</th><th>单位</th><td></td></tr>
  <tr><td>1</td><td> 船舶集团 </td><td>&nbsp;</td></tr>
</table>
<pre>line 1
  line   2</pre>
<span>inline</span> <b>run</b>
<div>a<div>b</div>c</div>
</body></html>"""


def test_block_structure() -> None:
    assert extract(BLOCKS_HTML, BASE).text.splitlines() == [
        "t",  # the <title>: part of the page's text unless a region is selected
        "标题",
        "第一段",
        "第二行",
        "第三行",
        "嵌套段落",
        "甲",
        "乙",
        "乙一",
        "序号 | 单位",
        "1 | 船舶集团",
        "line 1",
        "line 2",
        "inline run",
        "a",
        "b",
        "c",
    ]


def test_dropped_elements() -> None:
    html = """<html><head><title>T</title><script>var head = 1;</script>
    <meta name="x" content="meta text"></head><body>
    <script>alert("body script")</script><style>.a{color:red}</style>
    <noscript>enable js</noscript><template><p>template</p></template>
    <iframe src="x">iframe text</iframe><svg><text>svg text</text></svg>
    <object>object text</object><!-- a comment --><select><option>友情链接</option></select>
    <p>kept</p></body></html>"""
    assert extract(html, BASE).text == "T\nkept"


def test_title_falls_back_to_first_heading() -> None:
    document = extract("<body><h2>not this</h2><h1> 关于 船舶 </h1><h1>nor this</h1></body>", BASE)
    assert document.title == "关于 船舶"
    assert extract("<p>x</p>", BASE).title == ""


def test_title_of_is_cheap_and_normalised() -> None:
    assert (
        title_of("<html><head><TITLE>\n  关于 &amp; 船舶\u3000工业 </TITLE>") == "关于 & 船舶 工业"
    )
    assert title_of("<p>no title</p>") == ""
    assert title_of(_html("kepu.gov.cn/article_content_1755244.html")) == GOLDEN[5].title


# --- whitespace normalisation ---------------------------------------------------------

CLEAN = "<p>发布日期：2024-05-10</p><p>国防科工局 关于 船舶工业 的 通知 (SASTIND notice)</p>"


@pytest.mark.parametrize(
    "variant",
    [
        "<p>发布日期：\u30002024-05-10</p><p>国防科工局关于船舶工业的通知 (SASTIND notice)</p>",
        "<p>　发布日期：&nbsp;2024-05-10&ensp;</p>"
        "<p>国防科工局&emsp;关于船舶工业的通知 (SASTIND\tnotice)</p>",
        "<p>发布日期：2024-05-10</p>\n\n<p>\n国防科工局\n关于\u200b船舶\ufeff工业的\u200b通知\n"
        "(SASTIND   notice)</p>",
        "<div><p>发布日期：2024-05-10</p></div><div></div><p> </p>"
        "<p>国防 科工局关于船舶 工业的通知 (SASTIND notice)</p>",
        "<p>发布日期：2024-05-10<p>国防科工局关于&#12288;船舶工业的通知 (SASTIND notice)",
    ],
)
def test_whitespace_only_edits_are_not_changes(variant: str) -> None:
    assert comparison_key(extract(variant, BASE).text) == comparison_key(extract(CLEAN, BASE).text)


def test_normalised_text_shape() -> None:
    text = extract(CLEAN, BASE).text
    assert text == "发布日期：2024-05-10\n国防科工局 关于 船舶工业 的 通知 (SASTIND notice)"
    assert (
        comparison_key(text)
        == "发布日期：2024-05-10\n国防科工局关于船舶工业的通知 (SASTIND notice)"
    )


def test_latin_word_spacing_is_kept() -> None:
    text = extract("<p>Notice  on  the\tshipbuilding&nbsp;industry, 2024</p>", BASE).text
    assert text == "Notice on the shipbuilding industry, 2024"


def test_space_between_hanzi_and_latin_or_digits_is_kept() -> None:
    assert extract("<p>使用 Python 语言 2024 年</p>", BASE).text == "使用 Python 语言 2024 年"


def test_space_beside_cjk_punctuation_is_kept_but_not_compared() -> None:
    text = extract("<p>通知： 各单位 “船舶” 。</p>", BASE).text
    assert text == "通知： 各单位 “船舶” 。"
    assert comparison_key(text) == "通知：各单位“船舶”。"


# --- select / exclude / ignore --------------------------------------------------------

PAGE = """<html><head><title>页</title></head><body>
<div class="nav"><a href="/">首页</a><a href="/list.html">通知公告</a></div>
<div id="con_title">关于船舶工业的通知</div>
<div id="con_con">
  <p>正文第一段。</p>
  <div class="share">分享到微信</div>
  <p>正文第二段。<a href="att/P020240101.pdf">附件1</a></p>
  <p>浏览次数：1234</p>
  <div class="inner"><p>内层</p></div>
</div>
<div class="footer">版权所有</div>
</body></html>"""


def test_select_one_region() -> None:
    document = extract(PAGE, BASE, select=["#con_con"])
    assert (
        document.text
        == "正文第一段。\n分享到微信\n正文第二段。附件1 [P020240101.pdf]\n浏览次数：1234\n内层"
    )
    assert document.links == (Link("http://www.example.gov.cn/n1/c2/att/P020240101.pdf", "附件1"),)


def test_select_union_is_in_document_order_without_duplicates() -> None:
    document = extract(PAGE, BASE, select=["#con_con", "#con_title", "div.inner", "p"])
    lines = document.text.splitlines()
    assert lines[0] == "关于船舶工业的通知"
    assert lines.count("内层") == 1 and lines.count("正文第一段。") == 1
    assert "首页" not in document.text and "版权所有" not in document.text


def test_select_a_string_is_one_selector() -> None:
    assert extract(PAGE, BASE, select="#con_title").text == "关于船舶工业的通知"  # type: ignore[arg-type]


def test_select_group_selector() -> None:
    assert (
        extract(PAGE, BASE, select=["#con_title, .footer"]).text == "关于船舶工业的通知\n版权所有"
    )


def test_exclude_removes_before_extraction_and_keeps_following_text() -> None:
    html = "<div id=a>before<span class=x>junk</span>after<b>bold</b><i class=x>x</i>tail</div>"
    assert extract(html, BASE, exclude=[".x"]).text == "beforeafterboldtail"
    document = extract(PAGE, BASE, select=["#con_con"], exclude=[".share", "div.inner"])
    assert document.text == "正文第一段。\n正文第二段。附件1 [P020240101.pdf]\n浏览次数：1234"


def test_exclude_also_removes_links() -> None:
    document = extract(PAGE, BASE, exclude=[".nav"])
    assert [link.text for link in document.links] == ["附件1"]


def test_ignore_patterns_apply_to_text_then_normalise_again() -> None:
    document = extract(PAGE, BASE, select=["#con_con"], ignore=[r"浏览次数[:：]\s*\d+", "^分享.*$"])
    assert document.text == "正文第一段。\n正文第二段。附件1 [P020240101.pdf]\n内层"


def test_ignore_is_multiline_and_accepts_compiled_patterns() -> None:
    document = extract(PAGE, BASE, select=["#con_con"], ignore=[re.compile(r"^正文"), r"段。$"])
    assert document.text.splitlines()[:2] == ["第一", "分享到微信"]


def test_ignore_may_be_a_single_string() -> None:
    document = extract(PAGE, BASE, select="#con_con", ignore=r"浏览次数[:：]\s*\d+")  # type: ignore[arg-type]
    assert "浏览次数" not in document.text and "正文第一段。" in document.text


def test_ignore_that_leaves_a_space_between_hanzi_normalises_it() -> None:
    text = extract("<p>船舶 x 工业</p>", BASE, ignore=["x"]).text
    assert text == "船舶 工业" and comparison_key(text) == "船舶工业"


def test_select_matching_nothing_gives_empty_text_and_a_warning() -> None:
    document, warnings = extract_with_report(PAGE, BASE, select=["div#missing"])
    assert document.text == "" and document.links == ()
    assert document.title == "页"
    assert warnings == ["select 'div#missing' matched nothing"]


def test_select_partly_matching_warns_about_the_missing_one() -> None:
    document, warnings = extract_with_report(PAGE, BASE, select=["#con_title", ".gone"])
    assert document.text == "关于船舶工业的通知"
    assert warnings == ["select '.gone' matched nothing"]


def test_select_on_an_empty_document_warns() -> None:
    document, warnings = extract_with_report("", BASE, select=["#con_con"])
    assert document == Document(title="", text="")
    assert warnings == ["select '#con_con' matched nothing"]


@pytest.mark.parametrize("selector", ["div[", "##x", ":nonsense-pseudo", "a >> b", ""])
def test_invalid_selectors_raise_value_error(selector: str) -> None:
    if not selector:
        assert extract(PAGE, BASE, select=[selector]).text  # empty means "no selector"
        return
    with pytest.raises(ValueError, match="invalid CSS selector"):
        check_selector(selector)
    with pytest.raises(ValueError, match="invalid CSS selector"):
        extract(PAGE, BASE, select=[selector])


def test_invalid_ignore_pattern_raises_value_error() -> None:
    with pytest.raises(ValueError, match="invalid ignore pattern"):
        check_pattern("(unclosed")
    with pytest.raises(ValueError, match="invalid ignore pattern"):
        extract(PAGE, BASE, ignore=["[z-a]"])


# --- links ----------------------------------------------------------------------------


def test_links_absolute_with_base_element() -> None:
    html = """<head><base href="/zwgk/"></head><body>
    <a href="tzgg/1.html">通知一</a>
    <a href="../other.html">上级</a>
    <a href="/root.html">根</a>
    <a href="//cdn.example.com/x.pdf">协议相对</a>
    <a href="https://www.miit.gov.cn/a.html">绝对</a>
    <a href="?page=2">下一页</a>
    </body>"""
    assert [link.url for link in extract(html, BASE).links] == [
        "http://www.example.gov.cn/zwgk/tzgg/1.html",
        "http://www.example.gov.cn/other.html",
        "http://www.example.gov.cn/root.html",
        "http://cdn.example.com/x.pdf",
        "https://www.miit.gov.cn/a.html",
        "http://www.example.gov.cn/zwgk/?page=2",
    ]


def test_links_without_base_use_the_page_url() -> None:
    html = '<a href="./202405/t20240510_1.html">一</a><a href="../list.html">二</a>'
    assert [link.url for link in extract(html, BASE).links] == [
        "http://www.example.gov.cn/n1/c2/202405/t20240510_1.html",
        "http://www.example.gov.cn/n1/list.html",
    ]


def test_links_skip_non_pages_and_dedupe_keeping_the_first() -> None:
    html = """
    <a href="javascript:void(0)">js</a><a href=" JavaScript:go()">js2</a>
    <a href="mailto:a@b.cn">mail</a><a href="#top">top</a><a href="#">hash</a>
    <a>no href</a><a href="">empty</a>
    <a href="a.html">第一次</a><a href="a.html">第二次</a>
    <a href="
    b.html">换行</a>"""
    assert extract(html, BASE).links == (
        Link("http://www.example.gov.cn/n1/c2/a.html", "第一次"),
        Link("http://www.example.gov.cn/n1/c2/b.html", "换行"),
    )


def test_link_text_falls_back_to_title_aria_label_and_image_alt() -> None:
    html = """<a href="1.html" title=" 标题 属性 "><span> </span></a>
    <a href="2.html" aria-label="无障碍"></a>
    <a href="3.html"><img src="x.png" alt="图片 说明"></a>
    <a href="4.html"><img src="y.png"></a>
    <a href="5.html">  多个   <b>部分</b>\u3000文本 </a>"""
    assert [link.text for link in extract(html, BASE).links] == [
        "标题 属性",
        "无障碍",
        "图片 说明",
        "",
        "多个 部分 文本",
    ]


def test_links_only_from_the_selected_region() -> None:
    document = extract(PAGE, BASE, select=["#con_title", ".nav"])
    assert [link.text for link in document.links] == ["首页", "通知公告"]


def test_malformed_link_urls_are_skipped() -> None:
    html = '<a href="http://[::1">bad ipv6</a><a href="ok.html">ok</a>'
    assert [link.text for link in extract(html, BASE).links] == ["ok"]


HREF_PARTS = st.sampled_from(
    ["a", "b.html", "..", ".", "", "x-y_z", "%E4%B8%AD", "中文", "?q=1", "#f", ";p", "?", "#"]
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(
        [
            BASE,
            "https://www.gov.cn/zhengce/",
            "http://h",
            "http://h/a/b?x=1#y",
            "https://user@h:8080/a/./b/c.html",
            "ftp://h/a/b",
            "not a url",
        ]
    ),
    prefix=st.sampled_from(
        ["", "/", "./", "../", "//h2/", "http://h3/", "https://h4", "HTTP://H5/"]
    ),
    parts=st.lists(HREF_PARTS, max_size=5),
    sep=st.sampled_from(["/", ""]),
)
def test_link_resolution_matches_urljoin(
    base: str, prefix: str, parts: list[str], sep: str
) -> None:
    href = prefix + sep.join(parts)
    resolved = extract_module._Resolver(base)(href)
    if not href.strip() or href.strip().startswith("#"):
        assert resolved is None
    else:
        assert resolved == urljoin(base, href.strip())


# --- hostile input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n\t ",
        "<!-- only a comment -->",
        "<!DOCTYPE html>",
        "<html></html>",
        "<",
        "</p></div></html>",
        "<p",
        "<<<>>>",
        "<?xml version='1.0'?>",
        "<![CDATA[x]]>",
    ],
)
def test_empty_or_contentless_documents(html: str) -> None:
    document, warnings = extract_with_report(html, BASE)
    assert document.text in ("", "<", "<<<>>>", "<p")
    assert warnings == []


def test_plain_text_document() -> None:
    assert extract("just text, no tags\n第二行", BASE).text == "just text, no tags 第二行"


def test_xml_declaration_with_encoding_in_a_str() -> None:
    html = (
        '<?xml version="1.0" encoding="gbk"?>\n'
        '<html><head><meta charset="gb2312"></head><body><p>国防科工局</p></body></html>'
    )
    assert extract(html, BASE).text == "国防科工局"


def test_nul_and_control_characters() -> None:
    html = "<p>a\x00b\x01c\x08d\x0be\x0cf\x1bg\x7fh</p><p>船\x00舶</p>"
    text = extract(html, BASE).text
    assert text == "a b c d e f g h\n船 舶" and comparison_key(text).endswith("船舶")


def test_control_and_marker_characters_from_entities() -> None:
    html = "<p id=x>a&#1;b&#xFDD0;c&#xFFFE;d&#x200b;e</p><p id=y>z</p>tail&#2;"
    document = extract(html, BASE, exclude=["#y"])
    assert document.text == "ab\ncde\ntail"


def test_lone_surrogates_and_noncharacters_in_the_str() -> None:
    html = "<p>a\ud800b\udfffc\ufffed\uffff\ufdd0e\ufdd1f</p>"
    assert extract(html, BASE).text == "a\ufffdb\ufffdc d e f"


def test_broken_markup() -> None:
    html = "<div><p>一<b>二<i>三</p>四</b></i><table><td>五<tr>六</table><li>七<li>八</ul></span>"
    assert extract(html, BASE).text.splitlines() == ["一二三", "四", "五", "六", "七", "八"]


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<o:p>Word</o:p><p>export</p>", "Word\nexport"),
        ("<x:y:z>prefixed</x:y:z>", "prefixed"),
        ("<a中>unicode tag</a中>", "unicode tag"),
        ("<xsl:template>xsl-looking</xsl:template>", "xsl-looking"),
        (
            '<div xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            '<xsl:value-of select="1"/>k</div>',
            "k",
        ),
        ('<p xmlns="http://www.w3.org/1999/XSL/Transform">namespaced</p>', "namespaced"),
    ],
)
def test_odd_element_names(html: str, text: str) -> None:
    assert extract(html, BASE).text == text


def test_huge_single_line() -> None:
    line = "国防科工局船舶工业" * 120_000  # about 3 MB of UTF-8 on one line, no tags
    assert extract(line, BASE).text == line


def test_ten_thousand_nested_divs() -> None:
    html = "<p>before</p>" + "<div>" * 10_000 + "深处" + "</div>" * 10_000 + "<p>after</p>"
    document, warnings = extract_with_report(html, BASE)
    assert document.text.splitlines() == ["before", "深处", "after"]
    assert warnings and "too deeply" in warnings[0]


def test_ten_thousand_unclosed_font_tags_keep_structure() -> None:
    html = "<div id=body>" + "<font>字" * 10_000 + "</div><p id=end>结束</p>"
    document, warnings = extract_with_report(html, BASE, select=["#end"])
    assert document.text == "结束"
    assert warnings == ["page nests tags too deeply; inline formatting tags were ignored"]


def test_moderately_deep_tree_takes_the_iterative_path() -> None:
    depth = 500  # beyond the XSLT limit, within libxml2's
    html = "<div>" * depth + "<p>段一</p><p>段二</p>" + "</div>" * depth + "<p>尾</p>"
    document, warnings = extract_with_report(html, BASE, select=["p"])
    assert document.text == "段一\n段二\n尾"
    assert warnings == []


def test_one_megabyte_page() -> None:
    paragraph = (
        "<p>　　国防科工局发布关于船舶工业高质量发展的通知。<a href='./P{0}.pdf'>附件{0}</a></p>"
    )
    html = "<html><body>" + "".join(paragraph.format(i) for i in range(9_000)) + "</body></html>"
    assert len(html.encode()) > 1_000_000
    document = extract(html, BASE)
    assert len(document.text.splitlines()) == 9_000
    assert len(document.links) == 9_000


HTML_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<div>",
        "</div>",
        "<br>",
        "<table>",
        "<tr>",
        "<td>",
        "</td>",
        "<li>",
        "<pre>",
        "</pre>",
        "<script>",
        "</script>",
        "<style>",
        "<a href='x'>",
        "<a href='javascript:1'>",
        "</a>",
        "<html>",
        "</html>",
        "<head>",
        "<title>",
        "</title>",
        "<base href='//h/'>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<?xml encoding='gbk'?>",
        "&nbsp;",
        "&#0;",
        "&#xFDD0;",
        "&#1;",
        "&#xD800;",
        "\u3000",
        "\u200b",
        "\x00",
        "\ufdd0",
        "\ud800",
        "船舶",
        " ",
        "\n",
        "<",
        ">",
    ]
)


@settings(max_examples=300, deadline=None)
@given(html=st.text(max_size=400))
def test_extract_never_raises_on_arbitrary_text(html: str) -> None:
    _check_invariants(extract_with_report(html, BASE, select=["p", "div > a"], exclude=["td"])[0])
    _check_invariants(extract(html, BASE))


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.one_of(HTML_PIECES, st.text(max_size=5)), max_size=60))
def test_extract_never_raises_on_tag_soup(pieces: list[str]) -> None:
    html = "".join(pieces)
    _check_invariants(extract(html, BASE))
    _check_invariants(extract(html, BASE, select=["td", "p"], exclude=["a"], ignore=["船"]))


def _check_invariants(document: Document) -> None:
    for line in document.text.split("\n") if document.text else []:
        assert line and line == line.strip()
        assert "  " not in line
        assert not re.search("[\u3000\xa0\u200b\ufeff\ufdd0\ufdd1\t\r\x00]", line)
    assert "\n" not in document.title
    for link in document.links:
        assert isinstance(link.url, str) and link.url


def test_every_golden_file_belongs_to_a_golden_case() -> None:
    files = {p.relative_to(PAGES).as_posix() for p in PAGES.glob("*/*.expected.txt")}
    assert files == {g.page + ".expected.txt" for g in GOLDEN}


# --- the text of record keeps what a reader sees, and only that -------------------------


def _page_text(page: str, **options: object) -> str:
    return extract(_html(page), BASE, **options).text  # type: ignore[arg-type]


def test_spaces_between_hanzi_are_kept_where_the_page_shows_them() -> None:
    gazette = _page_text("gov.cn/gongbao_2007-23_content_711039.html")
    assert (
        "主办单位：国务院办公厅 运行维护单位：中国政府网运行中心" in gazette
    )  # real bytes: U+3000
    html = (
        "<p>工业和信息化部 国家发展改革委 国家国防科技工业局</p>"
        "<p>联系人：王 堃　　电话：010-68205555</p><p>工信部 通知公告</p>"
    )
    assert extract(html, BASE).text.splitlines() == [
        "工业和信息化部 国家发展改革委 国家国防科技工业局",
        "联系人：王 堃 电话：010-68205555",
        "工信部 通知公告",
    ]


def test_a_metadata_row_of_spans_keeps_its_fields_apart() -> None:
    text = _page_text("fgw.zj.gov.cn/article_art_1621004_30332664.html")
    assert "发布日期：2016-11-22 浏览次数： 信息来源：省发改委" in text.splitlines()
    html = (
        '<div class="cinfo"><span id="con_time">发布时间：2022-03-15 10:30</span>\n'
        "  <span>来源：装备工业二司</span>\n  <span>浏览次数：123</span></div>"
    )
    assert extract(html, BASE).text == "发布时间：2022-03-15 10:30 来源：装备工业二司 浏览次数：123"


def test_text_hidden_from_readers_is_not_text() -> None:
    zhejiang = _page_text("fgw.zj.gov.cn/article_art_1621004_30332664.html")
    assert "3185" not in zhejiang and "/col/col1599522/index.html" not in zhejiang
    assert zhejiang.splitlines()[0] == "1-10月德清县固定资产投资结构趋稳趋优"  # its <title>
    gazette = _page_text("gov.cn/gongbao_2007-23_content_711039.html")
    # the share widget's title (style="display:none") is not on the page a reader sees
    assert not gazette.endswith("年末国债余额限额的决议")
    html = """<div>shown<div hidden>attribute</div><p style="COLOR:red; Display : None">style</p>
    <input type="HIDDEN" value="x"><span aria-hidden="true">aria</span>tail</div>"""
    assert extract(html, BASE).text == "shown ariatail"


def test_the_title_is_the_first_line_unless_a_region_is_selected() -> None:
    html = "<html><head><title>关于船舶工业的通知</title></head><body><div id=c>正文</div></body>"
    assert extract(html, BASE).text == "关于船舶工业的通知\n正文"
    assert extract(html, BASE, select=["#c"]).text == "正文"  # the user chose the region
    assert extract("<body><h1>标题</h1><p>正文</p></body>", BASE).text == "标题\n正文"
