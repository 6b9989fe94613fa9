"""Commands that read the store: the ``history`` of a target, the ``diff`` of two
captures, ``show`` one capture, ``verify`` the store is sound.

They open the store read-only, and a missing or invalid config does not stop
them: it only gives targets their titles.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from watcher.cli.context import EXIT_FAILED, Context, pass_ctx
from watcher.cli.output import STATUS_STYLE, human_size, utc

if TYPE_CHECKING:
    from watcher.config import Config

DIFF_BUDGET = 20.0  # seconds for an on-demand diff (a check's diff has settings.diff_timeout)


@click.command()
@click.argument("name")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many captures."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per capture per line.")
@pass_ctx
def history(ctx: Context, name: str, limit: int, as_json: bool) -> None:
    """The captures of target NAME, newest first.

    A target checked but never captured (every check failed) says so and how its
    last check failed; with --json that note goes to stderr and stdout stays empty.

    \b
    Example:
      watcher history miit-notices --limit 10
    Exit 0 when shown, 2 for a target never checked.
    """
    with ctx.store(readonly=True) as store:
        rows = store.history(name, limit)
        state = store.target_row(name) if rows else _checked_target(ctx, store, name)
    if not rows:
        note = f"{name}: no captures yet; {_last_checks(state, since_capture=False)}"
        (ctx.err if as_json else ctx.out).print(note, highlight=False)
        return
    if as_json:
        for row in rows:
            click.echo(json.dumps(_capture_json(row), ensure_ascii=False))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    cells = [
        (
            row.id,
            row.fetched_at.strftime("%Y-%m-%d %H:%M:%S"),
            Text(row.kind, style=STATUS_STYLE.get(row.kind, "")),
            str(row.status_code),
            human_size(row.raw_size),
            f"+{row.added}/−{row.removed}" if row.kind == "changed" else "",
            str(row.hit_count or ""),
            row.title[:60],
        )
        for row in rows
    ]
    # ids are copied into `show` and `diff`, times read: only the title gives way (rich
    # assumes 80 columns when the output is piped)
    headers = ("id", "fetched (UTC)", "kind", "HTTP", "size", "+/−", "hits")
    for i, column in enumerate(headers):
        widest = max(len(str(c[i])) for c in [*cells, headers])
        table.add_column(column, no_wrap=True, min_width=widest)
    table.add_column("title", no_wrap=True, overflow="ellipsis")
    for row_cells in cells:
        table.add_row(*row_cells)
    ctx.out.print(table)
    if state is not None and state.consecutive_errors:
        ctx.out.print(f"\n[red]{_last_checks(state, since_capture=True)}[/]", highlight=False)


def _last_checks(state: Any, *, since_capture: bool) -> str:
    """How the target's latest checks went: what to look at when captures are missing.

    ``since_capture``: the target has captures, and these failures came after them.
    """
    failed, at = state.consecutive_errors, utc(state.last_checked_at)
    if not failed:
        return f"the last check, at {at}, was {state.last_status}"
    error = state.last_error or state.last_status
    if failed == 1:
        return f"{'the last check' if since_capture else '1 check'} failed, at {at}: {error}"
    what = f"the last {failed} checks" if since_capture else f"{failed} checks"
    return f"{what} failed, the last at {at}: {error}"


def _readable_config(ctx: Context) -> Config | None:
    """The config, for names and titles in what a read command prints; a missing or
    invalid one is no reason for such a command to fail."""
    from watcher.config import ConfigError, load_config

    if not ctx.config_path.exists():
        return None
    try:
        return load_config(ctx.config_path)
    except ConfigError:
        return None


def _checked_target(ctx: Context, store: Any, name: str) -> Any:
    """The store's row of target NAME; exit 2 when the store has never checked it."""
    state = store.target_row(name)
    if state is not None and state.last_checked_at is not None:
        return state
    config = _readable_config(ctx)
    configured = [t.name for t in config.targets] if config else []
    if state is not None or name in configured:
        ctx.fail(
            f"{name!r} has not been checked yet: `watcher check {name}` makes its first capture"
        )
    import difflib

    known = dict.fromkeys([*store.target_names(), *configured])
    match = difflib.get_close_matches(name, known, 1)
    hint = f" (did you mean {match[0]!r}?)" if match else ""
    ctx.fail(f"no target named {name!r} in {ctx.data}{hint}")


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
        "metadata": row.metadata or {},  # keys: README, "Notice metadata"
    }


@click.command()
@click.argument("capture_id", metavar="ID")
@click.option("--raw", is_flag=True, help="Write the raw stored bytes to stdout, unchanged.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the facts and the text.")
@pass_ctx
def show(ctx: Context, capture_id: str, raw: bool, as_json: bool) -> None:
    """One capture: its facts (what was fetched, when, how it was decoded, what
    changed, keyword hits, the notice's metadata), then its text; what the web UI's
    capture page shows.

    ID is a capture id or a unique prefix of it (4 characters or more), as
    `watcher history` and `watcher check --json` print them.

    \b
    Examples:
      watcher show 01JD3A
      watcher show 01JD3A --raw > page.html
      watcher show 01JD3A --json
    Exit 0 when shown, 1 when a stored blob is missing or damaged, 2 for an ID that
    matches no capture or more than one.
    """
    from watcher.store.index import StoreError

    if raw and as_json:
        ctx.fail("give --raw or --json, not both")
    with ctx.store(readonly=True) as store:
        try:
            capture = store.capture(capture_id)
        except StoreError as exc:
            short = " (a prefix needs 4 characters or more)" if len(capture_id) < 4 else ""
            ctx.fail(f"{exc} in {ctx.data}{short}")
        if raw:
            click.echo(_evidence(ctx, store, capture, raw=True), nl=False)  # bytes as they are
            return
        text = _evidence(ctx, store, capture, raw=False).decode("utf-8")
        found = store.hits_of(capture.id) if capture.hit_count else []
    config = _readable_config(ctx)
    titles = {t.name: t.title for t in config.targets} if config else {}
    title = titles.get(capture.target)
    target_title = title if title and title != capture.target else None
    if as_json:
        payload = {
            **_capture_json(capture),
            "target_title": target_title,
            "duration": round(capture.duration, 3),
            "text_size": capture.text_size,
            "content_type": capture.content_type,
            "encoding_source": capture.encoding_source,
            "headers": capture.headers,
            "hits": [h.to_json() for h in found],
            "screenshot_sha256": capture.screenshot_sha256,
            "dom_sha256": capture.dom_sha256,
            "warnings": capture.warnings or [],
            "text": text,
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    _print_capture(ctx, capture, target_title, found, text)


def _evidence(ctx: Context, store: Any, capture: Any, *, raw: bool) -> bytes:
    """A capture's raw bytes or its text (UTF-8), as the store checked them against
    their hash: what is shown as the evidence must be the evidence. A missing or
    damaged blob ends the command with exit 1."""
    from watcher.store.blobs import BlobError

    what = "raw bytes" if raw else "text"
    try:
        return store.raw(capture) if raw else store.text(capture).encode("utf-8")
    except BlobError as exc:
        ctx.fail(
            f"capture {capture.id} of {capture.target!r}: cannot read the stored {what}: "
            f"{exc}; `watcher verify` lists damage",
            EXIT_FAILED,
        )


def _print_capture(
    ctx: Context, capture: Any, target_title: str | None, found: list[Any], text: str
) -> None:
    from rich.table import Table
    from rich.text import Text

    heading = f"{capture.target} ({target_title})" if target_title else capture.target
    ctx.out.print(Text(f"{heading}: capture {capture.id}", style="bold"))
    if capture.title:
        ctx.out.print(Text(capture.title))
    facts = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    for label, value in _capture_facts(capture, found):
        facts.add_row(label, Text(value))
    ctx.out.print(facts)
    for warning in capture.warnings or []:
        # said before the text: what the text does not hold of the page's bytes
        message = f"warning: {warning.get('message', warning)}"
        ctx.out.print(Text(message, style="yellow"), soft_wrap=True)
    if found:
        ctx.out.print()
        for hit in found:
            line = Text("  ")
            line.append(hit.group, style="yellow")
            line.append(f" {hit.term}", style="bold")
            if hit.where == "removed":
                line.append(" (removed)", style="red")
            line.append(f": {hit.snippet}")
            ctx.out.print(line)
    ctx.out.rule(f"text, {capture.text_size:,} bytes", style="dim")
    if ctx.out.is_terminal:
        ctx.out.print(Text(text))
    else:
        click.echo(text)


def _capture_facts(capture: Any, found: list[Any]) -> list[tuple[str, str]]:
    """The label and value of each fact `show` lists about a capture, apart from drawing."""
    from watcher.alerts.compose import METADATA_LABELS

    same = capture.final_url == capture.url
    encoding = capture.encoding or "—"
    if capture.encoding and capture.encoding_source:
        encoding = f"{capture.encoding} ({capture.encoding_source})"
    kept = [
        name
        for name, digest in (
            ("screenshot", capture.screenshot_sha256),
            ("rendered DOM", capture.dom_sha256),
        )
        if digest
    ]
    rows = [
        ("URL", capture.url),
        ("final URL", "the same" if same else capture.final_url),
        ("HTTP status", str(capture.status_code)),
        ("fetched", f"{capture.fetched_at:%Y-%m-%d %H:%M:%S} UTC ({capture.duration:.2f} s)"),
        ("kind", capture.kind),
        ("raw size", f"{capture.raw_size:,} bytes"),
        ("raw SHA-256", capture.raw_sha256),
        ("text size", f"{capture.text_size:,} bytes (UTF-8)"),
        ("text SHA-256", capture.text_sha256),
        ("content type", capture.content_type or "—"),
        ("encoding", encoding),
        ("previous", capture.previous_id or "none: the first capture"),
    ]
    if capture.previous_id:
        rows.append(("change", f"+{capture.added}/−{capture.removed} characters"))
    rows.append(("keyword hits", str(len(found)) if found else "none"))
    if capture.metadata and capture.metadata.get("file_name"):
        rows.append(("file name", capture.metadata["file_name"]))  # from Content-Disposition
    rows += [
        (label, capture.metadata[key])
        for key, label in METADATA_LABELS.items()
        if capture.metadata and capture.metadata.get(key)
    ]
    rows.append(
        ("browser", " and ".join(kept) + " kept" if kept else "not rendered: no screenshot or DOM")
    )
    return rows


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


@click.command()
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
    Exit 0 when shown, 1 with nothing to compare yet or a damaged stored text, 2 for
    a target never checked or a capture id that matches none or several.
    """
    from watcher.diff import render
    from watcher.diff.ops import diff_texts
    from watcher.store.index import StoreError

    with ctx.store(readonly=True) as store:
        try:
            old, new = _pair(ctx, store, name, from_id, to_id)
        except StoreError as exc:
            ctx.fail(str(exc))
        texts = [_evidence(ctx, store, c, raw=False).decode("utf-8") for c in (old, new)]
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
        click.echo(_html_diff(name, result, labels, side_by_side, context))
    else:
        _echo_text_diff(ctx, render.to_text(result, context=context, **labels))


def _html_diff(
    name: str, result: Any, labels: dict[str, str], side_by_side: bool, context: int
) -> str:
    """A diff as a page of its own, for a browser or an attachment."""
    import html

    from watcher.diff import render

    if side_by_side:
        body = render.to_html_side_by_side(result, context)
    else:
        body = render.to_html_inline(result, context)
    summary = f"{labels['old_label']} → {labels['new_label']}: {render.summary(result)}"
    return HTML_PAGE.format(title=html.escape(name), summary=html.escape(summary), body=body)


def _pair(
    ctx: Context, store: Any, name: str, from_id: str | None, to_id: str | None
) -> tuple[Any, Any]:
    """The captures to compare. Fewer than two is no usage error: it says what there
    is and exits 1."""
    from watcher.store.index import StoreError

    rows = store.history(name)
    if not rows:
        state = _checked_target(ctx, store, name)
        checks = _last_checks(state, since_capture=False)
        ctx.fail(f"{name} has no captures yet, nothing to compare; {checks}", EXIT_FAILED)
    new = store.capture(to_id, name) if to_id else rows[0]
    if new.target != name:
        raise StoreError(f"capture {new.id} belongs to {new.target!r}, not {name!r}")
    if from_id:
        old = store.capture(from_id, name)
    else:
        older = [r for r in rows if (r.fetched_at, r.id) < (new.fetched_at, new.id)]
        if not older and to_id:
            ctx.fail(
                f"{new.id} is the first capture of {name}; nothing before it to compare",
                EXIT_FAILED,
            )
        if not older:
            message = (
                f"{name} has 1 capture ({new.id}, {utc(new.fetched_at)}); nothing to compare yet"
            )
            state = store.target_row(name)
            if state is not None and state.consecutive_errors:
                message += f"; {_last_checks(state, since_capture=True)}"
            ctx.fail(message, EXIT_FAILED)
        old = older[0]
    if old.target != name:
        raise StoreError(f"capture {old.id} belongs to {old.target!r}, not {name!r}")
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


@click.command()
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
        bucket = store.blobs.location.url
    where = f"{ctx.data} (blobs in {bucket})" if bucket else f"{ctx.data}"
    for problem in problems:
        click.echo(problem)
    if problems:
        ctx.fail(f"{len(problems)} problems in {where}", EXIT_FAILED)
    click.echo(f"{where}: ok ({count} targets, every blob present and intact)")
