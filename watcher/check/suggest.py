"""Rules that would have silenced a change, tried on the target's stored history.

Marking a change as noise is only useful with a rule that hides its kind for good;
this finds candidates in the change (``ignore`` regexes from its changed values,
``exclude`` selectors from its raw HTML) and replays each over the target's past
changes, so the reader sees what a rule would hide before adding it to
``targets.yaml``. Reads the store, writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from watcher.analysis.analyse import ExtractionProblem, Page, read_page
from watcher.analysis.decode import decode_html
from watcher.analysis.selectors import changed_selectors
from watcher.config import Target
from watcher.core.budget import DEFAULT_REGEX_TIMEOUT, OverBudget
from watcher.core.text import comparison_key
from watcher.diff.rules import (
    Change,
    Rule,
    Suggestion,
    apply_ignore,
    assess,
    ignore_candidates,
    rank,
)
from watcher.store.blobs import BlobError
from watcher.store.index import CaptureRow, Store, StoreError

__all__ = ["HISTORY", "Suggestions", "replace_exclude", "suggest_rules", "suggestions_json"]

HISTORY = 200  # captures replayed: a year of daily changes, seconds of work
_MAX_EXCLUDES = 3  # selectors tried (each re-reads every capture's bytes)


@dataclass(frozen=True, slots=True)
class Suggestions:
    """Candidate rules for one change of a target, best first."""

    target: str
    capture_id: str  # the change asked about
    previous_id: str
    changes: int  # past changes replayed (consecutive captures whose texts differ)
    rules: tuple[Suggestion, ...]


def suggest_rules(
    store: Store,
    target: Target,
    capture_id: str | None = None,
    *,
    history: int = HISTORY,
    regex_timeout: float = DEFAULT_REGEX_TIMEOUT,
) -> Suggestions:
    """Rules that would have silenced ``capture_id``'s change (default: the target's
    latest change), each with the past changes it silences.

    Raises StoreError for an unknown capture, one of another target, or a target with
    no change to learn from."""
    rows = list(reversed(store.history(target.name, history)))
    focus = _focus(store, target.name, rows, capture_id)
    previous = store.capture(focus.previous_id) if focus.previous_id else None
    if previous is None:
        raise StoreError(f"capture {focus.id} is the first of {target.name}: no change to hide")
    if focus.id not in {r.id for r in rows}:
        rows = [previous, focus]  # older than the history replayed: still its own change
    texts = {r.id: _text(store, r) for r in rows}
    texts.setdefault(previous.id, _text(store, previous))
    pairs = [
        (old, new)
        for old, new in pairwise(rows)
        if comparison_key(texts[old.id]) != comparison_key(texts[new.id])
    ]
    if (previous.id, focus.id) not in {(o.id, n.id) for o, n in pairs}:
        pairs.append((previous, focus))
    changes = [Change(n.id, texts[o.id], texts[n.id], n.hit_count) for o, n in pairs]
    ignore, exclude = tuple(target.ignore), tuple(target.exclude)
    found: list[Suggestion] = []

    patterns = ignore_candidates(texts[previous.id], texts[focus.id])
    rules = [Rule("ignore", (p,)) for p in patterns]
    if len(patterns) > 1:
        rules.append(Rule("ignore", tuple(patterns)))
    for rule in rules:
        rewritten = [
            (
                apply_ignore(c.old, rule.patterns, regex_timeout),
                apply_ignore(c.new, rule.patterns, regex_timeout),
            )
            for c in changes
        ]
        found.append(
            assess(rule, changes, rewritten, focus=focus.id, ignore=ignore, exclude=exclude)
        )

    html = {r.id: _html(store, r) for r in (previous, focus)}
    if html[previous.id] is not None and html[focus.id] is not None:
        selectors = [
            s for s in changed_selectors(html[previous.id], html[focus.id]) if s not in exclude
        ]
        reread: dict[tuple[str, tuple[str, ...]], str] = {}
        chosen = selectors[:_MAX_EXCLUDES]
        groups = [(s,) for s in chosen] + ([tuple(chosen)] if len(chosen) > 1 else [])
        for group in groups:  # each element alone, and all of them together
            rule = Rule("exclude", group)
            page_target = replace_exclude(target, (*exclude, *group))
            rewritten = [
                (
                    _reread(store, old, page_target, texts[old.id], reread, regex_timeout),
                    _reread(store, new, page_target, texts[new.id], reread, regex_timeout),
                )
                for old, new in pairs
            ]
            found.append(
                assess(rule, changes, rewritten, focus=focus.id, ignore=ignore, exclude=exclude)
            )
    return Suggestions(target.name, focus.id, previous.id, len(changes), tuple(rank(found)))


def replace_exclude(target: Target, exclude: tuple[str, ...]) -> Target:
    """The target with another ``exclude`` list (a copy; the config is not touched)."""
    return target.model_copy(update={"exclude": exclude})


def _focus(store: Store, name: str, rows: list[CaptureRow], capture_id: str | None) -> CaptureRow:
    if capture_id:
        row = store.capture(capture_id, name)
        if row.target != name:
            raise StoreError(f"capture {row.id} belongs to {row.target!r}, not {name!r}")
        return row
    for row in reversed(rows):
        if row.kind == "changed" and row.previous_id:
            return row
    raise StoreError(f"{name} has no change yet to suggest a rule for")


def _text(store: Store, row: CaptureRow) -> str:
    try:
        return store.text(row)
    except BlobError:
        return ""  # damaged evidence: compared as empty, never as other bytes


def _source(store: Store, row: CaptureRow) -> tuple[bytes, str | None] | None:
    """The bytes the capture's text was read from: the rendered DOM, else the answer."""
    try:
        if row.dom_sha256:
            return store.blobs.get(row.dom_sha256), "text/html; charset=utf-8"
        return store.raw(row), row.content_type
    except BlobError:
        return None


def _html(store: Store, row: CaptureRow) -> str | None:
    """The decoded page, when the capture is an HTML page (not a file, not JSON)."""
    source = _source(store, row)
    if source is None:
        return None
    body, content_type = source
    mime = (content_type or "text/html").split(";")[0].strip().lower()
    if "html" not in mime and mime != "text/plain":
        return None
    return decode_html(body, content_type).text


def _reread(
    store: Store,
    row: CaptureRow,
    target: Target,
    stored: str,
    cache: dict[tuple[str, tuple[str, ...]], str],
    regex_timeout: float,
) -> str:
    """The capture's text as the target with the extra selector would read it (its
    stored text when its bytes cannot be read again)."""
    key = (row.id, tuple(target.exclude))
    if key not in cache:
        source = _source(store, row)
        if source is None:
            cache[key] = stored
        else:
            page = Page(
                body=source[0],
                content_type=source[1],
                final_url=row.final_url or row.url,
                select=tuple(target.select),
                exclude=tuple(target.exclude),
                ignore=tuple(target.ignore),
                regex_timeout=regex_timeout,
                max_elements=target.max_elements,
            )
            try:
                cache[key] = read_page(page).document.text
            except (ExtractionProblem, OverBudget, ValueError):
                cache[key] = stored
    return cache[key]


def suggestions_json(found: Suggestions) -> dict[str, object]:
    """The suggestions as the API and ``suggest-ignore --json`` give them."""
    return {
        "target": found.target,
        "capture_id": found.capture_id,
        "previous_id": found.previous_id,
        "changes": found.changes,
        "rules": [
            {
                "kind": s.rule.kind,
                "patterns": list(s.rule.patterns),
                "silenced": len(s.silenced),
                "left": s.left,
                "of": s.total,
                "silences_this_change": s.focus_silenced,
                "silenced_captures": list(s.silenced),
                "flags": list(s.flags),
                "safe": not s.flags,
                "yaml": s.yaml,
            }
            for s in found.rules
        ],
    }
