"""What a config problem is, and how a value is named in one.

Analysts fix ``targets.yaml`` from these messages alone, so every problem is a
``FILE:LINE: message`` line and every wrong value is shown as they wrote it,
not as Python sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ConfigError", "ConfigIssue", "describe", "format_issues"]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the config, located by file and 1-based line (0 = no line)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """The config is unusable; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__(format_issues(self))

    def __str__(self) -> str:
        return format_issues(self)


def format_issues(err: ConfigError) -> str:
    """The issues as ``FILE:LINE: message`` lines, ready for stderr."""
    return "\n".join(str(issue) for issue in err.issues)


def describe(value: Any, raw: str | None = None) -> str:
    """A short, user-facing rendering of a value that was of the wrong kind."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        word = "true" if value else "false"
        if raw and raw.lower() != word:
            return f"{raw!r} (YAML reads it as {word}; put it in quotes if you meant text)"
        return word
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return repr(value)
