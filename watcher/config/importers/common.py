"""What every reader shares: the result types and two small conversions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from watcher.config.errors import ConfigError, ConfigIssue

__all__ = [
    "Imported",
    "Note",
    "Notes",
    "duration",
    "is_xpath",
    "mapping",
    "parse_json",
    "strings",
]


@dataclass(frozen=True)
class Note:
    """A setting of the other tool's job that watcher has no equivalent for."""

    where: str  # FILE:LINE (or FILE when the format has no lines to name)
    job: str  # the job's name, or its URL
    setting: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.job}: {self.setting}: {self.why}"


@dataclass
class Imported:
    """Targets in targets.yaml's shape, and the notes on what did not come over."""

    format: str
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


@dataclass
class Notes:
    """Collects the notes of one job: ``note(setting, why)``."""

    where: str
    job: str
    found: list[Note]

    def __call__(self, setting: str, why: str, where: str | None = None) -> None:
        self.found.append(Note(where or self.where, self.job, setting, why))


def duration(seconds: float) -> str:
    """Seconds as a targets.yaml duration: 1d, 1h30m, 90s."""
    seconds = int(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


def is_xpath(selector: str) -> bool:
    return selector.startswith(("/", "(", "xpath:", "xpath1:"))


def strings(value: Any) -> list[str]:
    """The strings of a list (or a lone string); anything else holds none."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def mapping(value: Any) -> dict[str, Any]:
    """A mapping as given, or an empty one when the file holds something else there."""
    return value if isinstance(value, dict) else {}


def parse_json(text: str, filename: str) -> Any:
    """A JSON export, or a ConfigError naming the line where it stops being JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [ConfigIssue(filename, exc.lineno, f"not valid JSON: {exc.msg}")]
        ) from None
