"""Commands about alerts: ``notify-test`` the channels, look at (and retry) the
``outbox``."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from watcher.cli.context import CHECK_SEND_BUDGET, EXIT_FAILED, EXIT_OK, Context, pass_ctx

if TYPE_CHECKING:
    from watcher.config import Config


@click.command("notify-test")
@click.option("--tag", help="Only the channels with this tag.")
@pass_ctx
def notify_test(ctx: Context, tag: str | None) -> None:
    """Send a test message through the configured channels; report each one.

    \b
    Examples:
      watcher notify-test
      watcher notify-test --tag analysts
    Exit 0 when every channel took the message, 1 when any failed, 2 when none match.
    """
    from watcher.alerts.send import send_test

    channels = ctx.channels()
    if not channels:
        ctx.fail(f"no channels: {ctx.notifiers}/apprise.yml is missing or lists no URLs")
    config = ctx.config() if ctx.config_path.exists() else None
    composer = ctx.composer(config) if config else _default_composer(ctx)
    outcomes = send_test(channels, composer, tag)
    if not outcomes:
        ctx.fail(f"no channel has the tag {tag!r} (tags: {', '.join(sorted(channels.tags()))})")
    for name, error in outcomes:
        if error is None:
            ctx.out.print(f"[green]delivered[/]  {name}", highlight=False)
        else:
            ctx.out.print(f"[bold red]failed[/]     {name}: {error}", highlight=False)
    sys.exit(EXIT_FAILED if any(error for _, error in outcomes) else EXIT_OK)


def _default_composer(ctx: Context) -> Any:
    from watcher.alerts.compose import Composer

    return Composer(None, ctx.notifiers / "templates")


@click.command()
@click.option("--retry", is_flag=True, help="Send the failed messages again.")
@click.option("--all", "show_all", is_flag=True, help="Sent messages too (the last 50).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message per line.")
@pass_ctx
def outbox(ctx: Context, retry: bool, show_all: bool, as_json: bool) -> None:
    """Alerts waiting to be sent, failed or unconfirmed, with each channel's state.

    failed: refused for good, or given up after outbox_max_age; unconfirmed: the
    server took the message but never confirmed it, so it may have arrived and is
    not sent again by itself.

    \b
    Examples:
      watcher outbox
      watcher outbox --retry
    With --retry, failed and unconfirmed messages are due again: a running
    service sends them within 30 s, otherwise this command sends them now.
    """
    from watcher.store.outbox import STUCK

    if retry:
        _retry(ctx)
    with ctx.store(readonly=True) as store:
        box = store.outbox
        statuses = None if show_all else ("pending", *STUCK)
        rows = box.messages(statuses, limit=50 if show_all else None)
        deliveries = box.deliveries_of([m.id for m in rows])
        counts = box.counts()
    if as_json:
        for m in rows:
            click.echo(json.dumps(_message_json(m, deliveries[m.id]), ensure_ascii=False))
        return
    _print_outbox(ctx, rows, deliveries, counts)


async def _deliver(ctx: Context, config: Config, store: Any, budget: float) -> None:
    """One bounded pass over the outbox, now (what a retry made due again)."""
    async with ctx.runtime(config, store, ctx.channels()) as runtime:
        await runtime.deliver(budget)


def _retry(ctx: Context) -> None:
    from datetime import UTC, datetime

    config = ctx.config()
    with ctx.store(shared=True) as store:
        count = store.outbox.retry_failed(datetime.now(UTC))
        ctx.err.print(f"{count} failed messages are due again", highlight=False)
        if count and store.exclusive:
            asyncio.run(_deliver(ctx, config, store, CHECK_SEND_BUDGET))


def _message_json(m: Any, deliveries: list[Any]) -> dict[str, Any]:
    return {
        "id": m.id,
        "created_at": m.created_at.isoformat().replace("+00:00", "Z"),
        "kind": m.kind,
        "target": m.target,
        "capture_id": m.capture_id,
        "tags": m.tags,
        "title": m.title,
        "status": m.status,
        "error": m.error,
        "channels": [
            {
                "channel": d.channel_name,
                "status": d.status,
                "attempts": d.attempts,
                "error": d.error,
            }
            for d in deliveries
        ],
    }


def _print_outbox(
    ctx: Context, rows: list[Any], deliveries: dict[str, list[Any]], counts: dict[str, int]
) -> None:
    from rich.table import Table
    from rich.text import Text

    if not rows:
        ctx.out.print("the outbox is empty: nothing pending, nothing failed", highlight=False)
    else:
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for column in ("created", "status", "kind", "target", "title", "channels"):
            table.add_column(column, no_wrap=column != "channels", overflow="ellipsis")
        style = {
            "pending": "yellow",
            "failed": "bold red",
            "unconfirmed": "bold magenta",
            "sent": "green",
        }
        reasons: list[str] = []
        for m in rows:
            channels = "\n".join(
                f"{d.status} ×{d.attempts} {d.channel_name}" for d in deliveries[m.id]
            ) or (m.error or "")
            reasons += [
                f"{m.created_at:%Y-%m-%d %H:%M} {m.title} → {d.channel_name}: {d.status}: {d.error}"
                for d in deliveries[m.id]
                if d.error
            ]
            table.add_row(
                m.created_at.strftime("%Y-%m-%d %H:%M"),
                Text(m.status, style=style.get(m.status, "")),
                m.kind,
                m.target or "",
                m.title,
                channels,
            )
        ctx.out.print(table)
        if reasons:
            ctx.out.print("\nwhy:", highlight=False)
            for reason in reasons:
                ctx.out.print(f"  {reason}", highlight=False, markup=False)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    ctx.out.print(f"\noutbox: {summary or 'no messages yet'}", highlight=False)
