"""WARC export end to end: real checks of a real local site fill a real store, the
export is read back by warcio's own tools (``warcio check``, ``warcio index``, the
ArchiveIterator), and every body must come out byte for byte as stored."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from httpserver import HTTPServer, compress
from pgstores import copy_store
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from watcher.cli.main import main
from watcher.export.warc import ExportError, ExportStats, captures_of, export
from watcher.store.index import CaptureRow, Store

WARCIO = str(Path(sys.executable).with_name("warcio"))

GBK_PAGE = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>关于船只制造的通知</title></head><body><div id="con">
<p>各有关单位：今年船只建造加快，朱镕基、王堃、李喆参加了会议。</p></div></body></html>"""
GBK_CHANGED = GBK_PAGE.replace("建造加快", "建造大幅加快")
GBK_FILENAME = "通知.html".encode("gbk")  # sent raw in a header: not ASCII, not UTF-8
UTF8_HEADER = "国防科工局".encode()  # sent raw in another page's header, as UTF-8

GZ_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>国防科工局要闻</title>
</head><body><p>国防科工局召开会议，部署船舶工业高质量发展工作。</p></body></html>"""
NEW_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>新地址</title></head>
<body><p>通知已迁移到新地址。</p></body></html>"""
CHUNKED_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>分块</title></head>
<body><p>分块传输的页面内容。</p></body></html>"""

CONFIG = """\
settings:
  host_delay: 0
defaults:
  retries: 0
  timeout: 5s
targets:
  - name: gbk-notice
    url: {base}/gbk.html
  - name: gz-news
    url: {base}/gz.html
  - name: moved
    url: {base}/old
  - name: chunked
    url: {base}/chunked.html
  - name: broken
    url: {base}/missing
"""


@dataclass(frozen=True)
class Site:
    data: Path
    urls: dict[str, str]  # path -> absolute URL on the (now stopped) server


def check(config: Path, data: Path) -> int:
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--no-notify"]
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two checks of a small site: a GBK page (changed between them, with a raw GBK
    header), a gzip-encoded page, a redirect, a chunked page and a 404."""
    folder = tmp_path_factory.mktemp("site")
    with HTTPServer() as server:
        gbk_headers = [
            ("Content-Type", "text/html"),
            # BaseHTTPRequestHandler writes header text as Latin-1: these are GBK bytes
            ("Content-Disposition", f'inline; filename="{GBK_FILENAME.decode("latin-1")}"'),
        ]
        server.route("/gbk.html", body=GBK_PAGE.encode("gbk"), headers=gbk_headers)
        server.route(
            "/gz.html",
            body=compress(GZ_PAGE.encode(), "gzip"),
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Content-Encoding": "gzip",
                "X-Source": UTF8_HEADER.decode("latin-1"),
            },
        )
        server.redirect("/old", "/new.html")
        server.route("/new.html", body=NEW_PAGE.encode(), headers={"Content-Type": "text/html"})
        server.route(  # a callable body is sent with Transfer-Encoding: chunked
            "/chunked.html",
            body=lambda: [CHUNKED_PAGE.encode()[:50], CHUNKED_PAGE.encode()[50:]],
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
        config = folder / "targets.yaml"
        config.write_text(CONFIG.format(base=server.url("").rstrip("/")), "utf-8")
        data = folder / "snapshots"
        assert check(config, data) == 1  # `broken` failed (404), the others were stored
        server.route("/gbk.html", body=GBK_CHANGED.encode("gbk"), headers=gbk_headers)
        assert check(config, data) == 1
        paths = ["/gbk.html", "/gz.html", "/old", "/new.html", "/chunked.html"]
        urls = {p: server.url(p) for p in paths}
    yield Site(data, urls)


@dataclass
class Record:
    type: str
    headers: StatusAndHeaders
    http: StatusAndHeaders | None
    payload: bytes
    offset: int

    def header(self, name: str) -> str | None:
        return self.headers.get_header(name)


def read_warc(source: Path | bytes) -> list[Record]:
    data = source if isinstance(source, bytes) else source.read_bytes()
    records = []
    iterator = ArchiveIterator(io.BytesIO(data), check_digests="raise")
    for record in iterator:
        payload = record.content_stream().read()
        offset = iterator.get_record_offset()
        records.append(
            Record(record.rec_type, record.rec_headers, record.http_headers, payload, offset)
        )
    return records


def fields(payload: bytes) -> dict[str, str]:
    lines = payload.decode("utf-8").split("\r\n")
    return dict(line.split(": ", 1) for line in lines if line)


def all_captures(store: Store) -> list[CaptureRow]:
    rows = [row for name in store.target_names() for row in store.history(name)]
    return sorted(rows, key=lambda r: (r.fetched_at, r.id))


def warcio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARCIO, *args], capture_output=True, text=True, timeout=60)


def do_export(site: Site, out: Path, *names: str) -> tuple[ExportStats, list[CaptureRow]]:
    seen: list[CaptureRow] = []
    with Store(site.data, readonly=True) as store:
        wanted = names or tuple(store.target_names())
        stats = export(store, wanted, out, on_capture=seen.append)
    return stats, seen


# --------------------------------------------------------------------------- the file


@pytest.mark.parametrize("name", ["evidence.warc", "evidence.warc.gz"])
def test_warcio_check_verifies_every_digest_and_index_lists_every_record(
    site: Site, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    stats, seen = do_export(site, out)
    assert stats.captures == 5 and stats.records == 1 + 3 * 5
    assert stats.bytes_written == out.stat().st_size and stats.path == out
    assert stats.empty_targets == ["broken"]
    with Store(site.data, readonly=True) as store:
        assert [r.id for r in seen] == [r.id for r in all_captures(store)]  # oldest first

    checked = warcio("check", "-v", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("digest pass") == stats.records  # every record has a digest
    assert "fail" not in checked.stdout

    indexed = warcio("index", "-f", "offset,warc-type,warc-target-uri,http:status", str(out))
    assert indexed.returncode == 0, indexed.stderr
    rows = [json.loads(line) for line in indexed.stdout.splitlines()]
    assert [r["warc-type"] for r in rows] == ["warcinfo"] + ["response", "request", "metadata"] * 5
    responses = [
        (r["warc-target-uri"], r["http:status"]) for r in rows if r["warc-type"] == "response"
    ]
    u = site.urls
    first_four = {(u["/gbk.html"], "200"), (u["/gz.html"], "200"), (u["/new.html"], "200")}
    first_four.add((u["/chunked.html"], "200"))
    assert set(responses[:4]) == first_four  # the first check, in whatever order it ran
    assert responses[4] == (u["/gbk.html"], "200")  # the change, last
    assert u["/old"] not in indexed.stdout  # the redirect's answer was not stored

    if name.endswith(".gz"):  # one gzip member per record: each offset starts one
        raw = out.read_bytes()
        offsets = [int(r["offset"]) for r in rows]
        assert offsets == sorted(set(offsets))
        assert all(raw[o : o + 2] == b"\x1f\x8b" for o in offsets)
        assert gzip.decompress(raw).startswith(b"WARC/1.1\r\n")
    else:
        assert out.read_bytes().startswith(b"WARC/1.1\r\n")


def test_each_response_holds_exactly_the_stored_body_status_and_capture_time(
    site: Site, tmp_path: Path
) -> None:
    out = tmp_path / "evidence.warc.gz"
    do_export(site, out)
    records = read_warc(out)
    by_id = {r.header("WARC-Record-ID"): r for r in records}
    metadata = [r for r in records if r.type == "metadata"]
    assert len(metadata) == 5
    with Store(site.data, readonly=True) as store:
        for meta in metadata:
            info = fields(meta.payload)
            capture = store.capture(info["capture-id"])
            response = by_id[meta.header("WARC-Refers-To")]
            request = next(
                r
                for r in records
                if r.type == "request"
                and r.header("WARC-Concurrent-To") == response.header("WARC-Record-ID")
            )
            raw = store.raw(capture)
            assert response.type == "response"
            assert response.payload == raw  # what a replay tool reads: the stored bytes
            assert response.http is not None
            assert response.http.get_statuscode() == str(capture.status_code)
            assert response.http.protocol == "HTTP/1.1"
            assert response.http.get_header("Content-Length") == str(len(raw))
            assert response.http.get_header("Content-Encoding") is None
            assert response.http.get_header("Transfer-Encoding") is None
            expected_date = capture.fetched_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            for record in (response, request, meta):
                assert record.header("WARC-Date") == expected_date
                assert record.header("WARC-Target-URI") == capture.final_url
                assert record.header("WARC-Warcinfo-ID") == records[0].header("WARC-Record-ID")
            assert request.http is not None
            assert request.http.protocol == "GET"  # warcio's name for the method
            assert request.http.get_header("User-Agent", "").startswith("watcher/")
            assert request.header("Watcher-Request") == "reconstructed"
            assert info["target"] == capture.target and info["raw-sha256"] == capture.raw_sha256
            assert info["text-sha256"] == capture.text_sha256
            assert info["encoding"] == capture.encoding
            assert "reconstructed" in info["request-headers"]

    info = fields(records[0].payload)
    assert records[0].type == "warcinfo"
    assert info["software"].startswith("watcher/")
    assert info["format"] == "WARC File Format 1.1"
    assert records[0].header("WARC-Filename") == "evidence.warc.gz"


def test_the_gbk_page_and_its_gbk_header_bytes_survive_intact(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "gbk.warc"
    stats, _ = do_export(site, out, "gbk-notice")
    assert stats.captures == 2 and stats.per_target == {"gbk-notice": 2}
    responses = [r for r in read_warc(out) if r.type == "response"]
    assert [r.payload for r in responses] == [GBK_PAGE.encode("gbk"), GBK_CHANGED.encode("gbk")]
    assert "朱镕基、王堃、李喆".encode("gbk") in responses[0].payload
    # the header's raw GBK bytes, not a percent-encoded or re-encoded form of them
    assert b'Content-Disposition: inline; filename="' + GBK_FILENAME + b'"\r\n' in out.read_bytes()
    assert warcio("check", str(out)).returncode == 0


def test_decoded_bodies_get_self_consistent_headers_with_the_originals_kept(
    site: Site, tmp_path: Path
) -> None:
    out = tmp_path / "framing.warc"
    do_export(site, out, "gz-news", "chunked")
    records = read_warc(out)
    by_uri = {r.header("WARC-Target-URI"): r for r in records if r.type == "response"}
    gz, chunked = by_uri[site.urls["/gz.html"]], by_uri[site.urls["/chunked.html"]]
    assert gz.payload == GZ_PAGE.encode()  # decoded, as stored; a reader decodes nothing
    assert gz.http is not None and chunked.http is not None
    assert gz.http.get_header("X-Watcher-Original-Content-Encoding") == "gzip"
    compressed_length = len(compress(GZ_PAGE.encode(), "gzip"))
    assert gz.http.get_header("X-Watcher-Original-Content-Length") == str(compressed_length)
    assert gz.http.get_header("Content-Length") == str(len(GZ_PAGE.encode()))
    assert b"\r\nX-Source: " + UTF8_HEADER + b"\r\n" in out.read_bytes()  # UTF-8 stays UTF-8
    assert chunked.payload == CHUNKED_PAGE.encode()
    assert chunked.http.get_header("X-Watcher-Original-Transfer-Encoding") == "chunked"
    assert chunked.http.get_header("Content-Length") == str(len(CHUNKED_PAGE.encode()))
    rewritten = {
        fields(r.payload)["target"]: fields(r.payload)["http-headers-rewritten"].lower()
        for r in records
        if r.type == "metadata"
    }
    assert rewritten == {
        "gz-news": "content-encoding, content-length",
        "chunked": "transfer-encoding",
    }


def test_a_redirected_capture_names_both_urls(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "moved.warc"
    do_export(site, out, "moved")
    records = read_warc(out)
    response = next(r for r in records if r.type == "response")
    request = next(r for r in records if r.type == "request")
    meta = next(r for r in records if r.type == "metadata")
    assert response.header("WARC-Target-URI") == site.urls["/new.html"]
    assert request.http is not None and request.http.statusline.startswith("/new.html ")
    assert fields(meta.payload)["requested-url"] == site.urls["/old"]
    assert response.payload == NEW_PAGE.encode()


def test_a_corrupted_body_fails_warcio_check(site: Site, tmp_path: Path) -> None:
    """The digests are real: warcio recomputes them and notices a changed byte."""
    out = tmp_path / "evidence.warc"
    do_export(site, out, "gbk-notice")
    data = out.read_bytes()
    needle = "王堃".encode("gbk")
    assert needle in data
    tampered = tmp_path / "tampered.warc"
    tampered.write_bytes(data.replace(needle, "王坤".encode("gbk"), 1))
    checked = warcio("check", str(tampered))
    assert checked.returncode == 1
    assert "digest failed" in checked.stdout


def test_export_to_an_open_binary_file(site: Site) -> None:
    buffer = io.BytesIO()
    with Store(site.data, readonly=True) as store:
        stats = export(store, ["moved"], buffer)
        plain = buffer.getvalue()
        zipped = io.BytesIO()
        export(store, ["moved"], zipped, gzip=True)
    assert stats.path is None and stats.bytes_written == len(plain)
    assert [r.type for r in read_warc(plain)] == ["warcinfo", "response", "request", "metadata"]
    assert zipped.getvalue()[:2] == b"\x1f\x8b"
    assert read_warc(zipped.getvalue())[1].payload == NEW_PAGE.encode()


# --------------------------------------------------------------------------- edge cases


def test_a_target_without_captures_gives_a_valid_warc_with_only_the_warcinfo(
    site: Site, tmp_path: Path
) -> None:
    out = tmp_path / "empty.warc.gz"
    calls: list[CaptureRow] = []
    with Store(site.data, readonly=True) as store:
        assert "broken" in store.target_names()  # registered, but every check failed
        stats = export(store, ["broken"], out, on_capture=calls.append)
    assert stats.captures == 0 and stats.records == 1 and calls == []
    assert stats.empty_targets == ["broken"] and stats.per_target == {"broken": 0}
    assert [r.type for r in read_warc(out)] == ["warcinfo"]
    assert warcio("check", str(out)).returncode == 0


def test_unknown_target_is_a_clear_error_and_writes_nothing(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "nothing.warc"
    with Store(site.data, readonly=True) as store:
        with pytest.raises(ExportError, match=r"no target named 'gbk-notise' \(did you mean"):
            export(store, ["gz-news", "gbk-notise"], out)
        with pytest.raises(ExportError, match="no targets to export"):
            captures_of(store, [])
    assert list(tmp_path.iterdir()) == []


def test_a_missing_blob_stops_the_export_and_leaves_no_partial_file(
    site: Site, tmp_path: Path
) -> None:
    data = tmp_path / "snapshots"
    copy_store(site.data, data)
    with Store(data, readonly=True) as store:
        victim = store.history("gz-news")[0]
        store.blobs.path(victim.raw_sha256).unlink()
        out = tmp_path / "out" / "evidence.warc"
        out.parent.mkdir()
        with pytest.raises(ExportError, match=f"capture {victim.id} of 'gz-news'.*missing"):
            export(store, store.target_names(), out)
    assert list(out.parent.iterdir()) == []  # neither the file nor its temporary


def test_the_export_command_writes_a_warc_that_warcio_accepts(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "all.warc.gz"
    base = ["--config", str(site.data.parent / "targets.yaml"), "--data", str(site.data)]
    result = CliRunner().invoke(main, [*base, "export", "--all", "--warc", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 5 captures" in result.output
    assert warcio("check", str(out)).returncode == 0
    both = CliRunner().invoke(main, [*base, "export", "x", "--all", "--warc", str(out)])
    assert both.exit_code == 2


def test_a_captures_decoding_warnings_are_in_its_metadata_record(tmp_path: Path) -> None:
    """The archive is the evidence handed on: what watcher could not read of the bytes
    (here one GBK paragraph in a UTF-8 page) travels with it, not only in the UI."""
    page = "<html><head><meta charset='utf-8'><title>通知</title></head><body><p>{}</p><p>{}</p>"
    body = (
        page.format("国防科工局发布通知", "").encode() + "船舶工业".encode("gbk") + b"</p></body>"
    )
    with HTTPServer() as server:
        server.route("/mixed.html", body=body, headers={"Content-Type": "text/html"})
        config = tmp_path / "targets.yaml"
        config.write_text(
            f"targets:\n  - name: mixed\n    url: {server.url('/mixed.html')}\n", "utf-8"
        )
        assert check(config, tmp_path / "snapshots") == 0
    with Store(tmp_path / "snapshots", readonly=True) as store:
        stats = export(store, ["mixed"], tmp_path / "out.warc")
        [row] = store.history("mixed")
    assert stats.captures == 1 and row.warnings
    [metadata] = [r for r in read_warc(tmp_path / "out.warc") if r.type == "metadata"]
    lines = metadata.payload.decode("utf-8").split("\r\n")
    warnings = [line.split(": ", 1)[1] for line in lines if line.startswith("warning: ")]
    assert warnings == [" ".join(str(row.warnings[0]["message"]).split())]
    assert "UTF-8" in warnings[0] or "utf-8" in warnings[0]
