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
import json
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
    "add_targets",
    "edit_config",
    "keyword_group_problems",
    "remove_keyword_group",
    "remove_target",
    "set_keyword_group",
    "set_target_key",
    "unset_target_key",
    "update_target",
]

_LOCK = threading.Lock()  # one edit at a time in this process
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/: ")


def add_target(path: Path, target: Mapping[str, Any]) -> Config:
    """Append a target (its keys as written in the file) to ``targets``."""
    return add_targets(path, [target])


def add_targets(path: Path, added: Sequence[Mapping[str, Any]]) -> Config:
    """Append targets to ``targets`` in one edit: all of them or, when one is refused
    or the result would not load, none."""

    def change(doc: CommentedMap, problem: Callable[[str], ConfigError]) -> None:
        entries = _targets(doc, problem)
        for target in added:
            name = str(target.get("name", ""))
            if _find(entries, name) is not None:
                raise problem(f"there is already a target named {name!r}")
            entries.append(_styled(dict(target), flow=False))

    return edit_config(path, change)


def set_keyword_group(
    path: Path, name: str, terms: Sequence[str], *, old_name: str | None = None
) -> Config:
    """Add the keyword group ``name`` (``old_name`` None: refused if it exists) or
    replace the terms of ``old_name``; a different ``old_name`` is renamed where it
    stands, and every ``keywords:`` list naming it (the defaults', the targets')
    names the new one."""
    renamed = old_name is not None and old_name != name

    def change(doc: CommentedMap, problem: Callable[[str], ConfigError]) -> None:
        groups = _groups(doc, problem)
        if old_name is None and name in groups:
            raise problem(f"there is already a keyword group named {name!r}")
        if old_name is not None and old_name not in groups:
            raise problem(f"no keyword group named {old_name!r} in `keywords`")
        if renamed:
            if name in groups:
                raise problem(f"there is already a keyword group named {name!r}")
            _rename_key(groups, old_name, name)
            for holder in _group_users(doc):
                _rename_ref(holder, old_name, name)
        old = groups.get(name)
        if isinstance(old, CommentedSeq) and not old.fa.flow_style():
            groups[name] = _block_list_like(old, list(terms))
        elif name in groups:
            groups[name] = _styled(list(terms), flow=isinstance(old, CommentedSeq) or not old)
        else:
            _append(groups, name, _styled(list(terms), flow=_flow_items(groups)))

    return edit_config(path, change)


def keyword_group_problems(name: str, terms: Sequence[str]) -> list[str]:
    """What the loader would say of this group (a draft not yet in any file)."""
    text = json.dumps(
        {"keywords": {name: list(terms)}, "targets": [{"name": "draft", "url": "http://draft/"}]},
        ensure_ascii=False,
    )  # JSON is YAML: no quoting to get wrong
    try:
        parse_config_text(text, "draft")
    except ConfigError as exc:
        return [i.message for i in exc.issues]
    return []


def remove_keyword_group(path: Path, name: str) -> Config:
    """Remove a keyword group; refused while the defaults or a target name it, since
    dropping it from their lists would change what they alert on."""

    def change(doc: CommentedMap, problem: Callable[[str], ConfigError]) -> None:
        groups = _groups(doc, problem)
        if name not in groups:
            raise problem(f"no keyword group named {name!r} in `keywords`")
        users = [
            (label, line) for holder, label, line in _group_labels(doc) if name in _refs(holder)
        ]
        if users:
            said = ", ".join(f"{label} (line {line})" for label, line in users)
            raise problem(f"keyword group {name!r} is used by {said}; take it out of them first")
        del groups[name]

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


def _groups(doc: CommentedMap, problem: Callable[..., ConfigError]) -> CommentedMap:
    groups = doc.get("keywords")
    if groups is None:  # before the targets, where the loader's messages expect it
        groups = CommentedMap()
        where = list(doc).index("targets") if "targets" in doc else len(doc)
        doc.insert(where, "keywords", groups)
    if not isinstance(groups, CommentedMap):
        raise problem("cannot be edited: `keywords` is not a mapping of group: [terms]")
    return groups


def _flow_items(groups: CommentedMap) -> bool:
    """Whether a new group's terms go as ``[a, b]``: as the group before it writes them."""
    lists = [v for v in groups.values() if isinstance(v, CommentedSeq)]
    return not lists or bool(lists[-1].fa.flow_style())


def _group_labels(doc: CommentedMap) -> list[tuple[CommentedMap, str, int]]:
    """The mappings whose ``keywords:`` name groups: the defaults and each target,
    with a label and the line they start on."""
    found: list[tuple[CommentedMap, str, int]] = []
    defaults = doc.get("defaults")
    if isinstance(defaults, CommentedMap):
        found.append((defaults, "defaults", doc.lc.key("defaults")[0] + 1))
    entries = doc.get("targets")
    if isinstance(entries, CommentedSeq):
        for index, entry in enumerate(entries):
            if isinstance(entry, CommentedMap):
                label = f"target {entry.get('name', index + 1)!s}"
                found.append((entry, label, entries.lc.item(index)[0] + 1))
    return found


def _group_users(doc: CommentedMap) -> list[CommentedMap]:
    return [holder for holder, _, _ in _group_labels(doc) if "keywords" in holder]


def _refs(holder: CommentedMap) -> list[str]:
    value = holder.get("keywords")
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def _rename_ref(holder: CommentedMap, old: str, new: str) -> None:
    value = holder.get("keywords")
    if isinstance(value, str) and value == old:
        holder["keywords"] = _styled(new, flow=False)
    elif isinstance(value, CommentedSeq):
        for index, item in enumerate(value):
            if str(item) == old:
                value[index] = _styled(new, flow=False)


def _block_list_like(old: CommentedSeq, values: list[Any]) -> CommentedSeq:
    """``values`` as a block list in place of ``old``: a kept item keeps its end-of-line
    comment, and what ruamel holds on the old last item for the lines after the list
    (blank lines, the next key's comments) follows the new last item."""
    new = _styled(values, flow=False)
    own: dict[str, Any] = {}
    for index, value in enumerate(old):
        tokens = old.ca.items.get(index)
        if tokens and tokens[0] is not None and str(value) not in own:
            own[str(value)] = tokens[0]
    for index, value in enumerate(new):
        token = own.get(str(value))
        eol = token.value.partition("\n")[0] if token is not None else ""
        if eol.strip():
            kept = copy.copy(token)
            kept.value = eol + "\n"
            new.ca.items[index] = [kept, None, None, None]
    last = old.ca.items.get(len(old) - 1) if len(old) else None
    rest = last[0].value.partition("\n")[2] if last and last[0] is not None else ""
    if rest and len(new):
        tokens = new.ca.items.get(len(new) - 1)
        if tokens:
            tokens[0].value = tokens[0].value + rest
        else:
            moved = copy.copy(last[0])
            moved.value = "\n" + rest
            new.ca.items[len(new) - 1] = [moved, None, None, None]
    return new


def _rename_key(mapping: CommentedMap, old: str, new: str) -> None:
    """Rename a key where it stands, its comments kept with it."""
    position = list(mapping).index(old)
    comments = mapping.ca.items.pop(old, None)
    value = mapping.pop(old)
    mapping.insert(position, new, value)
    if comments is not None:
        mapping.ca.items[new] = comments


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
    flow = isinstance(value, CommentedSeq | CommentedMap) and value.fa.flow_style()
    if isinstance(value, CommentedSeq) and len(value) and not flow:
        value.ca.items[len(value) - 1] = [moved, None, None, None]
    elif isinstance(value, CommentedMap) and len(value) and not flow:
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
