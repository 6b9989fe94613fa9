"""Dates a notice asks something by: 截止日期, 于…前报送, 征求意见截止, 申报时间.

A date alone is not a deadline; a date in a sentence that asks the reader to
send, comment or apply by then is. A date without a year (3月15日前) takes the
year of the notice's publication, or is left out when that is unknown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from itertools import repeat

from watcher.analysis.metadata import normalize_date
from watcher.store.facts import Deadline

__all__ = ["deadlines_in"]

_DATE = (
    r"(?:(?:19|20)\d\d\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日"
    r"|(?:19|20)\d\d[-/.]\d{1,2}[-/.]\d{1,2}"
)
_D = f"(?P<d>{_DATE})"
_ANY_DATE = re.compile(_DATE)
_AT = r"\s*(?:\d{1,2}[:：]\d\d)?\s*"  # a time of day after the date
_TO = "(?:至|到|—|－|-|~|～)"
_STOPS = "。；;！!\n"  # what ends a sentence
_SENTENCE = re.compile(f"[^{_STOPS}]+")
# (kind, pattern with the deadline's date as group "d"); first that fits a sentence wins
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("comments", re.compile(f"征求意见.{{0,12}}?截止.{{0,8}}?{_D}")),
    ("comments", re.compile(f"{_D}{_AT}前.{{0,20}}?(?:反馈|提出)意见")),
    ("apply", re.compile(f"申报(?:时间|截止|期限).{{0,20}}?{_TO}\\s*{_D}")),
    ("apply", re.compile(f"申报(?:截止)?(?:时间|日期)?[为是：:\\s]*{_D}")),
    ("deadline", re.compile(f"截[止至](?:日期|时间)?[为是：:\\s]*{_D}")),
    ("deadline", re.compile(f"{_D}{_AT}(?:截止|止)")),
    ("submit", re.compile(f"于\\s*{_D}{_AT}(?:前|之前|以前)")),
)
_YEAR = re.compile(r"(?:19|20)\d\d")
# every rule above holds one of these: a sentence with none of them asks for nothing
_TRIGGERS = ("截", "止", "前", "申报")
_TRIGGER = re.compile("|".join(_TRIGGERS))
_SHORTEST, _LONGEST = 6, 160  # characters of a sentence worth quoting


def deadlines_in(text: str, published: str | None = None) -> Iterator[Deadline]:
    """Each (date, kind) once, in the order the notice asks them."""
    seen: set[tuple[str, str]] = set()
    for sentence in _asking(text):  # most sentences: no rule can match, so no NFKC
        line = " ".join(unicodedata.normalize("NFKC", sentence).split())
        if len(line) < _SHORTEST or not _ANY_DATE.search(line):  # every rule holds a date
            continue
        for kind, rule in _RULES:
            match = rule.search(line)
            if match is None:
                continue
            date = _date(match["d"], published)
            if date is not None and (date, kind) not in seen:
                seen.add((date, kind))
                yield Deadline(date, kind, line[:_LONGEST])
            break


def _asking(text: str) -> Iterator[str]:
    """The sentences that hold a trigger, in order: found from the triggers, since a
    notice has far more sentences than triggers."""
    end = 0
    for trigger in _TRIGGER.finditer(text):
        if trigger.start() < end:
            continue  # in the sentence just given
        start = max(map(text.rfind, _STOPS, repeat(end), repeat(trigger.start()))) + 1
        sentence = _SENTENCE.match(text, max(start, end))
        if sentence is None:  # not seen: a trigger is never a stop
            continue
        end = sentence.end()
        yield sentence[0]


def _date(written: str, published: str | None) -> str | None:
    if not _YEAR.match(written.strip()):
        if not published or not _YEAR.match(published):
            return None
        written = f"{published[:4]}年{written}"
    found = normalize_date(written)
    return found[:10] if found else None
