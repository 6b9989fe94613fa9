"""Blobs on S3 end to end: real pages served on 127.0.0.1 checked by `watcher check`
with ``settings.blobs`` pointing at a bucket on moto's S3 server, read back by
`watcher show`, the web UI and `watcher verify`; a bucket that stops answering
leaves no capture in the index and says which bucket and key."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from blobhomes import S3Home
from click.testing import CliRunner
from fastapi.testclient import TestClient
from httpserver import HTTPServer, free_port
from s3server import S3Server

from watcher.cli.main import main
from watcher.service.runtime import Paths
from watcher.service.webserver import web_server
from watcher.store.blobs import BlobLocation, BlobUnavailable, open_blobs, sha256
from watcher.store.blobs.s3 import S3BlobStore
from watcher.store.index import Store

FIXTURES = Path(__file__).parent / "fixtures" / "pages"
GOV_PAGE = (FIXTURES / "gov.cn" / "gongbao_2007-23_content_711039.html").read_bytes()

CONFIG = """\
settings:
  host_delay: 0
  blobs: {blobs}
  blobs_endpoint: {endpoint}
defaults:
  interval: 1s  # the service's first check comes within one interval
  retries: 0
  timeout: 5s
keywords:
  state: [国务院]
targets:
{targets}
"""


def write_config(folder: Path, home: S3Home, server: HTTPServer, pages: int) -> Path:
    targets = "\n".join(
        f"  - name: gongbao-{n}\n    url: {server.url(f'/gongbao/{n}.html')}" for n in range(pages)
    )
    config = folder / "targets.yaml"
    config.write_text(
        CONFIG.format(blobs=home.url, endpoint=home.server.endpoint, targets=targets), "utf-8"
    )
    for n in range(pages):  # the real page; each copy's bytes its own, the text the same
        body = GOV_PAGE + f"<!-- copy {n} -->".encode()
        server.route(f"/gongbao/{n}.html", body=body, headers={"Content-Type": "text/html"})
    return config


def watcher(config: Path, data: Path, *args: str, env: dict[str, str] | None = None):
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "--data", str(data), *args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def captures(data: Path) -> list[tuple[str, str, str, str]]:
    db = sqlite3.connect(data / "index.sqlite")
    try:
        return db.execute(
            "SELECT c.id, t.name, c.raw_sha256, c.text_sha256 FROM captures c "
            "JOIN targets t ON t.id = c.target_id ORDER BY t.name"
        ).fetchall()
    finally:
        db.close()


def test_a_check_stores_its_evidence_in_the_bucket_and_every_reader_finds_it(
    s3: S3Home, http_server: HTTPServer, tmp_path: Path
) -> None:
    # 20 pages: analysed in worker processes, which open the bucket themselves
    config = write_config(tmp_path, s3, http_server, pages=20)
    data = tmp_path / "snapshots"
    result = watcher(config, data, "check", "--json", "--no-notify")
    assert result.exit_code == 0, result.output
    rows = captures(data)
    assert len(rows) == 20
    assert not list((data / "blobs").rglob("*.zst")), "no blob in the data folder"
    raw = {r[2] for r in rows}
    (text,) = {r[3] for r in rows}  # twenty pages, one text
    assert sorted(s3.names()) == sorted(f"{d[:2]}/{d[2:]}.zst" for d in {*raw, text})
    capture_id, _, raw_digest, _ = next(r for r in rows if r[1] == "gongbao-3")
    assert s3.frame(raw_digest)  # in the bucket, under the prefix

    shown = watcher(config, data, "show", capture_id, "--raw")
    assert shown.exit_code == 0 and shown.stdout_bytes == GOV_PAGE + b"<!-- copy 3 -->"
    assert sha256(shown.stdout_bytes) == raw_digest

    # the web UI, wired as `watcher serve` and `watcher run` wire it
    paths = Paths(config, data, tmp_path / "notifiers", _location(s3))
    server = web_server(paths, "127.0.0.1", 0, password=None)
    with TestClient(server.config.app, base_url="http://127.0.0.1") as web:
        page = web.get(f"/c/{capture_id}/raw")
        assert page.status_code == 200 and page.content == GOV_PAGE + b"<!-- copy 3 -->"
        assert "国务院" in web.get(f"/c/{capture_id}").text

    verified = watcher(config, data, "verify")
    assert verified.exit_code == 0, verified.stderr
    assert verified.stdout.strip() == (
        f"{data} (blobs in {s3.url}): ok (20 targets, every blob present and intact)"
    )


def _location(home: S3Home) -> BlobLocation:
    return BlobLocation(url=home.url, endpoint=home.server.endpoint)


def test_verify_names_the_capture_and_target_of_a_blob_lost_or_changed_in_the_bucket(
    s3: S3Home, http_server: HTTPServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, s3, http_server, pages=2)
    data = tmp_path / "snapshots"
    assert watcher(config, data, "check", "--no-notify").exit_code == 0
    (first, _, raw0, text0), (second, _, raw1, _) = captures(data)
    s3.delete(raw0)
    s3.replace(raw1, s3.frame(text0))  # readable, but the bytes of another blob
    result = watcher(config, data, "verify")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"capture {first} (gongbao-0): raw blob {raw0} is missing" in lines
    assert (
        f"capture {second} (gongbao-1): raw blob {raw1} is damaged: the stored bytes no "
        "longer match their SHA-256"
    ) in lines
    assert lines[-1].endswith(f"2 problems in {data} (blobs in {s3.url})")


@pytest.fixture
def own_server(s3: S3Home) -> Iterator[S3Server]:
    """A server of the test's own, to stop half-way."""
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


def test_a_bucket_that_stops_answering_leaves_no_capture_and_names_bucket_and_key(
    s3: S3Home, own_server: S3Server, http_server: HTTPServer, tmp_path: Path
) -> None:
    home = S3Home(own_server, own_server.bucket())
    config = write_config(tmp_path, home, http_server, pages=1)
    data = tmp_path / "snapshots"
    own_server.stop()
    result = watcher(config, data, "check", "--json", "--no-notify")
    assert result.exit_code == 1
    assert captures(data) == []
    raw = sha256(GOV_PAGE + b"<!-- copy 0 -->")
    key = f"{home.url}/{raw[:2]}/{raw[2:]}.zst"
    why = "cannot connect (Connection refused)"
    assert f"cannot look for blob {raw} at {key} via {own_server.endpoint}: {why}" in result.output
    db = sqlite3.connect(data / "index.sqlite")
    (error,) = db.execute("SELECT error FROM checks").fetchone()
    assert error.startswith(f"cannot look for blob {raw} at {key}")


def test_a_store_that_never_answers_times_out_naming_the_key(s3: S3Home) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        blobs = S3BlobStore(
            BlobLocation(url="s3://quiet-bucket/p", endpoint=endpoint), timeout=0.5, retries=0
        )
        with pytest.raises(BlobUnavailable) as caught:
            blobs.put(b"<html>notice</html>")
    finally:
        silent.close()
    digest = sha256(b"<html>notice</html>")
    where = f"s3://quiet-bucket/p/{digest[:2]}/{digest[2:]}.zst"
    assert (
        str(caught.value) == f"cannot look for blob {digest} at {where} via {endpoint}: timed out"
    )


def test_a_bucket_that_does_not_exist_is_said_so(s3: S3Home) -> None:
    blobs = open_blobs(BlobLocation(url="s3://no-such-bucket/x", endpoint=s3.server.endpoint))
    with pytest.raises(
        BlobUnavailable, match=r"at s3://no-such-bucket/x/.* 404 Not Found, NoSuchBucket"
    ):
        blobs.put(b"notice")
    with pytest.raises(BlobUnavailable, match="NoSuchBucket"):
        blobs.get(sha256(b"notice"))


def test_concurrent_puts_of_one_blob_store_it_once(s3: S3Home) -> None:
    blobs = open_blobs(_location(s3))
    threads = [threading.Thread(target=blobs.put, args=(GOV_PAGE,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert blobs.get(sha256(GOV_PAGE)) == GOV_PAGE and len(s3.names()) == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://bucket/x", "must be an s3:// URL, got 'http://bucket/x'"),
        ("s3://Bad_Bucket/x", "names no valid bucket: 'Bad_Bucket'"),
        ("s3://key:secret@bucket", "without credentials, port, '?' or '#'"),
        ("s3://bucket/a//b", "has a prefix S3 keys should not have: 'a//b'"),
    ],
)
def test_bad_blob_settings_are_usage_errors_naming_the_setting(
    s3: S3Home, http_server: HTTPServer, tmp_path: Path, value: str, message: str
) -> None:
    config = write_config(tmp_path, s3, http_server, pages=1)
    data = tmp_path / "snapshots"
    text = config.read_text("utf-8")
    config.write_text(text.replace(f"blobs: {s3.url}", f"blobs: {value}"), "utf-8")
    result = watcher(config, data, "validate")
    assert result.exit_code == 2
    assert f"{config}:3: settings.blobs: " in result.output and message in result.output
    config.write_text(text, "utf-8")
    result = watcher(config, data, "history", "gongbao-0", env={"WATCHER_BLOBS": value})
    assert result.exit_code == 2
    assert "WATCHER_BLOBS " in result.output and message in result.output
    assert not data.exists()


def test_watcher_blobs_wins_over_the_setting(
    s3: S3Home, s3_server: S3Server, http_server: HTTPServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, s3, http_server, pages=1)
    data = tmp_path / "snapshots"
    other = S3Home(s3_server, s3_server.bucket(), prefix="")
    result = watcher(config, data, "check", "--no-notify", env={"WATCHER_BLOBS": other.url})
    assert result.exit_code == 0, result.output
    assert s3.names() == [] and len(other.names()) == 2
    with Store(data, readonly=True, blobs=_location(other)) as store:
        assert store.verify() == []


def test_a_reader_finds_the_bucket_of_a_config_broken_elsewhere(
    s3: S3Home, http_server: HTTPServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, s3, http_server, pages=1)
    data = tmp_path / "snapshots"
    assert watcher(config, data, "check", "--no-notify").exit_code == 0
    ((capture_id, _, raw, _),) = captures(data)
    text = config.read_text("utf-8")
    config.write_text(text.replace("  retries: 0", "  retries: many"), "utf-8")
    shown = watcher(config, data, "show", capture_id, "--raw")
    assert shown.exit_code == 0 and sha256(shown.stdout_bytes) == raw
    assert watcher(config, data, "check", "--no-notify").exit_code == 2  # checks refuse it


async def test_the_service_checks_into_the_bucket_and_its_web_ui_serves_from_it(
    s3: S3Home, http_server: HTTPServer, tmp_path: Path
) -> None:
    import asyncio

    import httpx
    from clock import PATIENCE, eventually

    from watcher.service.daemon import Service

    config = write_config(tmp_path, s3, http_server, pages=1)
    data, port = tmp_path / "snapshots", free_port()
    service = Service(
        config, data, tmp_path / "notifiers", web=("127.0.0.1", port), blobs=_location(s3)
    )
    task = asyncio.create_task(service.run())
    try:
        await eventually(lambda: (data / "index.sqlite").exists() and captures(data), "a capture")
        ((capture_id, _, raw, _),) = captures(data)
        async with httpx.AsyncClient(base_url="http://127.0.0.1") as web:
            page = await web.get(f"http://127.0.0.1:{port}/c/{capture_id}/raw")
    finally:
        service.stop()
        await asyncio.wait_for(task, timeout=PATIENCE)
    assert page.status_code == 200 and sha256(page.content) == raw
    assert not list(data.rglob("*.zst")) and len(s3.names()) == 2
