"""``targets.yaml`` into typed settings, validated once at start-up; every error
names file, line, key and a hint.

The names below are loaded on first use: importing a light module of this package
(``watcher.config.snapshot``, ``watcher.config.storage``) must not build the
pydantic models, which is half of a one-off check's start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watcher.config.errors import ConfigError, ConfigIssue, format_issues
    from watcher.config.load import file_stamp, load_config, parse_config_text
    from watcher.config.model import (
        DEFAULT_TIMEZONE,
        DEFAULT_USER_AGENT,
        BrowserSettings,
        Config,
        Defaults,
        Follow,
        Settings,
        Target,
        zone_label,
        zone_of,
    )
    from watcher.config.units import parse_duration, parse_size

_WHERE = {
    "ConfigError": "errors",
    "ConfigIssue": "errors",
    "format_issues": "errors",
    "file_stamp": "load",
    "load_config": "load",
    "parse_config_text": "load",
    "DEFAULT_TIMEZONE": "model",
    "DEFAULT_USER_AGENT": "model",
    "BrowserSettings": "model",
    "Config": "model",
    "Defaults": "model",
    "Follow": "model",
    "Settings": "model",
    "Target": "model",
    "zone_label": "model",
    "zone_of": "model",
    "parse_duration": "units",
    "parse_size": "units",
}

__all__ = [
    "DEFAULT_TIMEZONE",
    "DEFAULT_USER_AGENT",
    "BrowserSettings",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Defaults",
    "Follow",
    "Settings",
    "Target",
    "file_stamp",
    "format_issues",
    "load_config",
    "parse_config_text",
    "parse_duration",
    "parse_size",
    "zone_label",
    "zone_of",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"watcher.config.{module}"), name)
    globals()[name] = value
    return value
