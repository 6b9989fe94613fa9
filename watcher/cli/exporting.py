"""Commands that write the store out or bring what is derived from it up to date:
``export`` to WARC, ``export-table`` to CSV or XLSX, ``reindex``, ``link-documents``."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from watcher.cli.context import EXIT_FAILED, Context, pass_ctx
from watcher.cli.output import bar, human_size

log = logging.getLogger(__name__)


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


@click.command("link-documents")
@pass_ctx
def link_documents(ctx: Context) -> None:
    """Link notices captured before documents were linked to their documents across
    sites (文号 and issuer, or the text's sketch), oldest first, so who published
    first is told right. Checks link new captures themselves; this is for a store
    made by an older watcher, and does nothing twice.

    \b
    Example:
      watcher link-documents
    """
    from watcher.analysis.identity import facts_of
    from watcher.store.blobs import BlobError

    listings = {t.name for t in ctx.config().targets if t.follow is not None}
    with ctx.store() as store:
        waiting = store.unlinked_captures(skip=listings)
        if not waiting:
            ctx.out.print("every stored notice is linked to its document", highlight=False)
            return
        linked = created = unreadable = 0
        with bar(ctx, len(waiting), "linking") as advance:
            for capture in waiting:
                advance(1)
                try:
                    text = store.text(capture)
                except BlobError as exc:
                    unreadable += 1
                    log.warning(
                        "capture %s of %s: text unreadable: %s", capture.id, capture.target, exc
                    )
                    continue
                facts = facts_of(text, capture.metadata, capture.title)
                if facts is None:
                    continue
                found = store.link_capture(capture, facts)
                linked += 1
                created += found.created
    tail = f"; {unreadable} texts unreadable (see the log)" if unreadable else ""
    ctx.out.print(
        f"linked {linked} of {len(waiting)} captures to {created} new documents{tail}",
        highlight=False,
    )


@click.command("export-table")
@click.argument("kind", type=click.Choice(["hits", "documents", "inbox", "history"]))
@click.option("--target", "name", help="Only this target's rows (history: the target).")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["csv", "xlsx"]),
    help="Default: the output file's extension, else xlsx.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The file to write; `-` for stdout. Default: watcher-KIND-DATE.FORMAT here.",
)
@pass_ctx
def export_table(
    ctx: Context, kind: str, name: str | None, format_: str | None, output: Path | None
) -> None:
    """Write keyword hits, listings' documents, the inbox or a target's history as a
    spreadsheet: each row with its notice's title, 发文字号, 发文机关, 发布日期, URL,
    capture time (UTC and settings.timezone), SHA-256 and permalink.

    \b
    Examples:
      watcher export-table hits -o hits.xlsx
      watcher export-table history --target miit-notices --format csv
      watcher export-table documents --target gov-zuixin
    Exit 0 when written, 2 for an unknown target or a history without --target.
    """
    from watcher.config import zone_of
    from watcher.export import records
    from watcher.export.tables import write
    from watcher.store.inbox import Filter

    if format_ is None:
        suffix = output.suffix.lower().lstrip(".") if output and str(output) != "-" else ""
        format_ = suffix if suffix in ("csv", "xlsx") else "xlsx"
    settings = ctx.config().settings if ctx.config_path.exists() else None
    citing = records.Citing(settings.base_url if settings else None, zone_of(settings))
    with ctx.store(readonly=True) as store:
        if name is not None and name not in store.target_names():
            ctx.fail(f"no target named {name!r} in {store.root}")
        if kind == "history":
            if name is None:
                ctx.fail("export-table history needs --target NAME")
            table = records.history_table(store, citing, name)
        elif kind == "hits":
            table = records.hits_table(store, citing, target=name)
        elif kind == "documents":
            table = records.documents_table(store, citing, name)
        else:
            wanted = Filter(view="all", targets=(name,) if name else None)
            table = records.inbox_table(store, citing, "", wanted)
    data = write(table, format_)  # type: ignore[arg-type]
    if output is not None and str(output) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if output is None:
        today = datetime.now(UTC).astimezone(citing.zone).date()
        output = Path(records.file_name(kind, format_, today, name))
    _write_file(output, data)
    ctx.err.print(f"wrote {len(table.rows)} rows to {output}", highlight=False)


def _write_file(path: Path, data: bytes) -> None:
    """Whole or not at all: a temporary file beside it, renamed."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
