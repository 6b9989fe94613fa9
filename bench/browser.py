"""Browser fetches (``watcher.fetch.browser.BrowserPool``): pages per minute and peak memory.

Fetches ``--pages`` (50) generated notice pages of about 20 KB (``govsite``: Chinese
notice HTML, the site's mix of GBK and UTF-8, served by a child process so its CPU and
memory stay out of the figures) through one pool with ``--max-pages`` (2) pages at once,
after one warm-up fetch that launches Chromium. Default options: images, fonts and media
blocked, a full-page screenshot; ``--no-screenshot`` skips it.

Memory is sampled every 100 ms from /proc over this process and all its descendants: the
Python process, Playwright's Node driver and the Chromium tree (browser, zygotes, GPU and
network services, one renderer per open page). RSS sums count shared pages once per
process; PSS splits them, so the PSS total is what the whole costs the machine. CPU is
the user+system time of those processes (reaped renderers included, through their parents'
counters; the sampling thread's own time left out).

    .venv/bin/python bench/browser.py [--pages 50] [--max-pages 2] [--no-screenshot] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from govsite import SiteServer
from measure import _descendants, _pss_kb, _rss_kb

from watcher.fetch.browser import BrowserOptions, BrowserPool, BrowserSettings

TICKS = os.sysconf("SC_CLK_TCK")


class Sampler(threading.Thread):
    """Peak RSS/PSS (MB) of: this process, the Node driver, the Chromium tree, all of them."""

    def __init__(self, pool: BrowserPool) -> None:
        super().__init__(daemon=True)
        self.pool = pool
        self.peak: dict[str, float] = {}
        self._done = threading.Event()

    def parts(self) -> tuple[list[int], list[int], list[int]]:
        """(this process, the Node driver, the Chromium tree): not the site's process."""
        me = os.getpid()
        browser = self.pool.browser_pid
        chromium = _descendants(browser) if browser else []
        driver = [p for p in _descendants(me) if _exe(p).endswith("/node")]
        return [me], driver, chromium

    def cpu_seconds(self) -> float:
        """User+system seconds of the three parts (reaped renderers included, through
        their parent's counters), less this sampling thread's own."""
        me, driver, chromium = self.parts()
        total = sum(_cpu_ticks(f"/proc/{pid}/stat", 4) for pid in me + driver + chromium)
        if self.native_id is not None:
            total -= _cpu_ticks(f"/proc/{me[0]}/task/{self.native_id}/stat", 2)
        return total / TICKS

    def sample(self) -> dict[str, float]:
        me, driver, chromium = self.parts()
        figures: dict[str, float] = {}
        for name, pids in (
            ("python", me),
            ("driver", driver),
            ("chromium", list(chromium)),
            ("total", me + driver + chromium),
        ):
            figures[f"{name}_rss_mb"] = sum(_rss_kb(p) for p in pids) / 1024
            figures[f"{name}_pss_mb"] = sum(_pss_kb(p) for p in pids) / 1024
        figures["processes"] = len(me + driver + chromium)
        return figures

    def run(self) -> None:
        while not self._done.wait(0.1):
            for key, value in self.sample().items():
                self.peak[key] = max(self.peak.get(key, 0.0), value)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _cpu_ticks(path: str, fields: int) -> int:
    """utime+stime (+cutime+cstime when ``fields`` is 4) from a /proc stat file."""
    try:
        stat = Path(path).read_text()
    except OSError:
        return 0
    values = stat[stat.rindex(")") + 2 :].split()
    return sum(int(v) for v in values[11 : 11 + fields])


async def run(pages: int, max_pages: int, screenshot: bool) -> dict[str, object]:
    with SiteServer(count=max(200, pages * 4)) as site:
        chosen = sorted(site.pages, key=lambda p: abs(p.size - 20_000))[:pages]
        options = BrowserOptions(screenshot=screenshot)
        async with BrowserPool(BrowserSettings(max_pages=max_pages)) as pool:
            sampler = Sampler(pool)
            sampler.start()
            started = time.perf_counter()
            await pool.fetch(chosen[0].url, options)
            launch_s = time.perf_counter() - started

            cpu_before = sampler.cpu_seconds()
            started = time.perf_counter()
            results = await asyncio.gather(*(pool.fetch(p.url, options) for p in chosen))
            wall = time.perf_counter() - started
            cpu = sampler.cpu_seconds() - cpu_before
            await asyncio.sleep(1.0)
            idle = sampler.sample()
            sampler.stop()
        durations = sorted(r.duration for r in results)
        shots = [len(r.screenshot) for r in results if r.screenshot]
        ok = sum(
            1 for r in results if r.status == 200 and "工业和信息化部办公厅" in r.html.decode()
        )
        return {
            "pages": pages,
            "max_pages": max_pages,
            "screenshot": screenshot,
            "page_kb_median": statistics.median(p.size for p in chosen) / 1000,
            "first_fetch_with_launch_s": round(launch_s, 2),
            "wall_s": round(wall, 2),
            "pages_per_minute": round(pages / wall * 60, 1),
            "fetch_s_median": round(statistics.median(durations), 3),
            "fetch_s_p90": round(durations[int(len(durations) * 0.9) - 1], 3),
            "cpu_s_per_page": round(cpu / pages, 3),
            "correct": ok,
            "browser_launches": pool.launches,
            "screenshot_kb_median": round(statistics.median(shots) / 1024, 1) if shots else None,
            "peak": {k: round(v, 1) for k, v in sampler.peak.items()},
            "idle_after": {k: round(v, 1) for k, v in idle.items()},
        }


def show(figures: dict[str, object]) -> None:
    peak, idle = figures["peak"], figures["idle_after"]
    assert isinstance(peak, dict) and isinstance(idle, dict)
    print(
        f"{figures['pages']} pages of ~{figures['page_kb_median']:.0f} KB, "
        f"max_pages={figures['max_pages']}, screenshot={figures['screenshot']}"
    )
    print(f"  first fetch (Chromium launch included): {figures['first_fetch_with_launch_s']} s")
    print(
        f"  {figures['pages_per_minute']} pages/min ({figures['wall_s']} s); per fetch "
        f"median {figures['fetch_s_median']} s, p90 {figures['fetch_s_p90']} s; "
        f"CPU {figures['cpu_s_per_page']} s/page; {figures['correct']}/{figures['pages']} correct; "
        f"{figures['browser_launches']} browser launch(es)"
    )
    if figures["screenshot_kb_median"]:
        print(f"  screenshot median {figures['screenshot_kb_median']} KB")
    print("  memory MB        peak RSS  peak PSS   idle RSS  idle PSS")
    for part in ("python", "driver", "chromium", "total"):
        print(
            f"  {part:<14} {peak[f'{part}_rss_mb']:>9.0f} {peak[f'{part}_pss_mb']:>9.0f}"
            f"  {idle[f'{part}_rss_mb']:>9.0f} {idle[f'{part}_pss_mb']:>9.0f}"
        )
    print(f"  processes: peak {peak['processes']:.0f}, idle {idle['processes']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--max-pages", type=int, default=2)
    parser.add_argument("--no-screenshot", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(run(args.pages, args.max_pages, not args.no_screenshot))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        show(figures)


if __name__ == "__main__":
    main()
