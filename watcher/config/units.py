"""Durations, sizes and cron expressions: from the way analysts write them to the
numbers and schedules the service runs on.

Every parser raises ValueError with a finished sentence fit to show the user;
the config models carry it to the issue list with the file and line.
"""

from __future__ import annotations

import math
import re

from watcher.config.errors import describe

__all__ = ["check_cron", "parse_duration", "parse_size"]

# --------------------------------------------------------------------------- durations, sizes

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN_NUMBER_RE = re.compile(_NUMBER)
_DURATION_RE = re.compile(rf"(?:\s*{_NUMBER}\s*(?:ms|s|m|h|d))+\s*")
_DURATION_PART_RE = re.compile(rf"({_NUMBER})\s*(ms|s|m|h|d)")
_DURATION_HELP = (
    "write seconds as a number, or a number with a unit (ms, s, m, h, d) such as "
    "30s, 5m, 1h or 1h30m"
)


def parse_duration(value: str | int | float) -> float:
    """Seconds from '30s', '5m', '1h', '1d', '1h30m', '250ms' or a bare number of seconds.

    Raises ValueError with a message fit to show the user.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration, got {describe(value)}; {_DURATION_HELP}")
    seconds = _duration_from_text(value) if isinstance(value, str) else float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def _duration_from_text(text: str) -> float:
    stripped = text.strip()
    if _PLAIN_NUMBER_RE.fullmatch(stripped):
        return float(stripped)
    if stripped and _DURATION_RE.fullmatch(stripped):
        return sum(
            float(number) * _UNIT_SECONDS[unit]
            for number, unit in _DURATION_PART_RE.findall(stripped)
        )
    hint = (
        " (for 1 hour 30 minutes write 1h30m, for 1 minute 30 seconds 1m30s)" if ":" in text else ""
    )
    raise ValueError(f"{text!r} is not a duration; {_DURATION_HELP}{hint}")


_SIZE_RE = re.compile(rf"\s*({_NUMBER})\s*([a-z]*)\s*", re.IGNORECASE)
_SIZE_UNITS: dict[str, int] = {"": 1, "b": 1}
for _power, _prefix in enumerate("kmgt", start=1):
    _SIZE_UNITS[_prefix] = _SIZE_UNITS[_prefix + "b"] = 1000**_power
    _SIZE_UNITS[_prefix + "ib"] = 1024**_power


def parse_size(value: str | int | float) -> int:
    """Bytes from '20MB', '512KB', '1GB', '1.5MiB', '1500' or an int (KB = 1000, KiB = 1024)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a size such as 20MB, got {describe(value)}")
    if isinstance(value, str):
        match = _SIZE_RE.fullmatch(value)
        unit = match.group(2).lower() if match else ""
        if not match or unit not in _SIZE_UNITS:
            raise ValueError(
                f"{value!r} is not a size; write bytes as a number, or a number with a unit "
                "such as 512KB, 20MB, 1GB (or KiB/MiB/GiB for powers of 1024)"
            )
        number = float(match.group(1)) * _SIZE_UNITS[unit]
    else:
        number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"a size cannot be negative or infinite, got {value!r}")
    return round(number)


# --------------------------------------------------------------------------- cron

_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
_CRON_LABELS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab order: 0 = Sunday
_APS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler 3 order: 0 = Monday
_CRON_PART_RE = re.compile(r"(\*|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/(\d+))?")


def check_cron(expr: str) -> str:
    """Validate a 5-field crontab and return it with numeric weekdays spelled as names.

    APScheduler 3 counts weekday 0 as Monday where crontab means Sunday, so a
    standard `0 9 * * 1-5` would silently fire Tuesday to Saturday. Rewriting
    the numbers as names (`mon-fri`) keeps the crontab meaning for the scheduler.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"invalid cron expression {expr!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    from apscheduler.triggers.cron import CronTrigger  # only when a config uses cron

    fields[4] = _crontab_weekdays(fields[4])
    for name, label, value in zip(_CRON_FIELDS, _CRON_LABELS, fields, strict=True):
        try:
            CronTrigger(**{name: value}, timezone="UTC")
        except Exception as exc:
            raise ValueError(
                f"invalid cron expression {expr!r}: {label} {value!r}: {exc}"
            ) from None
    normalised = " ".join(fields)
    try:
        CronTrigger.from_crontab(normalised, timezone="UTC")
    except Exception as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return normalised


def _crontab_day(token: str | None) -> int | None:
    if token is None:
        return None
    if token.isdigit():
        number = int(token)
        return number % 7 if number <= 7 else None
    return _CRON_DAYS.index(token[:3]) if token[:3] in _CRON_DAYS else None


def _crontab_weekdays(text: str) -> str:
    """Crontab weekday field -> APScheduler names; unparseable input is left for APScheduler."""
    if not any(ch.isdigit() for ch in text):
        return text
    days: set[int] = set()
    for part in text.lower().split(","):
        match = _CRON_PART_RE.fullmatch(part)
        if not match:
            return text
        step = int(match.group(4) or 1)
        if match.group(1) == "*":
            low, high = 0, 6
        else:
            low = _crontab_day(match.group(2))
            high = 7 if match.group(2) and match.group(3) == "7" else _crontab_day(match.group(3))
            if high is None:
                high = 6 if match.group(4) else low
        if low is None or high is None or step == 0 or low > high:
            return text
        days.update(day % 7 for day in range(low, high + 1, step))
    return _day_ranges(sorted((day - 1) % 7 for day in days))


def _day_ranges(aps_days: list[int]) -> str:
    if len(aps_days) == 7:
        return "*"
    runs: list[list[int]] = []
    for day in aps_days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        _APS_DAYS[run[0]] if len(run) == 1 else f"{_APS_DAYS[run[0]]}-{_APS_DAYS[run[-1]]}"
        for run in runs
    )
