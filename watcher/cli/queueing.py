"""The team mode's commands: ``worker`` takes checks from the job queue, ``dispatch``
queues the due ones. Both need the queue's PostgreSQL (``--queue``, WATCHER_QUEUE or
``settings.queue``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import click

from watcher.cli.context import EXIT_FAILED, Context, pass_ctx
from watcher.cli.logs import setup_logging
from watcher.cli.startup import settle


def _queue_option(command: Any) -> Any:
    return click.option(
        "--queue",
        "queue_url",
        envvar="WATCHER_QUEUE",
        metavar="URL",
        help="The job queue's PostgreSQL (postgresql://…); default: settings.queue, else "
        "the team store's (settings.store).",
    )(command)


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from watcher.config.units import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _queue_url(ctx: Context, given: str | None) -> str:
    """--queue / WATCHER_QUEUE, else ``settings.queue``, else the team store's database
    (``settings.store`` / WATCHER_STORE); a usage error without any."""
    from watcher.config.storage import check_queue_url

    if given:
        try:
            return check_queue_url(given)
        except ValueError as exc:
            ctx.fail(f"--queue (or WATCHER_QUEUE) {exc}")
    url = ctx.config().settings.queue or ctx.index_url()
    if url is None:
        ctx.fail(
            "no job queue: set settings.queue (or settings.store) in the config, "
            "WATCHER_QUEUE or --queue to a postgresql:// URL"
        )
    return url


@click.command()
@_queue_option
@click.option(
    "--concurrency", type=click.IntRange(1), help="Checks at once (default: settings.concurrency)."
)
@click.option(
    "--stalled-after",
    default="30s",
    show_default=True,
    callback=_duration,
    help="A worker silent this long is dead; its checks go to the others.",
)
@click.option(
    "--grace",
    default="10s",
    show_default=True,
    callback=_duration,
    help="At SIGTERM, how long running checks may take to finish.",
)
@pass_ctx
def worker(
    ctx: Context,
    queue_url: str | None,
    concurrency: int | None,
    stalled_after: float,
    grace: float,
) -> None:
    """Take checks from the job queue until SIGTERM (several per machine, several machines).

    Politeness (per_host, host_delay) holds across all workers together; one worker at
    a time sends the alerts of the outbox. `watcher dispatch` queues the due checks.

    \b
    Examples:
      watcher worker --queue postgresql://watcher@db/watcher
      WATCHER_QUEUE=postgresql://watcher@db/watcher watcher worker --concurrency 8
    """
    setup_logging(logging.INFO, ctx.verbose, ctx.log_format)
    ctx.config()
    ctx.channels()
    url = _queue_url(ctx, queue_url)
    from watcher.service.worker import Worker, WorkerTimings
    from watcher.store.index import StoreError
    from watcher.store.queue import QueueError

    timings = WorkerTimings(stalled_after=stalled_after, stop_grace=grace)
    try:
        process = Worker(
            ctx.config_path,
            ctx.data,
            ctx.notifiers,
            url,
            concurrency=concurrency,
            timings=timings,
            blobs=ctx.blob_location(),
            index=ctx.index_url(),
        )
    except StoreError as exc:
        ctx.fail(str(exc))
    settle()
    try:
        asyncio.run(process.run())
    except QueueError as exc:
        ctx.fail(str(exc), EXIT_FAILED)


@click.command()
@_queue_option
@click.option(
    "--every",
    default="10s",
    show_default=True,
    callback=_duration,
    help="Between looks for due targets.",
)
@click.option("--once", is_flag=True, help="One pass, then exit.")
@pass_ctx
def dispatch(ctx: Context, queue_url: str | None, every: float, once: bool) -> None:
    """Queue the due checks for `watcher worker`: every target due with no job open.

    Run one (a second does no harm: a target has one queued job at most).

    \b
    Examples:
      watcher dispatch --queue postgresql://watcher@db/watcher
      watcher dispatch --once
    """
    setup_logging(logging.INFO, ctx.verbose, ctx.log_format)
    ctx.config()
    url = _queue_url(ctx, queue_url)
    from watcher.service.dispatch import Dispatcher
    from watcher.store.index import StoreError
    from watcher.store.queue import QueueError

    try:
        process = Dispatcher(
            ctx.config_path,
            ctx.data,
            url,
            every=every,
            blobs=ctx.blob_location(),
            index=ctx.index_url(),
        )
    except StoreError as exc:
        ctx.fail(str(exc))
    try:
        queued = asyncio.run(process.run(once=once))
    except QueueError as exc:
        ctx.fail(str(exc), EXIT_FAILED)
    if once:
        click.echo(f"{queued} checks queued")
