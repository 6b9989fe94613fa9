"""Commands that keep running: ``run``, the whole service, and ``serve``, the web UI
alone over the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import Any

import click

from watcher.cli.context import EXIT_FAILED, Context, pass_ctx
from watcher.cli.logs import setup_logging
from watcher.cli.startup import settle

log = logging.getLogger("watcher")


def _web_address(command: Any) -> Any:
    """--host and --port of the web UI (also from WATCHER_HOST / WATCHER_PORT)."""
    command = click.option(
        "--port",
        type=click.IntRange(1, 65535),
        default=8080,
        show_default=True,
        envvar="WATCHER_PORT",
        help="Web UI port.",
    )(command)
    return click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        envvar="WATCHER_HOST",
        help="Web UI address.",
    )(command)


@click.command()
@_web_address
@pass_ctx
def run(ctx: Context, host: str, port: int) -> None:
    """The service: checks every target on its schedule, sends alerts, serves the web UI.

    The UI (pages, feeds, JSON API under /api/) is on --host:--port; set
    WATCHER_PASSWORD to require a login.

    Reloads the config on SIGHUP and when targets.yaml or notifiers/apprise.yml
    change (an invalid change is reported and the running config kept); stops
    cleanly on SIGTERM / SIGINT. Logs one line per check at INFO.

    \b
    Examples:
      watcher run
      watcher --log-format json run
    """
    setup_logging(logging.INFO, ctx.verbose, ctx.log_format)
    ctx.config()  # a bad config: FILE:LINE messages and exit 2 before anything starts
    ctx.channels()
    from watcher.service.daemon import Service
    from watcher.service.webserver import ListenError
    from watcher.store.index import StoreError

    password = _take_password()
    _warn_if_open(host, password)
    try:
        service = Service(
            ctx.config_path,
            ctx.data,
            ctx.notifiers,
            web=(host, port),
            password=password,
            blobs=ctx.blob_location(),
            index=ctx.index_url(),
        )
    except StoreError as exc:
        ctx.fail(str(exc))
    settle()
    try:
        asyncio.run(service.run())
    except ListenError as exc:  # raised before anything started: --host / --port to change
        ctx.fail(str(exc))
    except OSError as exc:
        ctx.fail(str(exc), EXIT_FAILED)
    _exit_now()


def _exit_now() -> None:
    """After a clean stop (store, sockets, workers closed): leave without tearing down
    the heap, which at 10,000 targets' schedules adds seconds to a SIGTERM."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


@click.command()
@_web_address
@pass_ctx
def serve(ctx: Context, host: str, port: int) -> None:
    """The web UI, feeds and JSON API alone, over the store (no checks, no alerts).

    Set WATCHER_PASSWORD to require a login. The UI answers to 127.0.0.1,
    localhost, ::1 and the host names in settings.base_url and
    settings.allowed_hosts; other Host headers get 400 (DNS rebinding).

    \b
    Examples:
      watcher serve
      WATCHER_PASSWORD=secret watcher serve --host 0.0.0.0
    """
    from watcher.service.webserver import ListenError, listen, web_server

    setup_logging(logging.INFO, ctx.verbose, ctx.log_format)
    password = _take_password()
    _warn_if_open(host, password)
    if ctx.index_url() is None and not (ctx.data / "index.sqlite").exists():
        ctx.fail(f"no store at {ctx.data}: run `watcher check` or `watcher run` first")
    from watcher.store.space import unwritable

    if ctx.index_url() is None and (problem := unwritable(ctx.data)):  # sessions are written
        ctx.fail(problem)
    try:
        sockets = listen(host, port)  # bound here: uvicorn would log the error and exit 3
    except ListenError as exc:
        ctx.fail(str(exc))
    server = web_server(
        ctx.paths(),
        host,
        port,
        password=password,
    )
    log.info("web UI on http://%s:%d/", host, port)
    settle()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn stopped, raised again
        server.run(sockets)


def _take_password() -> str | None:
    """``WATCHER_PASSWORD``, taken out of the environment: the processes this one
    starts (analysis workers, Chromium) have no use for it."""
    return os.environ.pop("WATCHER_PASSWORD", None) or None


def _warn_if_open(host: str, password: str | None) -> None:
    if host not in ("127.0.0.1", "localhost", "::1") and not password:
        log.warning(
            "the web UI listens on %s without a password: anyone who can reach it can read "
            "every capture; set WATCHER_PASSWORD",
            host,
        )
