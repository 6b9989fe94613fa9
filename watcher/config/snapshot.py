"""What an unchanged ``watcher check`` needs of a validated config, kept beside the
index so that the next check of the same file need not validate it again.

Validating ``targets.yaml`` means importing pydantic and building its models:
about half of the CPU of a one-off check of an unchanged page. The snapshot holds
only the settings and target fields that ``watcher.check.quick`` reads, as the
validator resolved them (defaults merged in). It is used only while the file's
bytes, its path and watcher's version are the ones it was written for; anything
else, and any damage to the snapshot itself, means the usual validated load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watcher.config.model import Config, Target

SNAPSHOT_NAME = "config-snapshot.json"  # in the data folder, beside the index
FORMAT = 2  # bumped when the fields below change


@dataclass(frozen=True, slots=True)
class QuickTarget:
    """The fields of a resolved ``Target`` that an unchanged check reads."""

    name: str
    url: str
    home: str | None
    title: str
    paused: bool
    fetch: str
    cookies_from_browser: bool
    follows: bool  # a listing: never a quick check
    timeout: float
    connect_timeout: float
    read_timeout: float
    retries: int
    max_size: int
    user_agent: str
    headers: dict[str, str]
    cookies: dict[str, str]


@dataclass(frozen=True, slots=True)
class QuickSettings:
    concurrency: int
    per_host: int
    host_delay: float
    allow_private: bool | tuple[str, ...]
    store: str | None
    deadline_reminders: bool


@dataclass(frozen=True, slots=True)
class QuickConfig:
    settings: QuickSettings
    targets: tuple[QuickTarget, ...]
    # the keyword terms' traditional spellings (``KeywordMatcher.spellings``): learning
    # them loads OpenCC's dictionaries, about 0.2 s and 40 MB, for each check with pages
    # to analyse in workers
    spellings: Mapping[str, frozenset[str]] = field(default_factory=dict)


def quick_target(target: Target) -> QuickTarget:
    return QuickTarget(
        name=target.name,
        url=target.url,
        home=target.home,
        title=target.title,
        paused=target.paused,
        fetch=target.fetch,
        cookies_from_browser=target.cookies_from_browser,
        follows=target.follow is not None,
        timeout=target.timeout,
        connect_timeout=target.connect_timeout,
        read_timeout=target.read_timeout,
        retries=target.retries,
        max_size=target.max_size,
        user_agent=target.user_agent,
        headers=dict(target.headers),
        cookies=dict(target.cookies),
    )


def quick_config(config: Config) -> QuickConfig:
    s = config.settings
    allow = s.allow_private if isinstance(s.allow_private, bool) else tuple(s.allow_private)
    return QuickConfig(
        QuickSettings(
            concurrency=s.concurrency,
            per_host=s.per_host,
            host_delay=s.host_delay,
            allow_private=allow,
            store=str(s.store) if s.store else None,
            deadline_reminders=s.deadline_reminders is not None,
        ),
        tuple(quick_target(t) for t in config.targets),
    )


def _key(config_path: Path, raw: bytes) -> str:
    from watcher import __version__

    digest = hashlib.sha256(raw)
    digest.update(f"\0{config_path.resolve()}\0{__version__}\0{FORMAT}".encode())
    return digest.hexdigest()


def save(
    data: Path,
    config_path: Path,
    raw: bytes,
    config: Config,
    spellings: Mapping[str, frozenset[str]] | None = None,
) -> None:
    """Keep ``config`` (validated from ``raw``, the bytes of ``config_path``), and its
    terms' ``spellings``, for the next check; a folder that cannot be written only
    costs that check the speed-up."""
    quick = quick_config(config)
    body = {
        "key": _key(config_path, raw),
        "settings": asdict(quick.settings),
        "targets": [asdict(t) for t in quick.targets],
        "spellings": {term: sorted(forms) for term, forms in (spellings or {}).items()},
    }
    path = data / SNAPSHOT_NAME
    part = path.with_name(f".{SNAPSHOT_NAME}.{os.getpid()}")
    with contextlib.suppress(OSError):
        part.write_text(json.dumps(body, ensure_ascii=False), "utf-8")
        os.replace(part, path)
    with contextlib.suppress(OSError):
        part.unlink(missing_ok=True)


def load(data: Path, config_path: Path) -> tuple[bytes, QuickConfig | None]:
    """The config file's bytes and, when the snapshot was written for exactly these
    bytes, what it holds; (b"", None) when the file cannot be read."""
    try:
        raw = config_path.read_bytes()
    except OSError:
        return b"", None
    try:
        body = json.loads((data / SNAPSHOT_NAME).read_text("utf-8"))
        if body.get("key") != _key(config_path, raw):
            return raw, None
        return raw, _parse(body)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return raw, None  # no snapshot, or a damaged one: the usual load decides


def _parse(body: dict[str, Any]) -> QuickConfig:
    s = dict(body["settings"])
    allow = s["allow_private"]
    s["allow_private"] = allow if isinstance(allow, bool) else tuple(allow)
    spellings = {str(term): frozenset(map(str, forms)) for term, forms in body["spellings"].items()}
    return QuickConfig(
        QuickSettings(**s), tuple(QuickTarget(**t) for t in body["targets"]), spellings
    )
