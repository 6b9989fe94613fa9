"""The soft-404 check: a short page that says it is gone, not a '404' that is a number."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from httpserver import HTTPServer

from watcher.analysis.analyse import Page, document_of, looks_removed


def _zip_of(size: int) -> bytes:
    """A real ZIP archive of exactly ``size`` bytes (its comment pads it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("申报表.txt", "关于船舶工业科研项目的申报表。\n" * 3)
    body = buffer.getvalue()
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = b"x" * (size - len(body))
    body = buffer.getvalue()
    assert len(body) == size and zipfile.ZipFile(io.BytesIO(body)).testzip() is None
    return body


def _says_gone(body: bytes, content_type: str) -> bool:
    page = Page(body=body, content_type=content_type, final_url="http://www.miit.gov.cn/a.htm")
    document = document_of(page)[0]
    return looks_removed(document.title, document.text)


def test_a_404_byte_zip_is_not_a_soft_404() -> None:
    """Its text is its own description line, "[zip, 404 bytes, sha256 …]"."""
    body = _zip_of(404)
    page = Page(body=body, content_type="application/zip", final_url="http://x.gov.cn/a.zip")
    assert document_of(page)[0].text.startswith("[zip, 404 bytes, sha256 ")
    assert not _says_gone(body, "application/zip")


def _short_notice(line: str) -> bytes:
    return (
        '<html><head><meta charset="gb2312"><title>关于公布申报结果的通知</title></head>'
        f"<body><h1>关于公布申报结果的通知</h1><p>{line}</p></body></html>"
    ).encode("gbk")


# Pairs: a soft-404 page whose "404" is a status code, and a notice whose "404" is
# a number or a size.
PAIRS = [
    (
        ("404", "<h1>404</h1><p>抱歉，您访问的内容走丢了。</p><a href='/'>返回首页</a>"),
        "共收到申报材料 1,404 份。",
    ),
    (("404 Not Found", "<h1>404 Not Found</h1><hr><center>nginx</center>"), "共 1,404 条记录。"),
    (("错误提示", "<p>HTTP 404：请求的资源暂时无法访问</p>"), "项目总投资 404.5 万元。"),
    (("提示", "<p>Error 404</p><p>返回首页</p>"), "附件：申报汇总表 [sbb.zip] (404 KB)"),
    (("提示", "<div class='err'>404页面</div>"), "附件：申报汇总表 [sbb.zip] 404 bytes"),
]


@pytest.mark.parametrize(("gone", "number"), PAIRS)
def test_404_as_a_status_is_a_soft_404_and_as_a_number_or_size_is_not(
    gone: tuple[str, str], number: str
) -> None:
    title, text = gone
    html = f"<html><head><title>{title}</title></head><body>{text}</body></html>"
    assert _says_gone(html.encode("gbk"), "text/html; charset=gbk")
    assert not _says_gone(_short_notice(number), "text/html")


def test_a_404_byte_zip_attachment_is_not_suspected_removed(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """A notice's ZIP attachment of 404 bytes, checked and re-checked over HTTP, stays
    active and raises no removal alert."""
    from test_listings import UTF8, Site

    site = Site(http_server, tmp_path)
    site.write_config(baseline=False, recheck="0s")
    site.check()
    notice = (
        '<html><head><meta charset="utf-8"><title>关于报送申报材料的通知</title></head><body>'
        '<div id="con_con"><p>申报表见附件。</p><a href="/files/sbb.zip">附件：申报表</a>'
        "</div></body></html>"
    )
    site.server.route("/art/8.html", body=notice.encode(), headers=UTF8)
    site.server.route(
        "/files/sbb.zip", body=_zip_of(404), headers={"Content-Type": "application/zip"}
    )
    site.items.insert(0, ("/art/8.html", "关于报送申报材料的通知", "2026-11-27"))
    site.publish()
    line = site.check()
    assert any(d["url"].endswith("/files/sbb.zip") for d in line["documents"])
    for _ in range(2):  # removal_checks: 2
        site.check()
    assert site.documents()["/files/sbb.zip"].state == "active"
    assert not [a for a in site.alerts() if "sbb.zip" in str(a) and "remov" in str(a).lower()]
