"""The web app: pages, JSON API, Atom feeds, health and metrics, over the store.

It reads through its own read-only connections, so it can never damage what
the checks write; ``watcher run`` serves it in the service's event loop and
gives it a way to start a check now, ``watcher serve`` serves it alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from watcher.config import Config, Settings, zone_of
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.store.blobs import BlobLocation
from watcher.store.inbox import InboxWriter
from watcher.store.index import StoreError
from watcher.store.websec import WebAuthStore
from watcher.web import (
    admin,
    api,
    docs,
    documents,
    exports,
    feeds,
    inbox,
    keyword_groups,
    oidc,
    pages,
    rules_api,
    targets,
    targets_import,
)
from watcher.web.context import SharedConfig, WebContext
from watcher.web.drafts import Drafts
from watcher.web.security import Guard

HERE = Path(__file__).parent


def create_app(
    data: Path,
    config_path: Path | None = None,
    *,
    password: str | None = None,
    check_now: Callable[[str], Awaitable[bool]] | None = None,
    health: Callable[[], list[str]] | None = None,
    shared_config: SharedConfig | None = None,
    clock: Clock = SYSTEM_CLOCK,
    password_hasher: PasswordHasher | None = None,
    blobs: BlobLocation | None = None,
    index: str | None = None,
) -> FastAPI:
    """The ASGI app. ``password`` (from ``WATCHER_PASSWORD``) turns on login; it is
    hashed here (argon2, ``password_hasher``'s parameters) and not kept. ``clock``
    times sessions and the login rate limit. ``blobs``: where the store's blobs are
    (default: ``blobs/`` in ``data``); ``index``: the team store's URL (default:
    ``index.sqlite`` in ``data``); ``shared_config``: the service's config, used while the
    file is as it was read (``WebContext.config``)."""
    app = FastAPI(
        title="watcher",
        summary="Captures, diffs and keyword hits of watched government pages",
        docs_url=None,  # served below from the package's own files: the CSP allows no CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    context = WebContext(
        data,
        config_path,
        check_now,
        health=health,
        blobs=blobs,
        index=index,
        shared_config=shared_config,
    )
    guard = Guard(
        WebAuthStore(data, index),
        password,
        clock=clock,
        allowed_hosts=lambda: configured_hosts(context.config()),
        hasher=password_hasher,
        settings=lambda: _settings(context.config()),
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["now"] = lambda: datetime.now(UTC)
    templates.env.filters["when"] = lambda value: _when(value, zone_of(_settings(context.config())))
    templates.env.filters["ago"] = _ago
    documents.register(templates)
    app.state.context = context
    app.state.guard = guard
    app.state.oidc = oidc.OidcClient(clock)
    app.state.templates = templates
    app.state.clock = clock
    app.state.inbox_writer = InboxWriter(data, index)
    app.state.drafts = Drafts(clock)  # the target editor's fetched pages
    app.middleware("http")(guard.middleware)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(docs.router)
    app.mount("/api/docs/files", StaticFiles(directory=docs.SWAGGER_FILES), name="swagger")

    @app.get("/favicon.ico", include_in_schema=False)
    def _favicon() -> FileResponse:  # asked for by browsers whatever the page links
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    app.include_router(inbox.router)
    app.include_router(targets_import.router)  # before any /targets/{name} route
    app.include_router(keyword_groups.router)
    app.include_router(targets.router)
    app.include_router(pages.router)
    app.include_router(exports.router)
    app.include_router(admin.router)
    app.include_router(oidc.router)
    app.include_router(api.router)
    app.include_router(documents.router)
    app.include_router(documents.api)
    app.include_router(rules_api.router)
    app.include_router(feeds.router)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Any:
        """A refused action (403) in the pages is a page saying why; the API and other
        answers stay JSON."""
        if exc.status_code == 403 and not request.url.path.startswith("/api/"):
            return pages.error_page(request, 403, str(exc.detail))
        return await http_exception_handler(request, exc)

    @app.exception_handler(StoreError)
    async def _store_error(request: Any, exc: StoreError) -> Any:
        return pages.error_page(request, 404 if "no capture" in str(exc) else 503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _bad_query(request: Any, exc: RequestValidationError) -> Any:
        if request.url.path.startswith("/api/"):  # the API keeps FastAPI's JSON
            return await request_validation_exception_handler(request, exc)
        return pages.error_page(request, 400, bad_values(exc))

    return app


def _settings(config: Config | None) -> Settings | None:
    return config.settings if config is not None else None


def bad_values(exc: RequestValidationError) -> str:
    """FastAPI's complaint about a page's query, as one sentence a person can act on."""
    said = []
    for error in exc.errors():
        where = error.get("loc", ())
        name = str(where[-1]) if where else "a value"
        given = error.get("input")
        wants = "a whole number" if "int" in str(error.get("type", "")) else error.get("msg", "")
        said.append(f"{name}={given!s} is not {wants}" if given is not None else f"{name}: {wants}")
    return "this address has a value the page cannot use: " + "; ".join(said)


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


def _when(value: datetime | None, zone: tzinfo) -> str:
    """A time as the page shows it: in the configured zone, which the page names
    (``zone_label``)."""
    if value is None:
        return "—"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"
