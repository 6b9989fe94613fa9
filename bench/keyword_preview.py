"""The keyword groups page's preview on a store of 5,000 captures of the last 30 days.

Builds a store in a temporary folder (``--captures``, 5,000: ``--targets`` 500
targets, each a first capture and then changed ones, spread over 30 days; texts
of ``--chars`` (6,000) characters of generated notice prose; a fifth of the pages
name 船舶 / 国防科工局 / 工业互联网 in a few of their sentences, a twentieth of the
sentences are in traditional characters), with the store's own ``save_capture``
(real SQLite, real zstd blobs).
Then it asks:

- ``preview_groups`` over the example config's four groups with no time budget,
  a new cache: the cold cost of matching every stored text (blob reads included);
  then the same again, warm (every text's results known);
- a draft: one group with one alias added, on the warm cache (only the new term
  is matched);
- ``GET /keywords`` in-process (``httpx.ASGITransport``) as the page does it, with
  its 2 s budget: the first request (cold), then until the preview is complete,
  then one more (cached).

Prints seconds and the counts; ``--json`` for the figures.

    .venv/bin/python bench/keyword_preview.py [--captures 5000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from govsite import _sentence

from watcher.core.clock import SYSTEM_CLOCK
from watcher.store.index import CheckRecord, NewCapture, Store
from watcher.web.group_preview import TermCache, preview_groups

GROUPS = {
    "shipbuilding": ["船舶", "造船", "船舶工业", "海洋工程装备"],
    "sastind": ["国防科工局", "国家国防科技工业局", "SASTIND"],
    "mcf": ["军民融合", "re:军民(两用|结合)"],
    "industrial-internet": ["工业互联网", "标识解析"],
}
TRADITIONAL = str.maketrans({"国": "國", "业": "業", "联": "聯", "网": "網", "船": "船"})


def text_of(rng: random.Random, chars: int) -> str:
    """Notice prose; a fifth of the pages are about the groups' subjects."""
    rate = 0.03 if rng.random() < 0.2 else 0.0
    parts: list[str] = []
    while sum(map(len, parts)) < chars:
        sentence = _sentence(rng, rate)
        if rng.random() < 0.05:
            sentence = sentence.translate(TRADITIONAL)
        parts.append(sentence)
    return "\n".join(parts)


def build(data: Path, captures: int, targets: int, chars: int) -> float:
    rng = random.Random(7)
    now = datetime.now(UTC)
    started = time.perf_counter()
    store = Store(data)
    per = captures // targets
    for index in range(targets):
        name = f"notice-{index:04d}"
        url = f"http://127.0.0.1:9/{name}"
        text = text_of(rng, chars)
        previous = None
        for n in range(per):
            state = store.target_state(name, url)
            at = now - timedelta(days=29.5 * (per - n) / per, minutes=index)
            if n:
                lines = text.split("\n")
                lines[rng.randrange(len(lines))] = _sentence(rng, 0.01)
                text = "\n".join(lines)
            kind = "changed" if previous else "new"
            new = NewCapture(
                state.id, kind, url, url, 200, [], at, 0.01, text.encode(), text,
                previous_id=previous,
            )  # fmt: skip
            previous = store.save_capture(new, CheckRecord(state.id, at, kind, 0.01, 200))
    store.close()
    return time.perf_counter() - started


def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


async def page_times(data: Path, config: Path) -> dict[str, Any]:
    import httpx

    from watcher.web.app import create_app

    app = create_app(data, config)
    transport = httpx.ASGITransport(app=app)
    out: dict[str, Any] = {"requests": []}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for _ in range(20):
            started = time.perf_counter()
            answer = await client.get("/keywords")
            seconds = time.perf_counter() - started
            complete = 'data-complete="no"' not in answer.text
            out["requests"].append({"seconds": round(seconds, 3), "complete": complete})
            if complete:
                break
        started = time.perf_counter()
        answer = await client.get("/keywords")
        out["cached"] = round(time.perf_counter() - started, 3)
        assert answer.status_code == 200
    app.state.inbox_writer.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=5000)
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--chars", type=int, default=6000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"captures": args.captures, "chars": args.chars}
    with tempfile.TemporaryDirectory(prefix="keyword-preview-") as folder:
        data = Path(folder) / "snapshots"
        figures["build_s"] = round(build(data, args.captures, args.targets, args.chars), 1)
        store = Store(data, readonly=True)
        groups = list(GROUPS.items())
        cache = TermCache()
        run = lambda asked: preview_groups(store, asked, cache, SYSTEM_CLOCK, budget=1e9)  # noqa: E731
        cold, previews = timed(lambda: run(groups))
        warm, again = timed(lambda: run(groups))
        assert [p.captures for p in previews] == [p.captures for p in again]
        draft = [("draft", [*GROUPS["shipbuilding"], "船坞"])]
        drafted, (d,) = timed(lambda: run(draft))
        figures |= {
            "read": previews[0].read,
            "hits": {g: p.captures for (g, _), p in zip(groups, previews, strict=True)},
            "targets": {g: p.targets for (g, _), p in zip(groups, previews, strict=True)},
            "cold_s": round(cold, 3),
            "warm_s": round(warm, 3),
            "draft_one_more_alias_s": round(drafted, 3),
            "draft_hits": d.captures,
        }
        store.close()
        config = Path(folder) / "targets.yaml"
        keywords = json.dumps(GROUPS, ensure_ascii=False)
        config.write_text(
            f"keywords: {keywords}\ntargets: [{{name: a, url: 'http://127.0.0.1:9/a'}}]\n",
            encoding="utf-8",
        )
        figures["page"] = asyncio.run(page_times(data, config))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    print(f"store: {args.captures:,} captures of {args.chars:,} characters, built in "
          f"{figures['build_s']} s")  # fmt: skip
    print(f"groups' hits: {figures['hits']} on targets {figures['targets']}")
    print(f"preview of 4 groups, cold (no budget): {figures['cold_s']} s for {figures['read']:,}")
    print(f"preview of 4 groups, cached:           {figures['warm_s']} s")
    print(f"draft with one more alias, cached:     {figures['draft_one_more_alias_s']} s")
    requests = figures["page"]["requests"]
    said = ", ".join(f"{r['seconds']} s{'' if r['complete'] else ' (partial)'}" for r in requests)
    print(f"GET /keywords (1.8 s budget) until complete: {said}; then cached: "
          f"{figures['page']['cached']} s")  # fmt: skip


if __name__ == "__main__":
    main()
