"""Changes to ``targets.yaml`` made by the program, as a person would make them.

The file is the analysts' own: its comments, key order, quoting and indentation are
kept (a ruamel.yaml round trip), only the asked-for key or target changes. The new
text is validated by the same loader as at start-up before it replaces the file
(atomically, with its permissions), so an edit can never leave a config the service
would refuse; a file changed by someone else meanwhile is not overwritten. The
running service sees the new file as any edit (``watcher run`` reloads it).
"""

from __future__ import annotations

import copy
import io
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from watcher.config.errors import ConfigError, ConfigIssue
from watcher.config.load import MAX_CONFIG_BYTES, parse_config_text
from watcher.config.model import Config

__all__ = [
    "add_target",
    "edit_config",
    "remove_target",
    "set_target_key",
    "unset_target_key",
    "update_target",
]

_LOCK = threading.Lock()  # one edit at a time in this process
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/: ")


def add_target(path: Path, target: Mapping[str, Any]) -> Config:
    """Append a target (its keys as written in the file) to ``targets``."""
    name = str(target.get("name", ""))

    def change(doc: CommentedMap, problem: Callable[[str], ConfigError]) -> None:
        entries = _targets(doc, problem)
        if _find(entries, name) is not None:
            raise problem(f"there is already a target named {name!r}")
        entries.append(_styled(dict(target), flow=False))

    return edit_config(path, change)


def set_target_key(path: Path, name: str, key: str, value: Any) -> Config:
    """Set (or replace) one key of the target called ``name``, where it stands."""
    return update_target(path, name, {key: value})


def update_target(
    path: Path, name: str, values: Mapping[str, Any], remove: Sequence[str] = ()
) -> Config:
    """Set these keys of the target called ``name`` and remove those, in one validated
    write (``interval`` for ``cron`` is one change, never an invalid file between)."""

    def change(doc: CommentedMap, problem: Callable[[str], ConfigError]) -> None:
        entry = _target(doc, name, problem)
        for key in remove:
            _unset(entry, key)
        for key, value in values.items():
            _set(entry, key, value)

    return edit_config(path, change)


def _set(entry: CommentedMap, key: str, value: Any) -> None:
    old = entry.get(key)
    flow = bool(getattr(getattr(old, "fa", None), "flow_style", False)) or bool(
        entry.fa.flow_style()
    )
    if key in entry or flow:
        entry[key] = _styled(value, flow=flow)
    else:
        _append(entry, key, _styled(value, flow=False))


def unset_target_key(path: Path, name: str, key: str) -> Config:
    """Remove one key of the target called ``name`` (nothing to do when it has none);
    the comments after it stay with the line before."""
    return update_target(path, name, {}, (key,))


def _unset(entry: CommentedMap, key: str) -> None:
    if key not in entry:
        return
    if len(entry) > 1 and next(reversed(entry)) == key and not entry.fa.flow_style():
        holder = _trailing(entry)
        del entry[key]
        if holder is not None:
            _carry(entry, holder)
    else:
        del entry[key]


def remove_target(path: Path, name: str) -> Config:
    """Remove the target called ``name`` (its comment lines above it go with the file's
    next entry, as ruamel keeps them)."""

    def change(doc: CommentedMap, problem: Callable[[str], ConfigError]) -> None:
        entries = _targets(doc, problem)
        index = _find(entries, name)
        if index is None:
            raise problem(f"no target named {name!r}")
        del entries[index]

    return edit_config(path, change)


def edit_config(
    path: Path, change: Callable[[CommentedMap, Callable[[str], ConfigError]], None]
) -> Config:
    """Apply ``change`` to the file's round-trip tree, validate, replace the file.

    ``change`` gets the document and a way to make a ConfigError naming the file.
    Returns the new config; raises ConfigError (nothing written) when the file cannot
    be read or parsed, the change is refused, or its result would not load."""
    filename = str(path)

    def problem(message: str, line: int = 0) -> ConfigError:
        return ConfigError([ConfigIssue(filename, line, message)])

    with _LOCK:
        original = _read(path, problem)
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096  # long regexes stay on their line
        text = original.decode("utf-8-sig")
        try:
            doc = yaml.load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 0
            raise problem(f"cannot be edited: not valid YAML ({exc})", line) from None
        if not isinstance(doc, CommentedMap):
            raise problem("cannot be edited: the file is not a mapping of settings and targets")
        mapping, sequence, offset = _indents(text)
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        change(doc, problem)
        out = io.StringIO()
        yaml.dump(doc, out)
        new_text = out.getvalue()
        try:
            config = parse_config_text(new_text, filename)
        except ConfigError as exc:
            said = "the change would make the config invalid"
            raise ConfigError(
                ConfigIssue(i.file, i.line, f"{said}: {i.message}") for i in exc.issues
            ) from None
        _replace(path, original, new_text.encode("utf-8"), problem)
    return config


def _read(path: Path, problem: Callable[..., ConfigError]) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise problem(f"cannot be edited: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise problem(f"cannot be edited: larger than {MAX_CONFIG_BYTES // 1_000_000} MB")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise problem("cannot be edited: not valid UTF-8; save it as UTF-8") from None
    return data


def _replace(path: Path, original: bytes, data: bytes, problem: Callable[..., ConfigError]) -> None:
    """Write beside the file, fsync, rename over it, unless it changed since it was read."""
    try:
        mode = path.stat().st_mode & 0o7777
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise problem(f"cannot be written: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        if path.read_bytes() != original:
            raise problem("changed by someone else while it was being edited: nothing written")
        os.replace(temporary, path)
    except OSError as exc:
        raise problem(f"cannot be written: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _targets(doc: CommentedMap, problem: Callable[..., ConfigError]) -> CommentedSeq:
    entries = doc.get("targets")
    if entries is None:
        entries = doc["targets"] = CommentedSeq()
    if not isinstance(entries, CommentedSeq):
        raise problem("cannot be edited: `targets` is not a list")
    return entries


def _find(entries: CommentedSeq, name: str) -> int | None:
    for index, entry in enumerate(entries):
        if isinstance(entry, Mapping) and str(entry.get("name")) == name:
            return index
    return None


def _target(doc: CommentedMap, name: str, problem: Callable[..., ConfigError]) -> CommentedMap:
    entries = _targets(doc, problem)
    index = _find(entries, name)
    if index is None:
        raise problem(f"no target named {name!r} in `targets`")
    return entries[index]


def _styled(value: Any, *, flow: bool) -> Any:
    """A value as the file would write it: lists and maps in the style of their place,
    text with regex characters in single quotes (backslashes stay as they are)."""
    if isinstance(value, str):
        return value if _plain(value) else SingleQuotedScalarString(value)
    if isinstance(value, Mapping):
        mapped = CommentedMap((k, _styled(v, flow=flow)) for k, v in value.items())
        if flow:
            mapped.fa.set_flow_style()
        return mapped
    if isinstance(value, Sequence):
        listed = CommentedSeq(_styled(v, flow=flow) for v in value)
        if flow:
            listed.fa.set_flow_style()
        return listed
    return value


def _append(entry: CommentedMap, key: str, value: Any) -> None:
    """Add a key at the end of a block mapping. ruamel keeps the blank lines and
    comments that follow a mapping (those above the next target) on its last value:
    they move to the new last value, its end-of-line comment stays."""
    holder = _trailing(entry)
    entry[key] = value
    if holder is None:
        return
    tokens, index = holder
    token = tokens[index]
    eol, _, rest = token.value.partition("\n")
    if not rest:
        return
    moved = copy.copy(token)
    moved.value = "\n" + rest
    if eol.strip():
        token.value = eol + "\n"
    else:
        tokens[index] = None
    if isinstance(value, CommentedSeq) and len(value):
        value.ca.items[len(value) - 1] = [moved, None, None, None]
    elif isinstance(value, CommentedMap) and len(value):
        value.ca.items[next(reversed(value))] = [None, None, moved, None]
    else:
        entry.ca.items[key] = [None, None, moved, None]


def _carry(entry: CommentedMap, holder: tuple[list[Any], int]) -> None:
    """The blank lines and comments that followed a removed last key, kept after the
    new last line (the removed key's own end-of-line comment goes with it)."""
    tokens, index = holder
    _eol, _, rest = tokens[index].value.partition("\n")
    if not rest:
        return
    last = next(reversed(entry))
    inner = _trailing(entry)
    if inner is not None:  # the new last value ends in a comment of its own: add to it
        kept = inner[0][inner[1]]
        kept.value = kept.value.rstrip("\n") + "\n" + rest
        return
    moved = copy.copy(tokens[index])
    moved.value = "\n" + rest
    value = entry[last]
    if isinstance(value, CommentedSeq) and len(value) and not value.fa.flow_style():
        value.ca.items[len(value) - 1] = [moved, None, None, None]
    elif isinstance(value, CommentedMap) and len(value) and not value.fa.flow_style():
        value.ca.items[next(reversed(value))] = [None, None, moved, None]
    else:
        entry.ca.items[last] = [None, None, moved, None]


def _trailing(node: Any) -> tuple[list[Any], int] | None:
    """Where the comment after a block collection's last line is kept."""
    if isinstance(node, CommentedMap) and len(node) and not node.fa.flow_style():
        last = next(reversed(node))
        nested = _trailing(node[last])
        if nested is not None:
            return nested
        tokens = node.ca.items.get(last)
        return (tokens, 2) if tokens and len(tokens) > 2 and tokens[2] is not None else None
    if isinstance(node, CommentedSeq) and len(node) and not node.fa.flow_style():
        nested = _trailing(node[-1])
        if nested is not None:
            return nested
        tokens = node.ca.items.get(len(node) - 1)
        return (tokens, 0) if tokens and tokens[0] is not None else None
    return None


def _plain(value: str) -> bool:
    """Whether YAML reads ``value`` back as the same text without quotes."""
    return (
        bool(value)
        and all(c in _PLAIN or ord(c) > 0x7F for c in value)
        and value.strip() == value
        and ": " not in value
        and not value.endswith(":")
        and not value.startswith(("-", ":"))
        and value.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~")
        and not value.replace(".", "").replace("-", "").isdigit()
    )


def _indents(text: str) -> tuple[int, int, int]:
    """The file's own indentation of block mappings and of ``- `` items (ruamel's
    ``indent(mapping, sequence, offset)``), so the untouched lines stay as they are."""
    mapping, sequence, offset = 2, 2, 0
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    for before, line in pairwise(lines):
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        parent = len(before) - len(before.lstrip())
        if stripped.startswith("- ") and before.rstrip().endswith(":"):
            offset = depth - parent
            body = len(stripped) - len(stripped[2:].lstrip())
            sequence = offset + body
            break
    for before, line in pairwise(lines):
        stripped = line.lstrip()
        if before.rstrip().endswith(":") and not before.lstrip().startswith("- "):
            depth = (len(line) - len(stripped)) - (len(before) - len(before.lstrip()))
            if depth > 0 and not stripped.startswith("- "):
                mapping = depth
                break
    return mapping, max(sequence, offset + 2), offset
