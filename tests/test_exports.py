"""Exports and citations over a real store filled by real checks of a local site: a
gov.cn policy page (文号, 发文机关, dates), a page whose title looks like a formula, a
PDF served as octet-stream under a Chinese file name, and a listing of the notice.
Every export is opened as Excel would read it (csv with the BOM, openpyxl)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import openpyxl
import pytest
from click.testing import CliRunner
from clock import FakeClock
from govpages import gov_policy_page
from httpserver import HTTPServer
from pgstores import copy_store
from warcio.archiveiterator import ArchiveIterator

from watcher.cli.main import main
from watcher.export.records import notice_title
from watcher.export.tables import Table, escape_formula, to_csv, to_xlsx
from watcher.store.index import CaptureRow, Store
from watcher.web.app import create_app
from watcher.web.security import PAGE_CSP

NOW = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)  # already 12-03 in Beijing
FORMULA_TITLE = '=HYPERLINK("http://evil.example","船舶")'
FORMULA_PAGE = (
    f"<html><head><meta charset=utf-8><title>{FORMULA_TITLE}</title></head><body>"
    "<div id=c><p>国防科工局关于船舶工业的通知。</p></div></body></html>"
)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
PDF_NAME = "关于船舶工业的通知.pdf"
LISTING = (
    "<html><head><meta charset=utf-8><title>政策文件</title></head><body>"
    '<ul class="list"><li><a href="/policy">工业和信息化部关于示例工作的通知</a>'
    "<span>2022-03-08</span></li></ul></body></html>"
)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.output


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("exports")
    with HTTPServer() as server:
        html = {"Content-Type": "text/html; charset=utf-8"}
        server.route("/policy", body=gov_policy_page(), headers=html)
        server.route("/formula", body=FORMULA_PAGE.encode(), headers=html)
        server.route("/list", body=LISTING.encode(), headers=html)
        disposition = f"attachment; filename*=UTF-8''{quote(PDF_NAME)}"
        server.route(
            "/file",
            body=PDF,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": disposition,
            },
        )
        config = folder / "targets.yaml"
        config.write_text(
            f"""settings: {{host_delay: 0, base_url: "http://watcher.example/"}}
keywords:
  shipbuilding: [船舶]
  sastind: [国防科工局]
targets:
  - name: policy
    url: {server.url("/policy")}
  - name: formula
    url: {server.url("/formula")}
  - name: file
    url: {server.url("/file")}
  - name: listing
    url: {server.url("/list")}
    follow: {{links: "ul.list a"}}
""",
            encoding="utf-8",
        )
        data = folder / "snapshots"
        common = ["--config", str(config), "--data", str(data)]
        run(*common, "check", "--no-notify")
        changed = FORMULA_PAGE.replace("通知。", "通知。国防科工局发布船舶新规。")
        server.route("/formula", body=changed.encode(), headers=html)
        run(*common, "check", "--no-notify")
        yield config, data


@pytest.fixture
async def client(site: tuple[Path, Path]) -> AsyncIterator[httpx.AsyncClient]:
    config, data = site
    app = create_app(data, config, clock=FakeClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        yield c


def captures(site: tuple[Path, Path], name: str) -> list[CaptureRow]:
    store = Store(site[1], readonly=True)
    try:
        return store.history(name)
    finally:
        store.close()


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM: Excel would read GBK"
    return list(csv.DictReader(io.StringIO(body[3:].decode("utf-8"), newline="")))


def read_xlsx(body: bytes) -> tuple[openpyxl.worksheet.worksheet.Worksheet, list[dict]]:
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    rows = list(sheet.iter_rows(values_only=True))
    return sheet, [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


# --------------------------------------------------------------------------- the writer


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_are_escaped_in_both_formats(start: str) -> None:
    value = f"{start}cmd|' /C calc'!A0"
    assert escape_formula(value) == "'" + value
    table = Table("t", ["Title", "Count"], [[value, -3]])
    row = read_csv(to_csv(table))[0]
    assert row == {"Title": "'" + value, "Count": "-3"}  # a number stays a number
    sheet, rows = read_xlsx(to_xlsx(table))
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == "'" + value
    assert rows[0]["Count"] == -3


@pytest.mark.parametrize(
    ("title", "cited"),
    [
        ("国务院办公厅关于示例工作的通知_国务院文件_中国政府网", "国务院办公厅关于示例工作的通知"),
        ("关于开展质量提升行动的通知 - 工业和信息化部", "关于开展质量提升行动的通知"),
        ("政策文件", "政策文件"),
        ("_首页_", "_首页_"),  # nothing left of a title: kept whole
    ],
)
def test_a_page_title_loses_the_sites_trail(title: str, cited: str) -> None:
    assert notice_title(title) == cited


def test_plain_text_is_not_touched() -> None:
    assert escape_formula("工信部联规〔2022〕12号") == "工信部联规〔2022〕12号"
    assert escape_formula("a=b") == "a=b"


# --------------------------------------------------------------------------- exports


async def test_hits_csv_cites_each_capture(client, site) -> None:
    answer = await client.get("/export/hits.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="watcher-hits-2026-12-03.csv"' in answer.headers["content-disposition"]
    rows = read_csv(answer.content)
    assert list(rows[0])[:5] == ["Target", "Group", "Term", "Where", "Count"]
    formula = [r for r in rows if r["Target"] == "formula"]
    assert formula and {r["Group"] for r in formula} == {"shipbuilding", "sastind"}
    newest = captures(site, "formula")[0]
    row = next(r for r in formula if r["Capture"] == newest.id)
    assert row["Title"] == "'" + FORMULA_TITLE
    assert row["SHA-256"] == newest.raw_sha256
    assert row["Permalink"] == f"http://watcher.example/c/{newest.id}"
    utc = datetime.fromisoformat(row["Captured (UTC)"])
    assert row["Captured (UTC)"].endswith("Z") and utc == newest.fetched_at
    local = datetime.fromisoformat(row["Captured (Asia/Shanghai)"])
    assert local.utcoffset() == timedelta(hours=8) and local == utc


async def test_hits_xlsx_has_a_frozen_bold_header_and_real_datetimes(client, site) -> None:
    answer = await client.get("/export/hits.xlsx", params={"target": "formula"})
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    assert "watcher-hits-formula-2026-12-03.xlsx" in answer.headers["content-disposition"]
    sheet, rows = read_xlsx(answer.content)
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.bold for cell in sheet[1])
    assert {r["Target"] for r in rows} == {"formula"}
    title = next(c for c in sheet[2] if c.column_letter == _column(sheet, "Title"))
    assert title.data_type == "s" and title.value == "'" + FORMULA_TITLE  # text, not a formula
    when = rows[0]["Captured (UTC)"]
    assert isinstance(when, datetime)
    newest = captures(site, "formula")[0]
    assert when == newest.fetched_at.replace(tzinfo=None, microsecond=when.microsecond)
    width = sheet.column_dimensions[_column(sheet, "SHA-256")].width
    assert width >= 60  # a 64-character hash, capped at the widest column


def _column(sheet, header: str) -> str:
    return next(c.column_letter for c in sheet[1] if c.value == header)


async def test_documents_export_carries_the_notice_metadata(client) -> None:
    answer = await client.get("/export/documents.xlsx", params={"target": "listing"})
    assert answer.status_code == 200
    _, rows = read_xlsx(answer.content)
    assert len(rows) == 1
    doc = rows[0]
    assert doc["Listing"] == "listing" and doc["Kind"] == "document"
    assert doc["发文字号"] == "工信部联规〔2022〕12号"
    assert doc["发文机关"] == "工业和信息化部"
    assert doc["发布日期"] == "2022-03-08"
    assert doc["URL"].endswith("/policy")
    assert doc["Permalink"].startswith("http://watcher.example/c/")
    every = read_csv((await client.get("/export/documents.csv")).content)
    assert [r["Document"] for r in every] == [doc["Document"]]


async def test_history_export_and_bad_requests(client, site) -> None:
    answer = await client.get("/t/formula/history.csv")
    assert "watcher-history-formula-2026-12-03.csv" in answer.headers["content-disposition"]
    rows = read_csv(answer.content)
    assert [r["Capture"] for r in rows] == [c.id for c in captures(site, "formula")]
    assert [r["Kind"] for r in rows] == ["changed", "new"]
    assert (await client.get("/t/nothing/history.csv")).status_code == 404
    wrong = await client.get("/export/hits.pdf")
    assert wrong.status_code == 404 and ".csv or .xlsx" in wrong.text


async def test_inbox_export_keeps_the_inbox_filters(client) -> None:
    everything = read_csv((await client.get("/export/inbox.csv", params={"view": "all"})).content)
    assert {r["Target"] for r in everything} >= {"formula", "policy", "file"}
    only = await client.get("/export/inbox.csv", params={"view": "all", "target": "formula"})
    rows = read_csv(only.content)
    assert rows and {r["Target"] for r in rows} == {"formula"}
    assert any(r["Title"] == "'" + FORMULA_TITLE for r in rows)
    page = (await client.get("/inbox", params={"view": "all", "target": "formula"})).text
    assert 'href="/export/inbox.xlsx?view=all&amp;target=formula"' in page


async def test_pages_link_their_exports(client) -> None:
    assert 'href="/t/policy/history.xlsx"' in (await client.get("/t/policy")).text
    assert 'href="/export/documents.csv?target=listing"' in (await client.get("/t/listing")).text
    hits = (await client.get("/hits", params={"group": "sastind"})).text
    assert 'href="/export/hits.csv?group=sastind"' in hits
    assert 'href="/export/hits.xlsx"' in (await client.get("/hits")).text


# --------------------------------------------------------------------------- citation


async def test_capture_page_cites_the_notice(client, site) -> None:
    capture = captures(site, "policy")[0]
    html = (await client.get(f"/c/{capture.id}")).text
    start = html.index('id="citation-text"')
    text = html[html.index(">", start) + 1 : html.index("</pre>", start)]
    local = capture.fetched_at.astimezone(UTC) + timedelta(hours=8)
    assert text.splitlines() == [
        "全国人民代表大会常务委员会关于批准财政部发行特别国债购买外汇及调整2007 年末"
        "国债余额限额的决议",  # the page's title without "__2007年第23号国务院公报_中国政府网"
        "发文机关: 工业和信息化部",
        "发文字号: 工信部联规〔2022〕12号",
        "成文日期: 2022-03-01 · 发布日期: 2022-03-08",
        f"URL: {capture.final_url}",
        f"Captured by watcher at {capture.fetched_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({local:%Y-%m-%d %H:%M:%S} Beijing time), HTTP 200, SHA-256 {capture.raw_sha256}",
        f"Capture: http://watcher.example/c/{capture.id}",
        f"WARC: http://watcher.example/c/{capture.id}/warc",
    ]
    assert "工业和信息化部. " in html and "工信部联规〔2022〕12号[EB/OL]. (2022-03-08)" in html
    assert f'href="/c/{capture.id}/warc"' in html
    assert 'data-copy="citation-text"' in html


async def test_capture_warc_download(client, site) -> None:
    capture = captures(site, "policy")[0]
    answer = await client.get(f"/c/{capture.id}/warc")
    assert answer.status_code == 200
    assert f"policy-{capture.id}.warc.gz" in answer.headers["content-disposition"]
    bodies = {
        (r.rec_type, r.rec_headers.get_header("WARC-Target-URI")): r.content_stream().read()
        for r in ArchiveIterator(io.BytesIO(answer.content))
    }
    assert bodies[("response", capture.final_url)] == gov_policy_page()
    assert ("metadata", capture.final_url) in bodies


# --------------------------------------------------------------------------- downloads


async def test_a_pdf_served_as_octet_stream_downloads_as_a_pdf(client, site) -> None:
    capture = captures(site, "file")[0]
    answer = await client.get(f"/c/{capture.id}/download")
    assert answer.content == PDF
    assert answer.headers["content-type"] == "application/pdf"
    disposition = answer.headers["content-disposition"]
    assert f"filename*=UTF-8''{quote(PDF_NAME, safe='')}" in disposition
    assert 'filename="' in disposition and disposition.isascii()
    assert answer.headers["x-original-content-type"] == "application/octet-stream"


async def test_an_html_page_downloads_as_html(client, site) -> None:
    capture = captures(site, "policy")[0]
    answer = await client.get(f"/c/{capture.id}/download")
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert f'filename="policy-{capture.id}.html"' in answer.headers["content-disposition"]
    assert "sandbox" in answer.headers["content-security-policy"]


# --------------------------------------------------------------------------- swagger


async def test_api_docs_load_swagger_from_the_app(client) -> None:
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == PAGE_CSP  # strict as every page
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    assets = {
        "/api/docs/files/swagger-ui-bundle.js": "javascript",
        "/api/docs/files/swagger-ui.css": "text/css",
        "/static/swagger-init.js": "javascript",
    }
    for path, kind in assets.items():
        assert f'"{path}"' in page.text
        asset = await client.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"], path
    bundle = await client.get("/api/docs/files/swagger-ui-bundle.js")
    assert len(bundle.content) > 500_000 and b"SwaggerUIBundle" in bundle.content
    assert (await client.get("/api/openapi.json")).json()["info"]["title"] == "watcher"


# --------------------------------------------------------------------------- time zone


def test_an_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text(
        "settings:\n  host_delay: 0\n  timezone: Asia/Shangai\n"
        "targets:\n  - name: a\n    url: https://www.gov.cn/\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["--config", str(config), "validate"])
    assert result.exit_code == 2
    assert (
        f"{config}:3: settings.timezone: unknown time zone 'Asia/Shangai' "
        "(did you mean 'Asia/Shanghai'?)"
    ) in result.output


async def test_pages_show_times_in_the_configured_zone(site, tmp_path: Path) -> None:
    config, data = site
    capture = captures(site, "formula")[0]
    beijing = capture.fetched_at.astimezone(UTC) + timedelta(hours=8)
    app = create_app(data, config, clock=FakeClock(NOW))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        html = (await c.get(f"/c/{capture.id}")).text
        assert f"{beijing:%Y-%m-%d %H:%M} Beijing time" in html
        assert "(Beijing time)" in (await c.get("/hits")).text  # the column's zone
    utc_config = tmp_path / "targets.yaml"
    utc_config.write_text(
        config.read_text(encoding="utf-8").replace("settings: {", "settings: {timezone: UTC, "),
        encoding="utf-8",
    )
    app = create_app(data, utc_config, clock=FakeClock(NOW))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        html = (await c.get(f"/c/{capture.id}")).text
        assert f"{capture.fetched_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in html
        assert "Beijing time" not in html
        rows = read_csv((await c.get("/t/formula/history.csv")).content)
        assert "Captured (UTC)" in rows[0] and "Captured (Asia/Shanghai)" not in rows[0]


# --------------------------------------------------------------------------- CLI


def test_cli_export_table(site, tmp_path: Path) -> None:
    config, data = site
    common = ["--config", str(config), "--data", str(data)]
    out = tmp_path / "hits.xlsx"
    result = CliRunner().invoke(main, [*common, "export-table", "hits", "-o", str(out)])
    assert result.exit_code == 0, result.output
    _, rows = read_xlsx(out.read_bytes())
    assert {"formula", "policy"} >= {r["Target"] for r in rows} and rows
    assert all(r["Permalink"].startswith("http://watcher.example/c/") for r in rows)
    docs = CliRunner().invoke(
        main, [*common, "export-table", "documents", "--format", "csv", "-o", "-"]
    )
    assert docs.exit_code == 0
    assert read_csv(docs.stdout_bytes)[0]["发文字号"] == "工信部联规〔2022〕12号"
    lacking = CliRunner().invoke(main, [*common, "export-table", "history"])
    assert lacking.exit_code == 2 and "--target" in lacking.output
    unknown = CliRunner().invoke(main, [*common, "export-table", "history", "--target", "nope"])
    assert unknown.exit_code == 2 and "no target named 'nope'" in unknown.output


async def test_a_viewer_may_export_and_nobody_signed_out_may(site, tmp_path: Path) -> None:
    config, data = site
    store = tmp_path / "snapshots"
    copy_store(data, store)  # accounts turn sign-in on: not in the shared store
    common = ["--config", str(config), "--data", str(store)]
    adding = [*common, "user", "add", "vera", "--role", "viewer", "--password-stdin"]
    added = CliRunner().invoke(main, adding, input="correct horse battery\n")
    assert added.exit_code == 0, added.output
    app = create_app(store, config, clock=FakeClock(NOW))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        assert (await c.get("/export/hits.csv")).status_code in (302, 303, 401)
        viewer = await c.get("/export/hits.csv", auth=("vera", "correct horse battery"))
        assert viewer.status_code == 200 and read_csv(viewer.content)
