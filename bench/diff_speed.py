"""Time watcher's diff on a 1 MB Chinese page with 1% of its characters changed.

The edits are scattered: single characters replaced at random positions all over
the text, the hardest case for a line-then-character diff (nearly every line
changes). Prints the median of 5 runs in ms and whether the diff hit its time
budget (``timed_out``: the diff stays correct but coarse).

    .venv/bin/python bench/diff_speed.py [--size-kb 1024] [--percent 1] [--runs 5] [--timeout 2]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from govsite import chinese_text

HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过"
)


def load_diff_texts() -> Any:
    """watcher.diff.ops.diff_texts, or exit 2 with a clear message if it is not there yet."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        from watcher.diff.ops import diff_texts
    except Exception as exc:  # ImportError, or the module failing while being written
        print(
            f"cannot import watcher.diff.ops.diff_texts: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        sys.exit(2)
    return diff_texts


def make_texts(size_kb: int, percent: float, seed: int) -> tuple[str, str, int]:
    """(old, new, edits): a page of ~``size_kb`` KB of UTF-8 and a copy with scattered edits."""
    rng = random.Random(seed)
    old = chinese_text(rng, size_kb * 1024 // 3)  # CJK is 3 bytes a character in UTF-8
    positions = [i for i, ch in enumerate(old) if ch != "\n"]
    chosen = rng.sample(positions, round(len(old) * percent / 100))
    chars = list(old)
    for i in chosen:
        chars[i] = rng.choice([c for c in HANZI[:8] if c != chars[i]])
    return old, "".join(chars), len(chosen)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-kb", type=int, default=1024, help="page text size in KB of UTF-8")
    p.add_argument("--percent", type=float, default=1.0, help="characters changed, in percent")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=2.0, help="diff_texts time budget (s)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)

    diff_texts = load_diff_texts()
    old, new, edits = make_texts(args.size_kb, args.percent, args.seed)
    times, results = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        results.append(diff_texts(old, new, timeout=args.timeout))
        times.append((time.perf_counter() - started) * 1000)
    last = results[-1]
    new_text = getattr(last, "new_text", None)
    figures = {
        "text_chars": len(old),
        "text_kb_utf8": round(len(old.encode("utf-8")) / 1024),
        "lines": old.count("\n") + 1,
        "edits": edits,
        "timeout_s": args.timeout,
        "median_ms": round(statistics.median(times), 1),
        "runs_ms": [round(t, 1) for t in times],
        "timed_out": [getattr(r, "timed_out", None) for r in results],
        "added": getattr(last, "added", None),
        "removed": getattr(last, "removed", None),
        "round_trip_ok": new_text() == new if callable(new_text) else None,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"diff_texts on {figures['text_kb_utf8']} KB ({len(old)} chars, "
            f"{figures['lines']} lines), {edits} scattered one-char edits ({args.percent:g}%)"
        )
        print(f"  median of {args.runs}: {figures['median_ms']} ms  (runs: {figures['runs_ms']})")
        print(f"  timed out (budget {args.timeout:g} s): {figures['timed_out']}")
        print(
            f"  added={figures['added']} removed={figures['removed']} "
            f"(minimal: about {edits} each); new text rebuilt: {figures['round_trip_ok']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
