"""Log handlers: configured here only, as text lines or as JSON objects for log
collectors (``--log-format json``)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One object per line: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(base: int, verbose: int, log_format: str) -> None:
    """Handlers are configured here only; ``run`` starts at INFO, other commands at WARNING."""
    level = max(logging.DEBUG, base - 10 * verbose)
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # apprise logs the whole channels file (secrets too) at debug level; alembic,
    # APScheduler and procrastinate narrate every plugin and job run at INFO, which
    # watcher's own one line per check already covers
    for chatty in ("apprise", "alembic", "apscheduler", "procrastinate"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
