"""Load and validate ``targets.yaml``.

Analysts edit this file by hand, so every problem is reported as
``FILE:LINE: path: message`` pointing at the offending key or value, all
problems at once, and never as a traceback. The YAML is composed into a node
tree (which keeps line numbers and lets us catch duplicate keys that PyYAML
would silently accept), converted to plain Python by hand, then checked
section by section with pydantic so that one bad target does not hide the
problems of the others. Targets come out fully resolved: ``defaults`` merged
in and every option concrete, so later stages never look at ``defaults``.

Top-level keys starting with ``x-`` are ignored, as in docker compose, to give
YAML anchors (``&name`` / ``<<: *name``) a place to live.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from cssselect import HTMLTranslator
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from watcher.config.errors import ConfigError, ConfigIssue, describe
from watcher.config.units import check_cron, parse_duration, parse_size

__all__ = [
    "DEFAULT_USER_AGENT",
    "Config",
    "Defaults",
    "Follow",
    "Settings",
    "Target",
    "load_config",
    "parse_config_text",
]

DEFAULT_USER_AGENT = "watcher/0.1 (+change monitoring)"
DEFAULT_INTERVAL = 3600.0

# --------------------------------------------------------------------------- field checks
# Each raises ValueError with a finished sentence; pydantic carries it to the issue list.


def _number_as_text(value: Any) -> Any:
    """Let `DNT: 1` or a keyword `2024` be text: YAML made them numbers, we want strings."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _one_or_many(value: Any) -> Any:
    """A single string where a list is expected becomes a one-item list."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return (value,)
    return value


def _not_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _whole_number(value: Any) -> Any:
    """Pydantic's lax mode reads true as 1; a YAML `yes` is never a count."""
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {describe(value)}")
    return value


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be longer than zero, got {value!r}")
    return seconds


def _non_negative_duration(value: Any) -> float:
    return parse_duration(value)


def _positive_size(value: Any) -> int:
    size = parse_size(value)
    if size <= 0:
        raise ValueError(f"must be more than 0 bytes, got {value!r}")
    return size


def _check_css(selector: str) -> str:
    """Same translator as watcher.analysis.extract (HTML flavour, a superset of the generic one)."""
    if not selector.strip():
        raise ValueError("empty CSS selector")
    try:
        HTMLTranslator().css_to_xpath(selector)
    except Exception as exc:  # cssselect raises several kinds; none may escape as a traceback
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from None
    return selector


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def _check_jmespath(expression: str) -> str:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        reason = str(exc).splitlines()[0].removeprefix("Invalid jmespath expression: ")
        raise ValueError(f"invalid JMESPath expression {expression!r}: {reason}") from None
    return expression


def _check_regex(pattern: str) -> str:
    if not pattern:
        raise ValueError("empty regular expression")
    _compile(pattern)
    return pattern


def _check_url(url: str) -> str:
    url = url.strip()
    if any(ch.isspace() for ch in url):
        raise ValueError(f"must not contain spaces (write them as %20), got {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme.lower() not in ("http", "https"):
        hint = f"; did you mean 'https://{url}'?" if not parts.scheme and "." in url else ""
        raise ValueError(f"must start with http:// or https://, got {url!r}{hint}")
    if not parts.hostname:
        raise ValueError(f"has no host name: {url!r}")
    return url


_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def _check_name(name: str) -> str:
    if _NAME_RE.fullmatch(name):
        return name
    slug = re.sub(r"[^a-z0-9-]+", "-", name.strip().lower()).strip("-")[:64]
    hint = f"; did you mean {slug!r}?" if slug and _NAME_RE.fullmatch(slug) else ""
    raise ValueError(
        f"invalid target name {name!r}: use 1 to 64 lowercase letters a-z, digits and '-', "
        f"starting with a letter or digit{hint}"
    )


_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _check_header_name(name: str) -> str:
    if not _TOKEN_RE.fullmatch(name):
        raise ValueError(f"invalid header or cookie name {name!r}")
    return name


def _check_header_value(value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("a header or cookie value cannot contain line breaks")
    return value


# --------------------------------------------------------------------------- field types

Text = Annotated[str, BeforeValidator(_number_as_text)]
NonEmptyText = Annotated[Text, AfterValidator(_not_empty)]
Css = Annotated[Text, AfterValidator(_check_css)]
JmesPath = Annotated[Text, AfterValidator(_check_jmespath)]
Regex = Annotated[Text, AfterValidator(_check_regex)]
Url = Annotated[Text, AfterValidator(_check_url)]
Name = Annotated[Text, AfterValidator(_check_name)]
Cron = Annotated[Text, AfterValidator(check_cron)]
HeaderName = Annotated[Text, AfterValidator(_check_header_name)]
HeaderValue = Annotated[Text, AfterValidator(_check_header_value)]
Selectors = Annotated[tuple[Css, ...], BeforeValidator(_one_or_many)]
Regexes = Annotated[tuple[Regex, ...], BeforeValidator(_one_or_many)]
Labels = Annotated[tuple[NonEmptyText, ...], BeforeValidator(_one_or_many)]
Duration = Annotated[float, BeforeValidator(_positive_duration)]
Delay = Annotated[float, BeforeValidator(_non_negative_duration)]
Size = Annotated[int, BeforeValidator(_positive_size)]
Count = Annotated[int, Field(ge=0), BeforeValidator(_whole_number)]
PositiveCount = Annotated[int, Field(ge=1), BeforeValidator(_whole_number)]
Alert = Literal["hits", "changes"]
FetchMode = Literal["http", "browser", "auto"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(_Model):
    """Global service settings (the optional top-level `settings:` section)."""

    concurrency: PositiveCount = 16  # fetches in flight at once, all hosts together
    per_host: PositiveCount = 2  # fetches in flight to one host
    host_delay: Delay = 1.0  # minimum seconds between request starts to one host
    base_url: Url | None = None  # the web UI's public URL, for links in alerts
    diff_timeout: Duration = 2.0  # seconds the differ may spend on one pair of texts
    error_after: PositiveCount = 3  # consecutive failed checks before one `error` alert
    outbox_max_age: Duration = 2 * 86400.0  # undelivered this long: the message has failed
    digest: dict[NonEmptyText, Duration] = Field(default_factory=dict)  # tag -> window
    excerpt: PositiveCount = 1500  # characters of changed text shown in a message
    browser: BrowserSettings = Field(default_factory=lambda: BrowserSettings())


class BrowserSettings(_Model):
    """The one Chromium process that `fetch: browser` targets share."""

    executable: NonEmptyText | None = None  # default: $WATCHER_CHROMIUM, else /usr/bin/chromium
    max_pages: PositiveCount = 2  # pages open at once
    restart_after_pages: PositiveCount = 200  # a fresh browser after this many pages ...
    restart_above_mb: PositiveCount = 1500  # ... or when it uses more memory than this


class Follow(_Model):
    """A listing page: each item it lists is a document, fetched when first seen.

    Items are links matched by ``links`` (CSS) in the page, or in the HTML that a
    JSON answer holds at ``html`` (MIIT's column units: ``data.html``); or, for a
    JSON search API (gov.cn's policy library), objects at ``items`` whose ``url``,
    ``title`` and ``date`` fields are JMESPath expressions.
    """

    links: Css | None = None
    html: JmesPath | None = None
    items: JmesPath | None = None
    url: JmesPath = "url"
    title: JmesPath = "title"
    date: JmesPath | None = None
    pages: PositiveCount = 1  # listing pages followed (the first included)
    next: Css | None = None  # the "next page" link of an HTML listing
    page_param: NonEmptyText | None = None  # or a query parameter numbering the pages
    select: Selectors = ()
    exclude: Selectors = ()
    max_new: PositiveCount = 50  # documents fetched per check; the rest wait (deferred)
    baseline: bool = True  # the first check records the items without alerting
    recheck: Delay = 86400.0  # documents are checked again this often ...
    recheck_for: Duration = 30 * 86400.0  # ... for this long after they appeared
    attachments: bool = True  # PDF, DOC(X), XLS(X), WPS, OFD and ZIP links of a document
    removal_checks: PositiveCount = 3  # failed checks in a row before a removal is confirmed
    removal_after: Delay = 86400.0  # ... spanning at least this long

    @model_validator(mode="after")
    def _one_source(self) -> Follow:
        if (self.links is None) == (self.items is None):
            raise ValueError(
                "set either links (CSS of the item links) or items (JMESPath of JSON items)"
            )
        if self.html is not None and self.links is None:
            raise ValueError("html (where JSON holds the list's HTML) needs links (CSS)")
        if self.pages > 1 and self.next is None and self.page_param is None:
            raise ValueError("pages > 1 needs next (CSS of the next-page link) or page_param")
        return self


class Defaults(_Model):
    """The `defaults:` section as written: None means "not set here"."""

    interval: Duration | None = None
    cron: Cron | None = None
    jitter: Delay | None = None
    timeout: Duration | None = None
    connect_timeout: Duration | None = None
    read_timeout: Duration | None = None
    retries: Count | None = None
    max_size: Size | None = None
    user_agent: NonEmptyText | None = None
    headers: dict[HeaderName, HeaderValue] | None = None
    cookies: dict[HeaderName, HeaderValue] | None = None
    notify: Labels | None = None
    alert: Alert | None = None
    alert_new: bool | None = None
    fetch: FetchMode | None = None
    wait_for: NonEmptyText | None = None
    block: Labels | None = None
    cookies_from_browser: bool | None = None
    attach_screenshot: bool | None = None
    keywords: Labels | None = None
    tags: Labels | None = None
    select: Selectors | None = None
    exclude: Selectors | None = None
    ignore: Regexes | None = None


class _TargetSpec(Defaults):
    """One entry of `targets:` as written, before defaults are merged in."""

    name: Name
    title: NonEmptyText | None = None
    url: Url
    follow: Follow | None = None


class Target(_Model):
    """A fully resolved target: defaults merged in, every option concrete.

    Exactly one of `interval` (seconds) and `cron` (5-field crontab, weekdays
    as names) is set. Built directly (e.g. in tests), unset options get the
    built-in defaults: interval 1h, title = name, alert by the keyword rule.
    """

    name: Name
    url: Url
    title: NonEmptyText
    interval: Duration | None = None
    cron: Cron | None = None
    jitter: Delay = 0.0
    timeout: Duration = 30.0
    connect_timeout: Duration = 10.0
    read_timeout: Duration = 20.0
    retries: Count = 3
    max_size: Size = 20_000_000
    user_agent: NonEmptyText = DEFAULT_USER_AGENT
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    cookies: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    notify: Labels = ()
    alert: Alert
    alert_new: bool = False  # also alert on a target's first capture
    fetch: FetchMode = "http"  # browser: render with Chromium; auto: http, browser if needed
    wait_for: NonEmptyText | None = None  # browser: a CSS selector to wait for, or networkidle
    block: Labels = ("image", "font", "media")  # browser: resource types not loaded
    cookies_from_browser: bool = False  # http requests reuse cookies a browser visit got
    attach_screenshot: bool = False  # attach the capture's screenshot to alerts
    keywords: Labels = ()
    tags: Labels = ()
    select: Selectors = ()
    exclude: Selectors = ()
    ignore: Regexes = ()
    follow: Follow | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_derived(cls, data: Any) -> Any:
        """Defaults that depend on other fields: schedule, title and alert mode."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("interval") is not None and data.get("cron") is not None:
            raise ValueError("set either interval or cron, not both")
        if data.get("interval") is None and data.get("cron") is None:
            data["interval"] = DEFAULT_INTERVAL
        if data.get("title") is None:
            data["title"] = data.get("name")
        if data.get("alert") is None:
            data["alert"] = "hits" if data.get("keywords") else "changes"
        return data


class Config(_Model):
    """The whole validated config."""

    settings: Settings = Field(default_factory=Settings)
    defaults: Defaults = Field(default_factory=Defaults)
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    targets: list[Target]

    def target(self, name: str) -> Target:
        """The target called `name`; KeyError if there is none."""
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)


TOP_KEYS = ("settings", "defaults", "keywords", "targets")
OPTION_KEYS = tuple(Defaults.model_fields)
TARGET_ONLY_KEYS = tuple(k for k in _TargetSpec.model_fields if k not in Defaults.model_fields)

# --------------------------------------------------------------------------- YAML -> Python

Loc = tuple[str | int, ...]
_TAG = "tag:yaml.org,2002:"
_MAX_NODES = 200_000
_MAX_DEPTH = 20  # the config itself needs 5 levels


class _TooLarge(Exception):
    """The document is too big or too deep to be a config (alias bombs, runaway nesting)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


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
            message = f"the document expands to more than {_MAX_NODES} values (too many aliases?)"
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
        raise ConfigError([ConfigIssue(filename, exc.line, exc.message)]) from None
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
            term = _number_as_text(term)
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
        if term.startswith("re:"):
            pattern = term[3:]
            try:
                compiled = _compile(pattern) if pattern else None
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

    def _targets(self, data: dict[str, Any]) -> list[_TargetSpec | None]:
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

    def _target(self, item: Any, loc: Loc, names: dict[str, Loc]) -> _TargetSpec | None:
        if not isinstance(item, dict):
            got = describe(item, self.doc.raw.get(loc))
            self.report(loc, f"expected a mapping with at least name: and url:, got {got}")
            return None
        name = _number_as_text(item.get("name"))
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
        return self._validate(_TargetSpec, item, loc)

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
            group = _number_as_text(group)
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
        specs: list[_TargetSpec | None],
    ) -> Config | None:
        try:
            targets = [_resolve(spec, defaults, list(keywords)) for spec in specs if spec]
            return Config(settings=settings, defaults=defaults, keywords=keywords, targets=targets)
        except ValidationError as exc:  # should not happen: everything was checked above
            self.issues.append((1, f"internal validation error: {exc}"))
            return None


def _resolve(spec: _TargetSpec, defaults: Defaults, groups: list[str]) -> Target:
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
    if _FAST_LOADER is not yaml.SafeLoader:
        try:
            return _parse(text, filename, _FAST_LOADER)
        except ConfigError:
            pass  # report with the Python loader's messages, which the tests pin down
    return _parse(text, filename, yaml.SafeLoader)


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
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([ConfigIssue(filename, 0, f"cannot read: {reason}")]) from None
    return parse_config_text(_decode(data, filename), filename)


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
