"""``watcher import``: targets from urlwatch, changedetection.io, Distill, OPML or a URL list."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from watcher.cli.context import EXIT_USAGE, Context, pass_ctx


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["urlwatch", "changedetection", "distill", "opml", "urls"]),
    help="The file's format (default: told from its content).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a new targets.yaml here instead of printing the targets.",
)
@click.option(
    "--into",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Append the targets to this config's targets: list, keeping its comments.",
)
@pass_ctx
def import_command(
    ctx: Context, file: Path, fmt: str | None, output: Path | None, into: Path | None
) -> None:
    """Targets from another tool's FILE: urlwatch's urls.yaml, a changedetection.io
    backup (url-watches.json or its zip), a Distill export, OPML, or one URL a line.

    The targets are validated as `watcher validate` would; every setting that has no
    equivalent is listed on stderr (FILE:LINE: job: setting: why).

    \b
    Examples:
      watcher import urls.yaml                      # print a targets: document
      watcher import url-watches.json -o targets.yaml
      watcher import export.json --format distill --into targets.yaml
    Exit 0 when imported, 2 for a file that cannot be read or a config that would not
    validate (nothing is written then).
    """
    from watcher.config import ConfigError
    from watcher.config.importers import append_targets, import_targets, targets_yaml
    from watcher.config.importers.writing import existing_targets

    if output is not None and into is not None:
        ctx.fail("give either -o/--output or --into, not both")
    try:
        names, urls = existing_targets(into) if into is not None else ([], [])
        imported = import_targets(file, fmt, names, urls)
        if into is not None:
            append_targets(into, imported.targets)
        elif output is not None:
            _write_new(output, targets_yaml(imported.targets))
        else:
            click.echo(targets_yaml(imported.targets), nl=False)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    _report(ctx, file, imported, output or into)


def _write_new(path: Path, text: str) -> None:
    from watcher.config import parse_config_text

    parse_config_text(text, str(path))
    path.write_text(text, encoding="utf-8")


def _report(ctx: Context, file: Path, imported: object, where: Path | None) -> None:
    from watcher.config.importers import Imported

    assert isinstance(imported, Imported)
    count = len(imported.targets)
    into = f" into {where}" if where is not None else ""
    click.echo(
        f"imported {count} target{'s' * (count != 1)} from {file} ({imported.format}){into}",
        err=True,
    )
    if imported.notes:
        count = len(imported.notes)
        click.echo(
            f"{count} note{'s' * (count != 1)} (settings with no equivalent, entries left out):",
            err=True,
        )
        for note in imported.notes:
            click.echo(f"  {note}", err=True)
