"""The documents a notice cites, as ministries write them: 《title》, 《title》（文号）,
a bare 文号 in running text (依据工信部规〔2022〕12号), or 文号 lists after a title
(《…》（国发〔2018〕43号、工信部规〔2022〕12号）)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from watcher.analysis.metadata import document_numbers_in
from watcher.store.facts import Citation

__all__ = ["citations_in"]

_TITLE = re.compile(r"《([^《》\n]{4,80})》")
_CONTEXT = 40  # characters of the sentence kept each side
_AFTER_TITLE = 30  # a 文号 this close after 》 (in brackets) belongs to that title
_MAX = 200  # citations kept per notice: a compilation of laws is not a notice


def citations_in(text: str) -> Iterator[Citation]:
    """Each cited document once: a title with its 文号 where one follows it."""
    numbers = list(document_numbers_in(text))
    used: set[int] = set()
    seen: set[tuple[str | None, str | None]] = set()
    found = 0
    for match in _TITLE.finditer(text):
        title = match[1].strip()
        number = None
        for index, (value, start, _end) in enumerate(numbers):
            gap = text[match.end() : start]
            if 0 <= start - match.end() <= _AFTER_TITLE and re.fullmatch(r"[\s(（〔\[]*", gap):
                number = value
                used.add(index)
                break
        key = (number, None if number else title)
        if key in seen or found >= _MAX:
            continue
        seen.add(key)
        found += 1
        yield Citation(number, title, _around(text, match.start(), match.end()))
    for index, (value, start, end) in enumerate(numbers):
        if index in used or (value, None) in seen or found >= _MAX:
            continue
        seen.add((value, None))
        found += 1
        yield Citation(value, None, _around(text, start, end))


def _around(text: str, start: int, end: int) -> str:
    return " ".join(text[max(0, start - _CONTEXT) : end + _CONTEXT].split())
