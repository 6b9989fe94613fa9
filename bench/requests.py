"""CPU per request of watcher's fetcher: N requests to a local site answering 304, then 200.

The site (``bench/govsite.py``) runs in its own process, so only the fetcher's CPU
(this process: request building, politeness, lanes, httpx and httpcore, body
reading) is counted. Each figure is the median of ``--rounds`` rounds of N requests.

    .venv/bin/python bench/requests.py
    .venv/bin/python bench/requests.py --requests 2000 --concurrency 32 --hosts 4
    .venv/bin/python bench/requests.py --profile 304     # cProfile of one round, top functions
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import resource
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from govsite import PageInfo, SiteServer

from watcher.fetch.client import Fetcher, FetchOptions, FetchSettings


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one_round(fetcher: Fetcher, pages: list[PageInfo], count: int, etag: bool) -> float:
    """CPU ms per request of ``count`` requests spread over ``pages``."""
    chosen = [pages[i % len(pages)] for i in range(count)]
    options = {
        p.url: FetchOptions(etag=ETAGS.get(p.url) if etag else None, retries=0) for p in chosen
    }
    start = cpu()
    results = await asyncio.gather(*(fetcher.fetch(p.url, options[p.url]) for p in chosen))
    spent = cpu() - start
    wanted = 304 if etag else 200
    wrong = [r.status_code for r in results if r.status_code != wanted]
    if wrong:
        raise SystemExit(f"expected HTTP {wanted}, got {wrong[:5]}")
    return spent / count * 1000


ETAGS: dict[str, str] = {}


async def measure(args: argparse.Namespace, pages: list[PageInfo]) -> dict[str, float]:
    settings = FetchSettings(concurrency=args.concurrency, per_host=args.per_host, host_delay=0)
    figures: dict[str, float] = {}
    async with Fetcher(settings) as fetcher:
        for page in pages:  # learn the ETags, and warm the connections
            found = await fetcher.fetch(page.url, FetchOptions(retries=0))
            ETAGS[page.url] = next(v for k, v in found.headers if k.lower() == "etag")
        for label, etag in (("304", True), ("200", False)):
            if args.profile == label:
                profiler = cProfile.Profile()
                profiler.enable()
                await one_round(fetcher, pages, args.requests, etag)
                profiler.disable()
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
            rounds = [
                await one_round(fetcher, pages, args.requests, etag) for _ in range(args.rounds)
            ]
            figures[label] = statistics.median(rounds)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=1000, help="requests per round")
    p.add_argument("--rounds", type=int, default=5, help="rounds per figure (median)")
    p.add_argument("--pages", type=int, default=100, help="pages on the site")
    p.add_argument("--hosts", type=int, default=4, help="loopback addresses")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--per-host", type=int, default=8)
    p.add_argument("--profile", choices=("304", "200"), help="cProfile one round, to stderr")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with SiteServer(count=args.pages, hosts=args.hosts) as site:
        figures = asyncio.run(measure(args, site.pages))
    if args.json:
        print(json.dumps({"cpu_ms_per_request": figures}))
        return 0
    print(
        f"{args.requests} requests a round, {args.pages} pages on {args.hosts} hosts,"
        f" concurrency {args.concurrency}, per_host {args.per_host};"
        f" CPU ms per request, median of {args.rounds} rounds:"
    )
    for label, value in figures.items():
        print(f"  HTTP {label}: {value:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
