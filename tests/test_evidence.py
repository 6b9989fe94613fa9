"""Evidence that proves itself: every read of a blob checks its SHA-256, and a blob
whose stored bytes are not the evidence (bytes flipped, other valid zstd put in its
place) is said to be damaged wherever it would be shown: the capture page, /raw,
/download, the JSON API, diffs, search, the CLI and the next check's comparison.

A real store filled by real checks of a local site; blob files tampered on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from httpserver import HTTPServer

from watcher.cli.main import main
from watcher.store.blobs import DamagedBlob, LocalBlobStore, compress
from watcher.store.index import CaptureRow, CheckRecord, NewCapture, Store
from watcher.web.app import create_app
from watcher.web.evidence import attachment

PAGE = (
    "<html><head><meta charset=gbk><title>关于加快船舶工业发展的通知</title></head><body>"
    "<div id=c><p>工业和信息化部关于加快船舶工业高质量发展的通知。</p>"
    "<p>各省、自治区、直辖市工业和信息化主管部门。</p>{extra}</div></body></html>"
)
CHANGED = "<p>新增：国防科工局发布造船通知。</p>"
# a server that sends UTF-8 in a header (legal bytes on the wire; httpx reads them as UTF-8)
UTF8_TYPE = "text/html; charset=utf-8; 名称=通知"
FORGED = "伪造的证据：此文本从未被抓取。"


def watcher(config: Path, data: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "--data", str(data), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def serve(server: HTTPServer, extra: str = "") -> None:
    body = PAGE.format(extra=extra).encode("gbk")
    server.route("/notice", body=body, headers={"Content-Type": "text/html"})


@pytest.fixture
def site(http_server: HTTPServer, tmp_path: Path) -> tuple[HTTPServer, Path, Path]:
    serve(http_server)
    http_server.route(
        "/odd-header",
        body="<html><body><p>头部含有UTF-8字节。</p></body></html>".encode(),
        headers={"Content-Type": UTF8_TYPE.encode().decode("latin-1")},  # UTF-8 bytes sent
    )
    config = tmp_path / "targets.yaml"
    config.write_text(
        f"""settings: {{host_delay: 0}}
defaults: {{retries: 0}}
keywords:
  shipbuilding: [船舶, 造船]
targets:
  - name: notice
    url: {http_server.url("/notice")}
    select: "#c"
  - name: odd-header
    url: {http_server.url("/odd-header")}
""",
        encoding="utf-8",
    )
    return http_server, config, tmp_path / "snapshots"


@pytest.fixture
def checked(site) -> Iterator[tuple[Path, Path, list[CaptureRow]]]:
    """Two captures of ``notice`` (old, new) and one of ``odd-header``."""
    server, config, data = site
    assert watcher(config, data, "check", "--no-notify")[0] == 0
    serve(server, CHANGED)
    assert watcher(config, data, "check", "--no-notify", "notice")[0] == 0
    with Store(data, readonly=True) as store:
        yield config, data, [*reversed(store.history("notice")), *store.history("odd-header")]


def web(data: Path, config: Path) -> TestClient:
    return TestClient(create_app(data, config), base_url="http://127.0.0.1")


def blob_file(data: Path, digest: str) -> Path:
    return LocalBlobStore(data / "blobs").path(digest)


def flip_two_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in (len(data) // 2, len(data) // 2 + 1):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------ the store


def test_every_read_of_a_blob_checks_its_sha256(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path, fsync=False)
    digest = blobs.put("船舶工业的通知".encode() * 50)
    path = blobs.path(digest)
    path.write_bytes(compress(b"other bytes, valid zstd"))
    with pytest.raises(DamagedBlob) as caught:
        blobs.get(digest)
    assert caught.value.digest == digest and caught.value.path == path
    assert str(caught.value) == (
        f"blob {digest} is damaged: the stored bytes no longer match their SHA-256 ({path})"
    )
    digest = blobs.put(bytes(range(256)) * 40)
    flip_two_bytes(blobs.path(digest))
    with pytest.raises(DamagedBlob, match=f"blob {digest} is damaged: "):
        blobs.get(digest)


# ------------------------------------------------------------------------ the web


def test_capture_page_says_damaged_and_never_shows_a_replaced_text(checked) -> None:
    config, data, (old, new, _) = checked
    blob_file(data, new.text_sha256).write_bytes(compress(FORGED.encode()))
    with web(data, config) as client:
        page = client.get(f"/c/{new.id}")
        sound = client.get(f"/c/{old.id}")
    assert page.status_code == 200
    assert FORGED not in page.text and "国防科工局发布造船通知" not in page.text
    assert f"damaged evidence: the text of capture {new.id} (notice), blob {new.text_sha256}" in (
        page.text
    )
    assert "the stored bytes no longer match their SHA-256" in page.text
    assert str(data) not in page.text  # the server's folders are not told to visitors
    assert '<pre class="text"' not in page.text
    assert '<pre class="text"' in sound.text and "damaged evidence" not in sound.text


def test_capture_page_with_two_bytes_flipped_shows_no_text(checked) -> None:
    config, data, (_, new, _) = checked
    flip_two_bytes(blob_file(data, new.text_sha256))
    with web(data, config) as client:
        page = client.get(f"/c/{new.id}").text
    assert f"damaged evidence: the text of capture {new.id}" in page
    assert '<pre class="text"' not in page and "cannot be read" not in page


def test_raw_and_download_of_a_replaced_body_answer_500_not_the_bytes(checked) -> None:
    config, data, (_, new, _) = checked
    blob_file(data, new.raw_sha256).write_bytes(compress(b"<html>TAMPERED</html>"))
    with web(data, config) as client:
        answers = [client.get(f"/c/{new.id}/raw"), client.get(f"/c/{new.id}/download")]
        page = client.get(f"/c/{new.id}").text
    for answer in answers:
        assert answer.status_code == 500
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.headers["cache-control"] == "no-store"
        assert "TAMPERED" not in answer.text
        assert answer.text.startswith(
            f"damaged evidence: the raw bytes of capture {new.id} (notice), "
            f"blob {new.raw_sha256}, cannot be shown: "
        )
    assert f"damaged evidence: the raw bytes of capture {new.id}" in page
    assert f"/c/{new.id}/download" not in page and f"/c/{new.id}/raw" not in page
    assert '<pre class="text"' in page  # the text is sound and still shown


def test_api_and_diff_views_say_damaged(checked) -> None:
    config, data, (old, new, _) = checked
    blob_file(data, old.text_sha256).write_bytes(compress(FORGED.encode()))
    with web(data, config) as client:
        one = client.get(f"/api/captures/{old.id}").json()
        api_diff = client.get("/api/targets/notice/diff")
        diff_page = client.get("/t/notice/diff")
        other = client.get(f"/api/captures/{new.id}").json()
    assert one["text"] is None and one["id"] == old.id
    assert one["damaged"].startswith(f"damaged evidence: the text of capture {old.id}")
    assert other["damaged"] is None and "国防科工局" in other["text"]
    assert api_diff.status_code == 500
    assert api_diff.json()["detail"].startswith(f"damaged evidence: the text of capture {old.id}")
    assert diff_page.status_code == 500
    assert f"damaged evidence: the text of capture {old.id}" in diff_page.text
    assert FORGED not in diff_page.text and 'id="change-' not in diff_page.text


def test_search_skips_a_damaged_text(checked) -> None:
    config, data, (_, new, _) = checked
    assert watcher(config, data, "reindex")[0] == 0
    with web(data, config) as client:
        before = client.get("/search", params={"q": "国防科工局"}).text
        assert f"/c/{new.id}" in before
        forged = f"国防科工局{FORGED}"  # still matches the indexed terms
        blob_file(data, new.text_sha256).write_bytes(compress(forged.encode()))
        after = client.get("/search", params={"q": "国防科工局"}).text
    assert f"/c/{new.id}" not in after and FORGED not in after


def test_download_of_a_capture_whose_stored_header_holds_utf8(checked) -> None:
    config, data, (*_, odd) = checked
    assert odd.content_type == UTF8_TYPE  # stored as the server sent it
    with web(data, config) as client:
        answer = client.get(f"/c/{odd.id}/download")
    assert answer.status_code == 200
    assert answer.content == "<html><body><p>头部含有UTF-8字节。</p></body></html>".encode()
    sent = answer.headers["x-original-content-type"]
    assert sent.isascii() and unquote(sent) == UTF8_TYPE
    assert (  # typed by its stored header: an HTML file
        answer.headers["content-disposition"] == f'attachment; filename="odd-header-{odd.id}.html"'
    )
    assert answer.headers["content-type"].isascii()
    assert unquote(answer.headers["content-type"]) == UTF8_TYPE


def test_a_name_that_is_not_ascii_is_sent_in_rfc_5987_form() -> None:
    assert attachment("通知.pdf") == (
        "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E9%80%9A%E7%9F%A5.pdf"
    )
    assert attachment('a"b.bin').startswith('attachment; filename="a_b.bin"; filename*=')


# ------------------------------------------------------------------------ the CLI


def test_cli_diff_of_a_damaged_text_names_the_capture_and_exits_1(checked) -> None:
    config, data, (old, _, _) = checked
    path = blob_file(data, old.text_sha256)
    path.write_bytes(compress(FORGED.encode()))
    code, out = watcher(config, data, "diff", "notice")
    assert code == 1 and FORGED not in out
    assert out == (
        f"error: capture {old.id} of 'notice': cannot read the stored text: blob "
        f"{old.text_sha256} is damaged: the stored bytes no longer match their SHA-256 "
        f"({path}); `watcher verify` lists damage\n"
    )


# ------------------------------------------------------------------ the next check


def test_a_damaged_previous_text_is_read_again_from_its_sound_bytes(site) -> None:
    server, config, data = site
    assert watcher(config, data, "check", "--no-notify", "notice")[0] == 0
    with Store(data, readonly=True) as store:
        [first] = store.history("notice")
    blob_file(data, first.text_sha256).write_bytes(compress(f"船舶{FORGED}".encode()))
    serve(server, CHANGED)
    assert watcher(config, data, "check", "--no-notify", "notice")[0] == 0
    with Store(data, readonly=True) as store:
        second = store.history("notice")[0]
        hits = store.hits_of(second.id)
    assert second.previous_id == first.id
    assert (second.added, second.removed) == (len("新增：国防科工局发布造船通知。"), 0)
    assert [(h.term, h.where) for h in hits] == [("造船", "added")]  # not 船舶 of the forgery
    [warning] = [w for w in second.warnings or [] if w["kind"] == "previous-text-damaged"]
    assert warning["message"] == (
        f"the previous capture's text (blob {first.text_sha256}) is unreadable: the stored "
        "bytes no longer match their SHA-256; its text was read again from that capture's "
        "stored bytes"
    )


def test_with_its_bytes_damaged_too_the_next_check_compares_as_a_first(site) -> None:
    server, config, data = site
    assert watcher(config, data, "check", "--no-notify", "notice")[0] == 0
    with Store(data, readonly=True) as store:
        [first] = store.history("notice")
    blob_file(data, first.text_sha256).write_bytes(compress(FORGED.encode()))
    flip_two_bytes(blob_file(data, first.raw_sha256))
    serve(server, CHANGED)
    assert watcher(config, data, "check", "--no-notify", "notice")[0] == 0
    with Store(data, readonly=True) as store:
        second = store.history("notice")[0]
        shown = json.loads(watcher(config, data, "show", second.id, "--json")[1])
    assert second.removed == 0  # nothing of the forgery counts as removed
    [warning] = [w for w in shown["warnings"] if w["kind"] == "previous-text-damaged"]
    assert warning["message"].endswith(
        "this capture was compared as a first one (everything counts as added)"
    )


def test_a_replaced_screenshot_is_not_served_nor_shown(tmp_path: Path) -> None:
    data = tmp_path / "snapshots"
    with Store(data) as store:
        state = store.target_state("shot", "http://127.0.0.1/shot")
        now = datetime.now(UTC)
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
        new = NewCapture(
            state.id, "new", "http://127.0.0.1/shot", "http://127.0.0.1/shot", 200, [], now,
            0.1, b"<html><p>x</p></html>", "x", content_type="text/html",
            screenshot_sha256=store.blobs.put(png),
        )  # fmt: skip
        capture = store.capture(
            store.save_capture(new, CheckRecord(state.id, now, "new", 0.1, 200))
        )
    blob_file(data, capture.screenshot_sha256).write_bytes(compress(png[:-8] + b"FORGED!!"))
    with TestClient(create_app(data), base_url="http://127.0.0.1") as client:
        shot = client.get(f"/c/{capture.id}/screenshot.png")
        page = client.get(f"/c/{capture.id}").text
    assert shot.status_code == 500 and b"FORGED" not in shot.content
    assert shot.text.startswith(f"damaged evidence: the screenshot of capture {capture.id}")
    assert f"damaged evidence: the screenshot of capture {capture.id}" in page
    assert f'src="/c/{capture.id}/screenshot.png"' not in page
