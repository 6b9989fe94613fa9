"""The shape of ``targets.yaml`` as pydantic models: which keys exist, what each
value may be, and the built-in default of every option.

Field checks raise ValueError with a finished sentence; the loader turns it into
a ``FILE:LINE: message`` issue. ``Defaults`` and ``TargetSpec`` hold the file as
written (None: not set there), ``Target`` the resolved result later stages use.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import zoneinfo
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from watcher.config.errors import describe
from watcher.config.storage import check_blobs_url, check_queue_url, check_store_url
from watcher.config.units import check_cron, parse_duration, parse_size
from watcher.core.budget import DEFAULT_MAX_ELEMENTS, DEFAULT_REGEX_TIMEOUT, compile_user_pattern

if TYPE_CHECKING:
    import regex

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_TIMEZONE",
    "DEFAULT_USER_AGENT",
    "OPTION_KEYS",
    "TARGET_ONLY_KEYS",
    "TOP_KEYS",
    "BrowserSettings",
    "Config",
    "Defaults",
    "Follow",
    "Settings",
    "Target",
    "TargetSpec",
    "compile_regex",
    "number_as_text",
    "zone_label",
    "zone_of",
]

DEFAULT_USER_AGENT = "watcher/0.1 (+change monitoring)"
DEFAULT_TIMEZONE = "Asia/Shanghai"  # the watched sites' own: their dates are Beijing time
DEFAULT_INTERVAL = 3600.0

# --------------------------------------------------------------------------- field checks
# Each raises ValueError with a finished sentence; pydantic carries it to the issue list.


def number_as_text(value: Any) -> Any:
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
    from cssselect import HTMLTranslator  # here: a config without selectors needs none

    try:
        HTMLTranslator().css_to_xpath(selector)
    except Exception as exc:  # cssselect raises several kinds; none may escape as a traceback
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from None
    return selector


def _auto_alone(selectors: tuple[str, ...]) -> tuple[str, ...]:
    """``auto`` (the page's article, found by watcher) is a choice of its own, not a CSS part."""
    if "auto" in selectors and len(selectors) > 1:
        raise ValueError("select: auto finds the article by itself; use it alone, not in a list")
    return selectors


def compile_regex(pattern: str) -> regex.Pattern[str]:
    """As the analysis compiles it, so what validates is what runs."""
    return compile_user_pattern(pattern)


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
    compile_regex(pattern)
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


_HOST_RE = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")


def _allow_private(value: Any) -> Any:
    """``true``/``false``, or the addresses and networks (``10.0.0.5``, ``192.168.0.0/16``,
    ``fd00::/8``) that fetches may reach besides a target's own."""
    if isinstance(value, bool):
        return value
    items = _one_or_many(value)
    if not isinstance(items, list | tuple):
        raise ValueError("must be true, false or a list of IP addresses and networks")
    networks = []
    for item in items:
        try:
            networks.append(str(ipaddress.ip_network(str(item).strip().strip("[]"), strict=False)))
        except ValueError:
            raise ValueError(
                f"is not an IP address or network (e.g. 10.0.0.5, 192.168.0.0/16): {item!r}"
            ) from None
    return tuple(networks)


def _networks(value: Any) -> Any:
    """Addresses and networks (``10.0.0.5``, ``192.168.0.0/16``), one or a list."""
    items = _one_or_many(value)
    if not isinstance(items, list | tuple):
        raise ValueError("must be a list of IP addresses and networks")
    return _allow_private(tuple(items)) if items else ()


def _check_host_name(name: str) -> str:
    """A host name the web UI answers to: ``watcher.example.org``, ``10.0.0.5``, ``fd00::5``."""
    value = name.strip().lower().rstrip(".")
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOST_RE.fullmatch(value):
        bare = urlsplit(value if "//" in value else f"//{value}").hostname
        hint = f"; did you mean {bare!r}?" if bare and _HOST_RE.fullmatch(bare) else ""
        raise ValueError(f"is not a host name (no scheme, port or path): {name!r}{hint}")
    return value


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

Text = Annotated[str, BeforeValidator(number_as_text)]
NonEmptyText = Annotated[Text, AfterValidator(_not_empty)]
Css = Annotated[Text, AfterValidator(_check_css)]
JmesPath = Annotated[Text, AfterValidator(_check_jmespath)]
Regex = Annotated[Text, AfterValidator(_check_regex)]
Url = Annotated[Text, AfterValidator(_check_url)]
Name = Annotated[Text, AfterValidator(_check_name)]
Cron = Annotated[Text, AfterValidator(check_cron)]
HeaderName = Annotated[Text, AfterValidator(_check_header_name)]
HeaderValue = Annotated[Text, AfterValidator(_check_header_value)]
HostName = Annotated[Text, AfterValidator(_check_host_name)]


def _check_zone(name: str) -> str:
    """An IANA zone name (``Asia/Shanghai``, ``UTC``, ``Europe/Berlin``), from the
    ``tzdata`` package where the system has no zone files."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zones = {z.lower(): z for z in zoneinfo.available_timezones()}
        close = difflib.get_close_matches(name.strip().lower(), zones, 1, 0.8)
        hint = f" (did you mean {zones[close[0]]!r}?)" if close else ""
        raise ValueError(
            f"unknown time zone {name!r}{hint}: expected an IANA name such as "
            "'Asia/Shanghai' (Beijing time) or 'UTC'"
        ) from None
    return name


TimeZone = Annotated[Text, AfterValidator(_check_zone)]


def zone_of(settings: Settings | None) -> zoneinfo.ZoneInfo:
    """The zone the UI and exports show times in (the default without a config)."""
    return zoneinfo.ZoneInfo(settings.timezone if settings is not None else DEFAULT_TIMEZONE)


def zone_label(zone: zoneinfo.ZoneInfo) -> str:
    """How pages name the zone beside a time: ``Beijing time``, else its IANA name."""
    return "Beijing time" if zone.key == DEFAULT_TIMEZONE else zone.key


BlobsUrl = Annotated[Text, AfterValidator(check_blobs_url)]
StoreUrl = Annotated[Text, AfterValidator(check_store_url)]
QueueUrl = Annotated[Text, AfterValidator(check_queue_url)]
AllowPrivate = Annotated[bool | tuple[str, ...], BeforeValidator(_allow_private)]
Selectors = Annotated[tuple[Css, ...], BeforeValidator(_one_or_many), AfterValidator(_auto_alone)]
Regexes = Annotated[tuple[Regex, ...], BeforeValidator(_one_or_many)]
Labels = Annotated[tuple[NonEmptyText, ...], BeforeValidator(_one_or_many)]
Duration = Annotated[float, BeforeValidator(_positive_duration)]
Delay = Annotated[float, BeforeValidator(_non_negative_duration)]
Size = Annotated[int, BeforeValidator(_positive_size)]
Count = Annotated[int, Field(ge=0), BeforeValidator(_whole_number)]
PositiveCount = Annotated[int, Field(ge=1), BeforeValidator(_whole_number)]
Alert = Literal["hits", "changes"]
FetchMode = Literal["http", "browser", "auto"]
Role = Literal["viewer", "analyst", "admin"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(_Model):
    """Global service settings (the optional top-level `settings:` section)."""

    concurrency: PositiveCount = 16  # fetches in flight at once, all hosts together
    per_host: PositiveCount = 2  # fetches in flight to one host
    host_delay: Delay = 1.0  # minimum seconds between request starts to one host
    base_url: Url | None = None  # the web UI's public URL, for links in alerts
    timezone: TimeZone = DEFAULT_TIMEZONE  # times in the UI and exports (UTC stays in ISO fields)
    # host names the web UI answers to besides 127.0.0.1, localhost, ::1 and base_url's
    allowed_hosts: Annotated[tuple[HostName, ...], BeforeValidator(_one_or_many)] = ()
    # non-public addresses fetches may reach besides a target's own: true, or a list
    allow_private: AllowPrivate = False
    diff_timeout: Duration = 2.0  # seconds the differ may spend on one pair of texts
    regex_timeout: Duration = DEFAULT_REGEX_TIMEOUT  # one user pattern on one page's text
    error_after: PositiveCount = 3  # consecutive failed checks before one `error` alert
    outbox_max_age: Duration = 2 * 86400.0  # undelivered this long: the message has failed
    send_timeout: Duration = 5.0  # longest network wait of one alert's send (connect, a reply)
    digest: dict[NonEmptyText, Duration] = Field(default_factory=dict)  # tag -> window
    excerpt: PositiveCount = 1500  # characters of changed text shown in a message
    browser: BrowserSettings = Field(default_factory=lambda: BrowserSettings())
    # sign-in through a login proxy: the user name in this header is believed only from
    # these addresses; an unknown name is refused, or created with the default role
    trusted_proxies: Annotated[tuple[str, ...], BeforeValidator(_networks)] = ()
    trusted_user_header: NonEmptyText = "Remote-User"
    trusted_default_role: Role | None = None
    oidc: OidcSettings | None = None
    deadline_reminders: DeadlineReminders | None = None
    # blobs in an S3-compatible bucket (s3://bucket/prefix) instead of the data folder;
    # WATCHER_BLOBS wins over it. The endpoint of a store other than AWS's (MinIO …)
    blobs: BlobsUrl | None = None
    blobs_endpoint: Url | None = None
    # the index in PostgreSQL (postgresql://…), the team store, instead of index.sqlite in
    # the data folder; WATCHER_STORE wins over it
    store: StoreUrl | None = None
    # the job queue of `watcher worker` and `watcher dispatch` (postgresql://…);
    # WATCHER_QUEUE and --queue win over it; unset: the team store's database (store)
    queue: QueueUrl | None = None


class DeadlineReminders(_Model):
    """A reminder, to these tags' channels, of each deadline a notice asks by."""

    notify: Labels  # the tags whose channels are reminded
    before: Duration = 3 * 86400.0  # this long before the day (Beijing dates)


class OidcSettings(_Model):
    """Sign-in with an OpenID Connect provider (Authorization Code flow with PKCE)."""

    issuer: Url  # its discovery document is at <issuer>/.well-known/openid-configuration
    client_id: NonEmptyText
    client_secret: NonEmptyText  # ${VAR}: read from the environment when used
    scope: NonEmptyText = "openid profile email"
    name_claim: NonEmptyText = "preferred_username"  # the user's name in watcher
    role_claim: NonEmptyText | None = None  # a claim holding a role name or a list of them
    roles: dict[NonEmptyText, Role] = Field(default_factory=dict)  # claim value -> role
    default_role: Role | None = None  # no role from the claim: this one, or refused


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
    max_elements: PositiveCount | None = None
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


class TargetSpec(Defaults):
    """One entry of `targets:` as written, before defaults are merged in."""

    name: Name
    title: NonEmptyText | None = None
    url: Url
    follow: Follow | None = None
    paused: bool | None = None


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
    max_elements: PositiveCount = DEFAULT_MAX_ELEMENTS  # tags a page may have (memory)
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
    paused: bool = False  # kept in the config, checked by neither the schedule nor `check`
    # a listing's document: the listing's URL, whose own address it may reach too
    home: Url | None = None

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
TARGET_ONLY_KEYS = tuple(k for k in TargetSpec.model_fields if k not in Defaults.model_fields)
