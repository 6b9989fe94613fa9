"""Docs that cannot drift: the README's examples validate and every key and command is named."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from watcher.cli.main import main
from watcher.config import Defaults, Follow, Settings, Target, load_config, parse_config_text

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_readme_yaml_examples_validate() -> None:
    blocks = yaml_blocks(README)
    assert blocks, "the README shows a targets.yaml example"
    for block in blocks:
        config = parse_config_text(block, "README.md")
        assert config.targets


def test_example_targets_file_validates() -> None:
    config = load_config(ROOT / "targets.yaml")
    assert {t.name for t in config.targets} >= {"miit-policy-files", "sastind-news"}


def test_every_config_key_is_in_the_readme() -> None:
    keys = set(Settings.model_fields) | set(Defaults.model_fields) | set(Follow.model_fields)
    keys |= set(Target.model_fields) - {"interval", "cron"} | {"interval", "cron"}
    missing = sorted(k for k in keys if not re.search(rf"\b{k}\b", README))
    assert missing == []


def test_every_command_and_option_is_in_the_readme() -> None:
    for name, command in main.commands.items():
        assert f"watcher {name}" in README, name
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help":
                    assert opt in README, f"{name} {opt}"
    for param in main.params:
        for opt in param.opts:
            if opt.startswith("--") and opt not in ("--help", "--version"):
                assert opt in README, opt


def test_help_runs_for_every_command() -> None:
    for name in main.commands:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
