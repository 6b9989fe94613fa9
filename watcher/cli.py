"""The ``watcher`` command. Handlers (logging, output) are configured here only.

Imports of rich, pydantic and the pipeline sit inside the commands: worker
processes import this module too (it is the program's main module), and they
need none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from rich.console import Console

    from watcher.config import Config, Target
    from watcher.models import CheckResult

log = logging.getLogger("watcher")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DIFF_BUDGET = 20.0  # seconds for an on-demand diff (a check's diff has settings.diff_timeout)
STATUS_STYLE = {"new": "cyan", "changed": "bold yellow", "unchanged": "dim", "error": "bold red"}


class Context:
    """Global options, read once at start-up."""

    def __init__(self, config: Path, data: Path, notifiers: Path | None) -> None:
        self.config_path = config
        self.data = data
        self.notifiers = notifiers or config.parent / "notifiers"

    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        return Console(soft_wrap=True)

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, soft_wrap=True)

    def config(self) -> Config:
        from watcher.config import ConfigError, load_config

        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_USAGE)

    def fail(self, message: str, code: int = EXIT_USAGE) -> NoReturn:
        self.err.print(f"[bold red]error:[/] {message}", highlight=False)
        sys.exit(code)

    @contextmanager
    def store(self, *, readonly: bool = False) -> Iterator[Any]:
        from watcher.store import Store, StoreError

        try:
            store = Store(self.data, readonly=readonly)
        except StoreError as exc:
            self.fail(str(exc))
        try:
            yield store
        finally:
            store.close()


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default="targets.yaml",
    envvar="WATCHER_CONFIG",
    show_default=True,
    help="The targets file.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default="snapshots",
    envvar="WATCHER_DATA",
    show_default=True,
    help="Folder of the store (index and blobs).",
)
@click.option(
    "--notifiers",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="WATCHER_NOTIFIERS",
    help="Notification channels folder [default: notifiers/ next to the config].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="watcher")
@click.pass_context
def main(
    ctx: click.Context, config: Path, data: Path, notifiers: Path | None, verbose: int
) -> None:
    """Watch government web pages: capture, diff and flag keywords.

    \b
    Examples:
      watcher validate
      watcher check --json
      watcher diff miit-notices --format html > diff.html
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config, data, notifiers)


@main.command()
@pass_ctx
def validate(ctx: Context) -> None:
    """Check the config; print FILE:LINE: message for each problem.

    \b
    Examples:
      watcher validate
      watcher --config other-targets.yaml validate
    Exit 0 when valid, 2 otherwise.
    """
    config = ctx.config()
    groups = len(config.keywords)
    ctx.out.print(
        f"{ctx.config_path}: ok, {len(config.targets)} targets, {groups} keyword groups",
        highlight=False,
    )


def _select(ctx: Context, config: Config, names: tuple[str, ...]) -> list[Target]:
    by_name = {t.name: t for t in config.targets}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        import difflib

        hints = [
            f"{n!r}"
            + (
                f" (did you mean {m[0]!r}?)"
                if (m := difflib.get_close_matches(n, by_name, 1))
                else ""
            )
            for n in unknown
        ]
        ctx.fail(f"no target named {', '.join(hints)} in {ctx.config_path}")
    return [by_name[n] for n in dict.fromkeys(names)] if names else list(config.targets)


@main.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per target per line.")
@pass_ctx
def check(ctx: Context, names: tuple[str, ...], as_json: bool) -> None:
    """Check targets now, once (all, or the NAMES given), and store what changed.

    \b
    Examples:
      watcher check
      watcher check miit-notices sastind-news --json
    Exit 0 when every target was checked, 1 when any failed, 2 on a bad config.
    """
    config = ctx.config()
    targets = _select(ctx, config, names)
    with ctx.store() as store:
        results = asyncio.run(_check(ctx, config, store, targets, as_json))
    if not as_json:
        _print_results(ctx, results)
    sys.exit(EXIT_FAILED if any(r.status == "error" for r in results) else EXIT_OK)


async def _check(
    ctx: Context, config: Config, store: Any, targets: list[Target], as_json: bool
) -> list[CheckResult]:
    from watcher.check import run_once
    from watcher.fetch import Fetcher, FetchSettings

    settings = FetchSettings(
        concurrency=config.settings.concurrency,
        per_host=config.settings.per_host,
        host_delay=config.settings.host_delay,
    )
    # JSON output streams to a program; rich is loaded only for a person at a terminal
    progress = _progress(ctx, len(targets)) if not as_json and sys.stderr.isatty() else None

    def on_result(result: CheckResult) -> None:
        if as_json:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            result.hits = []  # printed; streaming output should not hold every snippet
        if progress is not None:
            progress.advance(progress.task_ids[0])

    with progress if progress is not None else contextlib.nullcontext():
        async with Fetcher(settings) as fetcher:
            return await run_once(config, store, fetcher, targets, on_result)


def _progress(ctx: Context, total: int) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=ctx.err,
        transient=True,
    )
    progress.add_task("checking", total=total)
    return progress


def _hits_summary(result: CheckResult) -> str:
    counts: dict[str, int] = {}
    for hit in result.hits:
        key = hit.term if hit.where == "added" else f"−{hit.term}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in counts.items())


def _print_results(ctx: Context, results: list[CheckResult]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    widest = max((len(r.target) for r in results), default=6)
    widths = {"target": widest, "status": 9, "HTTP": 4, "size": 8, "+/−": 9, "hits": 4, "time": 6}
    for column, width in widths.items():
        justify = "right" if column in {"HTTP", "size", "time"} else "left"
        table.add_column(column, justify=justify, no_wrap=True, min_width=width)
    table.add_column("detail", no_wrap=True, overflow="ellipsis")
    for r in results:
        change = f"+{r.added}/−{r.removed}" if r.status == "changed" else ""
        # the URL is in the config; the table shows what happened
        detail = (r.error or "").removeprefix(f"{r.url} → ") or r.title
        table.add_row(
            r.target,
            Text(r.status, style=STATUS_STYLE[r.status]),
            str(r.http_status or ""),
            _human_size(r.size) if r.size else "",
            change,
            _hits_summary(r),
            f"{r.duration:.1f}s",
            Text(detail, style="red" if r.error else ""),
        )
    ctx.out.print(table)
    counts = {s: sum(1 for r in results if r.status == s) for s in STATUS_STYLE}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    ctx.out.print(f"\n{len(results)} targets: {summary}", highlight=False)


def _human_size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


@main.command()
@click.argument("name")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many captures."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per capture per line.")
@pass_ctx
def history(ctx: Context, name: str, limit: int, as_json: bool) -> None:
    """The captures of target NAME, newest first.

    \b
    Example:
      watcher history miit-notices --limit 10
    """
    with ctx.store(readonly=True) as store:
        rows = store.history(name, limit)
        if not rows and name not in store.target_names():
            ctx.fail(f"no captures of {name!r} in {ctx.data}")
    if as_json:
        for row in rows:
            click.echo(json.dumps(_capture_json(row), ensure_ascii=False))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("id", "fetched (UTC)", "kind", "HTTP", "size", "+/−", "hits", "title"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.id,
            row.fetched_at.strftime("%Y-%m-%d %H:%M:%S"),
            Text(row.kind, style=STATUS_STYLE.get(row.kind, "")),
            str(row.status_code),
            _human_size(row.raw_size),
            f"+{row.added}/−{row.removed}" if row.kind == "changed" else "",
            str(row.hit_count or ""),
            row.title[:60],
        )
    ctx.out.print(table)


def _capture_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "target": row.target,
        "kind": row.kind,
        "url": row.url,
        "final_url": row.final_url,
        "status_code": row.status_code,
        "fetched_at": row.fetched_at.isoformat().replace("+00:00", "Z"),
        "sha256": row.raw_sha256,
        "size": row.raw_size,
        "text_sha256": row.text_sha256,
        "encoding": row.encoding,
        "title": row.title,
        "previous_id": row.previous_id,
        "added": row.added,
        "removed": row.removed,
        "hits": row.hit_count,
    }


HTML_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{margin:2em;
  font-family:system-ui,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif}}
.line,.diff-side td{{white-space:pre-wrap;font-size:14px;line-height:1.6}}
.ln{{color:#999;display:inline-block;min-width:4em;user-select:none}}
.del{{background:#fff0f0}} .ins{{background:#f0fff4}} del{{background:#fbb;text-decoration:none}}
ins{{background:#9e9;text-decoration:none}} .fold{{color:#666;background:#f4f4f4;padding:2px 1em}}
.diff-side{{border-collapse:collapse;width:100%}} .diff-side td{{vertical-align:top;padding:0 .5em}}
.diff-side td.old,.diff-side td.new{{width:50%}}
</style></head><body><h1>{title}</h1><p>{summary}</p>
{body}
</body></html>
"""


@main.command()
@click.argument("name")
@click.option(
    "--from", "from_id", help="Older capture id (or unique prefix). Default: the one before --to."
)
@click.option("--to", "to_id", help="Newer capture id (or unique prefix). Default: the latest.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html", "json"]),
    default="text",
    show_default=True,
)
@click.option("--side-by-side", is_flag=True, help="With --format html: two columns.")
@click.option(
    "--context",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Unchanged lines shown around changes.",
)
@pass_ctx
def diff(
    ctx: Context,
    name: str,
    from_id: str | None,
    to_id: str | None,
    fmt: str,
    side_by_side: bool,
    context: int,
) -> None:
    """Diff two captures of target NAME (default: the last two).

    \b
    Examples:
      watcher diff miit-notices
      watcher diff miit-notices --from 01JD3A --to 01JD9F --format json
      watcher diff miit-notices --format html --side-by-side > diff.html
    """
    from watcher import render
    from watcher.blobs import BlobMissing
    from watcher.diff import diff_texts
    from watcher.store import StoreError

    with ctx.store(readonly=True) as store:
        try:
            old, new = _pair(store, name, from_id, to_id)
            texts = store.text(old), store.text(new)
        except StoreError as exc:
            ctx.fail(str(exc))
        except (BlobMissing, ValueError) as exc:  # a missing or damaged blob
            ctx.fail(f"cannot read the stored text: {exc}; `watcher verify` lists damage")
        # generous, but bounded: past it the rest of the change is shown whole
        result = diff_texts(*texts, timeout=DIFF_BUDGET)
    labels = {
        "old_label": f"{name} {old.id} {old.fetched_at:%Y-%m-%d %H:%M:%S}Z",
        "new_label": f"{name} {new.id} {new.fetched_at:%Y-%m-%d %H:%M:%S}Z",
    }
    if fmt == "json":
        payload = {"target": name, "from": old.id, "to": new.id, **render.to_json(result)}
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif fmt == "html":
        import html

        body = (
            render.to_html_side_by_side(result, context)
            if side_by_side
            else render.to_html_inline(result, context)
        )
        summary = (
            f"{labels['old_label']} → {labels['new_label']}: +{result.added} / −{result.removed}"
        )
        click.echo(
            HTML_PAGE.format(title=html.escape(name), summary=html.escape(summary), body=body)
        )
    else:
        _echo_text_diff(ctx, render.to_text(result, context=context, **labels))


def _pair(store: Any, name: str, from_id: str | None, to_id: str | None) -> tuple[Any, Any]:
    from watcher.store import StoreError

    rows = store.history(name)
    if not rows:
        raise StoreError(f"no captures of {name!r}")
    new = store.capture(to_id, name) if to_id else rows[0]
    if from_id:
        old = store.capture(from_id, name)
    else:
        older = [r for r in rows if (r.fetched_at, r.id) < (new.fetched_at, new.id)]
        if not older:
            raise StoreError(f"{name!r} has only one capture before {new.id}; nothing to compare")
        old = older[0]
    for row in (old, new):
        if row.target != name:
            raise StoreError(f"capture {row.id} belongs to {row.target!r}, not {name!r}")
    return old, new


def _echo_text_diff(ctx: Context, text: str) -> None:
    from rich.text import Text

    if not ctx.out.is_terminal:
        click.echo(text, nl=False)
        return
    for line in text.splitlines():
        style = "red" if line.startswith("-") else "green" if line.startswith("+") else ""
        style = "cyan" if line.startswith("@@") else style
        ctx.out.print(Text(line, style=style))


@main.command()
@pass_ctx
def verify(ctx: Context) -> None:
    """Check the store: SQLite's integrity check, and every blob a capture refers to
    is present and matches its SHA-256.

    \b
    Example:
      watcher verify
    Exit 0 when the store is sound, 1 when something is damaged.
    """
    with ctx.store(readonly=True) as store:
        problems = store.verify()
        count = len(store.target_names())
    for problem in problems:
        click.echo(problem)
    if problems:
        ctx.fail(f"{len(problems)} problems in {ctx.data}", EXIT_FAILED)
    click.echo(f"{ctx.data}: ok ({count} targets, every blob present and intact)")


@main.command("test")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the extracted document as JSON.")
@pass_ctx
def test_target(ctx: Context, name: str, as_json: bool) -> None:
    """Fetch and extract target NAME now; show text and keyword hits; store nothing.

    For tuning select, exclude and ignore rules.

    \b
    Example:
      watcher test miit-notices
    """
    config = ctx.config()
    (target,) = _select(ctx, config, (name,))
    outcome = asyncio.run(_test(config, target))
    if isinstance(outcome, str):
        ctx.fail(outcome, EXIT_FAILED)
    fetched, document, encoding, hits = outcome
    if as_json:
        payload = {
            "target": name,
            "final_url": fetched.final_url,
            "status_code": fetched.status_code,
            "encoding": encoding,
            "title": document.title,
            "text": document.text,
            "links": [{"url": link.url, "text": link.text} for link in document.links],
            "hits": [h.to_json() for h in hits],
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    from rich.text import Text

    ctx.out.print(
        f"[bold]{document.title}[/]  ({fetched.final_url}, HTTP {fetched.status_code}, {encoding})",
        highlight=False,
    )
    ctx.out.rule()
    ctx.out.print(Text(document.text))
    ctx.out.rule()
    ctx.out.print(
        f"{len(document.text)} characters, {len(document.links)} links, {len(hits)} hits",
        highlight=False,
    )
    for hit in hits:
        ctx.out.print(f"  [yellow]{hit.group}[/] {hit.term}: {hit.snippet}", highlight=False)


async def _test(config: Config, target: Target) -> Any:
    from watcher.analyse import ExtractionProblem, document_of
    from watcher.check import fetch_options, page_of
    from watcher.fetch import Fetcher, FetchError, FetchSettings
    from watcher.keywords import KeywordMatcher, find_hits

    async with Fetcher(FetchSettings(host_delay=0)) as fetcher:
        try:
            fetched = await fetcher.fetch(target.url, fetch_options(target))
        except FetchError as exc:
            return str(exc)
    try:
        document, encoding, _source = document_of(page_of(target, fetched, None), links=True)
    except ExtractionProblem as exc:
        return f"{target.name}: {exc}"
    matcher = KeywordMatcher(config.keywords).restricted(target.keywords)
    return fetched, document, encoding, find_hits(matcher, None, document.text, None)


if __name__ == "__main__":
    main(prog_name="watcher")
