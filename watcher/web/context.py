"""What every route needs, found through the request: the store, the config and the
service's hooks. The app builds it; the routers only read it (no import of the app)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watcher.config import Config, ConfigError, load_config
from watcher.store.blobs import BlobLocation
from watcher.store.index import Store


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
    _config: tuple[float, Config] | None = field(default=None, repr=False)
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
        """The current config (re-read when the file changes); None if unreadable."""
        if self.config_path is None:
            return None
        try:
            mtime = self.config_path.stat().st_mtime
            if self._config is None or self._config[0] != mtime:
                self._config = (mtime, load_config(self.config_path))
        except (OSError, ConfigError):
            return self._config[1] if self._config else None
        return self._config[1]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def context_of(request: Any) -> WebContext:
    """The app's WebContext, for a route."""
    return request.app.state.context
