"""CPU of the analysis alone, in one process, on the keyword-dense pages (not a test).

    .venv/bin/python bench/analysis.py [--pages 1000] [--changed 100] [--repeat 3]

First captures: every page analysed once, CPU by page size (the big pages carry most
of the bytes). Changed pages: ``--changed`` pages edited as ``bench/run.py`` edits
them (a sentence or two), analysed against their previous text, best of
``--repeat``; once as a target whose notice is not yet linked to a document, once
as one that is (what a check of an edited notice hands the analysis). To compare
two trees, run it with ``PYTHONPATH=OTHER_TREE`` in front, alternately.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from govsite import DENSE_KEYWORDS, PROFILES, generate_pages, mutate_page

from watcher.analysis import analyse
from watcher.analysis.analyse import Page

BUCKETS = ((16, "< 16 KB"), (64, "16-64 KB"), (256, "64-256 KB"), (None, ">= 256 KB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pages = generate_pages(args.pages, 10, 20240501, PROFILES["dense"])
    analyse.init({"dense": list(DENSE_KEYWORDS)}, Path(tempfile.mkdtemp()), fsync=False)
    first = [
        Page(
            body=p.body,
            content_type=p.content_type,
            final_url=f"http://{p.host}/{p.name}.html",
            groups=("dense",),
        )
        for p in pages
    ]
    for page in first[:20]:  # one-time set-up (OpenCC, the screens) out of the figures
        analyse._analysed(page)
    by_size: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    total = 0.0
    for page in first:
        started = time.process_time()
        analyse._analysed(page)
        spent = time.process_time() - started
        total += spent
        kb = len(page.body) / 1024
        label = next(name for limit, name in BUCKETS if limit is None or kb < limit)
        row = by_size[label]
        row[0], row[1], row[2] = row[0] + 1, row[1] + spent, row[2] + len(page.body)
    print(f"first captures: {total:.2f} s CPU, {total / len(first) * 1000:.1f} ms a page")
    for _, label in BUCKETS:
        n, spent, size = by_size[label]
        if n:
            print(
                f"  {label:>10}: {n:4} pages, {size / 1e6:5.1f} MB, {spent:6.2f} s,"
                f" {spent / n * 1000:6.1f} ms a page, {spent / (size / 1e6) * 1000:4.0f} ms a MB"
            )
    changed = _changed(pages, first, args.changed)
    kinds = [("not yet linked", None), ("linked to its document", (None,))]
    if "linked_to" not in Page.__dataclass_fields__:  # a tree from before it was handed over
        kinds = [("as that tree hands them over", None)]
    for label, linked in kinds:
        batch = changed if linked is None else [replace(p, linked_to=linked) for p in changed]
        best = min(_timed(batch) for _ in range(args.repeat))
        print(
            f"changed pages, {label}: {best:.2f} s CPU,"
            f" {best / len(changed) * 1000:.1f} ms a page (best of {args.repeat})"
        )


def _changed(pages: list, first: list[Page], count: int) -> list[Page]:
    """Edited pages with their previous capture stored, as a check hands them over."""
    rng = random.Random(7)
    chosen = rng.sample(range(len(pages)), count)
    edited = []
    for i in chosen:
        analysis, frames = analyse._analysed(first[i])
        analyse._blobs().put_frames(frames)
        mutate_page(pages[i], rng, 2_000_000_000)
        edited.append(
            replace(
                first[i],
                body=pages[i].body,
                previous_text_sha256=analysis.text_sha256,
                previous_extraction=analysis.extraction_version,
                previous_rules_sha256=analysis.rules_sha256,
                previous_source_sha256=analysis.raw_sha256,
                previous_content_type=first[i].content_type,
            )
        )
    return edited


def _timed(pages: list[Page]) -> float:
    started = time.process_time()
    for page in pages:
        analyse._analysed(page)
    return time.process_time() - started


if __name__ == "__main__":
    main()
