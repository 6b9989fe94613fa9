"""Rules that would have silenced a change: ``ignore`` regexes generalised from the
changed text, and how a candidate rule fares over a target's past changes.

Pure functions over texts of record. Marking a change as noise should offer the
rule that hides it and every change like it (浏览次数：1234 → ``浏览次数[:：]\\s{0,3}\\d{1,12}``),
with the evidence of what it would have hidden, so nobody writes a regex blind.

A generated pattern keeps the stable label in front of the change, turns digit
runs into bounded ``\\d`` repeats (dates keep their shape), colons into ``[:：]`` and
spaces into ``\\s{0,3}``: literals and bounded repeats only, never a repeat inside a
repeat, so no pattern can backtrack catastrophically. Each is compiled as the
config compiles ``ignore`` and applied as extraction applies it (multiline, matches
removed, lines normalised again).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import regex

from watcher.core.budget import DEFAULT_REGEX_TIMEOUT, compile_user_pattern, timed_out
from watcher.core.text import comparison_key

__all__ = [
    "Change",
    "Rule",
    "Suggestion",
    "apply_ignore",
    "assess",
    "ignore_candidates",
    "is_noise",
    "rank",
    "yaml_snippet",
]

Kind = Literal["ignore", "exclude"]

FLAG_HIT = "hides a keyword hit"
FLAG_REAL = "hides a real text change"

# Characters a changing value is made of: digits (full-width too, as \d matches
# them), and what joins them in dates, times and counters.
_VALUE = re.compile(r"[\d\-/.:：年月日时分秒 ]")
_DATE_SEPARATORS = frozenset("-/.年月日时分秒:： ")
# What may stand between a label and its value (skipped going left from the value).
_LABEL_GAP = frozenset(" :：©®|()（）【】[]")
_LABEL_CHARS = 12  # at most this many label characters are kept
_MIN_LABEL = 2  # a value without a label of its own would match every number
_LONG_LINE = 2000  # longer lines are compared by their common ends only
_SPECIAL = frozenset(".^$*+?{}[]\\|()")  # escaped in a literal; nothing else needs it
_SPACES = r"\s{0,3}"  # the text of record has one space where a page has several
_NOISE = re.compile(r"[\d\W_年月日时分秒]+")  # what a change of only numbers is made of


@dataclass(frozen=True, slots=True)
class Rule:
    """A candidate rule: ``ignore`` regexes, or one ``exclude`` CSS selector."""

    kind: Kind
    patterns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """A past change of a target: the texts before and after, and its keyword hits."""

    capture_id: str
    old: str
    new: str
    hits: int = 0


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A rule with what it would have done to the target's past changes."""

    rule: Rule
    silenced: tuple[str, ...]  # capture ids of the changes it silences entirely
    total: int  # past changes looked at
    flags: tuple[str, ...] = ()
    yaml: str = ""
    focus_silenced: bool = field(default=False)  # silences the change it was made from

    @property
    def left(self) -> int:
        """Past changes it leaves to be seen."""
        return self.total - len(self.silenced)


# --- generalising -----------------------------------------------------------------------


def ignore_candidates(old: str, new: str) -> list[str]:
    """``ignore`` patterns for the changed values of ``old`` → ``new``: one per
    labelled number, date or year that changed; unlabelled values give none."""
    found: list[str] = []
    for old_line, new_line in _paired_lines(old, new):
        for (o1, o2), (n1, n2) in _changed_spans(old_line, new_line):
            pattern = _generalised(old_line, o1, o2, new_line, n1, n2)
            if pattern and pattern not in found:
                found.append(pattern)
    return found


def _paired_lines(old: str, new: str) -> Iterator[tuple[str, str]]:
    """Lines of ``old`` replaced by lines of ``new``, paired in order."""
    a, b = old.split("\n"), new.split("\n")
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace":
            yield from zip(a[i1:i2], b[j1:j2], strict=False)


def _changed_spans(a: str, b: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The differing spans of two lines, as (old span, new span) pairs."""
    if len(a) > _LONG_LINE or len(b) > _LONG_LINE:
        prefix = len(_common_prefix(a, b))
        suffix = len(_common_prefix(a[prefix:][::-1], b[prefix:][::-1]))
        return [((prefix, len(a) - suffix), (prefix, len(b) - suffix))]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [((i1, i2), (j1, j2)) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def _value_span(line: str, start: int, end: int) -> tuple[int, int] | None:
    """The whole value around a changed span: the run of value characters holding it,
    trimmed to begin with a digit; None when the change is more than a value."""
    if any(not _VALUE.match(ch) for ch in line[start:end]):
        return None
    while start > 0 and _VALUE.match(line[start - 1]):
        start -= 1
    while end < len(line) and _VALUE.match(line[end]):
        end += 1
    while start < end and not line[start].isdigit():
        start += 1
    while end > start and not line[end - 1].isdigit() and line[end - 1] not in "年月日号":
        end -= 1
    if start >= end or not any(ch.isdigit() for ch in line[start:end]):
        return None
    return start, end


def _label(line: str, start: int) -> str:
    """The stable words just before a value (浏览次数：, 发布时间:, Copyright ©)."""
    i = start
    while i > 0 and line[i - 1] in _LABEL_GAP:
        i -= 1
    words = i
    while words > 0 and i - words < _LABEL_CHARS and _is_label_char(line[words - 1]):
        words -= 1
    if i - words < _MIN_LABEL:
        return ""
    return line[words:start]


def _is_label_char(ch: str) -> bool:
    return (ch.isalpha() or ch == "_") and not ch.isdigit()


def _generalised(old: str, o1: int, o2: int, new: str, n1: int, n2: int) -> str | None:
    """One pattern matching the labelled value in both lines, or None."""
    old_value, new_value = _value_span(old, o1, o2), _value_span(new, n1, n2)
    if old_value is None or new_value is None:
        return None
    label = _label(new, new_value[0])
    if not label or _label(old, old_value[0]) != label:
        return None
    head = _literal(label)
    if label[-1] in _LABEL_GAP and not head.endswith(_SPACES):
        head += _SPACES  # 浏览次数：12 and 浏览次数： 12 alike
    pattern = head + _value_pattern(new[new_value[0] : new_value[1]])
    try:
        compiled = compile_user_pattern(pattern, regex.MULTILINE)
    except ValueError:
        return None
    found = [compiled.search(line, timeout=DEFAULT_REGEX_TIMEOUT) for line in (old, new)]
    return pattern if all(found) else None


def _literal(text: str) -> str:
    """A label as a pattern: colons of either width, any short run of spaces."""
    out: list[str] = []
    for ch in text:
        if ch in ":：":
            out.append("[:：]")
        elif ch.isspace():
            if not out or out[-1] != _SPACES:
                out.append(_SPACES)
        else:
            out.append("\\" + ch if ch in _SPECIAL else ch)
    return "".join(out)


def _value_pattern(value: str) -> str:
    """Digit runs as bounded repeats: a date's parts keep their width (\\d{4}, \\d{1,2}),
    a lone number is \\d{1,12}."""
    runs = re.split(r"(\d+)", value)
    dated = len([r for r in runs if r.isdigit()]) > 1
    out: list[str] = []
    for run in runs:
        if not run:
            continue
        if run.isdigit():
            if not dated:
                out.append(r"\d{1,12}")
            elif len(run) == 4:
                out.append(r"\d{4}")
            elif len(run) <= 2:
                out.append(r"\d{1,2}")
            else:
                out.append(r"\d{1,12}")
        else:
            out.append(_literal(run))
    return "".join(out)


# --- applying and assessing ------------------------------------------------------------------


def apply_ignore(
    text: str, patterns: Sequence[str], regex_timeout: float = DEFAULT_REGEX_TIMEOUT
) -> str:
    """``text`` as extraction would leave it with these ``ignore`` patterns: matches
    removed (multiline), then spaces collapsed and empty lines dropped."""
    for source in patterns:
        pattern = compile_user_pattern(source, regex.MULTILINE)
        try:
            text = pattern.sub("", text, timeout=regex_timeout)
        except TimeoutError:
            raise timed_out("ignore pattern", source, regex_timeout) from None
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def is_noise(old: str, new: str) -> bool:
    """Whether a change is only numbers, dates and punctuation: what a rule may hide
    without hiding news."""
    a, b = old.split("\n"), new.split("\n")
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag != "replace":
            changed = "".join(a[i1:i2] + b[j1:j2])
            if _NOISE.sub("", changed):
                return False
            continue
        for old_line, new_line in zip(a[i1:i2], b[j1:j2], strict=False):
            for (o1, o2), (n1, n2) in _changed_spans(old_line, new_line):
                if _NOISE.sub("", old_line[o1:o2] + new_line[n1:n2]):
                    return False
        if i2 - i1 != j2 - j1:
            rest = "".join(a[i1 + min(i2 - i1, j2 - j1) : i2] + b[j1 + min(i2 - i1, j2 - j1) : j2])
            if _NOISE.sub("", rest):
                return False
    return True


def assess(
    rule: Rule,
    changes: Sequence[Change],
    rewritten: Sequence[tuple[str, str]],
    *,
    focus: str | None = None,
    ignore: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Suggestion:
    """What ``rule`` does to each past change, given each change's texts as the rule
    leaves them (``rewritten``, in the order of ``changes``): the changes it silences
    (texts then equal), and flags when one of them had a keyword hit or more than
    numbers changed."""
    silenced: list[str] = []
    flags: list[str] = []
    for change, (old, new) in zip(changes, rewritten, strict=True):
        if comparison_key(old) != comparison_key(new):
            continue
        silenced.append(change.capture_id)
        if change.hits and FLAG_HIT not in flags:
            flags.append(FLAG_HIT)
        if FLAG_REAL not in flags and not is_noise(change.old, change.new):
            flags.append(FLAG_REAL)
    return Suggestion(
        rule=rule,
        silenced=tuple(silenced),
        total=len(changes),
        flags=tuple(flags),
        yaml=yaml_snippet(rule, ignore, exclude),
        focus_silenced=focus is not None and focus in silenced,
    )


def rank(suggestions: Sequence[Suggestion]) -> list[Suggestion]:
    """Safe rules first, then the ones that silence the change asked about, then by
    how many past changes they silence; ``ignore`` before ``exclude`` (narrower)."""
    return sorted(
        suggestions,
        key=lambda s: (
            bool(s.flags),
            not s.focus_silenced,
            -len(s.silenced),
            s.rule.kind != "ignore",
            len(s.rule.patterns),
            sum(map(len, s.rule.patterns)),
        ),
    )


def yaml_snippet(rule: Rule, ignore: Sequence[str] = (), exclude: Sequence[str] = ()) -> str:
    """The target's ``ignore:`` or ``exclude:`` key with the rule added to what it has,
    ready to paste over the target's key."""
    existing = ignore if rule.kind == "ignore" else exclude
    items = [*existing, *(p for p in rule.patterns if p not in existing)]
    lines = [f"{rule.kind}:"] + [f"  - {_quoted(item)}" for item in items]
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    """YAML single quotes: backslashes stay as they are, a quote is doubled."""
    return "'" + value.replace("'", "''") + "'"
