"""What every route needs, found through the request: the store, the config and the
service's hooks. The app builds it; the routers only read it (no import of the app)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watcher.config import Config, ConfigError, file_stamp, load_config
from watcher.store.blobs import BlobLocation
from watcher.store.index import Store

# the service's config and the state of its file when it was read
SharedConfig = Callable[[], tuple[tuple[int, int] | None, Config]]


@dataclass
class WebContext:
    """What the routes need: the store, the config and the service's hooks."""

    data: Path
    config_path: Path | None
    check_now: Callable[[str], Awaitable[bool]] | None = None
    base_url: str | None = None
    health: Callable[[], list[str]] | None = None  # the service's problems (``run`` only)
    blobs: BlobLocation | None = None  # None: blobs/ in the data folder
    index: str | None = None  # the team store's URL; None: index.sqlite in the data folder
    _store: Store | None = field(default=None, repr=False)
    # the service's config and its file's state when read (``Service.shared_config``)
    shared_config: SharedConfig | None = None
    _config: tuple[tuple[int, int] | None, Config] | None = field(default=None, repr=False)
    # the dashboard's rows, counted or not (pages.KeptRows), and who may bring them up to date
    rows_kept: dict[bool, Any] = field(default_factory=dict, repr=False)
    rows_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def store(self) -> Store:
        """Opened on first use: the service may create the store after the app."""
        if self._store is None:
            self._store = Store(self.data, readonly=True, blobs=self.blobs, index=self.index)
        return self._store

    def config(self) -> Config | None:
        """The current config (read again when the file changes: the service's own
        while the file is as the service read it); the last good one if the file is
        not valid now, and None if there never was one."""
        if self.config_path is None:
            return None
        stamp = file_stamp(self.config_path)
        if self._config is not None and stamp is not None and self._config[0] == stamp:
            return self._config[1]
        shared = self.shared_config() if self.shared_config else None
        if shared is not None and stamp is not None and shared[0] == stamp:
            self._config = shared
            return shared[1]
        try:
            self._config = (stamp, load_config(self.config_path))
        except ConfigError:
            return self._config[1] if self._config else None
        return self._config[1]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def context_of(request: Any) -> WebContext:
    """The app's WebContext, for a route."""
    return request.app.state.context
