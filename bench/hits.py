"""Keyword hits on keyword-dense first captures: matching, the worker hand-off, --json.

    .venv/bin/python bench/hits.py [--pages 100] [--json] [--against FIGURES.json]

Generates notice pages of about 100 KB (70 % GBK, some sentences in traditional
characters) naming 船舶, 国防科工局 and 工业互联网 about 300 times a page, as a
page on shipbuilding policy does, and as many pages that name none of them.
Then, on one core:

- ``match_dense`` / ``match_none``: ``find_hits`` of a first capture, seconds
  for all dense pages and for all pages that cannot match;
- ``handoff``: what crosses the process boundary per page: the pickled
  ``Page`` going to a worker and the ``Analysis`` coming back (bytes, and
  seconds to pickle and unpickle them all), the hits alone;
- ``json``: building every ``watcher check --json`` line (``CheckResult``),
  seconds and bytes.

It uses only what every version has (``find_hits``, ``analyse.run``,
``CheckResult.to_json``), so the same script measures another tree: run it
with that tree first on ``PYTHONPATH`` and ``--json > before.json``, then here
with ``--against before.json`` for the ratios (before / after).
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import govsite

from watcher.analysis import analyse
from watcher.core.models import CheckResult
from watcher.keywords import KeywordMatcher, find_hits

GROUPS = {"shipbuilding": ["船舶"], "sastind": ["国防科工局"], "ii": ["工业互联网"]}
PAGE_SIZE = 90_000  # GBK bytes: UTF-8 pages are half as big again
DENSE_CLAUSES = [
    "加快船舶工业高质量发展",
    "国防科工局组织船舶配套企业",
    "推动工业互联网与船舶制造融合",
    "国防科工局会同有关部门推进工业互联网平台建设",
]
TRADITIONAL = "國防科工局與船舶總裝廠推進工業互聯網應用"  # 國防科工局, 工業互聯網 must match
GBK_SHARE = 0.7
CLAUSE_RATE = 0.22  # of sentences: about 300 occurrences on a 100 KB page


def _text(rng: random.Random, size: int, dense: bool) -> str:
    """Notice prose of about ``size`` bytes, keyword-dense or naming no keyword."""
    out: list[str] = []
    used = 0
    while used < size:
        sentence = govsite._sentence(rng, keyword_rate=0.0)
        if dense and rng.random() < CLAUSE_RATE:
            clause = rng.choice(DENSE_CLAUSES) if rng.random() > 0.05 else TRADITIONAL
            sentence = sentence[:-1] + "，" + clause + "。"
        out.append(f'<p style="text-indent:2em">{sentence}</p>\n')
        used += len(out[-1].encode("gbk"))
    return "".join(out)


def generate(count: int, dense: bool, seed: int) -> list[analyse.Page]:
    pages = []
    for index in range(count):
        rng = random.Random(seed * 7919 + index)
        gbk = rng.random() < GBK_SHARE
        charset = "gbk" if gbk else "utf-8"
        title = "关于船舶工业的通知" if dense else "关于征集典型案例的通知"
        html = (
            f'<html><head><meta charset="{charset}"><title>{title} {index}</title>'
            f'</head><body><div id="con_con">{_text(rng, PAGE_SIZE, dense)}</div></body></html>'
        )
        pages.append(
            analyse.Page(
                body=html.encode(charset),
                content_type=f"text/html; charset={charset}" if rng.random() < 0.5 else None,
                final_url=f"http://127.0.0.1/notice/{index}.html",
                groups=tuple(GROUPS),
            )
        )
    return pages


def _timed(work, repeat: int = 3) -> float:
    """Best of ``repeat``: the machine is shared, the minimum is the work's own cost."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def _occurrences(hits: list) -> int:
    return sum(getattr(h, "count", 1) for h in hits)


def measure(count: int) -> dict[str, float]:
    dense, none = generate(count, True, 1), generate(count, False, 2)
    texts = {
        "dense": [analyse.read_page(p).document.text for p in dense],
        "none": [analyse.read_page(p).document.text for p in none],
    }
    matcher = KeywordMatcher(GROUPS)
    find_hits(matcher, None, "國防科工局 ＳＡＳＴＩＮＤ", None)  # warm: OpenCC, NFKC tables
    figures: dict[str, float] = {
        "pages": count,
        "page_kb": sum(len(p.body) for p in dense) / count / 1000,
        "occurrences_per_page": sum(
            _occurrences(find_hits(matcher, None, t, None)) for t in texts["dense"]
        )
        / count,
    }
    for kind, batch in texts.items():
        figures[f"match_{kind}_s"] = _timed(
            lambda b=batch: [find_hits(matcher, None, t, None) for t in b]
        )
    with tempfile.TemporaryDirectory() as blobs:
        analyse.init(GROUPS, Path(blobs), fsync=False)
        analyses = [analyse.run(p) for p in dense]
    going = [pickle.dumps(p, pickle.HIGHEST_PROTOCOL) for p in dense]
    coming = [pickle.dumps(a, pickle.HIGHEST_PROTOCOL) for a in analyses]
    hits_only = [pickle.dumps(a.hits, pickle.HIGHEST_PROTOCOL) for a in analyses]
    figures |= {
        "page_pickle_kb": sum(map(len, going)) / count / 1000,
        "body_kb": sum(len(p.body) for p in dense) / count / 1000,
        "analysis_pickle_kb": sum(map(len, coming)) / count / 1000,
        "hits_pickle_kb": sum(map(len, hits_only)) / count / 1000,
        "handoff_out_s": _timed(
            lambda: [pickle.loads(pickle.dumps(p, pickle.HIGHEST_PROTOCOL)) for p in dense]
        ),
        "handoff_back_s": _timed(
            lambda: [pickle.loads(pickle.dumps(a, pickle.HIGHEST_PROTOCOL)) for a in analyses]
        ),
    }
    at = datetime(2026, 1, 1, tzinfo=UTC)
    results = [
        CheckResult(f"t{i}", p.final_url, "new", at, hits=tuple(a.hits), title=a.title)
        for i, (p, a) in enumerate(zip(dense, analyses, strict=True))
    ]

    def lines() -> list[str]:
        return [json.dumps(r.to_json(), ensure_ascii=False) for r in results]

    figures["json_s"] = _timed(lines)
    figures["json_kb_per_page"] = sum(len(line.encode("utf-8")) for line in lines()) / count / 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    parser.add_argument("--against", type=Path, help="figures of another run: print ratios")
    args = parser.parse_args()
    figures = measure(args.pages)
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    before = json.loads(args.against.read_text("utf-8")) if args.against else {}
    head = f"{'figure':<24} {'this run':>12}"
    print(head + (f" {'other':>12} {'other/this':>10}" if before else ""))
    for name, value in figures.items():
        row = f"{name:<24} {value:>12.3f}"
        if name in before:
            ratio = before[name] / value if value else float("inf")
            row += f" {before[name]:>12.3f} {ratio:>9.2f}×"
        print(row)


if __name__ == "__main__":
    main()
