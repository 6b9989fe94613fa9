"""Imported targets as YAML: a document to paste, or appended to a targets.yaml.

``append_targets`` is the one place that edits a user's config; it keeps the
file's comments and order (ruamel.yaml's round trip), and writes nothing unless
the result still validates.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from watcher.config.errors import ConfigError, ConfigIssue
from watcher.config.load import parse_config_text

__all__ = ["append_targets", "existing_targets", "targets_yaml"]


def targets_yaml(targets: Sequence[dict[str, Any]]) -> str:
    """A ``targets:`` document of these targets (its items can be pasted into a config)."""
    return yaml.safe_dump(
        {"targets": list(targets)}, allow_unicode=True, sort_keys=False, width=100
    )


def _round_trip() -> YAML:
    rt = YAML(typ="rt", pure=True)
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 100
    return rt


def _load(path: Path) -> tuple[YAML, Any, str]:
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(filename, 0, f"cannot read: {exc}")]) from None
    rt = _round_trip()
    try:
        document = rt.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError([ConfigIssue(filename, line, f"not valid YAML: {exc}")]) from None
    if document is None:
        document = CommentedMap()
    if not isinstance(document, dict):
        raise ConfigError([ConfigIssue(filename, 1, "the config must be a mapping")])
    return rt, document, text


def existing_targets(path: Path) -> tuple[list[str], list[str]]:
    """The names and URLs the targets of an existing config already use."""
    _, document, _ = _load(path)
    targets = [t for t in document.get("targets") or [] if isinstance(t, dict)]
    return [str(t["name"]) for t in targets if t.get("name")], [
        str(t["url"]) for t in targets if t.get("url")
    ]


def append_targets(path: Path, targets: Sequence[dict[str, Any]]) -> None:
    """Add targets at the end of the file's ``targets:`` list, keeping everything else.

    The new text is validated by the config loader before it replaces the file,
    which is replaced in one step (a crash leaves the old file or the new one).
    """
    rt, document, _ = _load(path)
    existing = document.get("targets")
    if existing is None:
        existing = document["targets"] = CommentedSeq()
    if not isinstance(existing, list):
        line = document.lc.key("targets")[0] + 1
        raise ConfigError([ConfigIssue(str(path), line, "targets: must be a list")])
    for target in targets:
        existing.append(CommentedMap(target))
    out = io.StringIO()
    rt.dump(document, out)
    text = out.getvalue()
    parse_config_text(text, str(path))  # raises ConfigError: the file stays as it was
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
