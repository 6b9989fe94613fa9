"""urlwatch's ``urls.yaml``: one YAML document per job.

Its filters map to watcher's keys where they mean the same: ``css`` (and its
``exclude``), ``element-by-id``/``-class``/``-tag`` → ``select``/``exclude``;
``grepi`` and ``re.sub`` to nothing → ``ignore``; ``html2text``, ``strip`` and
``beautify`` are what watcher's text of record already does. ``navigate`` jobs
render in the browser. Everything else is a note.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from watcher.config.errors import ConfigError, ConfigIssue
from watcher.config.importers.common import Imported, Note, duration, is_xpath

__all__ = ["read"]

_SAME = {"html2text", "strip", "beautify", "remove-duplicate-lines"}  # watcher does this anyway
_BOOKKEEPING = {"name", "url", "navigate", "kind"}


def read(text: str, filename: str) -> Imported:
    """Every url/navigate job of a urls.yaml; command jobs are notes."""
    imported = Imported("urlwatch")
    for job in _documents(text, filename):
        if job is None:
            continue
        target, notes = _job(job, filename)
        if target is not None:
            imported.targets.append(target)
        imported.notes.extend(notes)
    return imported


def _job(job: Any, filename: str) -> tuple[dict[str, Any] | None, list[Note]]:
    line = job.lc.line + 1 if hasattr(job, "lc") else 0
    if not isinstance(job, dict):
        raise ConfigError([ConfigIssue(filename, line, "a job must be a mapping (key: value)")])
    label = str(job.get("name") or job.get("url") or job.get("navigate") or job.get("command"))
    notes: list[Note] = []

    def note(key: str, why: str) -> None:
        notes.append(Note(f"{filename}:{_line(job, key, line)}", label, key, why))

    if "command" in job:
        note("command", "shell command jobs have no equivalent: watcher fetches pages only")
        return None, notes
    url = job.get("url") or job.get("navigate")
    if not url:
        raise ConfigError([ConfigIssue(filename, line, f"job {label!r} has no url")])
    target: dict[str, Any] = {"_where": f"{filename}:{line}", "url": str(url)}
    if job.get("name"):
        target["title"] = str(job["name"])
    if "navigate" in job:
        target["fetch"] = "browser"
    for key, value in job.items():
        _setting(target, str(key), value, note)
    return target, notes


def _documents(text: str, filename: str) -> list[Any]:
    try:
        return list(YAML(typ="rt", pure=True).load_all(text))
    except MarkedYAMLError as exc:
        start, end = exc.context_mark, exc.problem_mark
        line = (start or end).line + 1 if (start or end) is not None else 0
        what = f"{exc.context}: {exc.problem}" if exc.context else str(exc.problem)
        if start is not None and end is not None and end.line != start.line:
            what += f" (at line {end.line + 1})"
        raise ConfigError([ConfigIssue(filename, line, f"not valid YAML: {what}")]) from None
    except YAMLError as exc:
        raise ConfigError([ConfigIssue(filename, 0, f"not valid YAML: {exc}")]) from None


def _line(mapping: Any, key: str, default: int) -> int:
    try:
        return mapping.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return default


def _setting(target: dict[str, Any], key: str, value: Any, note: Any) -> None:
    if key in _BOOKKEEPING:
        return
    if key == "filter" and not isinstance(value, str | list):
        note(key, "neither a filter list nor text; left aside")
    elif key == "filter":
        for name, argument in _filters(value):
            _filter(target, name, argument, lambda why, n=name: note("filter", f"{n}: {why}"))
    elif key in ("headers", "cookies") and isinstance(value, dict):
        target[key] = {str(k): str(v) for k, v in value.items()}
    elif key == "user_agent" and isinstance(value, str):
        target[key] = value
    elif key == "timeout" and isinstance(value, int | float) and value > 0:
        target["timeout"] = duration(value)
    elif key == "wait_for" and isinstance(value, str):
        target["wait_for"] = value
    elif key == "enabled" and value is False:
        note(key, "the job was disabled; it is imported, and will be checked")
    elif key == "diff_filter":
        note(key, "watcher diffs the whole text; keyword groups and alert: hits choose what alerts")
    else:
        note(key, "no equivalent in watcher")


def _filters(value: Any) -> list[tuple[str, Any]]:
    """urlwatch writes filters as "css:a,html2text", a list of such, or a list of mappings."""
    if isinstance(value, str):
        out = []
        for part in re.split(r",(?![^\[]*\])", value):
            name, _, argument = part.strip().partition(":")
            out.append((name, argument or None))
        return out
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            out.extend((str(k), v) for k, v in item.items())
        else:
            out.extend(_filters(str(item)))
    return out


def _filter(target: dict[str, Any], name: str, argument: Any, note: Any) -> None:
    options = argument if isinstance(argument, dict) else {}
    if name in _SAME:
        return
    if name in ("css", "xpath"):
        selector = options.get("selector") if options else argument
        if not isinstance(selector, str) or not selector.strip():
            note("no selector given")
            return
        if name == "xpath" or is_xpath(selector):
            note("XPath has no equivalent (select is CSS); the whole page is watched")
            return
        target.setdefault("select", []).append(str(selector))
        if options.get("exclude"):
            target.setdefault("exclude", []).append(str(options["exclude"]))
    elif name in ("element-by-id", "element-by-class", "element-by-tag"):
        prefix = {"element-by-id": "#", "element-by-class": ".", "element-by-tag": ""}[name]
        target.setdefault("select", []).append(f"{prefix}{argument}")
    elif name == "grepi":
        pattern = options.get("re", argument) if options else argument
        target.setdefault("ignore", []).append(f"^.*(?:{pattern}).*$")
    elif name == "re.sub" and not options and argument:
        target.setdefault("ignore", []).append(str(argument))
    elif name == "re.sub" and options.get("pattern") and options.get("repl", "") == "":
        target.setdefault("ignore", []).append(str(options["pattern"]))
    elif name == "grep":
        note("keeping only matching lines has no equivalent; keyword groups flag what matters")
    else:
        note("no equivalent in watcher")
