"""End to end: the `watcher` command against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from clock import eventually_sync
from httpserver import HTTPServer

from watcher.cli.main import main
from watcher.store.index import Store

GBK_PAGE = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>关于船只制造的通知</title></head><body>
<div class="nav">首页 | 通知公告</div>
<div id="con">
<p>各有关单位：</p>
<p>今年船只建造加快，朱镕基、王堃、李喆参加了会议。</p>
<p>浏览次数：12</p>
</div></body></html>"""

UTF8_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>国防科工局要闻</title></head>
<body><div id="con"><p>国防科工局召开会议。</p><p>工业互联网平台建设。</p></div></body></html>"""

CONFIG = """\
settings:
  host_delay: 0
defaults:
  retries: 0
  timeout: 5s
keywords:
  shipbuilding: [船舶, 造船]
  sastind: [国防科工局]
targets:
  - name: gbk-notice
    title: GBK 通知
    url: {base}/gbk.html
    select: "#con"
    ignore: ['浏览次数[:：]\\s*\\d+']
  - name: utf8-news
    url: {base}/utf8.html
    select: "#con"
"""


def serve_gbk(server: HTTPServer, text: str, etag: str | None = None) -> None:
    headers = {"Content-Type": "text/html"}
    if etag:
        headers["ETag"] = etag
    server.route("/gbk.html", body=text.encode("gbk"), headers=headers)


@pytest.fixture
def site(http_server: HTTPServer, tmp_path: Path) -> tuple[HTTPServer, Path, Path]:
    serve_gbk(http_server, GBK_PAGE, etag='"v1"')
    http_server.route(
        "/utf8.html",
        body=UTF8_PAGE.encode(),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    config = tmp_path / "targets.yaml"
    config.write_text(CONFIG.format(base=http_server.url("").rstrip("/")), "utf-8")
    return http_server, config, tmp_path / "snapshots"


def watcher(config: Path, data: Path, *args: str, stdout_only: bool = False) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "--data", str(data), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout if stdout_only else result.output


def check_json(config: Path, data: Path, *names: str) -> tuple[int, dict[str, dict]]:
    code, out = watcher(config, data, "check", "--json", *names, stdout_only=True)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, {line["target"]: line for line in lines}


def test_first_check_stores_and_reports_every_target(site) -> None:
    _, config, data = site
    code, results = check_json(config, data)
    assert code == 0
    gbk = results["gbk-notice"]
    assert gbk["status"] == "new"
    assert set(gbk) >= {
        "target",
        "status",
        "capture_id",
        "url",
        "fetched_at",
        "added",
        "removed",
        "hits",
        "documents",
        "error",
    }
    assert gbk["fetched_at"].endswith("Z") and gbk["error"] is None
    assert gbk["title"] == "关于船只制造的通知"
    with Store(data, readonly=True) as store:
        text = store.text(store.capture(gbk["capture_id"]))
    assert "朱镕基、王堃、李喆" in text  # characters outside GB2312, decoded right
    assert "浏览次数" not in text and "首页" not in text
    utf8 = results["utf8-news"]
    assert [(h["group"], h["where"]) for h in utf8["hits"]] == [("sastind", "added")]


def test_unchanged_then_changed_with_hits_history_and_diff(site) -> None:
    server, config, data = site
    check_json(config, data)
    code, results = check_json(config, data)
    assert code == 0
    assert {r["status"] for r in results.values()} == {"unchanged"}
    assert server.requests("/gbk.html")[-1].headers.get("if-none-match") == '"v1"'

    serve_gbk(server, GBK_PAGE.replace("船只建造", "船舶建造").replace("12", "99"), etag='"v2"')
    code, results = check_json(config, data)
    gbk = results["gbk-notice"]
    assert (gbk["status"], gbk["added"], gbk["removed"]) == ("changed", 1, 1)
    assert [(h["term"], h["where"]) for h in gbk["hits"]] == [("船舶", "added")]
    assert "船舶建造" in gbk["hits"][0]["snippet"]
    assert results["utf8-news"]["status"] == "unchanged"

    code, out = watcher(config, data, "history", "gbk-notice", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["kind"] for r in rows] == ["changed", "new"]
    assert rows[0]["previous_id"] == rows[1]["id"]

    code, out = watcher(config, data, "diff", "gbk-notice")
    assert code == 0
    assert "-     2 今年船[-只-]建造" in out
    assert "+     2 今年船{+舶+}建造" in out
    code, out = watcher(config, data, "diff", "gbk-notice", "--format", "json")
    payload = json.loads(out)
    assert (payload["added"], payload["removed"]) == (1, 1)
    code, out = watcher(
        config, data, "diff", "gbk-notice", "--from", rows[1]["id"][:12], "--format", "html"
    )
    assert "<del>只</del>" in out and "<ins>舶</ins>" in out


def test_ignored_and_whitespace_only_edits_are_not_changes(site) -> None:
    server, config, data = site
    check_json(config, data, "gbk-notice")
    edited = GBK_PAGE.replace("浏览次数：12", "浏览次数：13").replace(
        "<p>各有关单位：</p>", "<p>各有关单位：&nbsp;　</p>"
    )
    serve_gbk(server, edited)
    code, results = check_json(config, data, "gbk-notice")
    assert code == 0
    assert results["gbk-notice"]["status"] == "unchanged"
    with Store(data, readonly=True) as store:
        kinds = [r.kind for r in store.history("gbk-notice")]
    assert kinds == ["unchanged", "new"]  # the new bytes are kept as evidence


def test_one_failing_target_does_not_stop_the_others(site) -> None:
    server, config, data = site
    server.route("/gbk.html", status=404, body=b"not here")
    code, results = check_json(config, data)
    assert code == 1
    assert results["gbk-notice"]["status"] == "error"
    assert "404" in results["gbk-notice"]["error"]
    assert "/gbk.html" in results["gbk-notice"]["error"]
    assert results["utf8-news"]["status"] == "new"


def test_select_matching_nothing_is_an_error_not_an_empty_page(site) -> None:
    server, config, data = site
    check_json(config, data, "utf8-news")
    server.route("/utf8.html", body=b"<html><body><p>redesigned</p></body></html>")
    code, results = check_json(config, data, "utf8-news")
    assert code == 1
    assert "#con" in results["utf8-news"]["error"]
    with Store(data, readonly=True) as store:
        assert len(store.history("utf8-news")) == 1


def test_human_output_is_a_table(site) -> None:
    _, config, data = site
    code, out = watcher(config, data, "check")
    assert code == 0
    assert "gbk-notice" in out and "new" in out
    assert "2 targets: 2 new" in out


def test_test_command_shows_text_and_hits_and_stores_nothing(site) -> None:
    _, config, data = site
    code, out = watcher(config, data, "test", "gbk-notice", "--json")
    assert code == 0
    payload = json.loads(out)
    assert "朱镕基" in payload["text"]
    assert payload["encoding"] == "gb18030"
    assert not (data / "index.sqlite").exists()


def test_unknown_target_and_bad_config_exit_2(site, tmp_path: Path) -> None:
    _, config, data = site
    code, out = watcher(config, data, "check", "gbk-notic")
    assert code == 2 and "did you mean 'gbk-notice'" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  - name: x\n    url: ftp://127.0.0.1/\n", "utf-8")
    code, out = watcher(bad, data, "validate")
    assert code == 2
    assert out.startswith(f"{bad}:3: ")


def test_every_command_help_has_an_example() -> None:
    for command in main.commands:
        out = CliRunner().invoke(main, [command, "--help"]).output
        assert "Example" in out and f"watcher {command}" in out, command


def test_sigkill_during_check_leaves_a_consistent_store(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """Kill `watcher check` while it is writing captures; the store must stay sound.

    Each round kills once the run has stored a given number of new captures (a point in
    the writing, not a guessed time, which a slow start could use up); the pages the
    round before did not get to are new to the next one."""
    targets = []
    for i in range(60):
        body = (f"<html><body><p>第{i}号通知：船舶工业。</p>" + "<p>正文内容。</p>" * 3000).encode()
        http_server.route(
            f"/p{i}.html", body=body, headers={"Content-Type": "text/html; charset=utf-8"}
        )
        targets.append(f"  - name: p{i}\n    url: {http_server.url(f'/p{i}.html')}\n")
    config = tmp_path / "targets.yaml"
    config.write_text("settings:\n  host_delay: 0\ntargets:\n" + "".join(targets), "utf-8")
    data = tmp_path / "snapshots"

    def stored() -> int:
        """Captures in the index so far, read beside the writing process."""
        try:
            with sqlite3.connect(f"file:{data / 'index.sqlite'}?mode=ro", uri=True) as db:
                return db.execute("SELECT count(*) FROM captures").fetchone()[0]
        except sqlite3.Error:
            return 0  # not there yet

    for captures in (5, 15, 15):
        wanted = stored() + captures
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "watcher.cli.main",
                "--config",
                str(config),
                "--data",
                str(data),
                "check",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        )
        eventually_sync(lambda n=wanted: stored() >= n, f"{captures} more captures")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with Store(data) as store:
            assert store.verify() == []
        db = sqlite3.connect(data / "index.sqlite")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()


def test_a_lost_text_blob_stops_neither_checks_nor_the_diff_command(site) -> None:
    server, config, data = site
    _, first = check_json(config, data, "gbk-notice")
    with Store(data, readonly=True) as store:
        lost = store.capture(first["gbk-notice"]["capture_id"])
        store.blobs.path(lost.text_sha256).unlink()
    code, out = watcher(config, data, "diff", "gbk-notice", "--from", lost.id, "--to", lost.id)
    assert code == 2 and "cannot read the stored text" in out
    code, out = watcher(config, data, "verify")
    assert code == 1 and "text blob" in out and "missing" in out
    serve_gbk(server, GBK_PAGE.replace("船只", "船舶"))
    code, results = check_json(config, data, "gbk-notice")
    assert code == 0 and results["gbk-notice"]["status"] == "changed"
