"""What every command shares: the global options, the config, store, channels and
pipeline they open, exit codes, and how a command fails.

Imports of rich, pydantic and the pipeline sit inside the methods: ``watcher
--help`` and worker processes need none of them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from watcher.cli.startup import settle

if TYPE_CHECKING:
    from rich.console import Console

    from watcher.config import Config
    from watcher.config.snapshot import QuickConfig
    from watcher.store.blobs import BlobLocation

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CHECK_SEND_BUDGET = 30.0  # seconds `check` spends sending the alerts it made


class Context:
    """Global options, read once at start-up."""

    def __init__(
        self,
        config: Path,
        data: Path,
        notifiers: Path | None,
        blobs: str | None = None,
        index: str | None = None,
    ) -> None:
        self.config_path = config
        self.data = data
        self.notifiers = notifiers or config.parent / "notifiers"
        self.blobs = blobs or None  # WATCHER_BLOBS: wins over settings.blobs
        self.index = index or None  # WATCHER_STORE: wins over settings.store
        self._index_url: tuple[str | None] | None = None
        self.verbose = 0
        self.log_format = "text"
        self._blob_location: tuple[BlobLocation | None] | None = None
        # the config as validated once for this command: the store's and the blobs'
        # settings are read from it instead of parsing 10,000 targets again
        self._loaded: Config | None = None

    def channels(self) -> Any:
        from watcher.alerts.send import ChannelsError, load_channels

        try:
            return load_channels(self.notifiers)
        except ChannelsError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_USAGE)

    def composer(self, config: Config) -> Any:
        from watcher.alerts.compose import Composer

        return Composer(config.settings.base_url, self.notifiers / "templates")

    def runtime(self, config: Config, store: Any, channels: Any = None) -> Any:
        """The one wiring of the pipeline (``watcher.service.runtime``) for this command."""
        from watcher.service.runtime import Runtime

        paths = self.paths()
        runtime = Runtime(config, paths, store, channels=channels or None)
        settle()
        return runtime

    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        return Console(soft_wrap=True)

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, soft_wrap=True)

    def config(self, keep_snapshot: bool = False) -> Config:
        """The validated config; with ``keep_snapshot``, what an unchanged check needs of
        it is also kept in the data folder (``watcher.config.snapshot``) for the next."""
        from watcher.config import ConfigError, load_config

        if self._loaded is not None and not keep_snapshot:
            return self._loaded
        raw = _read(self.config_path) if keep_snapshot and self.data.is_dir() else None
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_USAGE)
        if raw is not None and raw == _read(self.config_path):  # not edited meanwhile
            from watcher.config.snapshot import save
            from watcher.keywords import KeywordMatcher

            spellings = KeywordMatcher(config.keywords).spellings()  # learned once, kept
            save(self.data, self.config_path, raw, config, spellings)
        self._loaded = config
        return config

    def use_config(self, config: Config) -> None:
        """A config validated from this command's file elsewhere (``check``'s thread
        that readies the usual check), for the store's and blobs' settings."""
        self._loaded = config

    def quick_config(self) -> QuickConfig | None:
        """The config as the last check validated it, when the file has not changed
        since: no pydantic, no YAML. None: validate it (``config``)."""
        from watcher.config.snapshot import load

        return load(self.data, self.config_path)[1]

    def fail(self, message: str, code: int = EXIT_USAGE) -> NoReturn:
        self.err.print(f"[bold red]error:[/] {message}", highlight=False)
        sys.exit(code)

    def paths(self) -> Any:
        """Where this command's files and store are, for the runtime and the web UI."""
        from watcher.service.runtime import Paths

        return Paths(
            self.config_path, self.data, self.notifiers, self.blob_location(), self.index_url()
        )

    def index_url(self) -> str | None:
        """The team store's URL: WATCHER_STORE, else ``settings.store``, else None: the
        SQLite index in the data folder. A bad value is a usage error naming where it
        was set."""
        if self._index_url is None:
            self._index_url = (self._find_index(),)
        return self._index_url[0]

    def _find_index(self) -> str | None:
        from watcher.config.storage import check_store_url

        if self.index:
            try:
                return check_store_url(self.index)
            except ValueError as exc:
                self.fail(f"WATCHER_STORE {exc}")
        return self._settings_as_written()[2]

    def blob_location(self) -> BlobLocation | None:
        """Where the blobs are: WATCHER_BLOBS, else ``settings.blobs`` (with
        ``settings.blobs_endpoint``), else None: ``blobs/`` in the data folder. A bad
        value is a usage error naming where it was set."""
        if self._blob_location is None:
            self._blob_location = (self._find_blobs(),)
        return self._blob_location[0]

    def _find_blobs(self) -> BlobLocation | None:
        from watcher.config.storage import parse_blobs_url
        from watcher.store.blobs import BlobLocation

        url, endpoint, _ = self._settings_as_written()
        if self.blobs:
            try:
                parse_blobs_url(self.blobs)
            except ValueError as exc:
                self.fail(f"WATCHER_BLOBS {exc}")
        url = self.blobs or url
        return BlobLocation(url=url.strip(), endpoint=endpoint) if url else None

    def _settings_as_written(self) -> tuple[str | None, str | None, str | None]:
        """``settings.blobs``, ``blobs_endpoint`` and ``store``. A config broken
        elsewhere does not stop a reader (``show``, ``verify``): these keys are read as
        written, and a command that checks loads the config itself and refuses it."""
        from watcher.config import ConfigError, load_config

        if self._loaded is not None:
            settings = self._loaded.settings
            return settings.blobs, settings.blobs_endpoint, settings.store
        if not self.config_path.is_file():
            return None, None, None
        try:
            self._loaded = load_config(self.config_path)
            settings = self._loaded.settings
        except ConfigError:
            written = self.config_path
            return (*_blob_settings_as_written(written), _store_as_written(written))
        return settings.blobs, settings.blobs_endpoint, settings.store

    @contextmanager
    def store(self, *, readonly: bool = False, shared: bool = False) -> Iterator[Any]:
        from watcher.store.index import Store, StoreError

        try:
            store = Store(
                self.data,
                readonly=readonly,
                shared=shared,
                blobs=self.blob_location(),
                index=self.index_url(),
            )
        except StoreError as exc:
            self.fail(str(exc))
        try:
            yield store
        finally:
            store.close()


pass_ctx = click.make_pass_decorator(Context)


def _blob_settings_as_written(path: Path) -> tuple[str | None, str | None]:
    """The blob keys of a config that does not validate, when they are sound."""
    import yaml

    from watcher.config.storage import parse_blobs_url

    try:
        settings = yaml.safe_load(path.read_text("utf-8")).get("settings") or {}
        url, endpoint = settings.get("blobs"), settings.get("blobs_endpoint")
        parse_blobs_url(url)
    except Exception:  # unreadable YAML, no settings, no URL: the data folder's blobs
        return None, None
    return url, endpoint if isinstance(endpoint, str) else None


def _store_as_written(path: Path) -> str | None:
    """``settings.store`` of a config that does not validate, when it is sound."""
    import yaml

    from watcher.config.storage import check_store_url

    try:
        settings = yaml.safe_load(path.read_text("utf-8")).get("settings") or {}
        return check_store_url(settings["store"])
    except Exception:  # unreadable YAML, no settings, no URL: the data folder's index
        return None


def select(ctx: Context, config: Config | QuickConfig, names: tuple[str, ...]) -> list[Any]:
    """The targets NAMES (all when none given), as ``config`` holds them (``Target`` or
    ``QuickTarget``); a name not in the config is a usage error that suggests the
    closest one."""
    by_name = {t.name: t for t in config.targets}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        import difflib

        hints = [
            f"{n!r}"
            + (
                f" (did you mean {m[0]!r}?)"
                if (m := difflib.get_close_matches(n, by_name, 1))
                else ""
            )
            for n in unknown
        ]
        ctx.fail(f"no target named {', '.join(hints)} in {ctx.config_path}")
    return [by_name[n] for n in dict.fromkeys(names)] if names else list(config.targets)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
