"""Renderers for a ``TextDiff``: unified text, JSON, and escaped HTML.

All of them read the diff's blocks; none re-diffs or parses markers. Page
text is hostile input, so the HTML renderers escape every piece of it.
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from watcher.diff.ops import NEW_KINDS, OLD_KINDS, Block, Op, TextDiff

Segment = tuple[str, str]  # (op kind, text without newlines)
Span = tuple[int, int, str]  # (start column, end column, keyword group) within one line
Marks = Mapping[int, Sequence[Span]]  # 1-based line number -> spans to highlight


@dataclass(frozen=True, slots=True)
class Row:
    """One displayed line pair: unchanged on both sides, or part of a change."""

    kind: str  # "equal" | "change" | "fold" | "move"
    old_no: int | None  # 1-based line numbers; None where a side has no line
    new_no: int | None
    old: tuple[Segment, ...] | None
    new: tuple[Segment, ...] | None
    folded: int = 0  # for "fold" rows: how many unchanged lines are hidden
    move: int | None = None  # for "move" rows: the move's number, from 1
    other: tuple[int, int] | None = None  # ... the lines (1-based, inclusive) on the other side
    first: bool = False  # ... the first row of the moved block on this side
    hidden: tuple[Row, ...] = ()  # for "fold" rows: the folded lines to expand, FOLD_SHOWN at most


def side_lines(ops: tuple[Op, ...], side: str) -> list[tuple[Segment, ...]]:
    """Split a block's ops into one side's lines, each a list of marked segments."""
    keep = OLD_KINDS if side == "old" else NEW_KINDS
    lines: list[list[Segment]] = [[]]
    for op in ops:
        if op.kind not in keep:
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
        if block.kind == "move":
            yield from _move_rows(diff, block)
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
            hidden = tuple(  # those a page carries to expand, not all of a long stretch
                Row("equal", block.old_start + j + 1, block.new_start + j + 1, lines[j], lines[j])
                for j in range(head, min(n - tail, head + FOLD_SHOWN))
            )
            yield Row("fold", None, None, None, None, folded=n - head - tail, hidden=hidden)
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


def _move_rows(diff: TextDiff, block: Block) -> Iterator[Row]:
    """A moved block where it was (old side) or where it is now (new side)."""
    assert block.move is not None
    move = diff.moves[block.move]
    out = block.moved_out
    lines = side_lines(block.ops, "old" if out else "new")
    other = (move.new_start + 1, move.new_end) if out else (move.old_start + 1, move.old_end)
    start = block.old_start if out else block.new_start
    for k, line in enumerate(lines):
        yield Row(
            "move",
            start + k + 1 if out else None,
            None if out else start + k + 1,
            line if out else None,
            None if out else line,
            move=block.move + 1,
            other=other,
            first=k == 0,
        )


def move_note(row: Row) -> str:
    """Where a moved block went to or came from, for people: "moved to line 12"."""
    assert row.other is not None
    lines = (
        f"line {row.other[0]}" if row.other[0] == row.other[1] else "lines {}–{}".format(*row.other)
    )
    return f"moved to {lines}" if row.old is not None else f"moved from {lines}"


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
        if row.kind == "move":
            if row.first:
                out.append(f"@@ move {row.move}: {move_note(row)} @@")
            if row.old is not None:
                out.append(f"<{row.old_no:>6} {_marked(row.old)}")
            else:
                out.append(f">{row.new_no:>6} {_marked(row.new or ())}")
        elif row.kind == "fold":
            out.append(f"@@ {row.folded} unchanged lines @@")
        else:
            out.append(f" {row.new_no:>6} {_marked(row.new or ())}")
    flush()
    if diff.timed_out:
        out.append("(diff time budget ran out: some changes are shown whole, not per character)")
    out.append(summary(diff))
    return "\n".join(out) + "\n"


def summary(diff: TextDiff) -> str:
    """ "12 characters added, 3 removed, 172 moved" (moved only when something moved)."""
    moved = f", {diff.moved} moved" if diff.moves else ""
    return f"{diff.added} characters added, {diff.removed} removed{moved}"


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
        if b.kind != "equal":
            item["ops"] = [[op.kind, op.text] for op in b.ops]
        if b.move is not None:
            item["move"] = b.move
        blocks.append(item)
    return {
        "added": diff.added,
        "removed": diff.removed,
        "moved": diff.moved,
        "moves": [
            {
                "old": [m.old_start + 1, m.old_end],
                "new": [m.new_start + 1, m.new_end],
                "chars": m.chars,
                "edited": m.edited,
            }
            for m in diff.moves
        ],
        "changed": diff.changed,
        "timed_out": diff.timed_out,
        "elapsed_ms": round(diff.elapsed * 1000, 1),
        "blocks": blocks,
    }


# -- small edits --------------------------------------------------------------------------

SMALL_EDIT = 20  # characters: a longer run is a rewrite, not an edit to point at


@dataclass(frozen=True, slots=True)
class Edit:
    """A few characters changed inside a line that otherwise stayed: 出→交."""

    old: str
    new: str
    line: int  # 1-based, in the new text

    @property
    def anchor(self) -> str:
        return f"edit-{self.line}"

    @property
    def label(self) -> str:
        if self.old and self.new:
            return f"{self.old}→{self.new}"
        return f"+{self.new}" if self.new else f"−{self.old}"


def _gaps(segments: tuple[Segment, ...]) -> tuple[list[str], list[str]]:
    """A line's changed runs between its unchanged pieces, and those pieces."""
    gaps, same = [""], []
    for kind, text in segments:
        if kind == "equal":
            same.append(text)
            gaps.append("")
        else:
            gaps[-1] += text
    return gaps, same


def line_edits(row: Row) -> list[tuple[str, str]]:
    """(old, new) runs of a line that was edited, not replaced: both sides keep the
    same unchanged text around short changed runs."""
    if row.kind != "change" or row.old is None or row.new is None:
        return []
    old_gaps, old_same = _gaps(row.old)
    new_gaps, new_same = _gaps(row.new)
    if old_same != new_same or not "".join(old_same).strip():
        return []
    pairs = [(o, n) for o, n in zip(old_gaps, new_gaps, strict=True) if o or n]
    if any(len(o) > SMALL_EDIT or len(n) > SMALL_EDIT for o, n in pairs):
        return []
    return pairs


def small_edits(diff: TextDiff, limit: int = 10) -> tuple[list[Edit], int]:
    """The first ``limit`` small edits, for a summary at the top (a one-character edit
    in a long paragraph is easy to miss), and how many there are."""
    found: list[Edit] = []
    total = 0
    changed = (
        row for block in diff.blocks if block.kind == "change" for row in _change_rows(block)
    )
    for row in changed:  # only a changed region's rows can hold an edit
        for old, new in line_edits(row):
            total += 1
            if len(found) < limit and row.new_no is not None:
                found.append(Edit(old, new, row.new_no))
    return found, total


def _edit_anchor(row: Row) -> str:
    return f'<span class="edit-anchor" id="edit-{row.new_no}"></span>' if line_edits(row) else ""


# -- HTML ---------------------------------------------------------------------------------

_TAG = {"delete": "del", "insert": "ins"}


def line_marks(text: str, spans: Sequence[tuple[int, int, str]]) -> dict[int, list[Span]]:
    """Character ranges of a whole text (keyword hits) as per-line column ranges."""
    starts = [0]
    at = text.find("\n")
    while at >= 0:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    out: dict[int, list[Span]] = {}
    for start, end, group in spans:
        line = bisect.bisect_right(starts, start) - 1
        while start < end and line < len(starts):
            line_end = starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
            piece_end = min(end, line_end)
            if piece_end > start:
                out.setdefault(line + 1, []).append(
                    (start - starts[line], piece_end - starts[line], group)
                )
            line += 1
            start = starts[line] if line < len(starts) else end
    return out


def _html_segments(segments: tuple[Segment, ...] | None, spans: Sequence[Span] = ()) -> str:
    if not segments:
        return ""
    out = []
    column = 0
    # a line changed whole is shaded; characters changed inside a line are marked hard
    whole = "" if any(kind == "equal" for kind, _ in segments) else ' class="whole"'
    for kind, text in segments:
        pieces = _split_marked(text, column, spans) if spans else [(text, None)]
        column += len(text)
        inner = "".join(
            f'<mark class="hit" data-group="{html.escape(group)}" title="{html.escape(group)}">'
            f"{html.escape(piece, quote=False)}</mark>"
            if group
            else html.escape(piece, quote=False)
            for piece, group in pieces
        )
        tag = _TAG.get(kind)
        out.append(f"<{tag}{whole}>{inner}</{tag}>" if tag else inner)
    return "".join(out)


def _split_marked(text: str, column: int, spans: Sequence[Span]) -> list[tuple[str, str | None]]:
    """Cut a segment at the edges of the highlighted spans that touch it."""
    cuts: list[tuple[int, int, str]] = []
    end_col = column + len(text)
    for start, end, group in spans:
        lo, hi = max(start, column), min(end, end_col)
        if lo < hi:
            cuts.append((lo - column, hi - column, group))
    if not cuts:
        return [(text, None)]
    cuts.sort()
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for lo, hi, group in cuts:
        lo = max(lo, at)
        if lo >= hi:
            continue
        if lo > at:
            pieces.append((text[at:lo], None))
        pieces.append((text[lo:hi], group))
        at = hi
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


def _ln(number: int | None) -> str:
    return f'<span class="ln">{number}</span>' if number is not None else '<span class="ln"></span>'


def _spans(marks: Mapping[str, Marks] | None, side: str, number: int | None) -> Sequence[Span]:
    if not marks or number is None:
        return ()
    return marks.get(side, {}).get(number, ())


def to_html_inline(
    diff: TextDiff, context: int = 3, marks: Mapping[str, Marks] | None = None
) -> str:
    """One column: removed lines then added lines, characters marked with del/ins;
    ``marks`` highlights keyword hits (by side, ``old`` / ``new``, and line)."""
    out = ['<div class="diff diff-inline" lang="zh-CN">']
    change, in_change = 0, False
    for row in rows(diff, context):
        if row.kind != "change":
            in_change = False
        if row.kind == "move":
            anchor = ""
            if row.first:
                change += 1
                anchor = f' id="change-{change}"'
            out.append(
                f'<div class="line move {_move_class(row)}"{anchor}>{_move_cells(row, marks)}</div>'
            )
        elif row.kind == "fold":
            hidden = "".join(_inline_equal(r, marks) for r in row.hidden[:FOLD_SHOWN])
            hidden += _more_folded(row, '<div class="line ctx more">{}</div>')
            out.append(
                f'<details class="fold"><summary>{row.folded} unchanged lines</summary>'
                f"{hidden}</details>"
            )
        elif row.kind == "equal":
            out.append(_inline_equal(row, marks))
        else:
            anchor = ""
            if not in_change:  # the first row of a changed region: a place to jump to
                change += 1
                anchor = f' id="change-{change}"'
            in_change = True
            if row.old is not None:
                segments = _html_segments(row.old, _spans(marks, "old", row.old_no))
                out.append(
                    f'<div class="line del change"{anchor}>{_ln(row.old_no)}{segments}</div>'
                )
                anchor = ""
            if row.new is not None:
                segments = _html_segments(row.new, _spans(marks, "new", row.new_no))
                out.append(
                    f'<div class="line ins change"{anchor}>{_ln(row.new_no)}'
                    f"{_edit_anchor(row)}{segments}</div>"
                )
    out.append("</div>")
    return "\n".join(out)


FOLD_SHOWN = 2000  # folded lines a page carries to expand; the capture page has them all


def _more_folded(row: Row, template: str) -> str:
    """Past ``FOLD_SHOWN`` lines a fold says how many more it leaves out."""
    more = row.folded - FOLD_SHOWN
    return (
        template.format(f"… {more} more unchanged lines: the capture has them") if more > 0 else ""
    )


def _inline_equal(row: Row, marks: Mapping[str, Marks] | None) -> str:
    segments = _html_segments(row.new, _spans(marks, "new", row.new_no))
    return f'<div class="line ctx">{_ln(row.new_no)}{segments}</div>'


_SIDE_COLUMNS = (
    '<colgroup><col class="ln"><col class="old"><col class="ln"><col class="new"></colgroup>'
)


def _side_equal(row: Row, marks: Mapping[str, Marks] | None) -> str:
    old = _html_segments(row.old, _spans(marks, "old", row.old_no))
    new = _html_segments(row.new, _spans(marks, "new", row.new_no))
    return (
        f'<tr class="ctx"><td class="ln">{row.old_no or ""}</td><td class="old">{old}</td>'
        f'<td class="ln">{row.new_no or ""}</td><td class="new">{new}</td></tr>'
    )


def to_html_side_by_side(
    diff: TextDiff, context: int = 3, marks: Mapping[str, Marks] | None = None
) -> str:
    """Two columns, old on the left and new on the right, rows aligned by change."""
    # the columns are declared: a fixed-layout table takes its widths from the first
    # row, which may be a fold spanning all four
    out = [f'<table class="diff diff-side" lang="zh-CN">{_SIDE_COLUMNS}']
    change, in_change = 0, False
    for row in rows(diff, context):
        if row.kind == "fold":
            in_change = False
            hidden = "".join(_side_equal(r, marks) for r in row.hidden[:FOLD_SHOWN])
            hidden += _more_folded(row, '<tr class="ctx more"><td colspan="4">{}</td></tr>')
            out.append(
                f'<tr class="fold"><td colspan="4"><details><summary>{row.folded} unchanged'
                f' lines</summary><table class="folded">{_SIDE_COLUMNS}{hidden}'
                "</table></details></td></tr>"
            )
            continue
        if row.kind == "move":
            in_change = False
            anchor = ""
            if row.first:
                change += 1
                anchor = f' id="change-{change}"'
            cell = _move_mark(row) + _html_segments(
                row.old or row.new,
                _spans(marks, "old" if row.old is not None else "new", row.old_no or row.new_no),
            )
            old_cell, new_cell = (cell, "") if row.old is not None else ("", cell)
            out.append(
                f'<tr class="move {_move_class(row)}"{anchor}>'
                f'<td class="ln">{row.old_no or ""}</td>'
                f'<td class="old">{old_cell}</td>'
                f'<td class="ln">{row.new_no or ""}</td>'
                f'<td class="new">{new_cell}</td></tr>'
            )
            continue
        cls, anchor = "ctx", ""
        if row.kind != "equal":
            cls = "change"
            if not in_change:
                change += 1
                anchor = f' id="change-{change}"'
        in_change = row.kind != "equal"
        old = _html_segments(row.old, _spans(marks, "old", row.old_no))
        new = _html_segments(row.new, _spans(marks, "new", row.new_no))
        out.append(
            f'<tr class="{cls}"{anchor}><td class="ln">{row.old_no or ""}</td>'
            f'<td class="old">{old}</td>'
            f'<td class="ln">{row.new_no or ""}</td>'
            f'<td class="new">{_edit_anchor(row)}{new}</td></tr>'
        )
    out.append("</table>")
    return "\n".join(out)


def _move_class(row: Row) -> str:
    return "move-out" if row.old is not None else "move-in"


def _move_mark(row: Row) -> str:
    """On a moved block's first row: a label saying where it went or came from,
    linking to the other end (``#move-N-out`` / ``#move-N-in``)."""
    if not row.first:
        return ""
    here, there = ("out", "in") if row.old is not None else ("in", "out")
    return (
        f'<a class="move-mark" id="move-{row.move}-{here}" href="#move-{row.move}-{there}">'
        f"{'↷' if here == 'out' else '↶'} {html.escape(move_note(row))}</a>"
    )


def _move_cells(row: Row, marks: Mapping[str, Marks] | None) -> str:
    if row.old is not None:
        return (
            _ln(row.old_no)
            + _move_mark(row)
            + _html_segments(row.old, _spans(marks, "old", row.old_no))
        )
    return (
        _ln(row.new_no)
        + _move_mark(row)
        + _html_segments(row.new, _spans(marks, "new", row.new_no))
    )
