"""changedetection.io's backup: ``url-watches.json`` (alone, or in the backup zip).

A watch's ``include_filters`` → ``select`` and ``subtractive_selectors`` →
``exclude`` (CSS; XPath has no equivalent), ``ignore_text`` → ``ignore`` (the
lines holding the text, plain or ``/regex/``), its tags' titles → ``tags``, a check interval
of its own → ``interval``, the Playwright/WebDriver fetcher → ``fetch: browser``.
Settings left at changedetection's defaults say nothing; others are notes.
"""

from __future__ import annotations

import re
from typing import Any

from watcher.config.errors import ConfigError, ConfigIssue
from watcher.config.importers.common import (
    Imported,
    Note,
    Notes,
    duration,
    is_xpath,
    mapping,
    parse_json,
    strings,
)

__all__ = ["read"]

_UNITS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
# settings whose value at its default is no setting (key: the defaults)
_NO_EQUIVALENT = {
    "trigger_text": ([], "alerting only once a text appears; keyword groups flag what matters"),
    "text_should_not_be_present": ([], "no equivalent; keyword groups flag what matters"),
    "extract_text": ([], "keeping only text matching a pattern has no equivalent"),
    "browser_steps": ([], "clicks and form steps before reading have no equivalent"),
    "notification_urls": (
        [],
        "channels are set once, in notifiers/apprise.yml, and chosen by notify",
    ),
    "method": ("GET", "watcher only sends GET requests"),
    "body": (None, "watcher only sends GET requests, without a body"),
    "proxy": (None, "no per-target proxy; set HTTPS_PROXY for the service"),
    "processor": ("text_json_diff", "only text change detection exists here"),
    "filter_text_added": (True, "watcher reports both what was added and what was removed"),
    "filter_text_removed": (True, "watcher reports both what was added and what was removed"),
    "sort_text_alphabetically": (False, "no equivalent"),
    "check_unique_lines": (False, "no equivalent"),
    "webdriver_js_execute_code": (None, "running scripts in the page has no equivalent"),
    "ignore_status_codes": (False, "an error answer is always an error of the check"),
}


def read(text: str, filename: str) -> Imported:
    data = parse_json(text, filename)
    if not isinstance(data, dict) or not isinstance(data.get("watching"), dict):
        raise ConfigError(
            [ConfigIssue(filename, 1, "no 'watching' mapping: not a url-watches.json")]
        )
    tags = _tags(data)
    imported = Imported("changedetection")
    for uuid, watch in data["watching"].items():
        where = f"{filename}:{_line_of(text, uuid)}"
        if not isinstance(watch, dict) or not watch.get("url"):
            imported.notes.append(Note(where, uuid, "url", "left out: the watch has no url"))
            continue
        label = str(watch.get("title") or watch["url"])
        target: dict[str, Any] = {"_where": where, "url": str(watch["url"])}
        title = watch.get("title") or watch.get("page_title")
        if title:
            target["title"] = str(title)
        _fill(target, watch, tags, Notes(where, label, imported.notes))
        imported.targets.append(target)
    return imported


def _tags(data: dict[str, Any]) -> dict[str, str]:
    found = mapping(mapping(mapping(data.get("settings")).get("application")).get("tags"))
    return {k: str(v.get("title", k)) for k, v in found.items() if isinstance(v, dict)}


def _line_of(text: str, key: str) -> int:
    at = text.find(f'"{key}"')
    return text.count("\n", 0, at) + 1 if at >= 0 else 0


def _fill(target: dict[str, Any], watch: dict[str, Any], tags: dict[str, str], note: Notes) -> None:
    for key, kind in (("include_filters", "select"), ("subtractive_selectors", "exclude")):
        for selector in strings(watch.get(key)):
            if is_xpath(selector):
                note(key, f"XPath {selector!r} has no equivalent ({kind} is CSS)")
            else:
                target.setdefault(kind, []).append(selector)
    for selector in strings(watch.get("css_filter")):  # before 0.40 a single filter
        target.setdefault("select", []).append(selector)
    for text in strings(watch.get("ignore_text")):
        target.setdefault("ignore", []).append(_pattern(text))
    names = [tags.get(t, t) for t in strings(watch.get("tags"))]
    for tag in strings(watch.get("tag")):
        names += [t.strip() for t in tag.split(",") if t.strip()]
    if names:
        target["tags"] = names
    every = mapping(watch.get("time_between_check"))
    seconds = sum(_whole(every.get(unit)) * size for unit, size in _UNITS.items())
    if seconds and not watch.get("time_between_check_use_default", False):
        target["interval"] = duration(seconds)
    if str(watch.get("fetch_backend") or "").startswith("html_webdriver"):
        target["fetch"] = "browser"
    if mapping(watch.get("headers")):
        target["headers"] = {str(k): str(v) for k, v in watch["headers"].items()}
    if watch.get("paused"):
        note("paused", "the watch was paused; it is imported, and will be checked")
    for key, (default, why) in _NO_EQUIVALENT.items():
        if key in watch and watch[key] not in (default, None, [], "", {}):
            note(key, why)


def _whole(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _pattern(text: str) -> str:
    """changedetection drops each line holding the text (plain, or /a regex/)."""
    match = re.fullmatch(r"/(.+)/[a-z]*", text)
    return f"^.*(?:{match.group(1) if match else re.escape(text)}).*$"
