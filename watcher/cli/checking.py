"""Commands that check targets: ``validate`` the config, ``check`` targets and store
what changed, ``test`` one target without storing anything."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from watcher.cli.context import (
    CHECK_SEND_BUDGET,
    EXIT_FAILED,
    EXIT_OK,
    Context,
    pass_ctx,
    select,
)
from watcher.cli.output import STATUS_STYLE, check_progress, human_size
from watcher.cli.startup import settle

if TYPE_CHECKING:
    from watcher.analysis.workers import Analyzer
    from watcher.check.quick import Quick
    from watcher.config import Config, Target
    from watcher.config.snapshot import QuickConfig, QuickTarget
    from watcher.core.models import CheckResult, FetchResult
    from watcher.fetch.client import FetchError
    from watcher.store.blobs import BlobLocation


@click.command()
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


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per target per line.")
@click.option("--no-notify", is_flag=True, help="Store captures only; make and send no alerts.")
@pass_ctx
def check(ctx: Context, names: tuple[str, ...], as_json: bool, no_notify: bool) -> None:
    """Check targets now, once (all, or the NAMES given), and store what changed.

    Alerts go to the outbox with their captures and are sent before it exits
    (up to 30 s; what is left is sent by the next check or by `watcher run`).

    \b
    Examples:
      watcher check
      watcher check miit-notices sastind-news --json
    Targets with `paused: true` are left out unless named.
    Exit 0 when every target was checked, 1 when any failed, 2 on a bad config.
    """
    # the config as the last check validated it, if the file is unchanged: an unchanged
    # page is then checked without pydantic (watcher.config.snapshot)
    validated = ctx.quick_config()
    config = None
    if validated is None:
        from watcher.config.snapshot import quick_config

        config = ctx.config(keep_snapshot=True)
        validated = quick_config(config)
    chosen = select(ctx, validated, names)
    if not names:  # a paused target is checked only when named
        paused = [t.name for t in chosen if t.paused]
        chosen = [t for t in chosen if not t.paused]
        if paused:
            ctx.err.print(f"paused, not checked: {', '.join(paused)}", highlight=False)
    channels = None if no_notify else ctx.channels()
    progress, on_result = _reporter(ctx, as_json, len(chosen))
    with progress if progress is not None else contextlib.nullcontext():
        usual = _Usual(ctx, validated.spellings)
        quick = _check_quickly(ctx, validated, chosen, bool(channels), on_result, usual.needed)
        results = quick.results if quick is not None else []
        rest = quick.rest if quick is not None else [t.name for t in chosen]
        # the usual check also sends what the outbox holds, with no target to check
        if rest or quick is None:
            # none here: the snapshot was read, and the file is as it was
            config = config or usual.take() or ctx.config()
            by_name = {t.name: t for t in config.targets}
            targets = [by_name[name] for name in rest]
            fetched = quick.fetched if quick is not None else {}
            with ctx.store() as store:
                workers = usual.workers(store.blobs.location)
                results += asyncio.run(
                    _check(ctx, config, store, targets, on_result, channels, fetched, workers)
                )
            order = {t.name: i for i, t in enumerate(chosen)}
            results.sort(key=lambda r: order[r.target])
    if not as_json:
        _print_results(ctx, results)
    sys.exit(EXIT_FAILED if any(r.status == "error" for r in results) else EXIT_OK)


def _check_quickly(
    ctx: Context,
    config: QuickConfig,
    targets: list[QuickTarget],
    alerts: bool,
    on_result: Callable[[CheckResult], None],
    on_rest: Callable[[str, FetchResult | FetchError | None], None],
) -> Quick | None:
    """Pages that did not change, checked without the store's SQLAlchemy
    (``watcher.check.quick``); None: every target goes the usual way."""
    from watcher.check.quick import check_unchanged, may_try

    if not may_try(config, alerts):
        return None
    settle()
    return asyncio.run(check_unchanged(config, targets, ctx.data, on_result, on_rest=on_rest))


class _Usual:
    """The usual check's parts, made while the quick way still fetches pages: its
    modules and the validated config (in a thread) once one target needs it, and
    analysis workers, started and warming up, once enough do that it would start
    them. With the workers started, each changed page whose answer the quick way
    holds is compared with its last capture (the index read, not written: the quick
    way is its writer) and its analysis begun (``Ahead``), so the usual way finds
    most of its pages analysed. What fails here is done again, and reported, by the
    usual way."""

    def __init__(self, ctx: Context, spellings: Mapping[str, frozenset[str]]) -> None:
        self._ctx = ctx
        self._spellings = spellings  # the terms' as the snapshot kept them
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._needed = 0
        self._workers_wanted = False
        self._config: Config | None = None
        self._analyzer: tuple[BlobLocation, Analyzer] | None = None
        # the answers of changed pages, for the thread; None: the quick way is done
        self._answers: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()

    def needed(self, name: str, answer: FetchResult | FetchError | None) -> None:
        """``name`` needs the usual check, which will use ``answer`` (None: asks again)."""
        from watcher.analysis.workers import MIN_PAGES_FOR_PROCESSES

        with self._lock:
            self._needed += 1
            self._workers_wanted |= self._needed >= MIN_PAGES_FOR_PROCESSES
            self._answers.put((name, answer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._prepare, name="prepare", daemon=True)
                self._thread.start()

    def _prepare(self) -> None:
        try:
            import watcher.service.runtime
            import watcher.store.index  # noqa: F401
            from watcher.config import load_config

            config = load_config(self._ctx.config_path)
        except Exception:  # the usual way loads it again and says why
            return
        with self._lock:
            self._config = config
        ahead = _Begun(self._ctx, config)
        try:
            done, pending = False, []
            while not done:
                batch, done = self._batch()
                pending += batch
                with self._lock:
                    wanted = self._workers_wanted
                if wanted and self._start_workers(config):
                    assert self._analyzer is not None
                    with contextlib.suppress(Exception):  # the usual way analyses them
                        ahead.begin(self._analyzer[1], pending)
                    pending = []
        finally:
            ahead.close()

    def _batch(self) -> tuple[list[tuple[str, Any]], bool]:
        """The answers come so far (waiting for one), and whether the quick way is done."""
        batch = []
        while (item := self._answers.get()) is not None:
            batch.append(item)
            if self._answers.empty():
                return batch, False
        return batch, True

    def _start_workers(self, config: Config) -> bool:
        if self._analyzer is not None:
            return True
        from watcher.analysis.workers import Ahead, ProcessAnalyzer, make_analyzer
        from watcher.keywords import teach_spellings
        from watcher.store.blobs import local_location

        teach_spellings(self._spellings)  # OpenCC is not loaded for the workers' terms
        self._ctx.use_config(config)
        try:
            location = self._ctx.blob_location() or local_location(self._ctx.data / "blobs")
        except SystemExit:  # a bad WATCHER_BLOBS: the usual way says so
            return False
        analyzer = make_analyzer(config.keywords, location, pages=len(config.targets))
        analyzer.warm_up()
        if isinstance(analyzer, ProcessAnalyzer):
            analyzer = Ahead(analyzer)
        with self._lock:
            self._analyzer = (location, analyzer)
        return True

    def take(self) -> Config | None:
        """The validated config, if it was loaded; nothing is started after this."""
        self._answers.put(None)
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._workers_wanted = False
            return self._config

    def workers(self, location: BlobLocation) -> Analyzer | None:
        """The workers started, if they were, for the blobs at ``location``."""
        if self._analyzer is None:
            return None
        made_for, analyzer = self._analyzer
        if made_for != location:  # other blobs than the store's: not to be used
            analyzer.close()
            return None
        return analyzer


class _Begun:
    """Changed pages' analyses begun while the quick way fetches: each page made as
    ``Checker`` makes it, from the answer and the target's last capture."""

    def __init__(self, ctx: Context, config: Config) -> None:
        self._ctx = ctx
        self._targets = {t.name: t for t in config.targets}
        self._settings = config.settings
        self._store: Any = None

    def begin(self, analyzer: Analyzer, answers: list[tuple[str, Any]]) -> None:
        """Raises what reading the states raises: the usual way reads them again, and
        says what failed."""
        from watcher.analysis.workers import Ahead
        from watcher.check.options import compared_with, page_of
        from watcher.core.models import FetchResult

        held = [
            (self._targets[name], answer)
            for name, answer in answers
            if name in self._targets and isinstance(answer, FetchResult)
        ]
        if not isinstance(analyzer, Ahead) or not held:
            return
        states = self._states([(t.name, t.url) for t, _ in held])
        s = self._settings
        analyzer.begin(
            [
                compared_with(
                    page_of(target, answer, None, s.diff_timeout, s.excerpt, s.regex_timeout),
                    states[target.name],
                )
                for target, answer in held
            ]
        )

    def _states(self, wanted: list[tuple[str, str]]) -> dict[str, Any]:
        if self._store is None:
            from watcher.store.index import Store

            ctx = self._ctx
            self._store = Store(
                ctx.data, readonly=True, blobs=ctx.blob_location(), index=ctx.index_url()
            )
        return self._store.target_states(wanted)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _reporter(ctx: Context, as_json: bool, count: int) -> tuple[Any, Callable[[CheckResult], None]]:
    # JSON output streams to a program; rich is loaded only for a person at a terminal
    progress = check_progress(ctx, count) if not as_json and sys.stderr.isatty() else None

    def on_result(result: CheckResult) -> None:
        if as_json:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        if progress is not None:
            progress.advance(progress.task_ids[0])

    return progress, on_result


async def _check(
    ctx: Context,
    config: Config,
    store: Any,
    targets: list[Target],
    on_result: Callable[[CheckResult], None],
    channels: Any,
    fetched: dict[str, Any] | None = None,
    analyzer: Analyzer | None = None,
) -> list[CheckResult]:
    async with ctx.runtime(config, store, channels) as runtime:
        runtime.pages.prefetched.update(fetched or {})
        runtime.analyzer = analyzer  # workers already started, else the check makes them
        results = await runtime.check(targets, on_result)
        await runtime.deliver(CHECK_SEND_BUDGET)
    return results


def _hits_summary(result: CheckResult) -> str:
    counts: dict[str, int] = {}
    for hit in result.hits:
        key = hit.term if hit.where == "added" else f"−{hit.term}"
        counts[key] = counts.get(key, 0) + hit.count
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
            human_size(r.size) if r.size else "",
            change,
            _hits_summary(r),
            f"{r.duration:.1f}s",
            Text(detail, style="red" if r.error else ""),
        )
    ctx.out.print(table)
    counts = {s: sum(1 for r in results if r.status == s) for s in STATUS_STYLE}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    ctx.out.print(f"\n{len(results)} targets: {summary}", highlight=False)


@click.command("test")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print what was found as one JSON object.")
@pass_ctx
def test_target(ctx: Context, name: str, as_json: bool) -> None:
    """Check target NAME now the way `watcher check` does; show the text and keyword
    hits; store nothing.

    The target's fetch mode (`fetch: browser` or `auto`), selectors, ignore rules
    and keywords all apply. For a listing, the items it would follow are listed
    and its first item is checked too. For tuning select, exclude and ignore rules.

    \b
    Example:
      watcher test miit-notices
    Exit 0 when the page was read, 1 when it could not be.
    """
    from watcher.check.trial import trial

    config = ctx.config()
    (target,) = select(ctx, config, (name,))

    async def run() -> Any:
        from watcher.store.index import Store

        with (
            tempfile.TemporaryDirectory(prefix="watcher-test-") as folder,
            Store(Path(folder), fsync=False) as scratch,
        ):
            async with ctx.runtime(config, scratch) as runtime:
                return await trial(config, scratch, runtime.pages, target, runtime.clock)

    found = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(_trial_json(found), ensure_ascii=False))
    else:
        _print_trial(ctx, found)
    failed = found.result.status == "error" or (found.first and found.first.result.error)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def _trial_json(found: Any) -> dict[str, Any]:
    r = found.result
    payload: dict[str, Any] = {
        "target": r.target,
        "status": "error" if r.error else "ok",
        "error": r.error,
        "final_url": r.final_url,
        "status_code": r.http_status,
        "encoding": found.encoding,
        "title": r.title,
        "text": found.text,
        "links": [{"url": link.url, "text": link.text} for link in found.links],
        "hits": [h.to_json() for h in r.hits],
    }
    if found.items or found.items_error:
        payload["items"] = [{"url": i.url, "title": i.title, "date": i.date} for i in found.items]
        payload["items_error"] = found.items_error
        payload["first_item"] = _trial_json(found.first) if found.first else None
    return payload


def _print_trial(ctx: Context, found: Any, heading: str = "") -> None:
    from rich.text import Text

    r = found.result
    if r.error:
        ctx.err.print(f"[bold red]error:[/] {heading}{r.error}", highlight=False)
        return
    ctx.out.print(
        f"[bold]{heading}{r.title}[/]  ({r.final_url}, HTTP {r.http_status}, {found.encoding})",
        highlight=False,
    )
    ctx.out.rule()
    ctx.out.print(Text(found.text))
    ctx.out.rule()
    ctx.out.print(
        f"{len(found.text)} characters, {len(found.links)} links,"
        f" {sum(h.count for h in r.hits)} hits",
        highlight=False,
    )
    for hit in r.hits:
        times = f" ×{hit.count}" if hit.count > 1 else ""
        ctx.out.print(f"  [yellow]{hit.group}[/] {hit.term}{times}: {hit.snippet}", highlight=False)
    if found.items_error:
        ctx.err.print(f"[bold red]listing items:[/] {found.items_error}", highlight=False)
    if found.items:
        _print_items(ctx, found.items)
    if found.first is not None:
        ctx.out.print()
        _print_trial(ctx, found.first, heading="first item: ")


def _print_items(ctx: Context, items: Any) -> None:
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("#", "date", "title", "url"):
        table.add_column(column, no_wrap=column != "title", overflow="ellipsis")
    for number, item in enumerate(items, 1):
        table.add_row(str(number), item.date or "", item.title, item.url)
    ctx.out.print(f"\n{len(items)} items the listing would follow:", highlight=False)
    ctx.out.print(table)
