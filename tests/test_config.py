"""Tests for watcher.config: every bad config gives FILE:LINE: message, never a traceback."""

from __future__ import annotations

import string
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from watcher.config import (
    DEFAULT_USER_AGENT,
    Config,
    ConfigError,
    ConfigIssue,
    Follow,
    Settings,
    Target,
    format_issues,
    load_config,
    parse_config_text,
    parse_duration,
    parse_size,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "targets.yaml"
OK_TARGET = "targets:\n  - name: a\n    url: https://a.example/\n"


def issues_of(text: str, filename: str = "t.yaml") -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, filename)
    return info.value.issues


def parse(text: str) -> Config:
    return parse_config_text(text, "t.yaml")


# --------------------------------------------------------------------------- bad configs

BAD_CASES = [
    # YAML syntax
    pytest.param("defaults:\n\tinterval: 1h\n" + OK_TARGET, 2, "tab character", id="tab-indent"),
    pytest.param(
        "defaults:\n  interval: 1h\n   timeout: 3s\n" + OK_TARGET,
        3,
        "check the indentation",
        id="bad-indent",
    ),
    pytest.param(
        'targets:\n  - name: a\n    title: "MIIT\n    url: https://a/\n  - name: b\n',
        3,
        "unclosed quote",
        id="unclosed-quote",
    ),
    pytest.param(
        "targets:\n  - name: a\n    select: [div.a, div.b\n    url: https://a/\n",
        3,
        "unclosed '['",
        id="unclosed-bracket",
    ),
    pytest.param(
        "defaults:\n  cron: */5 * * * *\n" + OK_TARGET,
        2,
        "must be quoted",
        id="unquoted-cron-star",
    ),
    pytest.param(
        "defaults:\n  interval 1h\n  jitter: 5m\n" + OK_TARGET,
        3,
        "is a ':' missing on line 2?",
        id="missing-colon",
    ),
    pytest.param(OK_TARGET + "---\n" + OK_TARGET, 4, "second YAML document", id="two-documents"),
    pytest.param("# nothing yet\n", 1, "the file is empty", id="empty-file"),
    pytest.param("- name: a\n  url: https://a/\n", 1, "top level must be a mapping", id="top-list"),
    pytest.param(
        "targets: !!python/object:os.system {}\n", 1, "unsupported YAML tag", id="python-tag"
    ),
    # duplicate keys, anywhere
    pytest.param(
        "targets:\n  - name: a\n    url: https://a/\n    name: b\n",
        4,
        "targets[0].name: duplicate key (first defined at line 2)",
        id="dup-key-target",
    ),
    pytest.param(
        "defaults:\n  interval: 1h\n  jitter: 1m\n  interval: 2h\n" + OK_TARGET,
        4,
        "defaults.interval: duplicate key (first defined at line 2)",
        id="dup-key-defaults",
    ),
    pytest.param(
        OK_TARGET + "    headers:\n      Accept: a\n      Accept: b\n",
        6,
        "targets[0].headers.Accept: duplicate key (first defined at line 5)",
        id="dup-key-nested",
    ),
    pytest.param(
        "keywords:\n  a: [x]\n" + OK_TARGET + "keywords:\n  b: [y]\n",
        6,
        "keywords: duplicate key (first defined at line 1)",
        id="dup-key-top",
    ),
    # unknown keys, with suggestions
    pytest.param(
        "defaults:\n  intervall: 1h\n" + OK_TARGET,
        2,
        "defaults.intervall: unknown key; did you mean 'interval'?",
        id="unknown-key-defaults",
    ),
    pytest.param(
        OK_TARGET + "    selct: div\n",
        4,
        "targets[0].selct: unknown key; did you mean 'select'?",
        id="unknown-key-target",
    ),
    pytest.param(
        OK_TARGET + "    follow:\n      links: a\n      max_nwe: 3\n",
        6,
        "targets[0].follow.max_nwe: unknown key; did you mean 'max_new'?",
        id="unknown-key-follow",
    ),
    pytest.param(
        "settings:\n  concurency: 4\n" + OK_TARGET,
        2,
        "settings.concurency: unknown key; did you mean 'concurrency'?",
        id="unknown-key-settings",
    ),
    pytest.param(
        "keyword:\n  a: [x]\n" + OK_TARGET,
        1,
        "keyword: unknown top-level key; did you mean 'keywords'?",
        id="unknown-key-top",
    ),
    pytest.param(
        "interval: 5m\n" + OK_TARGET, 1, "put it under 'defaults:'", id="option-at-top-level"
    ),
    pytest.param(
        "defaults:\n  url: https://a/\n" + OK_TARGET,
        2,
        "defaults.url: 'url' can only be set on a target",
        id="target-key-in-defaults",
    ),
    # targets: names, URLs, shape
    pytest.param(
        OK_TARGET + "  - name: b\n    url: https://b/\n  - name: a\n    url: https://c/\n",
        6,
        "targets[2].name: duplicate target name 'a'; already used by targets[0] at line 2",
        id="dup-target-name",
    ),
    pytest.param(
        "targets:\n  - name: MIIT_Notices\n    url: https://a/\n",
        2,
        "invalid target name 'MIIT_Notices'",
        id="bad-name",
    ),
    pytest.param(
        "targets:\n  - name: a\n    url: ftp://example.com/\n",
        3,
        "targets[0].url: must start with http:// or https://, got 'ftp://example.com/'",
        id="ftp-url",
    ),
    pytest.param(
        "targets:\n  - name: a\n    url: www.miit.gov.cn/\n",
        3,
        "did you mean 'https://www.miit.gov.cn/'?",
        id="url-without-scheme",
    ),
    pytest.param(
        "targets:\n  - name: a\n    url: https:///path\n", 3, "has no host name", id="url-no-host"
    ),
    pytest.param(
        "targets:\n  - name: a\n    title: x\n",
        2,
        "targets[0]: missing required key 'url'",
        id="missing-url",
    ),
    pytest.param(
        "targets:\n  - https://a/\n",
        2,
        "targets[0]: expected a mapping with at least name: and url:",
        id="target-not-mapping",
    ),
    pytest.param("targets: []\n", 1, "at least one target", id="no-targets"),
    pytest.param("defaults:\n  interval: 1h\n", 1, "missing required key 'targets'", id="no-key"),
    # regexes and CSS
    pytest.param(
        OK_TARGET + "    ignore: ['ok', '浏览次数(']\n",
        4,
        "targets[0].ignore[1]: invalid regular expression '浏览次数(': missing ), "
        "unterminated subpattern at position 4",
        id="bad-ignore-regex",
    ),
    pytest.param(
        "keywords:\n  mcf:\n    - 军民融合\n    - re:军民(两用\n" + OK_TARGET,
        4,
        "keywords.mcf[1]: invalid regular expression '军民(两用'",
        id="bad-keyword-regex",
    ),
    pytest.param(
        OK_TARGET + "    select:\n      - div.content\n      - div[\n",
        6,
        "targets[0].select[1]: invalid CSS selector 'div['",
        id="bad-select",
    ),
    pytest.param(
        OK_TARGET + "    select: [auto, div.content]\n",
        4,
        "targets[0].select: select: auto finds the article by itself; use it alone",
        id="auto-in-a-list",
    ),
    pytest.param(
        OK_TARGET + "    exclude: a::text\n",
        4,
        "invalid CSS selector 'a::text': Pseudo-elements are not supported",
        id="bad-exclude-single-string",
    ),
    pytest.param(
        OK_TARGET + "    follow:\n      links: 'ul >'\n",
        5,
        "targets[0].follow.links: invalid CSS selector 'ul >'",
        id="bad-follow-links",
    ),
    pytest.param(
        OK_TARGET + "    follow:\n      select: div\n",
        4,
        "targets[0].follow: set either links (CSS of the item links) or items",
        id="follow-without-links",
    ),
    pytest.param(
        OK_TARGET + "    follow:\n      items: 'searchVO.listVO[?'\n",
        5,
        "targets[0].follow.items: invalid JMESPath expression",
        id="bad-follow-jmespath",
    ),
    pytest.param(
        OK_TARGET + "    follow:\n      links: a\n      pages: 3\n",
        4,
        "pages > 1 needs next (CSS of the next-page link) or page_param",
        id="follow-pages-without-next",
    ),
    # keyword groups
    pytest.param(
        "keywords:\n  shipbuilding: [船舶]\n" + OK_TARGET + "    keywords: [shipbuiding]\n",
        6,
        "targets[0].keywords[0]: unknown keyword group 'shipbuiding'; did you mean 'shipbuilding'?",
        id="unknown-group",
    ),
    pytest.param(
        "keywords:\n  sastind: [国防科工局]\ndefaults:\n  keywords: sastnd\n" + OK_TARGET,
        4,
        "defaults.keywords: unknown keyword group 'sastnd'; did you mean 'sastind'?",
        id="unknown-group-defaults",
    ),
    pytest.param(
        "keywords:\n  shipbuilding: []\n" + OK_TARGET,
        2,
        "keyword group 'shipbuilding' is empty",
        id="empty-group",
    ),
    pytest.param("keywords:\n  shipbuilding:\n" + OK_TARGET, 2, "is empty", id="empty-group-null"),
    pytest.param(
        "keywords:\n  s:\n    - 船舶\n    - 造船\n    - 船舶\n" + OK_TARGET,
        5,
        "keywords.s[2]: duplicate term '船舶'; already listed at keywords.s[0], line 3",
        id="dup-term",
    ),
    pytest.param(
        "keywords:\n  s:\n    - SASTIND\n    - sastind\n" + OK_TARGET,
        4,
        "same as 'SASTIND' after case/width folding",
        id="dup-term-folded",
    ),
    pytest.param(
        "keywords:\n  Ship Building: [船舶]\n" + OK_TARGET, 2, "invalid group name", id="group-name"
    ),
    pytest.param(
        "keywords:\n  a: ['re:.*']\n" + OK_TARGET, 2, "matches empty text", id="regex-matches-empty"
    ),
    # durations, sizes, cron
    pytest.param(
        OK_TARGET + "    interval: 5 minutes\n",
        4,
        "targets[0].interval: '5 minutes' is not a duration",
        id="bad-duration",
    ),
    pytest.param(
        "defaults:\n  timeout: 0s\n" + OK_TARGET,
        2,
        "defaults.timeout: must be longer than zero",
        id="zero-duration",
    ),
    pytest.param(OK_TARGET + "    jitter: -5\n", 4, "cannot be negative", id="negative-jitter"),
    pytest.param(OK_TARGET + "    interval: 1:30\n", 4, "write 1h30m", id="sexagesimal-duration"),
    pytest.param(OK_TARGET + "    max_size: 20XB\n", 4, "'20XB' is not a size", id="bad-size"),
    pytest.param(
        OK_TARGET + "    cron: '61 * * * *'\n",
        4,
        "invalid cron expression '61 * * * *': minute '61'",
        id="bad-cron-value",
    ),
    pytest.param(
        OK_TARGET + "    cron: '0 9 * *'\n",
        4,
        "expected 5 fields (minute hour day-of-month month day-of-week), got 4",
        id="bad-cron-fields",
    ),
    pytest.param(
        OK_TARGET + "    interval: 30m\n    cron: '0 * * * *'\n",
        5,
        "targets[0].cron: cannot be combined with 'interval' (line 4)",
        id="interval-and-cron",
    ),
    # wrong types
    pytest.param(
        OK_TARGET + "    retries: yes\n",
        4,
        "expected a whole number, got true (YAML reads unquoted 'yes' as true)",
        id="bool-for-int",
    ),
    pytest.param(
        OK_TARGET + "    retries: !!bool maybe\n",
        4,
        "expected a whole number, got 'maybe'",
        id="explicit-bad-tag-value",
    ),
    pytest.param(OK_TARGET + "    retries: -1\n", 4, "must be at least 0", id="negative-retries"),
    pytest.param(
        OK_TARGET + "    select:\n      div: a\n",
        4,
        "targets[0].select: expected a list, got a mapping",
        id="mapping-for-list",
    ),
    pytest.param(
        OK_TARGET + "    alert: always\n",
        4,
        "targets[0].alert: must be 'hits' or 'changes', got 'always'",
        id="bad-alert",
    ),
    pytest.param(
        OK_TARGET + "    headers:\n      Accept: [a, b]\n",
        5,
        "targets[0].headers.Accept: expected text, got a list",
        id="list-for-header",
    ),
    pytest.param(
        OK_TARGET + "    user_agent: on\n",
        4,
        "'on' (YAML reads it as true; put it in quotes if you meant text)",
        id="yaml-bool-for-text",
    ),
    pytest.param(
        OK_TARGET + "    follow:\n      links: a\n      max_new: 0\n",
        6,
        "must be at least 1",
        id="follow-max-new",
    ),
    pytest.param(
        "settings:\n  concurrency: 0\n" + OK_TARGET, 2, "must be at least 1", id="concurrency"
    ),
    pytest.param(
        "settings:\n  base_url: watcher.local\n" + OK_TARGET,
        2,
        "settings.base_url: must start with http:// or https://",
        id="base-url",
    ),
]


@pytest.mark.parametrize(("text", "line", "phrase"), BAD_CASES)
def test_bad_config_reports_line_and_message(text: str, line: int, phrase: str) -> None:
    issues = issues_of(text)
    matching = [issue for issue in issues if phrase in issue.message]
    assert matching, f"no issue contains {phrase!r}: {[str(i) for i in issues]}"
    assert matching[0].line == line, [str(i) for i in issues]
    assert all(issue.file == "t.yaml" for issue in issues)
    assert str(matching[0]) == f"t.yaml:{line}: {matching[0].message}"


def test_there_are_enough_bad_cases() -> None:
    assert len(BAD_CASES) >= 25


def test_all_problems_in_one_file_are_reported_in_line_order() -> None:
    text = (
        "defaults:\n"  # 1
        "  intervall: 1h\n"  # 2
        "keywords:\n"  # 3
        "  ship: []\n"  # 4
        "targets:\n"  # 5
        "  - name: a\n"  # 6
        "    url: ftp://x/\n"  # 7
        "  - name: b\n"  # 8
        "    url: https://b/\n"  # 9
        "    select: 'div['\n"  # 10
        "    keywords: [shp]\n"  # 11
        "  - name: a\n"  # 12
        "    url: https://c/\n"  # 13
    )
    issues = issues_of(text)
    assert [(issue.line, issue.message.split(":")[0]) for issue in issues] == [
        (2, "defaults.intervall"),
        (4, "keywords.ship"),
        (7, "targets[0].url"),
        (10, "targets[1].select"),
        (11, "targets[1].keywords[0]"),
        (12, "targets[2].name"),
    ]


def test_config_error_text_is_the_issue_lines() -> None:
    err = ConfigError([ConfigIssue("a.yaml", 3, "x: bad"), ConfigIssue("a.yaml", 9, "y: worse")])
    assert str(err) == "a.yaml:3: x: bad\na.yaml:9: y: worse"
    assert format_issues(err) == str(err)


# --------------------------------------------------------------------------- files


def test_example_targets_yaml_is_valid() -> None:
    config = load_config(EXAMPLE)
    names = [target.name for target in config.targets]
    assert len(names) == 6 and len(set(names)) == 6
    assert set(config.keywords) == {"shipbuilding", "sastind", "mcf", "industrial-internet"}
    assert "re:军民(两用|结合)" in config.keywords["mcf"]
    govcn = config.target("govcn-latest-policy")
    assert govcn.url == "https://www.gov.cn/zhengce/zuixin/"
    assert govcn.select == (".news_box .list",)
    assert config.target("sastind-news").select == ("div.list_infor_news",)
    assert config.target("miit-news").follow.select == ("auto",)
    assert all(t.follow is not None and t.follow.select for t in config.targets)
    for target in config.targets:
        assert (target.interval, target.jitter, target.timeout) == (3600.0, 300.0, 30.0)
        assert target.notify == ("analysts",)
        assert target.alert == "hits"


def test_missing_file_is_an_issue_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:0: cannot read: No such file or directory"


def test_directory_is_an_issue(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)


def test_gbk_file_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes((OK_TARGET + "    title: 工信部通知\n").encode("gbk"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.line == 4
    assert "not valid UTF-8" in issue.message and "GBK" in issue.message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (OK_TARGET + "    title: 通知\n").encode())
    assert load_config(path).targets[0].title == "通知"


def test_control_character_is_reported() -> None:
    (issue,) = issues_of(OK_TARGET + "    title: a\x07b\n")
    assert (issue.line, issue.message) == (
        4,
        "control character U+0007 is not allowed in YAML; remove it",
    )


def test_alias_bomb_and_deep_nesting_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for name, prev in zip("bcdefg", "abcdef", strict=True):
        bomb += f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
    assert "too many aliases" in issues_of(bomb)[0].message
    assert "nested" in issues_of("targets: " + "[" * 3000 + "]" * 3000 + "\n")[0].message
    assert "refers to itself" in issues_of("x-a: &a [*a]\n" + OK_TARGET)[0].message


# Hostile configs as real files. Measured (2 shared cores): a 100 MB file is refused in
# 0.02 s before it is read; 9.9 MB of 75,000 targets in 2 s and 77 MB (it took 127 s and
# 640 MB and said "too many aliases?"); a billion laughs in 1.5 s.


def test_a_config_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    with path.open("w") as file:
        file.write(OK_TARGET)
        file.write("# a comment line, repeated until the file is too big\n" * 200_000)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.file == str(path)
    assert "the file is 10.6 MB, more than the 10 MB a config may be" in issue.message


def test_a_config_of_too_many_values_is_refused_without_composing_it(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    row = "  - name: t{0}\n    url: https://www.gov.cn/{0}/\n    tags: [a, b, c]\n"
    path.write_text("targets:\n" + "".join(row.format(i) for i in range(40_000)))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert "the document holds more than 200,000 values" in issue.message
    assert "alias" not in issue.message  # there are none
    # 2 values, then 10 per target: the 200,001st is the "c" of the 20,000th target
    assert issue.line == 2 + 3 * 19_999 + 2


def test_a_billion_laughs_file_is_refused_as_aliases(tmp_path: Path) -> None:
    bomb = "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for name, prev in zip("bcdefghi", "abcdefgh", strict=True):
        bomb += f"x-{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
    path = tmp_path / "targets.yaml"
    path.write_text(bomb + OK_TARGET)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.message.startswith("aliases expand the document to more than 200,000 values")


# --------------------------------------------------------------------------- resolution


def test_defaults_are_merged_and_target_values_win() -> None:
    config = parse(
        "defaults:\n"
        "  interval: 2h\n"
        "  timeout: 45s\n"
        "  retries: 5\n"
        "  notify: [analysts]\n"
        "  headers: {Accept-Language: zh-CN, Referer: https://r/}\n"
        "  cookies: {a: '1'}\n"
        "  select: main\n"
        "targets:\n"
        "  - name: plain\n"
        "    url: https://a/\n"
        "  - name: custom\n"
        "    url: https://b/\n"
        "    title: 工信部\n"
        "    timeout: 10s\n"
        "    notify: [oncall, analysts]\n"
        "    headers: {accept-language: en, DNT: 1}\n"
        "    cookies: {b: '2'}\n"
        "    select: [div.a, div.b]\n"
    )
    plain, custom = config.targets
    assert plain.title == "plain"
    assert (plain.interval, plain.timeout, plain.retries) == (7200.0, 45.0, 5)
    assert plain.notify == ("analysts",)
    assert plain.select == ("main",)
    assert plain.headers == {"Accept-Language": "zh-CN", "Referer": "https://r/"}
    assert (plain.connect_timeout, plain.read_timeout, plain.jitter) == (10.0, 20.0, 0.0)
    assert (plain.max_size, plain.user_agent) == (20_000_000, DEFAULT_USER_AGENT)
    assert custom.title == "工信部"
    assert (custom.interval, custom.timeout, custom.retries) == (7200.0, 10.0, 5)
    assert custom.notify == ("oncall", "analysts")
    assert custom.select == ("div.a", "div.b")
    assert custom.headers == {"Referer": "https://r/", "accept-language": "en", "DNT": "1"}
    assert custom.cookies == {"a": "1", "b": "2"}
    assert config.defaults.interval == 7200.0 and config.defaults.jitter is None


@pytest.mark.parametrize(
    ("defaults", "own", "interval", "cron"),
    [
        ("", "", 3600.0, None),
        ("  interval: 30m\n", "", 1800.0, None),
        ("  cron: '0 8 * * *'\n", "", None, "0 8 * * *"),
        ("  interval: 30m\n", "    cron: '0 8 * * *'\n", None, "0 8 * * *"),
        ("  cron: '0 8 * * *'\n", "    interval: 90\n", 90.0, None),
        ("  cron: '0 8 * * *'\n", "    cron: 15 */2 * * *\n", None, "15 */2 * * *"),
    ],
)
def test_interval_and_cron_resolution(
    defaults: str, own: str, interval: float | None, cron: str | None
) -> None:
    target = parse("defaults:\n" + defaults + OK_TARGET + own).targets[0]
    assert (target.interval, target.cron) == (interval, cron)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("1-5", "mon-fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("5-7", "fri-sun"),
        ("*/2", "tue,thu,sat-sun"),
        ("0-6", "*"),
        ("mon-fri", "mon-fri"),
        ("*", "*"),
    ],
)
def test_numeric_weekdays_keep_their_crontab_meaning(field: str, expected: str) -> None:
    target = parse(OK_TARGET + f"    cron: '0 9 * * {field}'\n").targets[0]
    assert target.cron == f"0 9 * * {expected}"


def test_rewritten_cron_fires_on_the_crontab_day() -> None:
    cron = parse(OK_TARGET + "    cron: '0 9 * * 1'\n").targets[0].cron
    assert cron is not None
    sunday = datetime(2025, 1, 5, 12, tzinfo=ZoneInfo("UTC"))
    fire = CronTrigger.from_crontab(cron, timezone="UTC").get_next_fire_time(None, sunday)
    assert fire == datetime(2025, 1, 6, 9, tzinfo=ZoneInfo("UTC"))  # a Monday, as in crontab


KEYWORDS = "keywords:\n  ship: [船舶]\n  mcf: [军民融合]\n"


@pytest.mark.parametrize(
    ("text", "alert", "groups"),
    [
        (KEYWORDS + OK_TARGET, "hits", ("ship", "mcf")),
        (OK_TARGET, "changes", ()),
        (KEYWORDS + OK_TARGET + "    keywords: []\n", "changes", ()),
        (KEYWORDS + OK_TARGET + "    keywords: mcf\n", "hits", ("mcf",)),
        (KEYWORDS + OK_TARGET + "    alert: changes\n", "changes", ("ship", "mcf")),
        (KEYWORDS + "defaults:\n  keywords: [ship]\n" + OK_TARGET, "hits", ("ship",)),
        (KEYWORDS + "defaults:\n  alert: changes\n" + OK_TARGET, "changes", ("ship", "mcf")),
    ],
)
def test_default_alert_and_keyword_groups(text: str, alert: str, groups: tuple[str, ...]) -> None:
    target = parse(text).targets[0]
    assert (target.alert, target.keywords) == (alert, groups)


def test_single_strings_are_accepted_where_lists_are_expected() -> None:
    target = parse(
        "keywords:\n  ship: 船舶\n"
        + OK_TARGET
        + "    select: div.a\n    exclude: a:link\n    ignore: '浏览次数[:：]\\s*\\d+'\n"
        "    notify: analysts\n    tags: miit\n    keywords: ship\n"
        "    follow: {links: ul.list li a, select: div#con_con}\n"
    ).targets[0]
    assert target.select == ("div.a",)
    assert target.exclude == ("a:link",)  # HTML-only pseudo-class, as extraction allows
    assert target.ignore == ("浏览次数[:：]\\s*\\d+",)
    assert (target.notify, target.tags, target.keywords) == (("analysts",), ("miit",), ("ship",))
    assert target.follow == Follow(links="ul.list li a", select=("div#con_con",))
    assert (target.follow.max_new, target.follow.attachments) == (50, True)


def test_yaml_numbers_are_read_as_text_where_text_is_expected() -> None:
    config = parse(
        "keywords:\n  years: [2024, 十四五]\n"
        "targets:\n  - name: 2024\n    url: https://a/\n    headers: {DNT: 1}\n    tags: [1.5]\n"
    )
    target = config.targets[0]
    assert config.keywords == {"years": ["2024", "十四五"]}
    assert (target.name, target.headers, target.tags) == ("2024", {"DNT": "1"}, ("1.5",))


def test_settings_defaults_and_values() -> None:
    assert parse(OK_TARGET).settings == Settings()
    assert Settings() == Settings(
        concurrency=16, per_host=2, host_delay=1.0, base_url=None, diff_timeout=2.0
    )
    settings_ = parse(
        "settings:\n  concurrency: 4\n  per_host: 1\n  host_delay: 250ms\n"
        "  base_url: https://watch.example/\n  diff_timeout: 5s\n" + OK_TARGET
    ).settings
    assert (settings_.concurrency, settings_.per_host, settings_.host_delay) == (4, 1, 0.25)
    assert (settings_.base_url, settings_.diff_timeout) == ("https://watch.example/", 5.0)


def test_empty_sections_and_anchors() -> None:
    config = parse(
        "settings:\ndefaults:\nkeywords:\n"
        "x-common: &common {interval: 10m, tags: [gov]}\n"
        "targets:\n"
        "  - <<: *common\n    name: a\n    url: https://a/\n"
        "  - <<: *common\n    name: b\n    url: https://b/\n    interval: 1d\n"
    )
    a, b = config.targets
    assert (a.interval, a.tags, b.interval, b.tags) == (600.0, ("gov",), 86400.0, ("gov",))


def test_target_can_be_built_directly_with_builtin_defaults() -> None:
    target = Target(name="t", url="https://a/")
    assert (target.title, target.interval, target.cron, target.alert) == (
        "t",
        3600.0,
        None,
        "changes",
    )
    assert Target(name="t", url="https://a/", keywords=["ship"]).alert == "hits"
    assert Target(name="t", url="https://a/", cron="0 9 * * 1-5").cron == "0 9 * * mon-fri"
    assert Target(name="t", url="https://a/", timeout="1m").timeout == 60.0
    with pytest.raises(ValidationError, match="either interval or cron"):
        Target(name="t", url="https://a/", interval=60, cron="* * * * *")
    with pytest.raises(ValidationError):
        Target(name="t", url="https://a/", colour="red")


# --------------------------------------------------------------------------- durations, sizes


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1h 30m 15s", 5415.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        ("90", 90.0),
        ("0.5", 0.5),
        (45, 45.0),
        (2.5, 2.5),
        ("0s", 0.0),
    ],
)
def test_parse_duration(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["", "5 minutes", "1y", "h", "1:30", "-5s", "1h-30m", True, None, [1], -1, "ms"]
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("20MB", 20_000_000),
        ("512KB", 512_000),
        ("512KiB", 524_288),
        ("1GB", 1_000_000_000),
        ("1.5MiB", 1_572_864),
        ("1500", 1500),
        ("2 mb", 2_000_000),
        ("10k", 10_000),
        (4096, 4096),
    ],
)
def test_parse_size(value: str | int, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "20XB", "MB", "-1KB", "1 2MB", True, None, -5])
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=r"size"):
        parse_size(value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- robustness

_KEYS = [
    "settings", "defaults", "keywords", "targets", "name", "url", "title", "interval", "cron",
    "jitter", "retries", "max_size", "headers", "notify", "alert", "select", "ignore", "follow",
    "links", "max_new", "concurrency", "base_url", "<<",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**20),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["1h", "re:(", "div[", "https://a/", "ftp://x", "61 * * * *", "1:30", "hits"]),
)
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(_KEYS), st.text(max_size=4)), children, max_size=4
        ),
    ),
    max_leaves=25,
)


def _never_a_traceback(text: str) -> None:
    try:
        assert isinstance(parse_config_text(text, "f.yaml"), Config)
    except ConfigError as err:
        assert err.issues and all(issue.line >= 1 for issue in err.issues), str(err)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(_KEYS[:4]), _TREES, max_size=4))
def test_random_structures_give_issues_not_tracebacks(data: dict[str, object]) -> None:
    _never_a_traceback(yaml.safe_dump(data, allow_unicode=True))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=string.printable + "：船\t", max_size=80))
def test_random_text_gives_issues_not_tracebacks(text: str) -> None:
    _never_a_traceback(text)
