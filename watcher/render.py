"""Renderers for a ``TextDiff``: unified text, JSON, and escaped HTML.

All of them read the diff's blocks; none re-diffs or parses markers. Page
text is hostile input, so the HTML renderers escape every piece of it.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass

from watcher.diff import Block, Op, TextDiff

Segment = tuple[str, str]  # (op kind, text without newlines)


@dataclass(frozen=True, slots=True)
class Row:
    """One displayed line pair: unchanged on both sides, or part of a change."""

    kind: str  # "equal" | "change" | "fold"
    old_no: int | None  # 1-based line numbers; None where a side has no line
    new_no: int | None
    old: tuple[Segment, ...] | None
    new: tuple[Segment, ...] | None
    folded: int = 0  # for "fold" rows: how many unchanged lines are hidden


def side_lines(ops: tuple[Op, ...], side: str) -> list[tuple[Segment, ...]]:
    """Split a block's ops into one side's lines, each a list of marked segments."""
    skip = "insert" if side == "old" else "delete"
    lines: list[list[Segment]] = [[]]
    for op in ops:
        if op.kind == skip:
            continue
        for k, part in enumerate(op.text.split("\n")):
            if k:
                lines.append([])
            if part:
                lines[-1].append((op.kind, part))
    if not lines[-1]:
        lines.pop()
    return [tuple(line) for line in lines]


def rows(diff: TextDiff, context: int = 3) -> Iterator[Row]:
    """Rows for display: changes, ``context`` lines around them, folds elsewhere."""
    blocks = diff.blocks
    for index, block in enumerate(blocks):
        if block.kind == "change":
            yield from _change_rows(block)
            continue
        lines = side_lines(block.ops, "new")
        head = context if index > 0 else 0
        tail = context if index < len(blocks) - 1 else 0
        yield from _equal_rows(block, lines, head, tail)


def _equal_rows(
    block: Block, lines: list[tuple[Segment, ...]], head: int, tail: int
) -> Iterator[Row]:
    n = len(lines)
    if head + tail >= n:
        keep = [(k, True) for k in range(n)]
    else:
        keep = [(k, True) for k in range(head)]
        keep.append((head, False))
        keep += [(k, True) for k in range(n - tail, n)]
    for k, shown in keep:
        if not shown:
            yield Row("fold", None, None, None, None, folded=n - head - tail)
            continue
        yield Row("equal", block.old_start + k + 1, block.new_start + k + 1, lines[k], lines[k])


def _change_rows(block: Block) -> Iterator[Row]:
    old, new = side_lines(block.ops, "old"), side_lines(block.ops, "new")
    for k in range(max(len(old), len(new))):
        same = k < len(old) and k < len(new) and old[k] == new[k]
        yield Row(
            "equal" if same and all(kind == "equal" for kind, _ in old[k]) else "change",
            block.old_start + k + 1 if k < len(old) else None,
            block.new_start + k + 1 if k < len(new) else None,
            old[k] if k < len(old) else None,
            new[k] if k < len(new) else None,
        )


# -- text ---------------------------------------------------------------------------------


def _marked(segments: tuple[Segment, ...]) -> str:
    out = []
    for kind, text in segments:
        if kind == "delete":
            out.append(f"[-{text}-]")
        elif kind == "insert":
            out.append(f"{{+{text}+}}")
        else:
            out.append(text)
    return "".join(out)


def to_text(
    diff: TextDiff, *, old_label: str = "old", new_label: str = "new", context: int = 3
) -> str:
    """Unified diff with changed characters marked ``[-removed-]`` and ``{+added+}``."""
    out = [f"--- {old_label}", f"+++ {new_label}"]
    if not diff.changed:
        out.append("(no change)")
        return "\n".join(out) + "\n"
    pending_old: list[str] = []
    pending_new: list[str] = []

    def flush() -> None:
        out.extend(pending_old)
        out.extend(pending_new)
        pending_old.clear()
        pending_new.clear()

    for row in rows(diff, context):
        if row.kind == "change":
            if row.old is not None:
                pending_old.append(f"-{row.old_no:>6} {_marked(row.old)}")
            if row.new is not None:
                pending_new.append(f"+{row.new_no:>6} {_marked(row.new)}")
            continue
        flush()
        if row.kind == "fold":
            out.append(f"@@ {row.folded} unchanged lines @@")
        else:
            out.append(f" {row.new_no:>6} {_marked(row.new or ())}")
    flush()
    if diff.timed_out:
        out.append("(diff time budget ran out: some changes are shown whole, not per character)")
    out.append(f"{diff.added} characters added, {diff.removed} removed")
    return "\n".join(out) + "\n"


# -- JSON ---------------------------------------------------------------------------------


def to_json(diff: TextDiff) -> dict[str, object]:
    """Counts plus the ops of changed regions; unchanged runs only as line counts."""
    blocks: list[dict[str, object]] = []
    for b in diff.blocks:
        item: dict[str, object] = {
            "kind": b.kind,
            "old": [b.old_start + 1, b.old_end],
            "new": [b.new_start + 1, b.new_end],
        }
        if b.kind == "change":
            item["ops"] = [[op.kind, op.text] for op in b.ops]
        blocks.append(item)
    return {
        "added": diff.added,
        "removed": diff.removed,
        "changed": diff.changed,
        "timed_out": diff.timed_out,
        "elapsed_ms": round(diff.elapsed * 1000, 1),
        "blocks": blocks,
    }


# -- HTML ---------------------------------------------------------------------------------

_TAG = {"delete": "del", "insert": "ins"}


def _html_segments(segments: tuple[Segment, ...] | None) -> str:
    if not segments:
        return ""
    out = []
    for kind, text in segments:
        escaped = html.escape(text, quote=False)
        tag = _TAG.get(kind)
        out.append(f"<{tag}>{escaped}</{tag}>" if tag else escaped)
    return "".join(out)


def _ln(number: int | None) -> str:
    return f'<span class="ln">{number}</span>' if number is not None else '<span class="ln"></span>'


def to_html_inline(diff: TextDiff, context: int = 3) -> str:
    """One column: removed lines then added lines, characters marked with del/ins."""
    out = ['<div class="diff diff-inline">']
    for row in rows(diff, context):
        if row.kind == "fold":
            out.append(f'<div class="fold">{row.folded} unchanged lines</div>')
        elif row.kind == "equal":
            out.append(f'<div class="line ctx">{_ln(row.new_no)}{_html_segments(row.new)}</div>')
        else:
            if row.old is not None:
                out.append(
                    f'<div class="line del">{_ln(row.old_no)}{_html_segments(row.old)}</div>'
                )
            if row.new is not None:
                out.append(
                    f'<div class="line ins">{_ln(row.new_no)}{_html_segments(row.new)}</div>'
                )
    out.append("</div>")
    return "\n".join(out)


def to_html_side_by_side(diff: TextDiff, context: int = 3) -> str:
    """Two columns, old on the left and new on the right, rows aligned by change."""
    out = ['<table class="diff diff-side">']
    for row in rows(diff, context):
        if row.kind == "fold":
            out.append(f'<tr class="fold"><td colspan="4">{row.folded} unchanged lines</td></tr>')
            continue
        cls = "ctx" if row.kind == "equal" else "change"
        out.append(
            f'<tr class="{cls}"><td class="ln">{row.old_no or ""}</td>'
            f'<td class="old">{_html_segments(row.old)}</td>'
            f'<td class="ln">{row.new_no or ""}</td>'
            f'<td class="new">{_html_segments(row.new)}</td></tr>'
        )
    out.append("</table>")
    return "\n".join(out)
