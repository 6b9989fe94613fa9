"""A bounded excerpt of a change, for alert messages.

A message must say what changed without carrying the page: each changed region
becomes a hunk of its inserted and deleted text with a little unchanged text
around it, until a character budget is spent; what does not fit is counted, so
the message can say how much was left out. A moved block is one short hunk
where it is now (``move_in`` ops, the start of its text), with any edit inside
it; its text is not "changed" and spends no budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from watcher.diff.ops import Block, Op, TextDiff

CONTEXT = 30  # unchanged characters kept on each side of an edit
ELLIPSIS = "…"
_SAME = ("equal", "move_in", "move_out")  # ops whose text did not change


@dataclass(frozen=True, slots=True)
class Excerpt:
    hunks: tuple[tuple[Op, ...], ...]  # one per changed region shown
    omitted: int  # inserted or deleted characters that did not fit

    @property
    def empty(self) -> bool:
        return not self.hunks


def of_diff(diff: TextDiff, limit: int, context: int = CONTEXT) -> Excerpt:
    """The changed regions of ``diff``, at most ``limit`` changed characters."""
    budget = limit
    hunks: list[tuple[Op, ...]] = []
    omitted = 0
    for block in diff.blocks:
        if block.kind == "equal" or (_moved_unchanged(block) and block.moved_out):
            continue
        if _moved_unchanged(block):
            hunks.append((_start_of(block.ops[0]),))
            continue
        if budget <= 0:
            omitted += sum(_changed(op) for op in block.ops)
            continue
        hunk: list[Op] = []
        last = len(block.ops) - 1
        for i, op in enumerate(block.ops):
            if budget <= 0:  # the rest of this region does not fit
                omitted += sum(_changed(rest) for rest in block.ops[i:])
                break
            if op.kind in _SAME:
                text = _trim_context(op.text, i == 0, i == last, context)
                if text:
                    hunk.append(Op(op.kind, text))
                continue
            shown = op.text[:budget]
            omitted += _changed(op) - _changed(Op(op.kind, shown))
            budget -= len(shown)
            if shown.strip():
                hunk.append(Op(op.kind, shown if shown == op.text else shown + ELLIPSIS))
        if any(op.kind not in _SAME for op in hunk):
            hunks.append(tuple(hunk))
    return Excerpt(tuple(hunks), omitted)


def of_text(text: str, limit: int) -> Excerpt:
    """The start of a first capture's text, as one inserted hunk."""
    shown = text[:limit]
    if not shown.strip():
        return Excerpt((), 0)
    omitted = len(text) - len(shown) - text[len(shown) :].count("\n")
    return Excerpt(((Op("insert", shown + (ELLIPSIS if omitted else "")),),), omitted)


def _changed(op: Op) -> int:
    return 0 if op.kind in _SAME else len(op.text) - op.text.count("\n")


def _moved_unchanged(block: Block) -> bool:
    return block.kind == "move" and all(op.kind in _SAME for op in block.ops)


def _start_of(op: Op, context: int = CONTEXT) -> Op:
    """A moved block's first line, cut to ``context`` characters."""
    head = op.text[:context].split("\n", 1)[0]
    return Op(op.kind, head + (ELLIPSIS if len(head) < len(op.text.rstrip("\n")) else ""))


def _trim_context(text: str, first: bool, last: bool, context: int) -> str:
    """Unchanged text around an edit, cut to ``context`` characters and one line."""
    if first and last:
        return ""
    if first:  # before the first edit: the end of its line
        tail = text[-context:].rsplit("\n", 1)[-1]
        return (ELLIPSIS if len(tail) < len(text) and tail else "") + tail
    if last:  # after the last edit: the start of its line
        head = text[:context].split("\n", 1)[0]
        return head + (ELLIPSIS if len(head) < len(text.rstrip("\n")) and head else "")
    if len(text) <= 2 * context + 1:
        return text
    return text[:context] + ELLIPSIS + text[-context:]
