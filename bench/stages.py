"""Time each stage of a first capture over the generated site, single-threaded.

    .venv/bin/python bench/stages.py [--pages 1000] [--profile dense]

Prints seconds per stage for all pages: the floor of what one core must do,
to compare with a cycle's wall and CPU time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zstandard
from govsite import DENSE_KEYWORDS, PROFILES, generate_pages

from watcher.analysis.analyse import looks_removed
from watcher.analysis.decode import decode_html
from watcher.analysis.extract import extract_with_report
from watcher.analysis.identity import facts_of
from watcher.analysis.metadata import extract_metadata
from watcher.keywords import KeywordMatcher, find_hits
from watcher.store.blobs import ZSTD_LEVEL, sha256
from watcher.store.search import index_terms

GROUPS = {"shipbuilding": ["船舶", "造船"], "sastind": ["国防科工局"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    args = parser.parse_args()
    pages = generate_pages(args.pages, 1, 20240501, PROFILES[args.profile])
    dense = args.profile == "dense"
    matcher = KeywordMatcher({"dense": list(DENSE_KEYWORDS)} if dense else GROUPS)
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    spent: dict[str, float] = defaultdict(float)
    sizes: dict[str, int] = defaultdict(int)

    def timed(stage, fn, *a, **kw):
        t = time.perf_counter()
        out = fn(*a, **kw)
        spent[stage] += time.perf_counter() - t
        return out

    for page in pages:
        timed("sha256", sha256, page.body)
        decoded = timed("decode", decode_html, page.body, page.content_type)
        doc, _ = timed("extract", extract_with_report, decoded.text, "http://127.0.0.1/")
        meta = timed("metadata", extract_metadata, decoded.text, doc.text)  # every HTML page's
        found = {k: str(v) for k, v in meta.to_json().items() if v and k != "sources"}
        timed("identity", facts_of, doc.text, found, doc.title)  # sketch, citations, deadlines
        timed("keywords", find_hits, matcher, None, doc.text, None)
        timed("search terms", index_terms, doc.text)
        timed("soft 404", looks_removed, doc.title, doc.text)
        raw_z = timed("zstd raw", compressor.compress, page.body)
        text_z = timed("zstd text", compressor.compress, doc.text.encode())
        sizes["raw"] += len(page.body)
        sizes["raw_z"] += len(raw_z)
        sizes["text_z"] += len(text_z)
    total = sum(spent.values())
    for stage, secs in spent.items():
        print(f"{stage:10} {secs:6.2f} s  {secs / total * 100:4.0f}%")
    print(f"{'total':10} {total:6.2f} s for {len(pages)} pages")
    n = len(pages)
    print(
        f"raw {sizes['raw'] / n / 1000:.1f} KB/page → zstd {sizes['raw_z'] / n / 1000:.1f} KB;"
        f" text zstd {sizes['text_z'] / n / 1000:.1f} KB"
    )


if __name__ == "__main__":
    main()
