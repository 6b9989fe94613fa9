"""What analysing one page may cost, whatever its bytes: a page over a budget is
that target's error, named, never a frozen or exhausted process.

Memory: libxml2 spends about 300 bytes per element of a page's tree (a 19.2 MB
page of ``<p>x</p>`` is 2.4 million elements, 800 MB), so the tags of a page are
counted before it is parsed. Time: a user's regex (an ignore rule, a keyword
pattern) can backtrack without end; the stdlib ``re`` can be neither stopped nor
kept from holding the interpreter lock, so user patterns run in the ``regex``
module, with a timeout (the module counts it in CPU time, so a loaded machine
takes longer by the clock) and the lock released. watcher's own fixed patterns keep
using ``re``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import regex

DEFAULT_MAX_ELEMENTS = 200_000  # about 60 MB of tree; a big real notice has 20,000
DEFAULT_REGEX_TIMEOUT = 1.0  # CPU seconds one user pattern may spend on one page's text
FILE_TEXT_SECONDS = 20.0  # reading a file's text, at most (and never past its target's timeout)

_TAG_START = re.compile(r"<[A-Za-z]")  # a fixed pattern: re is faster


class OverBudget(Exception):
    """A page whose analysis would cost more than its budget allows."""


class PatternTimeout(OverBudget):
    """A user pattern ran out of time on a page's text."""


def compile_user_pattern(pattern: str, flags: int = 0) -> regex.Pattern[str]:
    """A pattern from targets.yaml: ``re``'s syntax, run by the regex module (its
    VERSION0 is ``re``'s semantics). ``re`` judges it first, for its messages.

    Raises ValueError naming the pattern when it is not valid.
    """
    import regex  # here: a config without patterns, and an unchanged check, need none

    try:
        re.compile(pattern, flags)
        return regex.compile(pattern, flags | regex.VERSION0)
    except (re.error, regex.error, OverflowError, RecursionError, ValueError) as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def timed_out(what: str, pattern: str, seconds: float) -> PatternTimeout:
    """The error of a pattern that ran past its time (the caller adds the page)."""
    return PatternTimeout(f"{what} {pattern!r} took over {seconds:g} s of CPU")


def count_elements(html: str, limit: int) -> int | None:
    """The tags that open an element, when there may be more than ``limit`` (None
    when a cheap count of ``<`` already shows there are not)."""
    if html.count("<") <= limit:
        return None
    return sum(1 for _ in _TAG_START.finditer(html))
