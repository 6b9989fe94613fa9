"""``watcher import``: other tools' files into validated targets.

The sample files in ``fixtures/import/`` are written in each tool's own format as
its documentation describes it (urlwatch's urls.yaml jobs and filters,
changedetection.io's url-watches.json, a Distill export, OPML 2.0, a URL list),
plus broken ones.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from watcher.cli.main import main
from watcher.config import load_config

SAMPLES = Path(__file__).parent / "fixtures" / "import"


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["import", *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def targets_of(stdout: str) -> dict[str, dict]:
    return {t["name"]: t for t in yaml.safe_load(stdout)["targets"]}


def test_urlwatch_jobs_and_their_filters() -> None:
    code, out, err = run(SAMPLES / "urls.yaml")
    assert code == 0, err
    targets = targets_of(out)
    assert targets["miit-notices"] == {
        "name": "miit-notices",
        "url": "https://www.miit.gov.cn/zwgk/zcwj/wjfb/tz/index.html",
        "title": "MIIT notices",
        "select": ["div.page-content"],
        "exclude": ["div.share"],
        "ignore": ["^.*(?:浏览次数).*$"],
    }
    assert targets["sastind-news"]["select"] == [".list_infor_news"]
    assert targets["rendered-policy-page"]["fetch"] == "browser"
    assert targets["rendered-policy-page"]["headers"] == {"Accept-Language": "zh-CN"}
    assert targets["local-news"]["ignore"] == [r"访问量：\d+"]
    assert "disk-space" not in targets  # a shell command job
    notes = err.splitlines()
    assert (
        f"  {SAMPLES / 'urls.yaml'}:14: SASTIND news: max_tries: no equivalent in watcher" in notes
    )
    assert any(":17: https://www.gov.cn/zhengce/zuixin/: filter: xpath: XPath" in n for n in notes)
    assert any(":17: https://www.gov.cn/zhengce/zuixin/: filter: grep: " in n for n in notes)
    assert any(":29: disk space: command: shell command jobs" in n for n in notes)
    assert any(":37: Local news: diff_tool: " in n for n in notes)
    assert "imported 5 targets from" in err and "(urlwatch)" in err


def test_changedetection_watches_tags_filters_and_interval() -> None:
    code, out, err = run(SAMPLES / "url-watches.json")
    assert code == 0, err
    sastind, miit = yaml.safe_load(out)["targets"]
    assert sastind["title"] == "国防科工局 时政要闻"
    assert sastind["select"] == ["div.list_infor_news"]
    assert sastind["exclude"] == ["div.footer"]  # the XPath one is a note
    assert sastind["ignore"] == ["^.*(?:浏览次数).*$", r"^.*(?:访问量[:：]\d+).*$"]
    assert sastind["tags"] == ["军工"] and sastind["interval"] == "1h30m"
    assert miit["fetch"] == "browser" and miit["tags"] == ["policy"]
    assert "interval" not in miit  # it used the default
    for phrase in ("subtractive_selectors: XPath", "paused: ", "trigger_text: ", "browser_steps: "):
        assert phrase in err
    assert "notification_urls: channels are set once" in err
    assert "not a web page: the whole job: left out: targets[0].url: must start with http" in err


def test_a_changedetection_backup_zip_is_read_too(tmp_path: Path) -> None:
    backup = tmp_path / "changedetection-backup-20261120.zip"
    with zipfile.ZipFile(backup, "w") as archive:
        archive.write(SAMPLES / "url-watches.json", "url-watches.json")
    code, out, err = run(backup)
    assert code == 0, err
    assert len(yaml.safe_load(out)["targets"]) == 2


def test_distill_monitors() -> None:
    code, out, err = run(SAMPLES / "distill-export.json")
    assert code == 0, err
    first, second = yaml.safe_load(out)["targets"]
    assert first["name"] == "industrial-internet-notices"
    assert (first["select"], first["exclude"]) == (["div.page-content"], [".pagination"])
    assert (first["interval"], first["tags"], first["fetch"]) == (
        "2h",
        ["miit", "industrial-internet"],
        "auto",
    )
    assert second["title"] == "国务院 最新政策" and "select" not in second
    for phrase in ("includes: xpath", "regexp: ", "schedule: LIVE", "proxy: no equivalent"):
        assert phrase in err


def test_opml_and_url_lists() -> None:
    code, out, _ = run(SAMPLES / "feeds.opml")
    assert code == 0
    feeds = yaml.safe_load(out)["targets"]
    assert [t["url"] for t in feeds] == [
        "https://www.gov.cn/zhengce/zuixin/rss.xml",
        "https://www.miit.gov.cn/rss/xwfb.xml",
        "https://www.sastind.gov.cn/",
    ]
    assert feeds[0]["tags"] == ["国务院"]  # its folder
    code, out, err = run(SAMPLES / "urls.txt")
    assert code == 0
    listed = yaml.safe_load(out)["targets"]
    assert [t["name"] for t in listed] == ["miit-wjfb-tz", "sastind-n10086200-n10086319"]
    assert listed[0]["title"] == "工信部 通知"
    assert "urls.txt:4: " in err and "left out: that URL is watched already" in err
    assert "urls.txt:5: www.gov.cn/zhengce/zuixin/: url: left out: not an http(s) URL" in err


def test_names_are_unique_and_valid_and_the_output_validates(tmp_path: Path) -> None:
    out_file = tmp_path / "targets.yaml"
    for sample in (
        "urls.yaml",
        "url-watches.json",
        "distill-export.json",
        "feeds.opml",
        "urls.txt",
    ):
        code, _, err = run(SAMPLES / sample, "-o", out_file)
        assert code == 0, err
        config = load_config(out_file)  # the loader itself accepts it
        names = [t.name for t in config.targets]
        assert len(names) == len(set(names)) and names


@pytest.mark.parametrize(
    ("sample", "fmt", "message"),
    [
        (
            "broken-urls.yaml",
            None,
            "broken-urls.yaml:5: not valid YAML: while scanning a quoted scalar",
        ),
        (
            "broken-url-watches.json",
            None,
            "broken-url-watches.json:6: not valid JSON: Expecting property name",
        ),
        (
            "broken-distill.json",
            None,
            "broken-distill.json:5: config: not valid JSON inside the string",
        ),
        ("broken.opml", None, "broken.opml:5: not valid OPML (XML): "),
        ("feeds.opml", "changedetection", "feeds.opml:1: not valid JSON: "),
        ("urls.txt", "distill", "urls.txt:1: not valid JSON: "),
    ],
)
def test_broken_files_say_file_and_line(sample: str, fmt: str | None, message: str) -> None:
    args = [SAMPLES / sample, *(["--format", fmt] if fmt else [])]
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert err.startswith(
        str(SAMPLES / message.split(":", 1)[0]) + ":" + message.split(":", 1)[1]
    ), err


def test_a_file_of_no_known_format_and_a_missing_file(tmp_path: Path) -> None:
    odd = tmp_path / "notes.md"
    odd.write_text("just some notes\n", encoding="utf-8")
    code, _, err = run(odd)
    assert code == 2 and f"{odd}:1: cannot tell the format; give --format" in err
    code, _, err = run(tmp_path / "absent.yaml")
    assert code == 2 and f"{tmp_path / 'absent.yaml'}:0: cannot read" in err


def test_into_appends_keeping_comments_order_and_avoiding_names(tmp_path: Path) -> None:
    config = tmp_path / "targets.yaml"
    original = (
        "# my watcher config\n"
        "defaults:\n  interval: 2h   # every two hours\n"
        "targets:\n"
        "  # the ministry\n"
        "  - name: miit-notices\n"
        "    url: https://www.miit.gov.cn/other.html\n"
        "  - name: sastind\n"
        "    url: https://www.sastind.gov.cn/   # already watched\n"
    )
    config.write_text(original, encoding="utf-8")
    code, out, err = run(SAMPLES / "urls.yaml", "--into", config)
    assert code == 0, err
    assert out == ""
    text = config.read_text(encoding="utf-8")
    assert text.startswith(original)  # nothing before the new entries changed
    names = [t.name for t in load_config(config).targets]
    assert names[:2] == ["miit-notices", "sastind"]
    assert "miit-notices-2" in names  # the imported MIIT job, renamed
    code, _, err = run(SAMPLES / "feeds.opml", "--into", config)
    assert code == 0
    assert "feeds.opml:9: SASTIND: url: left out: that URL is watched already" in err


def test_into_a_config_that_would_not_validate_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "targets.yaml"
    shutil.copy(SAMPLES / "broken-urls.yaml", config)
    before = config.read_bytes()
    code, _, err = run(SAMPLES / "urls.txt", "--into", config)
    assert code == 2 and "not valid YAML" in err
    assert config.read_bytes() == before
    config.write_text(
        "targets:\n  - name: a\n    url: https://a.example.org/\n    interval: nope\n"
    )
    before = config.read_bytes()
    code, _, err = run(SAMPLES / "urls.txt", "--into", config)
    assert code == 2 and f"{config}:4: " in err
    assert config.read_bytes() == before
    code, _, err = run(SAMPLES / "urls.txt", "--into", config, "-o", tmp_path / "x.yaml")
    assert code == 2 and "either -o/--output or --into" in err


def test_values_of_the_wrong_kind_are_notes_not_crashes(tmp_path: Path) -> None:
    jobs = tmp_path / "urls.yaml"
    jobs.write_text(
        "name: odd\nurl: https://www.miit.gov.cn/\nfilter: 5\nheaders: x\n---\n"
        "name: odd css\nurl: https://www.sastind.gov.cn/\nfilter:\n  - css: {exclude: .x}\n",
        encoding="utf-8",
    )
    code, out, err = run(jobs)
    assert code == 0, err
    odd, css = yaml.safe_load(out)["targets"]
    assert "headers" not in odd and "select" not in css
    assert "urls.yaml:3: odd: filter: neither a filter list nor text" in err
    assert "odd css: filter: css: no selector given" in err
    watches = tmp_path / "url-watches.json"
    watches.write_text(
        '{"watching": {"a": {"url": "https://www.gov.cn/", "include_filters": "div.list",'
        ' "tags": 5, "time_between_check": "1h", "headers": [], "ignore_text": [3, "x"]}},'
        ' "settings": []}',
        encoding="utf-8",
    )
    code, out, err = run(watches)
    assert code == 0, err
    (target,) = yaml.safe_load(out)["targets"]
    assert target["select"] == ["div.list"] and target["ignore"] == ["^.*(?:x).*$"]
    assert "interval" not in target and "headers" not in target and "tags" not in target
    export = tmp_path / "distill.json"
    export.write_text(
        '{"data": [{"uri": "https://www.gov.cn/", "config": {"selections": "x"}, "tags": 3}]}'
    )
    code, out, err = run(export)
    assert code == 0, err
    assert yaml.safe_load(out)["targets"][0]["url"] == "https://www.gov.cn/"
