"""The ``watcher`` command: the group and its global options; each command is in
the module of what it does, and is added to the group here.

Imports of rich, pydantic and the pipeline sit inside the commands: worker
processes import this module too (it is the program's main module), and they
need none of it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from watcher.cli import (
    alerting,
    checking,
    copying,
    exporting,
    importing,
    queueing,
    reading,
    serving,
    suggesting,
    users,
)
from watcher.cli.context import Context
from watcher.cli.logs import setup_logging


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
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="WATCHER_LOG_FORMAT",
    show_default=True,
    help="json: one JSON object per log line, for log collectors.",
)
@click.version_option(package_name="watcher")
@click.pass_context
def main(
    ctx: click.Context,
    config: Path,
    data: Path,
    notifiers: Path | None,
    verbose: int,
    log_format: str,
) -> None:
    """Watch government web pages: capture, diff and flag keywords.

    \b
    Examples:
      watcher validate
      watcher check --json
      watcher diff miit-notices --format html > diff.html
    """
    ctx.obj = Context(
        config,
        data,
        notifiers,
        os.environ.get("WATCHER_BLOBS"),
        os.environ.get("WATCHER_STORE"),
    )
    ctx.obj.verbose = verbose
    ctx.obj.log_format = log_format
    setup_logging(logging.WARNING, verbose, log_format)


main.add_command(checking.validate)
main.add_command(checking.check)
main.add_command(checking.test_target)
main.add_command(reading.history)
main.add_command(reading.diff)
main.add_command(reading.show)
main.add_command(reading.verify)
main.add_command(suggesting.suggest_ignore)
main.add_command(exporting.export_command)
main.add_command(exporting.export_table)
main.add_command(exporting.reindex)
main.add_command(exporting.link_documents)
main.add_command(alerting.notify_test)
main.add_command(alerting.outbox)
main.add_command(serving.run)
main.add_command(serving.serve)
main.add_command(queueing.worker)
main.add_command(queueing.dispatch)
main.add_command(users.user)
main.add_command(importing.import_command)
main.add_command(copying.copy_store)


if __name__ == "__main__":
    main(prog_name="watcher")
