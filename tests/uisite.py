"""A small ministry site checked for real, for the UI's listing and status tests.

A GBK listing of three notices, checked twice by ``watcher check``: between the
checks a notice with a 文号, a 发布日期 and a PDF attachment is published, one notice
is edited and one is taken down (HTTP 410). Beside the listing: a page that worked
once and then fails (HTTP 503), and one whose port never answers.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from httpserver import HTTPServer, Response, free_port

from watcher.cli.main import main
from watcher.store.index import Store

GBK = {"Content-Type": "text/html; charset=gb2312"}
UTF8 = {"Content-Type": "text/html; charset=utf-8"}

ITEMS = [
    ("/art/3.html", "关于开展2026年工业互联网试点工作的通知", "2026-11-20"),
    ("/art/2.html", "关于印发船舶工业标准化工作要点的通知", "2026-11-10"),
    ("/art/1.html", "关于公布第一批示范项目名单的通知", "2026-11-01"),
]
ADDED = ("/art/8.html", "关于推动船舶工业发展的通知", "2026-11-27")
PDF_TITLE = "附件：船舶企业名单.pdf"


def listing_html(items: list[tuple[str, str, str]]) -> bytes:
    rows = "".join(
        f'<li><a href="{href}" title="{title}">{title}</a><span class="date">{date}</span></li>'
        for href, title, date in items
    )
    return (
        '<html><head><meta charset="gb2312"><title>通知公告</title></head><body>'
        f'<ul class="list">{rows}</ul></body></html>'
    ).encode("gbk")


def notice(title: str, body: str) -> bytes:
    return (
        f'<html><head><meta charset="gbk"><title>{title}</title></head><body>'
        f'<div id="con_con"><h1>{title}</h1><p>{body}</p></div></body></html>'
    ).encode("gbk")


def gov_notice() -> bytes:
    return (
        '<html><head><meta charset="utf-8"><title>关于推动船舶工业发展的通知</title></head>'
        '<body><div id="con_con"><table class="bd1"><tr><td>发文机关：</td>'
        "<td>工业和信息化部</td><td>发文字号：</td><td>工信部装〔2026〕12号</td></tr>"
        "<tr><td>发布日期：</td><td>2026年11月27日</td></tr></table>"
        f'<p>推动船舶工业高质量发展。名单见附件。</p><a href="/files/list.pdf">{PDF_TITLE}</a>'
        "</div></body></html>"
    ).encode()


def chinese_pdf(text: str) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.setFont("STSong-Light", 14)
    page.drawString(72, 760, text)
    page.save()
    return out.getvalue()


@dataclass
class UISite:
    data: Path
    config: Path
    refused_port: int
    names: dict[str, str]  # path on the site -> its document's target name

    def captures(self, name: str) -> list[str]:
        """A target's capture ids, oldest first."""
        with Store(self.data, readonly=True) as store:
            return [c.id for c in reversed(store.history(name))]


CONFIG = """\
settings: {{host_delay: 0}}
keywords:
  shipbuilding: [船舶]
targets:
  - name: miit-notices
    title: MIIT 通知公告
    url: {listing}
    retries: 0
    follow:
      links: "ul.list li a"
      select: "#con_con"
      baseline: false
      recheck: 0s
      removal_checks: 1
      removal_after: 0s
  - name: policy
    title: 政策解读
    url: {policy}
    interval: 30m
    retries: 0
  - name: county
    title: 县政府公告
    url: http://127.0.0.1:{port}/notices
    interval: 15m
    retries: 0
"""


def check(config: Path, data: Path) -> None:
    args = ["--config", str(config), "--data", str(data)]
    result = CliRunner().invoke(main, [*args, "check", "--no-notify"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1), result.output  # 1: a failing target failed
    CliRunner().invoke(main, [*args, "reindex"])


def build(folder: Path) -> UISite:
    """Three real checks; the listing's notices change before the last."""
    port = free_port()
    with HTTPServer() as server:
        server.route("/list.html", body=listing_html(ITEMS), headers=GBK)
        for href, title, _ in ITEMS:
            server.route(href, body=notice(title, f"{title}。正文。"), headers=GBK)
        ok = Response(200, notice("政策解读", "解读。"), GBK)
        server.route("/policy", sequence=[ok, Response(503, b"busy")])
        config = folder / "targets.yaml"
        config.write_text(
            CONFIG.format(
                listing=server.url("/list.html"), policy=server.url("/policy"), port=port
            ),
            encoding="utf-8",
        )
        data = folder / "snapshots"
        check(config, data)
        check(config, data)
        server.route(ADDED[0], body=gov_notice(), headers=UTF8)
        server.route(
            "/files/list.pdf",
            body=chinese_pdf("入选企业：某某船舶重工集团有限公司"),
            headers={"Content-Type": "application/pdf"},
        )
        server.route(
            "/art/2.html", body=notice(ITEMS[1][1], "要点已更新：增加船舶标准。"), headers=GBK
        )
        server.route("/art/1.html", status=410, body=b"gone")
        server.route("/list.html", body=listing_html([ADDED, *ITEMS]), headers=GBK)
        check(config, data)
        names = {}
        with Store(data, readonly=True) as store:
            for name in store.target_names():
                if "~" in name:
                    url = store.history(name, 1)[0].url if store.history(name, 1) else None
                    if url:
                        names["/" + url.split("/", 3)[3]] = name
    assert set(names) >= {"/art/1.html", "/art/2.html", "/art/8.html", "/files/list.pdf"}, names
    return UISite(data, config, port, names)


def dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)
