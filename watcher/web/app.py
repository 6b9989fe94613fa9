"""The web app: pages, JSON API, Atom feeds, health and metrics, over the store.

It reads through its own read-only connections, so it can never damage what
the checks write; ``watcher run`` serves it in the service's event loop and
gives it a way to start a check now, ``watcher serve`` serves it alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from watcher.config import Config
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.store.inbox import InboxWriter
from watcher.store.index import StoreError
from watcher.store.websec import WebAuthStore
from watcher.web import api, feeds, inbox, pages
from watcher.web.context import WebContext
from watcher.web.security import Guard

HERE = Path(__file__).parent


def create_app(
    data: Path,
    config_path: Path | None = None,
    *,
    password: str | None = None,
    check_now: Callable[[str], Awaitable[bool]] | None = None,
    health: Callable[[], list[str]] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    password_hasher: PasswordHasher | None = None,
) -> FastAPI:
    """The ASGI app. ``password`` (from ``WATCHER_PASSWORD``) turns on login; it is
    hashed here (argon2, ``password_hasher``'s parameters) and not kept. ``clock``
    times sessions and the login rate limit."""
    app = FastAPI(
        title="watcher",
        summary="Captures, diffs and keyword hits of watched government pages",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    context = WebContext(data, config_path, check_now, health=health)
    guard = Guard(
        WebAuthStore(data),
        password,
        clock=clock,
        allowed_hosts=lambda: configured_hosts(context.config()),
        hasher=password_hasher,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["now"] = lambda: datetime.now(UTC)
    templates.env.filters["when"] = _when
    templates.env.filters["ago"] = _ago
    app.state.context = context
    app.state.guard = guard
    app.state.templates = templates
    app.state.clock = clock
    app.state.inbox_writer = InboxWriter(data)
    app.middleware("http")(guard.middleware)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(inbox.router)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(feeds.router)

    @app.exception_handler(StoreError)
    async def _store_error(request: Any, exc: StoreError) -> Any:
        return pages.error_page(request, 404 if "no capture" in str(exc) else 503, str(exc))

    return app


def configured_hosts(config: Config | None) -> list[str]:
    """Host names the config adds to the loopback ones: ``settings.base_url``'s host
    and ``settings.allowed_hosts``."""
    if config is None:
        return []
    names = list(config.settings.allowed_hosts)
    if config.settings.base_url:
        host = urlsplit(config.settings.base_url).hostname
        if host:
            names.append(host)
    return names


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"
