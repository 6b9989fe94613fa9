"""``targets.yaml`` into typed settings, validated once at start-up; every error
names file, line, key and a hint."""

from watcher.config.errors import ConfigError, ConfigIssue, format_issues
from watcher.config.load import load_config, parse_config_text
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
    "format_issues",
    "load_config",
    "parse_config_text",
    "parse_duration",
    "parse_size",
    "zone_label",
    "zone_of",
]
