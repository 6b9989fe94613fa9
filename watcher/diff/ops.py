"""Compare two extracted texts: lines first, then characters inside changed lines.

The result is structure (blocks of ops plus counts), never marker strings, so
every renderer (text, HTML, JSON) and the keyword matcher work from the same
thing. A one-character edit in Chinese text is one changed character. A block
of lines that moved is a move (``watcher.diff.moves``): its text is counted as
moved, neither added nor removed, and only an edit inside it is an edit.

Engine: the C++ ``fast-diff-match-patch`` (measured ~30x faster than the
pure-Python ``diff-match-patch`` on a 1 MB page; see ``bench/diff_engines.py``).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import fast_diff_match_patch as dmp

from watcher.diff.moves import CharOps, Match, MoveSearch, find_moves

# move_out: text of a moved block where it was (old text only); move_in: where it is now
OpKind = Literal["equal", "insert", "delete", "move_out", "move_in"]
OLD_KINDS = frozenset({"equal", "delete", "move_out"})  # ops that make up the old text
NEW_KINDS = frozenset({"equal", "insert", "move_in"})  # ops that make up the new text
_KIND: dict[str, OpKind] = {"=": "equal", "+": "insert", "-": "delete"}
_CHARS_BASE = 0x100  # line tokens start above ASCII so they never look like text
ANCHORED_LINES = 2000  # from this many lines on a side, unique lines anchor the line diff


@dataclass(frozen=True, slots=True)
class Op:
    kind: OpKind
    text: str


@dataclass(frozen=True, slots=True)
class Block:
    """A run of lines: unchanged (``equal``) or a changed region with its char ops.

    Line ranges are half-open indexes into each side's lines, so renderers can
    number lines and fold long unchanged stretches without re-diffing.
    """

    kind: Literal["equal", "change", "move"]
    old_start: int
    old_end: int
    new_start: int
    new_end: int
    ops: tuple[Op, ...]
    move: int | None = None  # for "move" blocks: the index of the move in ``TextDiff.moves``

    @property
    def moved_out(self) -> bool:
        """A move block on the old side (where the text was), not the new one."""
        return self.kind == "move" and self.old_end > self.old_start


@dataclass(frozen=True, slots=True)
class Move:
    """Old lines [old_start, old_end) moved to new lines [new_start, new_end)."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    chars: int  # characters moved unchanged, newlines not counted
    edited: bool  # the block was also edited (its insert / delete ops are counted)


@dataclass(frozen=True, slots=True)
class TextDiff:
    blocks: tuple[Block, ...]
    added: int  # characters inserted, newlines not counted
    removed: int  # characters deleted, newlines not counted
    timed_out: bool  # the time budget ran out; some regions are coarse
    elapsed: float
    moved: int = 0  # characters that moved (neither added nor removed), newlines not counted
    moves: tuple[Move, ...] = ()

    @property
    def changed(self) -> bool:
        return self.added > 0 or self.removed > 0 or any(b.kind != "equal" for b in self.blocks)

    @property
    def ops(self) -> Iterator[Op]:
        for block in self.blocks:
            yield from block.ops

    def old_text(self) -> str:
        return "".join(op.text for op in self.ops if op.kind in OLD_KINDS)

    def new_text(self) -> str:
        return "".join(op.text for op in self.ops if op.kind in NEW_KINDS)

    def changed_spans(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Inserted spans in the new text and deleted spans in the old text, sorted.

        Moved text is neither. A term that runs across the edge of a moved block is
        new where it is now (and gone where it was), so each edge of a move is there
        as an empty span ``(at, at)``: it overlaps exactly what crosses it.
        """
        inserted: list[tuple[int, int]] = []
        deleted: list[tuple[int, int]] = []
        old_pos = new_pos = 0
        for block in self.blocks:
            old_edge, new_edge = old_pos, new_pos
            for op in block.ops:
                n = len(op.text)
                if op.kind == "insert":
                    inserted.append((new_pos, new_pos + n))
                elif op.kind == "delete":
                    deleted.append((old_pos, old_pos + n))
                if op.kind in OLD_KINDS:
                    old_pos += n
                if op.kind in NEW_KINDS:
                    new_pos += n
            if block.kind == "move" and block.moved_out:
                deleted += [(old_edge, old_edge), (old_pos, old_pos)]
            elif block.kind == "move":
                inserted += [(new_edge, new_edge), (new_pos, new_pos)]
        return sorted(set(inserted)), sorted(set(deleted))


def split_lines(text: str) -> list[str]:
    """Lines with their newline kept, so joining them gives the text back exactly."""
    if not text:
        return []
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def diff_texts(old: str, new: str, timeout: float = 2.0) -> TextDiff:
    """Diff two texts within ``timeout`` seconds (0 means no limit).

    When the budget runs out the remaining changed regions are reported whole
    (delete all, insert all) and ``timed_out`` is set: the diff stays correct,
    only less precise.
    """
    started = time.perf_counter()
    deadline = started + timeout if timeout > 0 else float("inf")
    old_lines, new_lines = split_lines(old), split_lines(new)
    line_ops = _line_ops(old_lines, new_lines, deadline)
    timed_out = line_ops is None
    if line_ops is None:
        line_ops = [("-", len(old_lines)), ("+", len(new_lines))]
    regions = list(_blocks_from_line_ops(line_ops, old_lines, new_lines))
    search = find_moves(
        old_lines,
        new_lines,
        [(b.old_start, b.old_end, b.new_start, b.new_end) for b in regions if b.kind == "change"],
        deadline,
    )
    moves = _Moves(search, old_lines, new_lines)
    blocks: list[Block] = []
    for region in regions:
        for block in moves.split(region) if region.kind == "change" else (region,):
            if block.kind == "change":
                block, coarse = _refine(block, old_lines, new_lines, deadline)
                timed_out = timed_out or coarse
            blocks.append(block)
    added = sum(
        len(op.text) - op.text.count("\n") for b in blocks for op in b.ops if op.kind == "insert"
    )
    removed = sum(
        len(op.text) - op.text.count("\n") for b in blocks for op in b.ops if op.kind == "delete"
    )
    moved = sum(m.chars for m in moves.moves)
    elapsed = time.perf_counter() - started
    return TextDiff(tuple(blocks), added, removed, timed_out, elapsed, moved, moves.moves)


def _chars(op: Op) -> int:
    return len(op.text) - op.text.count("\n")


class _Moves:
    """The moves found, as blocks: each is a ``move`` block on both sides."""

    def __init__(self, search: MoveSearch, old_lines: list[str], new_lines: list[str]) -> None:
        self.old_at: dict[int, int] = {}  # first old line of a move -> its index
        self.new_at: dict[int, int] = {}
        self.sides: list[tuple[tuple[Op, ...], tuple[Op, ...]]] = []
        moves: list[Move] = []
        for k, m in enumerate(search.matches):
            out, into = _move_ops(m, old_lines, new_lines, search.edited)
            chars = sum(_chars(op) for op in into if op.kind == "move_in")
            edited = any(op.kind in ("insert", "delete") for op in out + into)
            moves.append(Move(m.old_start, m.old_end, m.new_start, m.new_end, chars, edited))
            self.sides.append((out, into))
            self.old_at[m.old_start] = k
            self.new_at[m.new_start] = k
        self.moves = tuple(moves)

    def split(self, region: Block) -> Iterator[Block]:
        """A changed region cut around the moves in it: change and move blocks in order."""
        if not self.moves:
            yield region
            return
        i, j = region.old_start, region.new_start
        while i < region.old_end or j < region.new_end:
            a, b = i, j
            while a < region.old_end and a not in self.old_at:
                a += 1
            while b < region.new_end and b not in self.new_at:
                b += 1
            if a > i or b > j:
                yield Block("change", i, a, j, b, ())
                i, j = a, b
            while i < region.old_end and i in self.old_at:
                k = self.old_at[i]
                end = self.moves[k].old_end
                yield Block("move", i, end, j, j, self.sides[k][0], move=k)
                i = end
            while j < region.new_end and j in self.new_at:
                k = self.new_at[j]
                end = self.moves[k].new_end
                yield Block("move", i, i, j, end, self.sides[k][1], move=k)
                j = end


def _move_ops(
    m: Match, old_lines: list[str], new_lines: list[str], edited: dict[int, CharOps]
) -> tuple[tuple[Op, ...], tuple[Op, ...]]:
    """The ops of a move where it was and where it is: the moved text, and the
    characters an edit inside it deleted (old side) or inserted (new side)."""
    out: list[Op] = []
    into: list[Op] = []
    for i, j in zip(range(m.old_start, m.old_end), range(m.new_start, m.new_end), strict=True):
        a, b = old_lines[i], new_lines[j]
        if a == b:
            pairs: CharOps = (("=", a),)
        elif i in edited:
            pairs = edited[i]
        else:  # equal but for whitespace
            pairs = tuple(
                (op, text)
                for op, text in dmp.diff(a, b, timelimit=0.5, cleanup="Semantic", counts_only=False)
                if text
            )
        for op, text in pairs:
            if op != "+":
                _append(out, "move_out" if op == "=" else "delete", text)
            if op != "-":
                _append(into, "move_in" if op == "=" else "insert", text)
    return tuple(out), tuple(into)


def _append(ops: list[Op], kind: OpKind, text: str) -> None:
    if ops and ops[-1].kind == kind:
        ops[-1] = Op(kind, ops[-1].text + text)
    else:
        ops.append(Op(kind, text))


def _line_ops(
    old_lines: list[str], new_lines: list[str], deadline: float
) -> list[tuple[str, int]] | None:
    """Diff the sequences of lines by mapping each distinct line to one character.

    From ANCHORED_LINES lines on a side, lines found once on each side, in an order
    both share, are kept as anchors first (patience diff), and the engine diffs only the
    stretches between them: on a page where nearly every line changed, one diff of all
    lines costs O(lines × changes) (110 ms of a 1 MB page's 190 ms with 1% of its
    characters changed one by one). Smaller texts keep the engine's minimal diff.
    """
    codes: dict[str, str] = {}

    def encode(lines: list[str]) -> str:
        return "".join(codes.setdefault(line, chr(_CHARS_BASE + len(codes))) for line in lines)

    a, b = encode(old_lines), encode(new_lines)
    ops: list[tuple[str, int]] = []
    i = j = 0
    anchors = _anchors(a, b) if max(len(a), len(b)) >= ANCHORED_LINES else []
    for anchor_i, anchor_j in [*anchors, (len(a), len(b))]:
        if i < anchor_i and j < anchor_j:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            limit = 0 if remaining == float("inf") else remaining
            part = dmp.diff(
                a[i:anchor_i],
                b[j:anchor_j],
                timelimit=limit,
                checklines=False,
                cleanup="No",
                counts_only=True,
            )
            for op, n in part:
                _count(ops, op, n)
        else:
            _count(ops, "-", anchor_i - i)
            _count(ops, "+", anchor_j - j)
        if anchor_i < len(a):
            _count(ops, "=", 1)
        i, j = anchor_i + 1, anchor_j + 1
    if time.perf_counter() >= deadline:
        return None  # the engine gave up early: its answer is valid but coarse
    return ops


def _count(ops: list[tuple[str, int]], op: str, n: int) -> None:
    if n:
        if ops and ops[-1][0] == op:
            ops[-1] = (op, ops[-1][1] + n)
        else:
            ops.append((op, n))


def _anchors(a: str, b: str) -> list[tuple[int, int]]:
    """(i, j) of the codes found once in ``a`` and once in ``b``: the longest chain of
    them in the same order on both sides (a longest increasing subsequence)."""
    once_a: dict[str, int] = {}
    for i, code in enumerate(a):
        once_a[code] = -1 if code in once_a else i
    once_b: dict[str, int] = {}
    for j, code in enumerate(b):
        once_b[code] = -1 if code in once_b else j
    pairs = sorted(
        (i, once_b[code]) for code, i in once_a.items() if i >= 0 and once_b.get(code, -1) >= 0
    )
    tails: list[int] = []  # tails[k]: the smallest j ending a chain of k + 1 pairs
    ends: list[int] = []  # ends[k]: the index in pairs of that chain's last pair
    before: list[int] = []  # the pair each pair follows in its chain, -1 for none
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            ends.append(n)
        else:
            tails[k] = j
            ends[k] = n
        before.append(ends[k - 1] if k else -1)
    chain: list[tuple[int, int]] = []
    n = ends[-1] if ends else -1
    while n >= 0:
        chain.append(pairs[n])
        n = before[n]
    return chain[::-1]


def _blocks_from_line_ops(
    line_ops: list[tuple[str, int]], old_lines: list[str], new_lines: list[str]
) -> Iterator[Block]:
    """Group line ops into equal blocks and change regions (deletes + inserts together)."""
    i = j = 0
    pending: tuple[int, int] | None = None  # start of an open change region
    for op, n in line_ops:
        if op == "=":
            if pending is not None:
                yield Block("change", pending[0], i, pending[1], j, ())
                pending = None
            text = "".join(old_lines[i : i + n])
            yield Block("equal", i, i + n, j, j + n, (Op("equal", text),))
            i, j = i + n, j + n
            continue
        if pending is None:
            pending = (i, j)
        if op == "-":
            i += n
        else:
            j += n
    if pending is not None:
        yield Block("change", pending[0], i, pending[1], j, ())


def _refine(
    block: Block, old_lines: list[str], new_lines: list[str], deadline: float
) -> tuple[Block, bool]:
    """Character-level ops inside one changed region, with semantic cleanup."""
    a = "".join(old_lines[block.old_start : block.old_end])
    b = "".join(new_lines[block.new_start : block.new_end])
    remaining = deadline - time.perf_counter()
    coarse = remaining <= 0
    if not a or not b or coarse:
        ops = tuple(Op(kind, text) for kind, text in (("delete", a), ("insert", b)) if text)
    else:
        limit = 0 if remaining == float("inf") else remaining
        raw = dmp.diff(
            a, b, timelimit=limit, checklines=False, cleanup="Semantic", counts_only=False
        )
        ops = tuple(Op(_KIND[op], text) for op, text in raw if text)
        coarse = time.perf_counter() >= deadline
    kind = "change" if any(op.kind != "equal" for op in ops) else "equal"
    return Block(kind, block.old_start, block.old_end, block.new_start, block.new_end, ops), coarse
