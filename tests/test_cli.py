"""End to end: the `watcher` command against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from clock import eventually_sync
from httpserver import HTTPServer
from pgstores import child_env

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


def watcher_process(config: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`watcher` as its own process: its real exit code and every line it writes."""
    return subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(data, {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}),
    )


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_port_in_use_is_one_line_naming_it_and_exit_2(site, command: str) -> None:
    """Not uvicorn's log line, a SystemExit(3) and a page of "Task exception was never
    retrieved": one message, and the service stopped before anything started."""
    server, config, data = site
    check_json(config, data)
    fetches = len(server.requests("/gbk.html"))
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        done = watcher_process(config, data, command, "--port", str(port))
    assert done.stderr.splitlines() == [
        f"error: the web UI cannot listen on 127.0.0.1:{port}: address already in use"
    ]
    assert (done.stdout, done.returncode) == ("", 2)
    assert len(server.requests("/gbk.html")) == fetches  # no check started
    wal = data / "index.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # the store was closed


def test_sigkill_during_check_leaves_a_consistent_store(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """Kill `watcher check` while it is writing captures; the store must stay sound.

    Each round kills as soon as the run's first new captures are visible (a point in the
    writing, not a guessed time, which a slow start could use up). A round may store
    several more before the kill lands (on a fast machine, twenty); there are pages
    enough that every round still finds new ones and is killed while writing them."""
    targets = []
    for i in range(90):
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

    for _ in range(3):
        before = stored()
        assert before < len(targets), f"all {before} pages were stored before this round"
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
        # a fresh process starts its analysis workers first: slow on a loaded machine
        eventually_sync(lambda n=before: stored() > n, f"new captures after {before}", 90.0)
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
    assert code == 1 and "cannot read the stored text" in out and "watcher verify" in out
    code, out = watcher(config, data, "verify")
    assert code == 1 and "text blob" in out and "missing" in out
    serve_gbk(server, GBK_PAGE.replace("船只", "船舶"))
    code, results = check_json(config, data, "gbk-notice")
    assert code == 0 and results["gbk-notice"]["status"] == "changed"


def utc_minute(at: str) -> str:
    """'2026-11-28T10:00:12.3Z' as the CLI's messages print it: '2026-11-28 10:00 UTC'."""
    return f"{at[:10]} {at[11:16]} UTC"


def error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("error:")]


def test_diff_with_one_capture_says_what_there_is_and_exits_1(site) -> None:
    _, config, data = site
    _, first = check_json(config, data, "gbk-notice")
    capture, at = first["gbk-notice"]["capture_id"], first["gbk-notice"]["fetched_at"]
    code, out = watcher(config, data, "diff", "gbk-notice")
    assert (code, out.splitlines()) == (
        1,
        [f"error: gbk-notice has 1 capture ({capture}, {utc_minute(at)}); nothing to compare yet"],
    )
    code, out = watcher(config, data, "diff", "gbk-notice", "--to", capture[:12])
    assert (code, out.splitlines()) == (
        1,
        [f"error: {capture} is the first capture of gbk-notice; nothing before it to compare"],
    )


def test_a_target_whose_checks_all_failed_says_how_in_history_and_diff(site) -> None:
    server, config, data = site
    server.route("/gbk.html", status=503, body=b"busy")
    check_json(config, data, "gbk-notice")
    _, failed = check_json(config, data, "gbk-notice")
    error = failed["gbk-notice"]["error"]
    assert error.startswith(server.url("/gbk.html")) and "503" in error
    with Store(data, readonly=True) as store:
        last = store.checks_of("gbk-notice")[0].checked_at.isoformat()
    checks = f"2 checks failed, the last at {utc_minute(last)}: {error}"

    code, out = watcher(config, data, "history", "gbk-notice")
    assert (code, out.splitlines()) == (0, [f"gbk-notice: no captures yet; {checks}"])
    code, out = watcher(config, data, "history", "gbk-notice", "--json", stdout_only=True)
    assert (code, out) == (0, "")  # no captures: no JSON lines (the note is on stderr)
    code, out = watcher(config, data, "diff", "gbk-notice")
    assert (code, out.splitlines()) == (
        1,
        [f"error: gbk-notice has no captures yet, nothing to compare; {checks}"],
    )


def test_history_shows_whole_ids_and_ends_with_the_failures_since(site) -> None:
    server, config, data = site
    _, first = check_json(config, data, "gbk-notice")
    server.route("/gbk.html", status=404, body=b"gone")
    _, failed = check_json(config, data, "gbk-notice")
    with Store(data, readonly=True) as store:
        last = store.checks_of("gbk-notice")[0].checked_at.isoformat()
    code, out = watcher(config, data, "history", "gbk-notice")
    assert code == 0
    capture = first["gbk-notice"]
    row = out.splitlines()[1].split()
    assert row[:4] == [capture["capture_id"], *capture["fetched_at"][:19].split("T"), "new"]
    assert out.splitlines()[-1] == (
        f"the last check failed, at {utc_minute(last)}: {failed['gbk-notice']['error']}"
    )


def test_history_and_diff_of_targets_never_checked_exit_2(site) -> None:
    _, config, data = site
    check_json(config, data, "gbk-notice")
    for command in ("history", "diff"):
        code, out = watcher(config, data, command, "utf8-news")
        assert (code, error_lines(out)) == (
            2,
            [
                "error: 'utf8-news' has not been checked yet: "
                "`watcher check utf8-news` makes its first capture"
            ],
        ), command
        code, out = watcher(config, data, command, "gbk-notic")
        assert (code, error_lines(out)) == (
            2,
            [f"error: no target named 'gbk-notic' in {data} (did you mean 'gbk-notice'?)"],
        ), command


NOTICE_PAGE = """<html><head><meta charset="utf-8"><title>关于推动船舶工业发展的通知</title></head>
<body><dl class="xxgk">
  <dt>索引号</dt><dd>bm07-2024-00123</dd>
  <dt>发文机关</dt><dd>工业和信息化部</dd>
  <dt>发文字号</dt><dd>工信部联规〔2024〕12号</dd>
  <dt>成文日期</dt><dd>2024-01-05</dd>
</dl>
<div id="con"><p>各有关单位：</p><p>推动{word}工业高质量发展。</p></div></body></html>"""
LISTING_PAGE = """<html><head><meta charset="utf-8"><title>通知公告</title></head><body>
<ul class="list"><li><a href="notice.html">关于推动船舶工业发展的通知</a></li></ul></body></html>"""


@pytest.fixture
def notice(site) -> tuple[HTTPServer, Path, Path, str]:
    """A listing's notice (it has metadata) captured twice, 船只 → 船舶: the second
    capture's id."""
    server, config, data = site
    config.write_text(
        config.read_text("utf-8")
        + f"  - name: miit-list\n    url: {server.url('/list.html')}\n"
        + '    follow: {links: "ul.list a", select: "#con", baseline: false, recheck: 0s}\n',
        "utf-8",
    )
    server.route("/list.html", body=LISTING_PAGE.encode(), headers={"Content-Type": "text/html"})
    for word in ("船只", "船舶"):
        page = NOTICE_PAGE.replace("{word}", word).encode()
        server.route("/notice.html", body=page, headers={"Content-Type": "text/html"})
        check_json(config, data, "miit-list")
    with Store(data, readonly=True) as store:
        (document,) = (n for n in store.target_names() if n.startswith("miit-list~"))
        latest = store.history(document)[0]
    assert latest.kind == "changed"
    return server, config, data, latest.id


def facts_of(out: str) -> dict[str, str]:
    """The label / value lines of `watcher show` (before the keyword hits and text)."""
    facts = {}
    for line in out.split("\n\n")[0].splitlines()[2:]:
        label, _, value = line.strip().partition("  ")
        facts[label] = value.strip()
    return facts


def test_show_prints_the_facts_the_hits_and_the_text(notice) -> None:
    server, config, data, capture_id = notice
    code, out = watcher(config, data, "show", capture_id[:12])
    assert code == 0
    with Store(data, readonly=True) as store:
        capture = store.capture(capture_id)
        text = store.text(capture)
    lines = out.splitlines()
    assert lines[:2] == [f"{capture.target}: capture {capture.id}", "关于推动船舶工业发展的通知"]
    assert facts_of(out) == {
        "URL": server.url("/notice.html"),
        "final URL": "the same",
        "HTTP status": "200",
        "fetched": f"{capture.fetched_at:%Y-%m-%d %H:%M:%S} UTC ({capture.duration:.2f} s)",
        "kind": "changed",
        "raw size": f"{capture.raw_size:,} bytes",
        "raw SHA-256": capture.raw_sha256,
        "text size": f"{capture.text_size:,} bytes (UTF-8)",
        "text SHA-256": capture.text_sha256,
        "content type": "text/html",
        "encoding": "utf-8 (meta)",
        "previous": capture.previous_id,
        "change": "+1/−1 characters",
        "keyword hits": "1",
        "发文字号": "工信部联规〔2024〕12号",
        "发文机关": "工业和信息化部",
        "成文日期": "2024-01-05",
        "索引号": "bm07-2024-00123",
        "browser": "not rendered: no screenshot or DOM",
    }
    assert "  shipbuilding 船舶: 各有关单位： 推动船舶工业高质量发展。" in lines
    rule = f" text, {capture.text_size:,} bytes "
    (ruled,) = (line for line in lines if rule in line)
    assert ruled.strip("─") == rule and ruled.startswith("─")
    assert out.split(ruled + "\n", 1)[1] == text + "\n"  # the text, whole, after the facts


def test_show_json_and_raw(notice) -> None:
    _, config, data, capture_id = notice
    code, out = watcher(config, data, "show", capture_id, "--json")
    assert code == 0
    shown = json.loads(out)
    with Store(data, readonly=True) as store:
        capture = store.capture(capture_id)
        text, raw = store.text(capture), store.raw(capture)
    assert shown["text"] == text and shown["id"] == capture.id
    assert shown["metadata"]["document_number"] == "工信部联规〔2024〕12号"
    assert [(h["term"], h["where"]) for h in shown["hits"]] == [("船舶", "added")]
    assert (shown["previous_id"], shown["added"], shown["removed"]) == (capture.previous_id, 1, 1)
    assert shown["encoding_source"] == "meta" and shown["screenshot_sha256"] is None

    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "show", capture.id[:10], "--raw"]
    )
    assert result.exit_code == 0 and result.stdout_bytes == raw


def test_show_names_the_configured_title(site) -> None:
    _, config, data = site
    _, first = check_json(config, data, "gbk-notice")
    capture_id = first["gbk-notice"]["capture_id"]
    code, out = watcher(config, data, "show", capture_id)
    assert out.splitlines()[0] == f"gbk-notice (GBK 通知): capture {capture_id}"
    code, out = watcher(config, data, "show", capture_id, "--json")
    assert json.loads(out)["target_title"] == "GBK 通知"
    config.write_text("targets: [", "utf-8")  # unreadable: still shown, without the title
    code, out = watcher(config, data, "show", capture_id)
    assert code == 0 and out.splitlines()[0] == f"gbk-notice: capture {capture_id}"


def test_show_raw_writes_non_utf8_bytes_unchanged(site) -> None:
    _, config, data = site
    _, first = check_json(config, data, "gbk-notice")
    capture_id = first["gbk-notice"]["capture_id"]
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "show", capture_id, "--raw"]
    )
    assert result.exit_code == 0 and result.stdout_bytes == GBK_PAGE.encode("gbk")


def test_show_of_an_unknown_or_ambiguous_id_exits_2(site) -> None:
    _, config, data = site
    _, results = check_json(config, data)
    ids = [r["capture_id"] for r in results.values()]
    shared = next(ids[0][:n] for n in range(26, 0, -1) if ids[1].startswith(ids[0][:n]))
    assert len(shared) >= 4  # one cycle's ids share their time
    for given, message in [
        ("01ZZZZZZ", f"no capture '01ZZZZZZ' in {data}"),
        ("01", f"no capture '01' in {data} (a prefix needs 4 characters or more)"),
        (shared, f"capture id prefix {shared!r} is ambiguous in {data}"),
    ]:
        code, out = watcher(config, data, "show", given)
        assert (code, out.splitlines()) == (2, [f"error: {message}"]), given
    code, out = watcher(config, data, "show", ids[0], "--raw", "--json")
    assert (code, out.splitlines()) == (2, ["error: give --raw or --json, not both"])


def test_show_of_a_damaged_blob_points_at_verify_and_exits_1(site) -> None:
    _, config, data = site
    _, first = check_json(config, data, "gbk-notice")
    with Store(data, readonly=True) as store:
        capture = store.capture(first["gbk-notice"]["capture_id"])
        text_blob, raw_blob = (
            store.blobs.path(d) for d in (capture.text_sha256, capture.raw_sha256)
        )
    text_blob.write_bytes(text_blob.read_bytes()[:-3])  # a truncated zstd frame
    code, out = watcher(config, data, "show", capture.id)
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(
        f"error: capture {capture.id} of 'gbk-notice': cannot read the stored text: "
        f"blob {capture.text_sha256} is damaged: not a readable zstd frame"
    )
    assert line.endswith("; `watcher verify` lists damage")

    from watcher.store.blobs import compress

    raw_blob.write_bytes(compress(b"<html>other bytes</html>"))  # readable, but not the evidence
    code, out = watcher(config, data, "show", capture.id, "--raw", stdout_only=True)
    assert (code, out) == (1, "")
    code, out = watcher(config, data, "show", capture.id, "--raw")
    assert out == (
        f"error: capture {capture.id} of 'gbk-notice': cannot read the stored raw bytes: "
        f"blob {capture.raw_sha256} is damaged: the stored bytes no longer match their "
        f"SHA-256 ({raw_blob}); `watcher verify` lists damage\n"
    )
