"""Real-shaped pages for the tests: a gov.cn policy page (metadata, listings, search)
and real pages with two paragraphs swapped (moves, keywords).

The real gov.cn page in ``fixtures/pages/gov.cn`` is a gazette item without the
policy library's ``table.bd1``; this puts one above its body, as gov.cn's policy
pages carry it (research notes: 索引号, 主题分类, 发文机关, 成文日期, 发文字号,
发布日期; labels padded with spaces).
"""

from __future__ import annotations

from pathlib import Path

PAGES = Path(__file__).parent / "fixtures" / "pages"
CMSE = PAGES / "cmse.gov.cn" / "article_t20210106_47506.html"  # a real page
NOTICE = PAGES / "made" / "notice_gbk_meta_gb2312.html"  # a real-shaped GBK notice


def swap_paragraphs(html: str, first: str, second: str) -> str:
    """The page with the two ``<p>`` holding ``first`` and ``second`` swapped."""

    def para(key: str) -> tuple[int, int]:
        at = html.index(key)
        return html.rindex("<p", 0, at), html.index("</p>", at) + 4

    (a1, b1), (a2, b2) = sorted([para(first), para(second)])
    return html[:a1] + html[a2:b2] + html[b1:a2] + html[a1:b1] + html[b2:]


GOV_CN_PAGE = (
    Path(__file__).parent / "fixtures" / "pages" / "gov.cn" / "gongbao_2007-23_content_711039.html"
)

POLICY_TABLE = """<table class="bd1"><tbody>
<tr><td><b>索<span></span>引<span></span>号：</b></td><td>000014349/2022-00012</td>
    <td><b>主题分类：</b></td><td class="zcwj_ztfl">工业、交通\\信息产业（含电信）</td></tr>
<tr><td><b>发文机关：</b></td><td>工业和信息化部</td>
    <td><b>成文日期：</b></td><td>2022年03月01日</td></tr>
<tr><td><b>发文字号：</b></td><td>工信部联规〔2022〕12号</td>
    <td><b>发布日期：</b></td><td>2022年03月08日</td></tr>
</tbody></table>
"""


def gov_policy_page(table: str = POLICY_TABLE) -> bytes:
    """The real gov.cn page with the policy library's table.bd1 above its body, as
    gov.cn's policy pages carry it (the real page is a gazette item without one)."""
    html = GOV_CN_PAGE.read_text(encoding="utf-8")
    anchor = '<div class="pages_content" id="UCAP-CONTENT">'
    assert anchor in html
    return html.replace(anchor, table + anchor, 1).encode("utf-8")
