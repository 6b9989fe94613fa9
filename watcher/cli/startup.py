"""The command's start-up and exit, made cheap: a one-off ``watcher check`` pays both
every time, before and after its one request.

Start-up makes tens of thousands of objects that live as long as the process
(modules, classes, the config) and frees few: collecting young objects every 700 new
ones, as Python does by default, cost a one-off check about 30 ms of CPU. At exit,
the interpreter's last collections walked every object made, to free memory the
exit frees anyway: about 0.1 s, a fifth of the check. Only the entry point
(``watcher/__main__.py``) calls ``begin`` and ``finish``; a process that runs
commands in-process (the tests) keeps its collector as it is.
"""

from __future__ import annotations

import gc
import os

STARTUP_GC_THRESHOLD = 100_000  # young objects between collections while loading
COLLECT_YOUNG_EVERY = 700  # Python's own threshold, once the command's parts are loaded


def begin() -> None:
    """Before the command's imports."""
    gc.set_threshold(STARTUP_GC_THRESHOLD, *gc.get_threshold()[1:])
    # pydantic looks for plugins in the entry points of every installed distribution
    # when it builds the first model (20 ms of CPU); watcher uses none. A value set in
    # the environment is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def settle() -> None:
    """The command's parts are loaded: keep them out of all later collections, and
    collect young objects as often as usual again (a long-running command must not
    keep start-up's threshold). Nothing when ``begin`` was not called."""
    threshold = gc.get_threshold()
    if threshold[0] == STARTUP_GC_THRESHOLD:
        gc.freeze()
        gc.set_threshold(COLLECT_YOUNG_EVERY, *threshold[1:])


def finish() -> None:
    """Exiting: no last collection over everything the command made."""
    gc.freeze()
