"""Load and validate ``targets.yaml``.

Analysts edit this file by hand, so every problem is reported as
``FILE:LINE: path: message`` pointing at the offending key or value, all
problems at once, and never as a traceback. The YAML is composed into a node
tree (which keeps line numbers and lets us catch duplicate keys that PyYAML
would silently accept), converted to plain Python by hand, then checked
section by section against the models of ``watcher.config.model`` so that one
bad target does not hide the problems of the others. Targets come out fully
resolved: ``defaults`` merged in and every option concrete, so later stages
never look at ``defaults``.

Top-level keys starting with ``x-`` are ignored, as in docker compose, to give
YAML anchors (``&name`` / ``<<: *name``) a place to live.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from watcher.config.errors import ConfigError, ConfigIssue, describe
from watcher.config.model import (
    OPTION_KEYS,
    TARGET_ONLY_KEYS,
    TOP_KEYS,
    Config,
    Defaults,
    Settings,
    Target,
    TargetSpec,
    compile_regex,
    number_as_text,
)
from watcher.core.terms import field_of

__all__ = ["MAX_CONFIG_BYTES", "load_config", "parse_config_text"]

# --------------------------------------------------------------------------- YAML -> Python

Loc = tuple[str | int, ...]
_TAG = "tag:yaml.org,2002:"
_MAX_NODES = 200_000  # values after aliases are expanded; 1,000 targets are about 10,000
_MAX_DEPTH = 20  # the config itself needs 5 levels
MAX_CONFIG_BYTES = 10_000_000  # 1,000 targets are about 100 KB
# Every value takes at least two characters ("1,"), so a shorter text cannot hold more
# than _MAX_NODES of them before aliases; a longer one is counted before it is composed.
_COUNT_ABOVE = 2 * _MAX_NODES
_VALUE_EVENTS = (yaml.ScalarEvent, yaml.CollectionStartEvent, yaml.AliasEvent)


class _TooLarge(Exception):
    """The document is too big or too deep to be a config (alias bombs, runaway nesting)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Refused(ConfigError):
    """Too big to be a config: said at once, the file not read again for nicer messages."""


@dataclass
class _Doc:
    """Plain Python data plus where each part came from in the file."""

    data: Any = None
    value_lines: dict[Loc, int] = field(default_factory=dict)
    key_lines: dict[Loc, int] = field(default_factory=dict)
    raw: dict[Loc, str] = field(default_factory=dict)  # source text of plain scalars
    problems: list[tuple[Loc, int, str]] = field(default_factory=list)

    def existing(self, loc: Loc) -> Loc:
        """The longest prefix of `loc` that exists in the data (pydantic locs may go deeper)."""
        node, found = self.data, []
        for part in loc:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if not (in_dict or in_list):
                break
            node = node[part]
            found.append(part)
        return tuple(found)

    def get(self, loc: Loc) -> Any:
        node = self.data
        for part in loc:
            node = node[part]
        return node

    def line(self, loc: Loc) -> int:
        """Line of a value, or of its key when the value is a block spanning lines."""
        loc = self.existing(loc)
        value = self.get(loc)
        if isinstance(value, dict | list) and loc in self.key_lines:
            return self.key_lines[loc]
        return self.value_lines.get(loc) or self.key_lines.get(loc) or 1


class _Converter:
    """Node tree -> plain Python, recording lines and catching duplicate keys."""

    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.constructor = yaml.constructor.SafeConstructor()
        self.active: set[int] = set()
        self.count = 0

    def convert(self, node: yaml.Node, loc: Loc) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            # the text itself has fewer (it was counted): aliases multiplied them
            message = (
                f"aliases expand the document to more than {_MAX_NODES:,} values"
                " (too many aliases?); a config is far smaller"
            )
            raise _TooLarge(node.start_mark.line + 1, message)
        if len(loc) > _MAX_DEPTH:
            message = f"nested more than {_MAX_DEPTH} levels deep"
            raise _TooLarge(node.start_mark.line + 1, message)
        self.doc.value_lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        if id(node) in self.active:
            self._problem(loc, node, "an alias refers to itself")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self._check_tag(node, loc, "seq")
                return [self.convert(child, (*loc, i)) for i, child in enumerate(node.value)]
            self._check_tag(node, loc, "map")
            return self._mapping(node, loc)
        finally:
            self.active.discard(id(node))

    def _problem(self, loc: Loc, node: yaml.Node, message: str) -> None:
        self.doc.problems.append((loc, node.start_mark.line + 1, message))

    def _check_tag(self, node: yaml.Node, loc: Loc, kind: str) -> None:
        if node.tag != _TAG + kind:
            self._problem(loc, node, f"unsupported YAML tag {node.tag!r}")

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        if node.style is None:
            self.doc.raw.setdefault(loc, node.value)
        tag = node.tag.removeprefix(_TAG)
        if tag == "null":
            return None
        if tag == "bool":  # `!!bool maybe` stays text and fails validation with a message
            return self.constructor.bool_values.get(node.value.lower(), node.value)
        if tag in ("int", "float"):
            return self._number(node)
        if tag not in ("str", "timestamp"):  # timestamps stay text: no date fields here
            self._problem(loc, node, f"unsupported YAML tag {node.tag!r}")
        return node.value

    def _number(self, node: yaml.ScalarNode) -> Any:
        """A number, unless YAML read it in a surprising way (1:30, 0x10, 010): then the text."""
        try:
            if node.tag.endswith("int"):
                value = self.constructor.construct_yaml_int(node)
            else:
                value = self.constructor.construct_yaml_float(node)
        except (ValueError, yaml.YAMLError):
            return node.value
        return value if str(value) == node.value.strip() else node.value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(loc, key_node, "a key must be plain text, not a list or mapping")
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in first_line:
                self.doc.problems.append(
                    ((*loc, key), line, f"duplicate key (first defined at line {first_line[key]})")
                )
                continue
            first_line[key] = line
            self.doc.key_lines.setdefault((*loc, key), line)
            result[key] = self.convert(value_node, (*loc, key))
        for merge in merges:
            self._merge(result, merge, loc)
        return result

    def _merge(self, result: dict[str, Any], node: yaml.Node, loc: Loc) -> None:
        """YAML merge keys (`<<: *base`): keys written here win over merged ones."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self._problem(loc, source, "'<<' (merge) needs a mapping or a list of mappings")
                continue
            for key, value in self.convert(source, loc).items():
                result.setdefault(key, value)


# libyaml's composer when PyYAML has it: 10x faster on a config of 1,000 targets.
# Its error texts differ, so a config that fails is read again with the Python one.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _count_values(text: str, filename: str) -> None:
    """Refuse a text with more values than a config has, having read no more of them
    than that: composing 10 MB of YAML into nodes takes half a minute, counting the
    first 200,000 values a second."""
    count = 0
    try:
        for event in yaml.parse(text, Loader=_FAST_LOADER):
            if isinstance(event, _VALUE_EVENTS):
                count += 1
                if count > _MAX_NODES:
                    message = (
                        f"the document holds more than {_MAX_NODES:,} values; a config is far"
                        " smaller (1,000 targets are about 10,000): is this the right file?"
                    )
                    line = event.start_mark.line + 1
                    raise _Refused([ConfigIssue(filename, line, message)])
    except yaml.YAMLError:
        return  # composing reports it, with its line


def _compose(text: str, filename: str, loader: type = yaml.SafeLoader) -> _Doc:
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_issue(exc, text, filename)]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(filename, 1, "the document is nested too deeply")]) from None
    if root is None:
        raise ConfigError(
            [ConfigIssue(filename, 1, "the file is empty; it needs at least a 'targets:' list")]
        )
    doc = _Doc()
    try:
        doc.data = _Converter(doc).convert(root, ())
    except _TooLarge as exc:
        raise _Refused([ConfigIssue(filename, exc.line, exc.message)]) from None
    return doc


def _syntax_issue(exc: yaml.YAMLError, text: str, filename: str) -> ConfigIssue:
    """A readable message for a YAML syntax error, at the line where the fix belongs."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character
        code = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        message = f"control character {code} is not allowed in YAML; remove it"
        return ConfigIssue(filename, line, message)
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return ConfigIssue(filename, 1, f"YAML syntax error: {exc}")
    problem, context = exc.problem or "syntax error", exc.context or ""
    line = exc.problem_mark.line + 1
    opened = exc.context_mark.line + 1 if exc.context_mark else line
    if "'\\t'" in problem or "tab character" in problem:
        return ConfigIssue(filename, line, "tab character: YAML indentation must use spaces")
    if "another document" in problem:
        message = "a second YAML document starts here ('---'); keep everything in one document"
        return ConfigIssue(filename, line, message)
    if "quoted scalar" in context and "end of stream" in problem:
        return ConfigIssue(filename, opened, "unclosed quote: the string starting here never ends")
    if context.startswith("while parsing a flow") and opened < line:
        bracket = "[" if "sequence" in context else "{"
        return ConfigIssue(
            filename, opened, f"unclosed '{bracket}': {problem} at line {line} (a missing bracket?)"
        )
    message = f"YAML syntax error: {problem}"
    if context and opened != line:
        message += f" ({context} at line {opened})"
    return ConfigIssue(filename, line, message + _syntax_hint(problem, context, text, line))


def _syntax_hint(problem: str, context: str, text: str, line: int) -> str:
    if "alias" in context or "undefined alias" in problem:
        return "; a value starting with '*' must be quoted, e.g. cron: \"*/5 * * * *\""
    if "mapping values are not allowed" in problem:
        lines = text.splitlines()
        for number in range(line - 1, 0, -1):
            previous = lines[number - 1].strip() if number <= len(lines) else ""
            if previous and not previous.startswith("#"):
                if ":" not in previous and not previous.startswith("-"):
                    return f"; is a ':' missing on line {number}?"
                break
        return "; check the indentation, and quote values that contain ': '"
    if "expected <block end>" in problem:
        return "; check the indentation of this line"
    return ""


# --------------------------------------------------------------------------- validation


def _format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel]:
    """The model that validates the mapping at `loc` (to list its allowed keys)."""
    for part in loc:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            continue
        candidates = (info.annotation, *getattr(info.annotation, "__args__", ()))
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
    return model


_TYPE_MESSAGES = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping (key: value lines)",
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
}


class _Validator:
    """Checks a composed document section by section, collecting every issue."""

    def __init__(self, doc: _Doc, filename: str) -> None:
        self.doc = doc
        self.filename = filename
        self.issues: list[tuple[int, str]] = []
        self.groups: list[str] | None = None  # None: the keywords section is unusable

    # reporting

    def report(self, loc: Loc, message: str, line: int | None = None) -> None:
        where = _format_loc(self.doc.existing(loc) if line is None else loc)
        text = f"{where}: {message}" if where else message
        self.issues.append((line if line is not None else self.doc.line(loc), text))

    def report_pydantic(self, exc: ValidationError, base: Loc, model: type[BaseModel]) -> None:
        for error in exc.errors(include_url=False):
            loc = (*base, *error["loc"])
            found = self.doc.existing(loc)
            self.report(found, self._message(error, loc, found, model, base))

    def _message(self, error: Any, loc: Loc, found: Loc, model: type[BaseModel], base: Loc) -> str:
        kind, value = error["type"], error.get("input")
        raw = self.doc.raw.get(found)
        if kind == "missing":
            return f"missing required key {loc[len(found)]!r}"
        if kind == "extra_forbidden":
            parent = _model_at(model, found[len(base) : -1])
            return self._unknown_key(str(found[-1]), parent)
        if kind in ("value_error", "assertion_error"):
            message = str(error["ctx"]["error"])
            if isinstance(value, bool) and raw and raw.lower() not in ("true", "false"):
                message += f" (YAML reads unquoted {raw!r} as {str(value).lower()})"
            return message
        if kind == "literal_error":
            return f"must be {error['ctx']['expected']}, got {describe(value, raw)}"
        if kind == "greater_than_equal":
            return f"must be at least {error['ctx']['ge']}, got {describe(value, raw)}"
        if kind in _TYPE_MESSAGES:
            if value is None:
                return f"no value given ({_TYPE_MESSAGES[kind]})"
            return f"{_TYPE_MESSAGES[kind]}, got {describe(value, raw)}"
        return str(error["msg"])

    def _unknown_key(self, key: str, model: type[BaseModel]) -> str:
        allowed = list(model.model_fields)
        if model is Defaults and key in TARGET_ONLY_KEYS:
            return f"{key!r} can only be set on a target, not in defaults"
        suggestion = _suggest(key, allowed)
        if suggestion:
            return "unknown key" + suggestion
        return f"unknown key; allowed keys are {', '.join(allowed)}"

    # sections

    def run(self) -> Config | None:
        data = self.doc.data
        for loc, line, message in self.doc.problems:
            self.report(loc, message, line=line)
        if not isinstance(data, dict):
            self.report(
                (), f"the top level must be a mapping with 'targets:', got {describe(data)}"
            )
            return None
        self._top_level_keys(data)
        settings = self._settings(data)
        keywords = self._keywords(data)
        defaults = self._defaults(data)
        specs = self._targets(data)
        if self.issues or settings is None or defaults is None or keywords is None:
            return None
        return self._build(settings, defaults, keywords, specs)

    def _top_level_keys(self, data: dict[str, Any]) -> None:
        for key in data:
            if key in TOP_KEYS or key.startswith("x-"):  # x-*: free room for YAML anchors
                continue
            if key in OPTION_KEYS:
                message = f"{key!r} is not a top-level key; put it under 'defaults:' or a target"
            elif key in TARGET_ONLY_KEYS:
                message = f"{key!r} is not a top-level key; put it in a target under 'targets:'"
            else:
                message = "unknown top-level key" + (
                    _suggest(key, TOP_KEYS) or f"; allowed keys are {', '.join(TOP_KEYS)}"
                )
            self.report((key,), message)

    def _section(self, data: dict[str, Any], key: str) -> Any:
        """A top-level section; an empty one (`defaults:` with nothing under it) is {}."""
        value = data.get(key)
        if value is None:
            self.doc.data[key] = value = {}
        return value

    def _validate(self, model: type[BaseModel], value: Any, base: Loc) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            self.report_pydantic(exc, base, model)
            return None

    def _settings(self, data: dict[str, Any]) -> Settings | None:
        return self._validate(Settings, self._section(data, "settings"), ("settings",))

    def _defaults(self, data: dict[str, Any]) -> Defaults | None:
        raw = self._section(data, "defaults")
        self._schedule_clash(raw, ("defaults",))
        self._group_refs(raw, ("defaults",))
        return self._validate(Defaults, raw, ("defaults",))

    def _keywords(self, data: dict[str, Any]) -> dict[str, list[str]] | None:
        raw = self._section(data, "keywords")
        if not isinstance(raw, dict):
            self.report(("keywords",), f"expected a mapping of group: [terms], got {describe(raw)}")
            return None
        self.groups = list(raw)
        groups: dict[str, list[str]] = {}
        for name, terms in raw.items():
            checked = self._keyword_group(name, terms)
            if checked is not None:
                groups[name] = checked
        return groups if len(groups) == len(raw) else None

    def _keyword_group(self, name: str, terms: Any) -> list[str] | None:
        loc: Loc = ("keywords", name)
        ok = True
        if not re.fullmatch(r"[a-z0-9_-]+", name):
            self.report(loc, "invalid group name: use lowercase letters a-z, digits, '_' and '-'")
            ok = False
        if terms is None or terms == []:
            self.report(loc, f"keyword group {name!r} is empty; list at least one term")
            return None
        if isinstance(terms, dict | bool):
            self.report(
                loc, f"expected a list of terms, got {describe(terms, self.doc.raw.get(loc))}"
            )
            return None
        items = terms if isinstance(terms, list) else [terms]
        seen: dict[str, tuple[str, Loc]] = {}
        result: list[str] = []
        for index, term in enumerate(items):
            term_loc = (*loc, index) if isinstance(terms, list) else loc
            term = number_as_text(term)
            message = self._term_problem(term, term_loc, seen)
            if message:
                self.report(term_loc, message)
                ok = False
            else:
                result.append(term)
        return result if ok else None

    def _term_problem(self, term: Any, loc: Loc, seen: dict[str, tuple[str, Loc]]) -> str | None:
        if not isinstance(term, str):
            return f"expected a term (text), got {describe(term, self.doc.raw.get(loc))}"
        if not term.strip():
            return "empty keyword term"
        field = field_of(term)
        if field is not None:
            name = term.split(":", 1)[0]
            if not field[1]:
                return (
                    f"{name}: needs a value: {name}:国防科工局 matches notices whose "
                    f"{'发文机关 contains' if name == 'issuer' else '文号 starts with'} it"
                )
            key = f"{name}:{unicodedata.normalize('NFKC', field[1]).casefold()}"
        elif term.startswith("re:"):
            pattern = term[3:]
            try:
                compiled = compile_regex(pattern) if pattern else None
            except ValueError as exc:
                return str(exc)
            if compiled is None or compiled.fullmatch(""):
                return f"regular expression {pattern!r} matches empty text, so it matches anywhere"
            key = term
        else:
            key = unicodedata.normalize("NFKC", term).casefold()
        if key in seen:
            first, first_loc = seen[key]
            same = "" if first == term else f" (same as {first!r} after case/width folding)"
            where = f"{_format_loc(first_loc)}, line {self.doc.line(first_loc)}"
            return f"duplicate term {term!r}{same}; already listed at {where}"
        seen[key] = (term, loc)
        return None

    def _targets(self, data: dict[str, Any]) -> list[TargetSpec | None]:
        if "targets" not in data:
            self.issues.append((1, "missing required key 'targets' (a list of pages to watch)"))
            return []
        raw = data["targets"]
        if not isinstance(raw, list) or not raw:
            got = "an empty list" if raw in ([], None) else describe(raw)
            self.report(("targets",), f"expected a list of at least one target, got {got}")
            return []
        names: dict[str, Loc] = {}
        return [self._target(item, ("targets", i), names) for i, item in enumerate(raw)]

    def _target(self, item: Any, loc: Loc, names: dict[str, Loc]) -> TargetSpec | None:
        if not isinstance(item, dict):
            got = describe(item, self.doc.raw.get(loc))
            self.report(loc, f"expected a mapping with at least name: and url:, got {got}")
            return None
        name = number_as_text(item.get("name"))
        if isinstance(name, str) and name in names:
            first = names[name]
            self.report(
                (*loc, "name"),
                f"duplicate target name {name!r}; already used by {_format_loc(first)} "
                f"at line {self.doc.line((*first, 'name'))}",
            )
        elif isinstance(name, str):
            names[name] = loc
        self._schedule_clash(item, loc)
        self._group_refs(item, loc)
        return self._validate(TargetSpec, item, loc)

    def _schedule_clash(self, raw: Any, loc: Loc) -> None:
        if not isinstance(raw, dict) or raw.get("interval") is None or raw.get("cron") is None:
            return
        lines = {key: self.doc.line((*loc, key)) for key in ("interval", "cron")}
        later, earlier = sorted(lines, key=lines.__getitem__, reverse=True)
        self.report(
            (*loc, later),
            f"cannot be combined with {earlier!r} (line {lines[earlier]}): "
            "a schedule is either an interval or a cron expression",
        )

    def _group_refs(self, raw: Any, loc: Loc) -> None:
        if self.groups is None or not isinstance(raw, dict) or "keywords" not in raw:
            return
        value = raw["keywords"]
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, group in items:
            group = number_as_text(group)
            if not isinstance(group, str) or group in self.groups:
                continue
            where = (*loc, "keywords") if index is None else (*loc, "keywords", index)
            hint = _suggest(group, self.groups) or (
                f"; defined groups: {', '.join(self.groups)}"
                if self.groups
                else "; no groups are defined under 'keywords:'"
            )
            self.report(where, f"unknown keyword group {group!r}{hint}")

    # resolution

    def _build(
        self,
        settings: Settings,
        defaults: Defaults,
        keywords: dict[str, list[str]],
        specs: list[TargetSpec | None],
    ) -> Config | None:
        try:
            targets = [_resolve(spec, defaults, list(keywords)) for spec in specs if spec]
            return Config(settings=settings, defaults=defaults, keywords=keywords, targets=targets)
        except ValidationError as exc:  # should not happen: everything was checked above
            self.issues.append((1, f"internal validation error: {exc}"))
            return None


def _resolve(spec: TargetSpec, defaults: Defaults, groups: list[str]) -> Target:
    """Merge defaults into one target: the target's own value wins, key by key for headers."""
    base = defaults.model_dump(exclude_none=True)
    own = spec.model_dump(exclude_none=True)
    values = {**base, **own}
    if "cron" in own:
        values.pop("interval", None)
    elif "interval" in own:
        values.pop("cron", None)
    values["headers"] = _merge_headers(base.get("headers", {}), own.get("headers", {}))
    values["cookies"] = {**base.get("cookies", {}), **own.get("cookies", {})}
    values.setdefault("keywords", tuple(groups))
    return Target.model_validate(values)


def _merge_headers(base: dict[str, str], own: dict[str, str]) -> dict[str, str]:
    """Header names are case-insensitive: a target's `accept` replaces a default `Accept`."""
    overridden = {name.lower() for name in own}
    merged = {name: value for name, value in base.items() if name.lower() not in overridden}
    merged.update(own)
    return merged


# --------------------------------------------------------------------------- entry points


def parse_config_text(text: str, filename: str) -> Config:
    """Validate config text; `filename` only labels the issues. Raises ConfigError."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([_too_big(filename, len(text.encode("utf-8", "replace")))])
    large = len(text) > _COUNT_ABOVE
    if large:
        _count_values(text, filename)
    if _FAST_LOADER is not yaml.SafeLoader:
        try:
            return _parse(text, filename, _FAST_LOADER)
        except _Refused:
            raise
        except ConfigError:
            if large:
                raise  # not read a second time, 10x slower, for nicer messages
            # report with the Python loader's messages, which the tests pin down
    return _parse(text, filename, yaml.SafeLoader)


def _too_big(filename: str, size: int) -> ConfigIssue:
    message = (
        f"the file is {size / 1e6:,.1f} MB, more than the {MAX_CONFIG_BYTES // 1_000_000} MB"
        " a config may be (1,000 targets are about 100 KB): is this the right file?"
    )
    return ConfigIssue(filename, 0, message)


def _parse(text: str, filename: str, loader: type) -> Config:
    doc = _compose(text, filename, loader)
    validator = _Validator(doc, filename)
    config = validator.run()
    if config is None:
        ordered = sorted(dict.fromkeys(validator.issues), key=lambda issue: issue[0])
        raise ConfigError(ConfigIssue(filename, line, message) for line, message in ordered)
    return config


def load_config(path: Path) -> Config:
    """Read and validate a config file. Raises ConfigError, never anything else for bad input."""
    filename = str(path)
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)  # not all of a runaway file
            if len(data) > MAX_CONFIG_BYTES:
                size = max(_size_of(file), len(data))
                raise ConfigError([_too_big(filename, size)])
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([ConfigIssue(filename, 0, f"cannot read: {reason}")]) from None
    return parse_config_text(_decode(data, filename), filename)


def file_stamp(path: Path) -> tuple[int, int] | None:
    """What tells one state of a file from another without reading it: its
    modification time (ns) and size; None when it cannot be read."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _size_of(file: Any) -> int:
    try:
        return os.fstat(file.fileno()).st_size
    except OSError:
        return 0


def _decode(data: bytes, filename: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        message = "the file is UTF-16; save it as UTF-8"
        raise ConfigError([ConfigIssue(filename, 1, message)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        hint = ""
        try:
            data.decode("gb18030")
            hint = " (it looks like GBK/GB18030)"
        except UnicodeDecodeError:
            pass
        message = (
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at column {column}; "
            f"save the file as UTF-8{hint}"
        )
        raise ConfigError([ConfigIssue(filename, line, message)]) from None
