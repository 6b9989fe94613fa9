"""A Distill Web Monitor export (JSON): its monitors, with their selections.

A monitor's ``config`` (a JSON string) holds ``selections`` of ``frames``
whose ``includes``/``excludes`` are ``{"type": "css"|"xpath", "expr": ...}``:
CSS comes over as ``select``/``exclude``, XPath is a note. ``schedule``'s
interval → ``interval``; ``tags`` → ``tags``. Other settings are notes.
"""

from __future__ import annotations

import json
from typing import Any

from watcher.config.errors import ConfigError, ConfigIssue
from watcher.config.importers.common import Imported, Note, Notes, duration, mapping, parse_json

__all__ = ["read"]

_BOOKKEEPING = {
    *("id", "name", "uri", "config", "schedule", "tags", "ts", "ts_mod", "state", "client"),
    *("content_type", "datasource_id", "err", "_state", "user_id", "client_id", "text"),
}


def read(text: str, filename: str) -> Imported:
    data = parse_json(text, filename)
    monitors = data.get("data") if isinstance(data, dict) else data
    if not isinstance(monitors, list):
        raise ConfigError(
            [ConfigIssue(filename, 1, "no 'data' list of monitors: not a Distill export")]
        )
    imported = Imported("distill")
    lines = _lines_of_uris(text)
    for index, monitor in enumerate(monitors):
        where = f"{filename}:{lines[index] if index < len(lines) else 0}"
        if not isinstance(monitor, dict) or not monitor.get("uri"):
            imported.notes.append(Note(where, f"monitor {index + 1}", "uri", "left out: no uri"))
            continue
        label = str(monitor.get("name") or monitor["uri"])
        target: dict[str, Any] = {"_where": where, "url": str(monitor["uri"])}
        if monitor.get("name"):
            target["title"] = str(monitor["name"])
        note = Notes(where, label, imported.notes)
        _selections(target, _json_field(monitor.get("config"), where, "config"), note)
        _schedule(target, _json_field(monitor.get("schedule"), where, "schedule"), note)
        tags = monitor.get("tags")
        names = tags.split(",") if isinstance(tags, str) else tags if isinstance(tags, list) else []
        if [t for t in names if str(t).strip()]:
            target["tags"] = [str(t).strip() for t in names if str(t).strip()]
        for key in monitor:
            if key not in _BOOKKEEPING:
                note(key, "no equivalent in watcher")
        imported.targets.append(target)
    return imported


def _lines_of_uris(text: str) -> list[int]:
    lines, at = [], text.find('"uri"')
    while at >= 0:
        lines.append(text.count("\n", 0, at) + 1)
        at = text.find('"uri"', at + 1)
    return lines


def _json_field(value: Any, where: str, key: str) -> dict[str, Any]:
    """Distill stores config and schedule as JSON inside a string."""
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            file, _, line = where.rpartition(":")
            raise ConfigError(
                [
                    ConfigIssue(
                        file, int(line or 0), f"{key}: not valid JSON inside the string: {exc.msg}"
                    )
                ]
            ) from None
    return value if isinstance(value, dict) else {}


def _selections(target: dict[str, Any], config: dict[str, Any], note: Notes) -> None:
    for selection in _mappings(config.get("selections")):
        for frame in _mappings(selection.get("frames")):
            for key, kind in (("includes", "select"), ("excludes", "exclude")):
                for rule in _mappings(frame.get(key)):
                    if rule.get("type") == "css" and rule.get("expr"):
                        target.setdefault(kind, []).append(str(rule["expr"]))
                    elif rule.get("expr"):
                        what = f"{rule.get('type')} {rule['expr']!r}"
                        note(key, f"{what} has no equivalent ({kind} is CSS)")
        if selection.get("dynamic"):
            target["fetch"] = "auto"
    regexp = mapping(config.get("regexp")).get("expr")
    if regexp:
        note("regexp", "keeping only text matching a pattern has no equivalent")


def _mappings(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _schedule(target: dict[str, Any], schedule: dict[str, Any], note: Notes) -> None:
    interval = mapping(schedule.get("params")).get("interval")
    if schedule.get("type") == "INTERVAL" and isinstance(interval, int | float) and interval > 0:
        target["interval"] = duration(interval)
    elif schedule.get("type") and schedule.get("type") != "INTERVAL":
        note(
            "schedule",
            f"{schedule['type']} schedules have no equivalent; the default interval applies",
        )
