"""Proposals of a new target's regions on the fixture pages: are the item links of the
proposed listing the hand-checked ones, and does the article come first on article pages?

Run: ``.venv/bin/python bench/propose.py [--repeat N]``

The pages and their expected links are ``tests/fixtures/propose/expected.json`` (real
pages: SASTIND-shaped lists, gov.cn 最新政策, Jiujiang's site search; made on the
research notes' templates: a TRS list, a Hanweb list, a ``?page=N`` table, and the
MIIT and policy-library shells whose lists come from JSON). For each listing page the
first proposed listing is loaded through the config loader and read by the listing
reader itself (the page, or the saved JSON answer its endpoint gives); precision is
the share of links read that are expected, recall the share of expected links read.
For each article page: whether the first proposal is the article. Milliseconds per
page are the median of N runs of ``propose``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yaml

from watcher.check.propose import Proposal, propose
from watcher.config import parse_config_text
from watcher.listings.items import items_of, next_page

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
EXPECTED = json.loads((FIXTURES / "propose" / "expected.json").read_text(encoding="utf-8"))


def _read(proposal: Proposal, url: str, html: str, answer: str | None) -> tuple[list[str], str]:
    """The links the listing reader finds with the proposal, and its page 2's URL."""
    target = {"name": "proposed", "url": url, **proposal.fragment}
    config = parse_config_text(yaml.safe_dump({"targets": [target]}), "proposed.yaml")
    loaded = config.targets[0]
    text = answer if answer is not None else html
    kind = "application/json" if answer is not None else "text/html"
    found = [i.url for i in items_of(text, kind, loaded.url, loaded.follow)]
    return found, next_page(text, loaded.url, loaded.follow, 1) or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'page':48} {'first proposal':50} {'P':>6} {'R':>6} {'ms':>6}")
    listing_p, listing_r, articles_first, times = [], [], [], []
    paged, paged_right = 0, 0
    for path, expected in EXPECTED.items():
        html = (FIXTURES / path).read_text(encoding="utf-8", errors="replace")
        url = expected["url"]
        spent = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            proposals = propose(html, url)
            spent.append((time.perf_counter() - started) * 1000)
        ms = statistics.median(spent)
        times.append(ms)
        first = proposals[0].label if proposals else "(none)"
        if expected["kind"] == "article":
            came_first = bool(proposals) and proposals[0].kind == "article"
            articles_first.append(came_first)
            verdict = "article first" if came_first else "NOT first"
            print(f"{path:48} {first[:50]:50} {verdict:>13} {ms:6.0f}")
            continue
        listing = next((p for p in proposals if p.kind in ("listing", "json-listing")), None)
        answer = expected.get("answer")
        answer_text = (FIXTURES / answer).read_text(encoding="utf-8") if answer else None
        found, second = _read(listing, url, html, answer_text) if listing else ([], "")
        if "next_page" in expected:
            paged += 1
            paged_right += second == expected["next_page"]
        hits = len(set(found) & set(expected["links"]))
        precision = hits / len(found) if found else 0.0
        recall = hits / len(expected["links"])
        listing_p.append(precision)
        listing_r.append(recall)
        print(f"{path:48} {first[:50]:50} {precision:6.3f} {recall:6.3f} {ms:6.0f}")
    print()
    print(
        f"listing pages: {len(listing_p)}, mean precision {statistics.mean(listing_p):.3f}, "
        f"mean recall {statistics.mean(listing_r):.3f}"
    )
    print(f"listing pages with a page 2: {paged}, its URL right on {paged_right}")
    print(f"article pages: {len(articles_first)}, article first on {sum(articles_first)}")
    print(f"ms per page: median {statistics.median(times):.0f}, max {max(times):.0f}")


if __name__ == "__main__":
    main()
