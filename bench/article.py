"""`select: auto` against trafilatura and readability-lxml on government article pages.

Run: ``.venv/bin/python bench/article.py [--repeat N]``
(trafilatura and readability-lxml are optional: ``pip install trafilatura readability-lxml``;
a method whose package is missing is skipped.)

Each page has a hand-checked body next to it (``<page>.article.txt``: title, dates,
文号 block, body, attachment list; no navigation, share bar, 网站标识码 or footer).
For each method and page it prints the precision and recall of characters (the
characters of the method's text that are in the expected body, and the expected
characters the method found: whitespace ignored, matched in order by a diff) and
milliseconds per page (median of N runs). "whole page" is watcher without
``select``, for reference.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import fast_diff_match_patch as dmp

from watcher.analysis.extract import extract

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
PAGES = [
    ("gov.cn (TRS, 国务院公报)", FIXTURES / "pages/gov.cn/gongbao_2007-23_content_711039.html"),
    ("shanxi.gov.cn (TRS)", FIXTURES / "pages/shanxi.gov.cn/article_t20190918_693227.html"),
    ("fgw.zj.gov.cn (Hanweb)", FIXTURES / "pages/fgw.zj.gov.cn/article_art_1621004_30332664.html"),
    ("cmse.gov.cn 2012 (TRS)", FIXTURES / "pages/cmse.gov.cn/article_t20120624_43188.html"),
    ("cmse.gov.cn 2021 (TRS)", FIXTURES / "pages/cmse.gov.cn/article_t20210106_47506.html"),
    ("kepu.gov.cn", FIXTURES / "pages/kepu.gov.cn/article_content_1755244.html"),
    ("miit.gov.cn (jpaas, made)", FIXTURES / "sites/miit.gov.cn/article.html"),
    ("sastind.gov.cn (made)", FIXTURES / "sites/sastind.gov.cn/article.html"),
]
BASE = "https://www.example.gov.cn/art/2026/art_1.html"
# watcher's text marks an attachment link with its file name; the others do not
_FILE_MARK = re.compile(r" \[[^\]\n]+\.(?:pdf|docx?|xlsx?|wps|ofd|zip|rar)\]")


def watcher_auto(html: str) -> str:
    return extract(html, BASE, select=["auto"]).text


def watcher_whole(html: str) -> str:
    return extract(html, BASE).text


def trafilatura_text(html: str) -> str:
    import trafilatura

    result = trafilatura.bare_extraction(html, url=BASE, include_tables=True, with_metadata=True)
    if result is None:
        return ""
    title = getattr(result, "title", None) or ""
    return f"{title}\n{getattr(result, 'text', '') or ''}"


def readability_text(html: str) -> str:
    from readability import Document

    document = Document(html)
    return f"{document.title()}\n{extract(document.summary(), BASE).text}"


def _available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def methods() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {"watcher auto": watcher_auto}
    if _available("trafilatura"):
        found["trafilatura"] = trafilatura_text
    if _available("readability"):
        found["readability-lxml"] = readability_text
    found["whole page"] = watcher_whole
    return found


def compact(text: str) -> str:
    return "".join(_FILE_MARK.sub("", text).split())


def precision_recall(got: str, expected: str) -> tuple[float, float]:
    """Characters in common, in order, over the got and the expected lengths."""
    got, expected = compact(got), compact(expected)
    if not got or not expected:
        return 0.0, 0.0
    common = sum(n for op, n in dmp.diff(got, expected, counts_only=True) if op == "=")
    return common / len(got), common / len(expected)


def timed(method: Callable[[str], str], html: str, repeat: int) -> tuple[str, float]:
    times = []
    text = ""
    for _ in range(repeat):
        start = time.perf_counter()
        text = method(html)
        times.append(time.perf_counter() - start)
    return text, statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    chosen = methods()
    totals: dict[str, list[tuple[float, float, float]]] = {name: [] for name in chosen}
    print(f"{'page':28} {'method':18} {'precision':>9} {'recall':>7} {'ms/page':>8}")
    for label, path in PAGES:
        html = path.read_text(encoding="utf-8")
        expected = Path(f"{path}.article.txt").read_text(encoding="utf-8")
        for name, method in chosen.items():
            text, ms = timed(method, html, args.repeat)
            p, r = precision_recall(text, expected)
            totals[name].append((p, r, ms))
            print(f"{label:28} {name:18} {p:9.3f} {r:7.3f} {ms:8.1f}")
    print()
    print(f"{'mean over pages':28} {'method':18} {'precision':>9} {'recall':>7} {'ms/page':>8}")
    for name, rows in totals.items():
        p, r, ms = (statistics.mean(col) for col in zip(*rows, strict=True))
        print(f"{'':28} {name:18} {p:9.3f} {r:7.3f} {ms:8.1f}")


if __name__ == "__main__":
    main()
