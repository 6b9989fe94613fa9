"""The text of record as a check compares it: spaces kept but not compared, the
title compared, and an upgrade of the extraction that raises no false alert."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from httpserver import HTTPServer
from test_cli import check_json

from watcher.analysis.analyse import Analysis, Page, analyse, document_of
from watcher.analysis.extract import EXTRACTION_VERSION
from watcher.keywords import KeywordMatcher
from watcher.store.index import Store

PAGES = Path(__file__).parent / "fixtures" / "pages"
GAZETTE = PAGES / "gov.cn" / "gongbao_2007-23_content_711039.html"
# The text of record the previous extraction (version 1) made of the gazette page:
# spaces between Hanzi removed, the hidden share title included, no title line.
GAZETTE_V1_TEXT = GAZETTE.with_name(GAZETTE.name + ".v1.txt")
URL = "https://www.gov.cn/gongbao/content/2007/content_711039.htm"
MATCHER = KeywordMatcher({"people": ["王堃"], "sastind": ["国防科工局"], "title": ["特别国债"]})


def _html(title: str, body: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def _analysed(old: bytes, new: bytes) -> tuple[str, Analysis]:
    old_text = document_of(Page(old, "text/html; charset=utf-8", URL))[0].text
    second, _ = analyse(Page(new, "text/html; charset=utf-8", URL), old_text, MATCHER)
    return old_text, second


def test_a_space_between_hanzi_is_kept_in_the_text_but_is_no_change() -> None:
    old = _html("通知", "<p>联系人：王堃电话：010-1234</p>")
    new = _html("通知", "<p>联系人：王 堃　　电话：010-1234</p>")
    old_text, second = _analysed(old, new)
    assert old_text == "通知\n联系人：王堃电话：010-1234"
    assert not second.text_changed and (second.added, second.removed) == (0, 0)
    assert second.hits == ()  # 王 堃 is still 王堃: no hit added by a space


def test_counts_and_hits_of_a_change_ignore_the_spaces_it_also_made() -> None:
    old = _html("通知", "<p>国防科工局发布通知：联系电话</p>")
    new = _html("通知", "<p>国防 科工局发布 通知：联系 手机</p>")
    _, second = _analysed(old, new)
    assert second.text_changed
    assert (second.added, second.removed) == (2, 2)  # 手机 for 电话; its spaces not counted
    assert second.hits == ()  # neither term was added or removed by this edit


def test_a_change_of_the_title_alone_is_a_change_and_its_terms_are_hits() -> None:
    old = _html("关于发行国债的通知", "<p>正文</p>")
    new = _html("关于发行特别国债的通知", "<p>正文</p>")
    _, second = _analysed(old, new)
    assert second.text_changed and second.added == 2
    assert [(h.term, h.where) for h in second.hits] == [("特别国债", "added")]
    assert second.extraction_version == EXTRACTION_VERSION


CONFIG = """\
settings:
  host_delay: 0
defaults:
  retries: 0
  timeout: 5s
keywords:
  gazette: [特别国债]
targets:
  - name: gazette
    url: {base}/gazette.html
"""


def _serve(server: HTTPServer, body: bytes) -> None:
    server.route("/gazette.html", body=body, headers={"Content-Type": "text/html; charset=utf-8"})


def _count(data: Path, sql: str) -> int:
    with sqlite3.connect(data / "index.sqlite") as conn:
        return int(conn.execute(sql).fetchone()[0])


def _as_version_1(data: Path) -> None:
    """Make the stored capture look as the previous release wrote it."""
    text = GAZETTE_V1_TEXT.read_bytes()
    with Store(data) as store:
        digest = store.blobs.put(text)
    with sqlite3.connect(data / "index.sqlite") as conn:
        conn.execute(
            "UPDATE captures SET text_sha256 = ?, text_size = ?, extraction_version = NULL",
            (digest, len(text)),
        )


def test_an_upgraded_extraction_does_not_report_the_old_captures_as_changed(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    config, data = tmp_path / "targets.yaml", tmp_path / "snapshots"
    config.write_text(CONFIG.format(base=http_server.url("").rstrip("/")), "utf-8")
    page = GAZETTE.read_bytes()
    _serve(http_server, page)
    assert check_json(config, data)[1]["gazette"]["status"] == "new"
    _as_version_1(data)
    messages = _count(data, "SELECT count(*) FROM messages")
    # the server regenerates the page: new bytes, the same text
    _serve(http_server, page.replace(b"</body>", b"<!-- generated again --></body>"))
    code, results = check_json(config, data)
    assert code == 0
    assert results["gazette"]["status"] == "unchanged"
    assert (results["gazette"]["added"], results["gazette"]["removed"]) == (0, 0)
    assert results["gazette"]["hits"] == []
    assert _count(data, "SELECT count(*) FROM messages") == messages  # no alert
    assert _count(data, "SELECT max(extraction_version) FROM captures") == EXTRACTION_VERSION


def test_without_the_old_bytes_the_stored_text_is_compared(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """The raw blob is gone: the old text is all there is; a change is then told
    (spaces alone would not be), never a crash."""
    config, data = tmp_path / "targets.yaml", tmp_path / "snapshots"
    config.write_text(CONFIG.format(base=http_server.url("").rstrip("/")), "utf-8")
    page = GAZETTE.read_bytes()
    _serve(http_server, page)
    check_json(config, data)
    _as_version_1(data)
    with sqlite3.connect(data / "index.sqlite") as conn:
        raw = conn.execute("SELECT raw_sha256 FROM captures").fetchone()[0]
    next((data / "blobs").glob(f"{raw[:2]}/{raw[2:]}*")).unlink()
    _serve(http_server, page.replace(b"</body>", b"<!-- generated again --></body>"))
    code, results = check_json(config, data)
    assert code == 0
    # the hidden share title and the <title> line differ from what version 1 stored
    assert results["gazette"]["status"] == "changed"


def test_a_changed_page_is_read_again_only_when_its_rules_changed(
    tmp_path: Path, monkeypatch
) -> None:
    """Each capture records the rules that made its text; a change under the same
    rules is told without reading the previous bytes again, a change under new rules
    (an ``ignore`` just added) is compared with those bytes read under them, and so
    is one whose previous capture recorded no rules (made before they were)."""
    from watcher.analysis import analyse as analysis

    analysis.init({"people": ["王堃"]}, tmp_path)
    old = _html("通知", "<p>王堃 同志</p><p>浏览次数：5</p>")
    new = _html("通知", "<p>王堃 同志</p><p>浏览次数：6</p>")
    first_page = Page(old, "text/html; charset=utf-8", URL)
    first = analysis.run(first_page)
    assert first.rules_sha256 == analysis.rules_sha256(first_page)
    read: list[bytes] = []
    real = analysis.read_page
    monkeypatch.setattr(
        analysis, "read_page", lambda p, *a, **k: read.append(p.body) or real(p, *a, **k)
    )

    def second(rules: str | None, ignore: tuple[str, ...] = ()) -> Analysis:
        read.clear()
        return analysis.run(
            Page(
                new,
                "text/html; charset=utf-8",
                URL,
                ignore=ignore,
                previous_text_sha256=first.text_sha256,
                previous_source_sha256=first.raw_sha256,
                previous_extraction=EXTRACTION_VERSION,
                previous_content_type="text/html; charset=utf-8",
                previous_rules_sha256=rules,
            )
        )

    same = second(first.rules_sha256)
    assert same.text_changed and read == [new]  # the old bytes were not parsed again
    unknown = second(None)
    assert unknown.text_changed and read == [new, old]
    ruled = second(first.rules_sha256, ignore=(r"浏览次数[:：]\s*\d+",))
    assert not ruled.text_changed and old in read  # only the new rule made a change
    assert ruled.rules_sha256 != first.rules_sha256
