"""Where extraction time goes: BeautifulSoup vs our extract() vs a bare lxml parse.

Run: ``.venv/bin/python bench/extract_speed.py [--repeat N]``

Prints milliseconds per page (median of N runs) on every real fixture page and on
a deterministic 1 MB synthetic Chinese page, for
  (a) ``BeautifulSoup(html, "lxml").get_text()`` (skipped if bs4 is not installed),
  (b) ``watcher.analysis.extract.extract(html, url)`` on the whole page,
  (c) the lxml parse alone (str -> UTF-8 bytes -> tree, as extract() parses),
and, for reference, ``decode_html`` on the page bytes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from watcher.analysis.decode import decode_html
from watcher.analysis.extract import extract

PAGES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pages"
SYNTHETIC_BYTES = 1_000_000

try:
    from bs4 import BeautifulSoup
except ImportError:  # the benchmark's only optional dependency
    BeautifulSoup = None


def synthetic_page(size: int = SYNTHETIC_BYTES) -> str:
    """A deterministic government-style page of about ``size`` UTF-8 bytes."""
    sentence = (
        "国防科工局发布关于船舶工业高质量发展的通知，要求各单位认真贯彻落实，"
        "加快推进军民融合深度发展，提升自主创新能力。"
    )
    head = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>船舶工业通知_国防科工局</title>"
        "<style>.nav{color:red}</style><script>var a = 1;</script></head><body>"
        "<div class='nav'><ul>"
        + "".join(f"<li><a href='/n{i}/index.html'>栏目{i}</a></li>" for i in range(40))
        + "</ul></div><div id='article'>"
    )
    parts = [head]
    length = len(head.encode())
    i = 0
    while length < size:
        i += 1
        block = (
            f"<p>　　{i}. {sentence}<span style='font-size:16px'>{sentence}</span>"
            f"<a href='./P0{i:06d}.pdf'>附件{i}</a></p>"
        )
        if i % 10 == 0:
            block += (
                "<table><tr><td>序号</td><td>单位</td><td>金额</td></tr>"
                f"<tr><td>{i}</td><td>船舶集团</td><td>{i * 3}万元</td></tr></table>"
            )
        parts.append(block)
        length += len(block.encode())
    parts.append("</div><div class='footer'>版权所有：国家国防科技工业局</div></body></html>")
    return "".join(parts)


def per_page_ms(func: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def parse_only(html: str) -> etree._Element:
    parser = etree.HTMLParser(encoding="utf-8", remove_comments=True, huge_tree=True)
    return etree.fromstring(html.encode("utf-8"), parser)


def bench_page(body: bytes, repeat: int) -> list[float | None]:
    """(a) bs4, (b) ours, (c) parse only, decode: ms per page."""
    html = decode_html(body, None).text
    url = "http://example.gov.cn/page.html"
    row: list[float | None] = []
    if BeautifulSoup is not None:
        row.append(per_page_ms(lambda: BeautifulSoup(html, "lxml").get_text(), repeat))
    else:
        row.append(None)
    row.append(per_page_ms(lambda: extract(html, url), repeat))
    row.append(per_page_ms(lambda: parse_only(html), repeat))
    row.append(per_page_ms(lambda: decode_html(body, None), repeat))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    pages = [
        (p.relative_to(PAGES).as_posix(), p.read_bytes()) for p in sorted(PAGES.glob("*/*.html"))
    ]
    pages = [(name, body) for name, body in pages if not name.startswith("made/")]
    pages.append(("synthetic 1 MB Chinese page", synthetic_page().encode("utf-8")))

    if BeautifulSoup is None:
        print("note: beautifulsoup4 is not installed; column (a) is skipped")
    header = (
        f"{'page':52} {'KB':>6} {'(a) bs4':>9} {'(b) ours':>9} {'(c) parse':>9}"
        f" {'b/c':>5} {'a/b':>5} {'decode':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, body in pages:
        bs4_ms, ours_ms, parse_ms, decode_ms = bench_page(body, args.repeat)
        bs4_text = f"{bs4_ms:9.2f}" if bs4_ms is not None else f"{'-':>9}"
        ratio = f"{bs4_ms / ours_ms:5.1f}" if bs4_ms is not None else f"{'-':>5}"
        print(
            f"{name[:52]:52} {len(body) / 1024:6.0f} {bs4_text} {ours_ms:9.2f} {parse_ms:9.2f}"
            f" {ours_ms / parse_ms:5.1f} {ratio} {decode_ms:7.2f}"
        )
    print(
        "ms per page, median of", args.repeat, "runs; b/c = ours vs parse only; a/b = bs4 vs ours"
    )


if __name__ == "__main__":
    main()
