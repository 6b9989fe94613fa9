"""The ``watcher`` command, also run as ``python -m watcher``.

Tiny on purpose: worker processes import the program's main module again, and
the command's own imports (click, asyncio, TLS) would cost each of them ~5 MB.
"""

from __future__ import annotations


def main() -> None:
    from watcher.cli import startup

    startup.begin()  # before the command's imports
    from watcher.cli.main import main as command

    try:
        command(prog_name="watcher")
    finally:
        startup.finish()


if __name__ == "__main__":
    main()
