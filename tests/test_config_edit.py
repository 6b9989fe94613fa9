"""``watcher.config.edit``: the program's changes to targets.yaml keep the file as
the analysts wrote it (comments, order, quoting, indentation), are validated by the
loader before the file is replaced, and never leave a half-written or invalid file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from watcher.config import ConfigError, load_config
from watcher.config.edit import add_target, edit_config, remove_target, set_target_key

CONFIG = """\
# Our targets; checked every hour.
settings:
  host_delay: 1s   # be polite

defaults:
  interval: 1h

targets:
  # 工信部 通知
  - name: miit-notices
    title: "工信部 文件发布·通知"
    url: https://www.miit.gov.cn/zwgk/zcwj/wjfb/tz/index.html
    tags: [miit]    # the ministry

  # 国防科工局 (a flow mapping)
  - {name: sastind-news, url: 'https://www.sastind.gov.cn/n10086200/index.html'}
"""
PATTERN = r"浏览次数[:：]\s{0,3}\d{1,12}"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o640)
    return path


def test_setting_a_key_keeps_every_other_line_and_the_loader_reads_it(config: Path) -> None:
    loaded = set_target_key(config, "miit-notices", "ignore", [PATTERN])
    assert loaded.target("miit-notices").ignore == (PATTERN,)
    text = config.read_text(encoding="utf-8")
    expected = CONFIG.replace(
        "    tags: [miit]    # the ministry\n",
        f"    tags: [miit]    # the ministry\n    ignore:\n      - '{PATTERN}'\n",
    )
    assert text == expected
    assert load_config(config).target("miit-notices").ignore == (PATTERN,)
    assert config.stat().st_mode & 0o777 == 0o640


def test_a_flow_target_gets_a_flow_value_and_a_replaced_key_stays_in_place(config: Path) -> None:
    set_target_key(config, "sastind-news", "exclude", ["div.counter"])
    line = config.read_text(encoding="utf-8").splitlines()[-1]
    assert line == (
        "  - {name: sastind-news, url: 'https://www.sastind.gov.cn/n10086200/index.html', "
        "exclude: [div.counter]}"
    )
    set_target_key(config, "miit-notices", "title", "工信部 通知")
    lines = config.read_text(encoding="utf-8").splitlines()
    assert lines[10] == '    title: "工信部 通知"'  # where it was, quoted as it was
    assert load_config(config).target("miit-notices").title == "工信部 通知"


def test_adding_and_removing_targets(config: Path) -> None:
    add_target(config, {"name": "gov-latest", "url": "https://www.gov.cn/zhengce/zuixin/"})
    assert [t.name for t in load_config(config).targets] == [
        "miit-notices",
        "sastind-news",
        "gov-latest",
    ]
    assert config.read_text(encoding="utf-8").startswith(CONFIG)
    remove_target(config, "sastind-news")
    text = config.read_text(encoding="utf-8")
    assert "sastind-news" not in text and "# Our targets; checked every hour." in text
    assert [t.name for t in load_config(config).targets] == ["miit-notices", "gov-latest"]


def test_an_invalid_result_is_refused_with_the_loaders_message_and_nothing_written(
    config: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        set_target_key(config, "miit-notices", "ignore", ["浏览次数[(\\d+"])
    message = str(caught.value)
    assert message.startswith(f"{config}:")
    assert "the change would make the config invalid" in message and "ignore" in message
    assert config.read_text(encoding="utf-8") == CONFIG
    assert [p.name for p in config.parent.iterdir()] == ["targets.yaml"]  # no leftovers


@pytest.mark.parametrize(
    ("act", "says"),
    [
        (lambda p: set_target_key(p, "nobody", "ignore", ["x"]), "no target named 'nobody'"),
        (lambda p: remove_target(p, "nobody"), "no target named 'nobody'"),
        (
            lambda p: add_target(p, {"name": "miit-notices", "url": "https://a.gov.cn/"}),
            "there is already a target named 'miit-notices'",
        ),
    ],
)
def test_a_change_that_makes_no_sense_names_the_file_and_the_target(
    config: Path, act, says: str
) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        act(config)
    assert str(caught.value).startswith(f"{config}:0: ")
    assert config.read_text(encoding="utf-8") == CONFIG


def test_a_broken_or_unreadable_file_is_not_touched(tmp_path: Path) -> None:
    broken = tmp_path / "targets.yaml"
    broken.write_text("targets:\n  - name: a\n   url: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"targets\.yaml:\d+: cannot be edited: not valid YAML"):
        set_target_key(broken, "a", "ignore", ["x"])
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("targets: []  # 关于船舶工业的通知\n".encode("gb18030"))
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        add_target(gbk, {"name": "a", "url": "https://a.gov.cn/"})
    with pytest.raises(ConfigError, match="cannot be edited"):
        add_target(tmp_path / "missing.yaml", {"name": "a", "url": "https://a.gov.cn/"})


def test_a_file_changed_meanwhile_is_not_overwritten(config: Path) -> None:
    def change(doc, problem) -> None:
        doc["targets"][0]["interval"] = "2h"
        # someone saves the file while this edit is being made
        config.write_text(CONFIG + "# edited by hand\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="changed by someone else"):
        edit_config(config, change)
    assert config.read_text(encoding="utf-8").endswith("# edited by hand\n")


def test_edits_from_many_threads_all_land(config: Path) -> None:
    names = [f"t{i}" for i in range(8)]
    threads = [
        threading.Thread(
            target=add_target, args=(config, {"name": n, "url": f"https://{n}.gov.cn/"})
        )
        for n in names
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {t.name for t in load_config(config).targets} >= set(names)
    assert os.listdir(config.parent) == ["targets.yaml"]
