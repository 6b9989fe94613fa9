"""Commands that write the store out or bring its search index up to date:
``export`` to WARC, ``reindex``."""

from __future__ import annotations

from pathlib import Path

import click

from watcher.cli.context import EXIT_FAILED, Context, pass_ctx
from watcher.cli.output import bar, human_size


@click.command("export")
@click.argument("names", nargs=-1)
@click.option("--all", "export_all", is_flag=True, help="Every target in the store.")
@click.option(
    "--warc",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The WARC file to write; a name ending in .gz is gzipped per record.",
)
@pass_ctx
def export_command(ctx: Context, names: tuple[str, ...], export_all: bool, path: Path) -> None:
    """Write the captures of targets NAMES (or --all), oldest first, to a WARC 1.1
    file: evidence that standard web-archive tools (warcio, pywb, ReplayWeb.page) read.

    \b
    Examples:
      watcher export miit-notices --warc miit.warc.gz
      watcher export --all --warc evidence.warc.gz
    Exit 0 when written, 1 when a stored body is missing or damaged, 2 on bad names.
    """
    from watcher.export.warc import ExportError, captures_of
    from watcher.export.warc import export as export_warc

    if bool(names) == export_all:
        ctx.fail("give target NAMES or --all, not both")
    agents = None
    if ctx.config_path.exists():  # the configured User-Agent, for the reconstructed requests
        agents = {t.name: t.user_agent for t in ctx.config().targets}
    with ctx.store(readonly=True) as store:
        wanted = store.target_names() if export_all else list(names)
        try:
            total = len(captures_of(store, wanted))
        except ExportError as exc:
            ctx.fail(str(exc))
        try:
            with bar(ctx, total, "exporting") as advance:
                stats = export_warc(
                    store, wanted, path, on_capture=lambda _: advance(1), user_agents=agents
                )
        except ExportError as exc:
            ctx.fail(str(exc), EXIT_FAILED)
    for name in stats.empty_targets:
        ctx.err.print(f"[yellow]warning:[/] no captures of {name!r} yet", highlight=False)
    ctx.out.print(
        f"wrote {stats.captures} captures ({stats.records} records, "
        f"{human_size(stats.bytes_written)}) to {path}",
        highlight=False,
    )


@click.command()
@pass_ctx
def reindex(ctx: Context) -> None:
    """Add stored texts that are not in the search index yet to it.

    `watcher run` indexes new texts by itself whenever no check is running;
    captures made by `watcher check` alone become searchable after this.

    \b
    Example:
      watcher reindex
    """
    with ctx.store() as store:
        missing = store.unindexed_texts()
        if not missing:
            ctx.out.print("the search index is complete", highlight=False)
            return
        done = 0
        with bar(ctx, len(missing), "indexing") as advance:
            for start in range(0, len(missing), 100):
                batch = missing[start : start + 100]
                done += store.index_texts(batch)
                advance(len(batch))
    ctx.out.print(f"indexed {done} of {len(missing)} texts", highlight=False)
