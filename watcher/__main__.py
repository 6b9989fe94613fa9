"""The ``watcher`` command, also run as ``python -m watcher``.

Tiny on purpose: worker processes import the program's main module again, and
the command's own imports (click, asyncio, TLS) would cost each of them ~5 MB.
"""

from __future__ import annotations

import gc
import os

# Start-up makes tens of thousands of objects that live as long as the process (modules,
# classes, the config) and frees few: collecting young objects every 700 new ones, as
# Python does by default, was a tenth of a one-off check's CPU. The command sets the
# usual threshold again once its parts are loaded (``watcher.cli.context.settle``).
STARTUP_GC_THRESHOLD = 100_000


def main() -> None:
    # pydantic looks for plugins in the entry points of every installed distribution
    # when it builds the first model (20 ms of CPU); watcher uses none. A value set in
    # the environment is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    gc.set_threshold(STARTUP_GC_THRESHOLD, *gc.get_threshold()[1:])
    from watcher.cli.main import main as command

    try:
        command(prog_name="watcher")
    finally:
        # the interpreter's last collections would walk every object made, to free
        # memory the exit frees anyway: a fifth of a one-off check's CPU
        gc.freeze()


if __name__ == "__main__":
    main()
