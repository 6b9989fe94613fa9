"""Compare two extracted texts: lines first, then characters inside changed lines.

The result is structure (blocks of ops plus counts), never marker strings, so
every renderer (text, HTML, JSON) and the keyword matcher work from the same
thing. A one-character edit in Chinese text is one changed character.

Engine: the C++ ``fast-diff-match-patch`` (measured ~30x faster than the
pure-Python ``diff-match-patch`` on a 1 MB page; see ``bench/diff_engines.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import fast_diff_match_patch as dmp

OpKind = Literal["equal", "insert", "delete"]
_KIND: dict[str, OpKind] = {"=": "equal", "+": "insert", "-": "delete"}
_CHARS_BASE = 0x100  # line tokens start above ASCII so they never look like text


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

    kind: Literal["equal", "change"]
    old_start: int
    old_end: int
    new_start: int
    new_end: int
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class TextDiff:
    blocks: tuple[Block, ...]
    added: int  # characters inserted, newlines not counted
    removed: int  # characters deleted, newlines not counted
    timed_out: bool  # the time budget ran out; some regions are coarse
    elapsed: float

    @property
    def changed(self) -> bool:
        return self.added > 0 or self.removed > 0 or any(b.kind == "change" for b in self.blocks)

    @property
    def ops(self) -> Iterator[Op]:
        for block in self.blocks:
            yield from block.ops

    def old_text(self) -> str:
        return "".join(op.text for op in self.ops if op.kind != "insert")

    def new_text(self) -> str:
        return "".join(op.text for op in self.ops if op.kind != "delete")


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
    blocks: list[Block] = []
    timed_out = line_ops is None
    if line_ops is None:
        line_ops = [("-", len(old_lines)), ("+", len(new_lines))]
    for block in _blocks_from_line_ops(line_ops, old_lines, new_lines):
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
    return TextDiff(tuple(blocks), added, removed, timed_out, time.perf_counter() - started)


def _line_ops(
    old_lines: list[str], new_lines: list[str], deadline: float
) -> list[tuple[str, int]] | None:
    """Diff the sequences of lines by mapping each distinct line to one character."""
    codes: dict[str, str] = {}

    def encode(lines: list[str]) -> str:
        return "".join(codes.setdefault(line, chr(_CHARS_BASE + len(codes))) for line in lines)

    a, b = encode(old_lines), encode(new_lines)
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        return None
    limit = 0 if remaining == float("inf") else remaining
    ops = dmp.diff(a, b, timelimit=limit, checklines=False, cleanup="No", counts_only=True)
    if time.perf_counter() >= deadline:
        return None  # the engine gave up early: its answer is valid but coarse
    return [(op, n) for op, n in ops if n]


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
