"""Pieces of output several commands print alike: status colours, sizes, times and
progress bars.

rich is imported inside the functions that draw, so a command that prints JSON,
and ``watcher --help``, never load it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watcher.cli.context import Context

STATUS_STYLE = {"new": "cyan", "changed": "bold yellow", "unchanged": "dim", "error": "bold red"}


def human_size(n: int) -> str:
    """Bytes in B, KB or MB (powers of 1000), for a table column a person reads."""
    for unit in ("B", "KB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def utc(at: Any) -> str:
    """A stored time to the minute, saying it is UTC (the store keeps UTC only)."""
    return f"{at:%Y-%m-%d %H:%M} UTC"


def check_progress(ctx: Context, total: int) -> Any:
    """The bar `check` draws on stderr while targets are checked: count and time taken."""
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


@contextmanager
def bar(ctx: Context, total: int, label: str) -> Iterator[Callable[[int], Any]]:
    """A progress bar at a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress(console=ctx.err, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
