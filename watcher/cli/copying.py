"""`watcher copy-store`: the embedded store copied into another store (the team store),
then proven row by row and blob by blob."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from watcher.cli.context import EXIT_FAILED, Context, pass_ctx


@click.command("copy-store")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="STORE",
    help="The store to copy into: a data folder, or postgresql://USER@HOST/DB.",
)
@click.option(
    "--blobs",
    "blobs",
    metavar="WHERE",
    help="Where the copy's blobs go: s3://BUCKET/PREFIX or a folder "
    "(default: blobs/ in the --to folder).",
)
@click.option("--blobs-endpoint", metavar="URL", help="The S3 endpoint, for a store not AWS's.")
@click.option(
    "--verify-only", is_flag=True, help="Copy nothing: compare the two stores, row and blob."
)
@pass_ctx
def copy_store(
    ctx: Context, to: str, blobs: str | None, blobs_endpoint: str | None, verify_only: bool
) -> None:
    """Copy this store (its index and every blob) into another, empty store, and
    verify every row and blob of the copy. This store is opened read-only and is
    never changed; a failed copy can be run again into a fresh target.

    \b
    Examples:
      watcher copy-store --to /srv/team-snapshots
      watcher copy-store --to postgresql://watcher@db/watcher --blobs s3://evidence/captures
      watcher copy-store --to postgresql://watcher@db/watcher --blobs s3://evidence --verify-only
    Exit 0 when the copy is true, 1 when anything differs.
    """
    from watcher.store.copy import copy_store as copy
    from watcher.store.copy import verify_copy
    from watcher.store.index import StoreError

    location = _target_blobs(ctx, to, blobs, blobs_endpoint)
    try:
        with ctx.store(readonly=True) as source, _open_target(to, location, verify_only) as target:
            where = f"{to}" + (f" (blobs in {location.url or location.root})" if location else "")
            with _progress(ctx) as note:
                if verify_only:
                    problems = verify_copy(source, target, progress=note)
                    rows: dict[str, int] = {}
                else:
                    report = copy(source, target, blobs=True, progress=note)
                    problems, rows = report.problems, report.rows
    except StoreError as exc:
        ctx.fail(str(exc), EXIT_FAILED)
    if rows:
        _table(ctx, rows, report.blobs, report.blobs_present, report.texts_indexed)
    for problem in problems:
        click.echo(problem)
    if problems:
        ctx.fail(f"{len(problems)} differences between {ctx.data} and {where}", EXIT_FAILED)
    what = "verified" if verify_only else "copied and verified"
    click.echo(f"{ctx.data} → {where}: {what}, every row and blob the same")


def _target_blobs(ctx: Context, to: str, blobs: str | None, endpoint: str | None) -> Any:
    from watcher.config.storage import parse_blobs_url
    from watcher.store.blobs import BlobLocation, local_location

    if blobs and blobs.lower().startswith("s3://"):
        try:
            parse_blobs_url(blobs)
        except ValueError as exc:
            ctx.fail(f"--blobs {exc}")
        return BlobLocation(url=blobs, endpoint=endpoint)
    if blobs:
        return local_location(Path(blobs))
    if "://" in to:
        ctx.fail(
            "--blobs is needed with a database URL: say where the team store's blobs go "
            "(s3://BUCKET/PREFIX, or a folder all its machines see)"
        )
    return local_location(Path(to) / "blobs")


@contextmanager
def _open_target(to: str, location: Any, readonly: bool) -> Iterator[Any]:
    from watcher.store.index import Store, StoreError

    if "://" not in to:
        with Store(Path(to), blobs=location, readonly=readonly) as store:
            yield store
        return
    if not to.lower().startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise StoreError(f"--to {to!r}: write a folder or postgresql://USER@HOST/DB")
    # a team store has no data folder of its own: its blobs are given, its index is
    # the database; the scratch folder is only where a Store may write
    with (
        tempfile.TemporaryDirectory(prefix="watcher-copy-") as scratch,
        Store(Path(scratch), blobs=location, readonly=readonly, index=to) as store,
    ):
        yield store


@contextmanager
def _progress(ctx: Context) -> Iterator[Any]:
    """One bar per stage at a terminal; a line per finished stage otherwise."""
    if not sys.stderr.isatty():
        said: set[str] = set()

        def line(what: str, done: int, total: int) -> None:
            if done >= total and what not in said:
                said.add(what)
                ctx.err.print(f"{what}: {total}", highlight=False)

        yield line
        return
    from rich.progress import Progress

    with Progress(console=ctx.err, transient=True) as bars:
        tasks: dict[str, Any] = {}

        def advance(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bars.add_task(what, total=total)
            bars.update(tasks[what], completed=done, total=total)

        yield advance


def _table(ctx: Context, rows: dict[str, int], blobs: int, present: int, texts: int) -> None:
    from rich.table import Table

    table = Table("copied", "count", box=None, pad_edge=False)
    for name, count in rows.items():
        if count:
            table.add_row(name, f"{count:,}")
    table.add_row("blobs", f"{blobs:,}" + (f" ({present:,} were there)" if present else ""))
    table.add_row("texts indexed", f"{texts:,}")
    ctx.out.print(table)
