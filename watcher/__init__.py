"""watcher: change monitoring for government web pages."""

import sys

__version__ = "0.1.0"

# httpx imports its own command-line client (and rich with it) whenever click is
# installed. A None entry in sys.modules makes that optional import fail at once,
# as the import system documents: 60 ms and a few MB less at every start.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
