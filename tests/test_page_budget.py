"""Every page's analysis has a memory and a time budget, whatever its bytes: a page
over it is that target's error, named, and the other targets' checks go on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from clock import PATIENCE, eventually_sync
from httpserver import HTTPServer, free_port

from watcher.analysis import analyse
from watcher.analysis.workers import ThreadAnalyzer
from watcher.cli.main import main
from watcher.store.index import Store

ROOT = Path(__file__).parent.parent
HTML = {"Content-Type": "text/html; charset=utf-8"}
NOTICE = "<html><head><title>通知</title></head><body><p>国防科工局：船舶工业。</p></body></html>"
HUGE = b"<p>x</p>" * 2_400_000  # 19.2 MB: under the default max_size of 20 MB
CATASTROPHIC = "(a|aa)+$"  # exponential backtracking on a run of a's not ending the line


def check_json(config: Path, data: Path) -> dict[str, dict]:
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--json"]
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {row["target"]: row for row in rows}


def write_config(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "targets.yaml"
    config.write_text(text, "utf-8")
    return config


def test_a_page_over_its_element_budget_is_its_targets_named_error_and_loses_nothing(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    http_server.route("/big.html", body=NOTICE.encode(), headers=HTML)
    http_server.route("/other.html", body=NOTICE.encode(), headers=HTML)
    config = write_config(
        tmp_path,
        "settings: {host_delay: 0}\ndefaults: {retries: 0}\ntargets:\n"
        f"  - {{name: big, url: '{http_server.url('/big.html')}'}}\n"
        f"  - {{name: other, url: '{http_server.url('/other.html')}'}}\n",
    )
    data = tmp_path / "snapshots"
    first = check_json(config, data)["big"]
    assert first["status"] == "new"

    http_server.route("/big.html", body=HUGE, headers=HTML)
    http_server.route("/other.html", body=NOTICE.replace("船舶", "造船").encode(), headers=HTML)
    results = check_json(config, data)

    assert results["big"]["status"] == "error"
    assert results["big"]["error"] == (
        f"{http_server.url('/big.html')}: the page has 2,400,000 tags, over its analysis"
        " budget of 200,000 (about 300 bytes of memory each; raise max_elements for this"
        " target)"
    )
    assert results["other"]["status"] == "changed"
    with Store(data, readonly=True) as store:
        history = store.history("big")
        assert [c.id for c in history] == [first["capture_id"]]  # the evidence stays
        assert store.text(history[0]) == "通知\n国防科工局：船舶工业。"


def test_max_elements_raises_the_budget_for_one_target(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    page = ("<html><body>" + "<p>段落</p>" * 300 + "</body></html>").encode()
    http_server.route("/a.html", body=page, headers=HTML)
    http_server.route("/b.html", body=page, headers=HTML)
    config = write_config(
        tmp_path,
        "settings: {host_delay: 0}\ndefaults: {retries: 0, max_elements: 100}\ntargets:\n"
        f"  - {{name: capped, url: '{http_server.url('/a.html')}'}}\n"
        f"  - {{name: raised, url: '{http_server.url('/b.html')}', max_elements: 1000}}\n",
    )
    results = check_json(config, tmp_path / "snapshots")
    assert results["capped"]["status"] == "error"
    assert "has 302 tags, over its analysis budget of 100" in results["capped"]["error"]
    assert results["raised"]["status"] == "new"


def test_six_big_pages_in_one_check_are_never_more_than_the_capacity_in_analysis(
    http_server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fewer than 20 targets: analysis in threads, whose capacity is 2."""
    paragraph = "<p>" + "各有关单位：船舶工业发展规划。" * 20 + "</p>\n"
    for i in range(6):
        body = f"<html><body><h1>第{i}号</h1>{paragraph * 1500}</body></html>".encode()
        http_server.route(f"/{i}.html", body=body, headers=HTML)  # 0.9 MB each
    targets = "".join(
        f"  - {{name: p{i}, url: '{http_server.url(f'/{i}.html')}'}}\n" for i in range(6)
    )
    config = write_config(
        tmp_path,
        f"settings: {{host_delay: 0, per_host: 6}}\ndefaults: {{retries: 0}}\ntargets:\n{targets}",
    )
    real_run = analyse.run
    lock = threading.Lock()
    in_flight, most = 0, 0
    # pages start their analysis in pairs, so that the capacity is met and anything
    # past it would be seen (the timeout only ends a test gone wrong)
    pairs = threading.Barrier(2, timeout=30)

    def counted(page: analyse.Page) -> analyse.Analysis:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            pairs.wait()
            return real_run(page)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(analyse, "run", counted)
    results = check_json(config, tmp_path / "snapshots")
    assert [results[f"p{i}"]["status"] for i in range(6)] == ["new"] * 6
    assert most == 2


def test_a_catastrophic_user_pattern_is_a_named_error_within_its_limit(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    hostile = f"<html><body><p>{'a' * 34}b</p></body></html>".encode()
    http_server.route("/ignore.html", body=hostile, headers=HTML)
    http_server.route("/keyword.html", body=hostile, headers=HTML)
    http_server.route("/fine.html", body=NOTICE.encode(), headers=HTML)
    config = write_config(
        tmp_path,
        "settings: {host_delay: 0, regex_timeout: 0.2}\ndefaults: {retries: 0}\n"
        f"keywords:\n  ships: [船舶]\n  runs: ['re:{CATASTROPHIC}']\ntargets:\n"
        f"  - name: by-ignore\n    url: {http_server.url('/ignore.html')}\n"
        f"    ignore: ['{CATASTROPHIC}']\n    keywords: [ships]\n"
        f"  - name: by-keyword\n    url: {http_server.url('/keyword.html')}\n"
        f"  - name: fine\n    url: {http_server.url('/fine.html')}\n",
    )
    results = check_json(config, tmp_path / "snapshots")
    hint = "(settings.regex_timeout; or make the pattern simpler)"
    assert results["by-ignore"]["status"] == "error"
    assert results["by-ignore"]["error"] == (
        f"ignore pattern '{CATASTROPHIC}' took over 0.2 s of CPU on"
        f" {http_server.url('/ignore.html')} {hint}"
    )
    assert results["by-keyword"]["status"] == "error"
    assert results["by-keyword"]["error"] == (
        f"keyword pattern '{CATASTROPHIC}' took over 0.2 s of CPU on"
        f" {http_server.url('/keyword.html')} {hint}"
    )
    assert results["fine"]["status"] == "new"
    assert [h["term"] for h in results["fine"]["hits"]] == ["船舶"]


async def test_big_pages_are_analysed_one_at_a_time_small_ones_beside_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pages whose bodies together exceed the byte budget never overlap; two that
    fit go together (a barrier holds each small page until its partner is in)."""
    real_run = analyse.run
    lock = threading.Lock()
    events: list[tuple[str, str]] = []
    pairs = threading.Barrier(2, timeout=30)

    def recorded(page: analyse.Page) -> analyse.Analysis:
        name = page.final_url.rsplit("/", 1)[1]
        with lock:
            events.append(("start", name))
        if name.startswith("small"):
            pairs.wait()
        try:
            return real_run(page)
        finally:
            with lock:
                events.append(("end", name))

    monkeypatch.setattr(analyse, "run", recorded)
    paragraph = "<p>" + "各有关单位：船舶工业发展规划。" * 20 + "</p>\n"

    def page(name: str, paragraphs: int) -> analyse.Page:
        body = f"<html><body>{paragraph * paragraphs}</body></html>".encode()
        return analyse.Page(
            body=body, content_type="text/html", final_url=f"http://127.0.0.1/{name}"
        )

    analyzer = ThreadAnalyzer({}, tmp_path, max_bytes=1_000_000)
    try:
        pages = [page("big-1", 700), page("big-2", 700), page("small-1", 10), page("small-2", 10)]
        assert all(len(p.body) > 600_000 for p in pages[:2])
        await asyncio.gather(*(analyzer.analyse(p) for p in pages))
    finally:
        analyzer.close()
    at = {event: i for i, event in enumerate(events)}
    assert at[("end", "big-1")] < at[("start", "big-2")]  # 1.4 MB together: one at a time
    assert at[("start", "small-2")] < at[("end", "small-1")]  # they fit together


def test_a_listing_page_over_the_budget_reads_no_items_and_says_why(tmp_path: Path) -> None:
    from test_listings import Site, listing_html

    with HTTPServer() as server:
        site = Site(server, tmp_path)
        config = site.write_config()
        text = config.read_text("utf-8").replace(
            "    retries: 0\n", "    retries: 0\n    max_elements: 60\n"
        )
        config.write_text(text, "utf-8")
        many = [(f"/art/{i}.html", f"通知{i}", "2026-10-01") for i in range(100, 130)]
        server.route("/list_2.html", body=listing_html(many), headers={"Content-Type": "text/html"})
        line = site.check()
        assert line["status"] == "new"  # the first page is within its budget
        assert site.documents() == {}  # no items: a partial list would delist the rest
        assert (
            f"{server.url('/list_2.html')}: the listing page has 98 tags, over its analysis"
            " budget of 60 (raise max_elements for this target)" in site.stderr
        )
        assert server.hits("/art/3.html") == 0  # nor any document fetched


def test_the_service_answers_its_health_check_and_sigterm_while_a_pattern_runs(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """The pattern runs for its whole limit (3 s of CPU) with the interpreter lock released."""
    hostile = f"<html><body><p>{'a' * 60}b</p></body></html>".encode()
    stats = http_server.route("/hostile.html", body=hostile, headers=HTML)
    config = write_config(
        tmp_path,
        "settings: {host_delay: 0, regex_timeout: 3s}\ntargets:\n"
        f"  - name: hostile\n    url: {http_server.url('/hostile.html')}\n"
        f"    interval: 1s\n    retries: 0\n    ignore: ['{CATASTROPHIC}']\n",
    )
    data = tmp_path / "snapshots"
    port = free_port()
    command = [sys.executable, "-m", "watcher", "--config", str(config), "--data", str(data)]
    log = tmp_path / "run.log"
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [*command, "run", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        eventually_sync(lambda: stats.hits >= 1, "the hostile page fetched")
        fetched = cpu_ticks(proc.pid)
        eventually_sync(lambda: cpu_ticks(proc.pid) > fetched + 30, "the pattern running")
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)
        assert health.status_code == 200
        assert not checks_of(data, "hostile")  # answered while the pattern ran
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=PATIENCE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert "stopping" in log.read_text("utf-8")


def cpu_ticks(pid: int) -> int:
    """Clock ticks of CPU a process has used (user + system), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def checks_of(data: Path, name: str) -> list[object]:
    try:
        with Store(data, readonly=True) as store:
            return list(store.checks_of(name))
    except Exception:  # no store yet: no check either
        return []
