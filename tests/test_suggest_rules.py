"""Noise handled where it is seen: the rule that would have silenced a change, with
the past changes it silences, from real `watcher check` runs against a real page
(a Hanweb article of fgw.zj.gov.cn, whose 浏览次数 counter and footer change between
checks) served on 127.0.0.1."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from clock import FakeClock
from fastapi.testclient import TestClient
from govpages import PAGES
from httpserver import HTTPServer

from watcher.cli.main import main
from watcher.config import load_config
from watcher.config.model import compile_regex
from watcher.diff.rules import apply_ignore, ignore_candidates
from watcher.web.app import create_app

PAGE = PAGES / "fgw.zj.gov.cn" / "article_art_1621004_30332664.html"  # a real page
COUNTER = "<span>浏览次数： </span>"  # filled in by the site's script; here by the server
REAL_EDIT = ("全县固定资产投资完成", "全县固定资产投资共完成")
SOURCE = "省发改委<!--<$[信息来源]>end-->"
COUNTER_RULE = r"浏览次数[:：]\s{0,3}\d{1,12}"

CONFIG = """\
settings: {{host_delay: 0}}
defaults: {{retries: 0, timeout: 10s}}
keywords:
  shipbuilding: [船舶, 造船]
targets:
  - name: zj-article
    url: {url}
    exclude: [".bdsharebuttonbox"]
{extra}"""


def page(views: int, *, year: int = 2024, icp: str = "05018911", edit: bool = False) -> bytes:
    """The real page as the site serves it on a given day: its counter, its footer."""
    html = PAGE.read_text(encoding="utf-8")
    assert COUNTER in html and REAL_EDIT[0] in html and SOURCE in html
    html = html.replace(COUNTER, f"<span>浏览次数：{views}</span>")
    html = html.replace("版权所有&nbsp;", f"版权所有 © 2016-{year}&nbsp;", 1)
    html = html.replace("浙ICP备05018911号", f"浙ICP备{icp}号")
    if edit:
        html = html.replace(*REAL_EDIT)
    return html.encode("utf-8")


@pytest.fixture
def site(http_server: HTTPServer, tmp_path: Path) -> tuple[HTTPServer, Path, Path]:
    config = tmp_path / "targets.yaml"
    config.write_text(CONFIG.format(url=http_server.url("/art.html"), extra=""), "utf-8")
    return http_server, config, tmp_path / "snapshots"


def serve(server: HTTPServer, body: bytes) -> None:
    server.route("/art.html", body=body, headers={"Content-Type": "text/html; charset=utf-8"})


def watcher(config: Path, data: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "--data", str(data), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def check(server: HTTPServer, config: Path, data: Path, body: bytes) -> dict[str, Any]:
    serve(server, body)
    code, out = watcher(config, data, "check", "--json", "--no-notify")
    assert code == 0, out
    return json.loads(out)


def suggest(config: Path, data: Path, *args: str) -> dict[str, Any]:
    code, out = watcher(config, data, "suggest-ignore", "zj-article", "--json", *args)
    assert code == 0, out
    return json.loads(out)


def rule_of(found: dict[str, Any], pattern: str) -> dict[str, Any]:
    matching = [r for r in found["rules"] if pattern in r["patterns"]]
    assert matching, [r["patterns"] for r in found["rules"]]
    return matching[0]


def nested_or_unbounded(pattern: str) -> list[str]:
    """Repeats a pattern should not have: one inside another, or without an upper bound."""
    problems: list[str] = []

    def walk(items: Any, depth: int) -> None:
        for op, arg in items:
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                _, high, sub = arg
                if high == re._parser.MAXREPEAT:  # type: ignore[attr-defined]
                    problems.append("unbounded")
                if depth:
                    problems.append("nested")
                walk(sub, depth + 1)
            elif name == "SUBPATTERN":
                walk(arg[-1], depth)
            elif name == "BRANCH":
                for branch in arg[1]:
                    walk(branch, depth)

    walk(re._parser.parse(pattern), 0)  # type: ignore[attr-defined]
    return problems


def test_counter_rule_silences_every_counter_change_and_not_the_real_edit(site) -> None:
    server, config, data = site
    views = [101, 157, 203, 260, 311]
    ids = [check(server, config, data, page(n, edit=n >= 260))["capture_id"] for n in views]

    found = suggest(config, data)
    assert found["capture_id"] == ids[-1] and found["previous_id"] == ids[-2]
    assert found["changes"] == 4
    best = found["rules"][0]
    assert best["kind"] == "ignore" and best["patterns"] == [COUNTER_RULE]
    assert (best["silenced"], best["left"], best["of"]) == (3, 1, 4)
    assert ids[3] not in best["silenced_captures"]  # the real edit is still seen
    assert best["flags"] == [] and best["safe"]
    assert yaml.safe_load(best["yaml"]) == {"ignore": [COUNTER_RULE]}

    # valid as the config validates ignore, no repeat that can backtrack
    assert set(nested_or_unbounded(r"浏览次数[:：]\s*(\d+)+")) == {"unbounded", "nested"}
    compile_regex(COUNTER_RULE)
    for rule in found["rules"]:
        if rule["kind"] == "ignore":
            for pattern in rule["patterns"]:
                compile_regex(pattern)
                assert nested_or_unbounded(pattern) == [], pattern

    # pasted into the target, it silences the next counter change for real
    config.write_text(
        CONFIG.format(url=server.url("/art.html"), extra=textwrap.indent(best["yaml"], "    ")),
        "utf-8",
    )
    assert load_config(config).target("zj-article").ignore == (COUNTER_RULE,)
    assert watcher(config, data, "validate")[0] == 0
    check(server, config, data, page(350, edit=True))  # the counter leaves the text once
    assert check(server, config, data, page(351, edit=True))["status"] == "unchanged"
    assert check(server, config, data, page(352, edit=False))["status"] == "changed"


def test_table_and_yaml_of_the_command(site) -> None:
    server, config, data = site
    for n in (5, 6, 7):
        check(server, config, data, page(n))
    code, out = watcher(config, data, "suggest-ignore", "zj-article")
    assert code == 0
    assert "2 past changes replayed" in out
    assert COUNTER_RULE.replace("\\", "\\") in out and "2 of 2" in out and "safe" in out
    assert f"ignore:\n  - '{COUNTER_RULE}'\n" in out


def test_footer_year_and_icp_number_get_an_exclude_selector(site) -> None:
    server, config, data = site
    footers = [(2024, "05018911"), (2025, "05018911"), (2025, "05018912"), (2026, "05018913")]
    for year, icp in footers:
        check(server, config, data, page(7, year=year, icp=icp))
    found = suggest(config, data)
    footer = rule_of(found, ".footer")
    assert footer["kind"] == "exclude"
    assert (footer["silenced"], footer["of"], footer["flags"]) == (3, 3, [])
    assert yaml.safe_load(footer["yaml"]) == {"exclude": [".bdsharebuttonbox", ".footer"]}
    # the ignore patterns made from the same change keep the copyright's label
    patterns = [p for r in found["rules"] if r["kind"] == "ignore" for p in r["patterns"]]
    assert r"版权所有\s{0,3}©\s{0,3}\d{4}-\d{4}" in patterns
    assert r"浙ICP备\d{1,12}" in patterns


def test_a_rule_that_would_hide_a_keyword_hit_is_flagged(site) -> None:
    server, config, data = site
    check(server, config, data, page(1))
    check(server, config, data, page(2))
    body = page(3).decode().replace(SOURCE, "浙江省船舶行业协会<!--<$[信息来源]>end-->")
    hit = check(server, config, data, body.encode())
    assert [h["term"] for h in hit["hits"]] == ["船舶"]

    found = suggest(config, data, "--capture", hit["capture_id"])
    line = rule_of(found, ".small-title")
    assert line["silences_this_change"] and line["silenced"] == 2
    assert "hides a keyword hit" in line["flags"] and not line["safe"]
    counter = rule_of(found, COUNTER_RULE)  # silences the counter change, not the news
    assert not counter["silences_this_change"] and counter["flags"] == []
    assert found["rules"][0]["safe"]  # safe rules come first


def test_endpoint_for_the_inbox(site) -> None:
    server, config, data = site
    ids = [check(server, config, data, page(n))["capture_id"] for n in (40, 41, 42)]
    app = create_app(data, config, clock=FakeClock())
    with TestClient(app, base_url="http://127.0.0.1") as web:
        answer = web.get(f"/api/targets/zj-article/suggest-rules?capture={ids[1]}")
        assert answer.status_code == 200
        found = answer.json()
        assert (found["capture_id"], found["previous_id"]) == (ids[1], ids[0])
        assert found["rules"][0]["patterns"] == [COUNTER_RULE]
        assert found["rules"][0]["silenced"] == 2
        assert web.get("/api/targets/nope/suggest-rules").status_code == 404
        missing = web.get("/api/targets/zj-article/suggest-rules?capture=01ZZZZZZZZ")
        assert missing.status_code == 404


def test_unlabelled_numbers_and_word_edits_give_no_pattern() -> None:
    assert ignore_candidates("共 12 条\n第1页", "共 12 条\n第2页") == []  # a label too short
    assert ignore_candidates("2024\n正文", "2025\n正文") == []  # no label: every number
    assert ignore_candidates("关于印发通知", "关于修订通知") == []
    dated = ignore_candidates("更新于 2024年3月1日 10:05", "更新于 2024年3月12日 9:41")
    assert dated == [r"更新于\s{0,3}\d{4}年\d{1,2}月\d{1,2}日\s{0,3}\d{1,2}[:：]\d{1,2}"]
    assert apply_ignore("更新于 2024年3月12日 9:41\n正文", dated) == "正文"
