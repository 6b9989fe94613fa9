"""How much of what a reader sees the text of record keeps, on the real pages.

Run: ``.venv/bin/python bench/fidelity.py``

For every real fixture page (the whole page, no ``select``) it prints the
characters of the text of record, the separators it keeps that a text with the
spaces between Hanzi removed (the comparison key, and what extraction version 1
stored) would not, and whether the page's title and its first <br>-split
heading are found as keyword hits. Run it on an older tree too to compare
(columns that need newer code are then left empty).
"""

from __future__ import annotations

import re
from pathlib import Path

from watcher.analysis.decode import decode_html
from watcher.analysis.extract import extract, title_of
from watcher.keywords import KeywordMatcher, find_hits

PAGES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pages"
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\u3001-\u303f\uff00-\uffef"
_FOLDED = re.compile(f"(?<=[{_CJK}]) | (?=[{_CJK}])")
# A heading broken by <br> inside one block: its parts, as a reader reads them.
_BROKEN = re.compile(r"<(p|h[1-6])\b[^>]*>((?:(?!</\1>).)*?<br\s*/?>(?:(?!</\1>).)*?)</\1>", re.S)
_TAGS = re.compile(r"<[^>]+>|\s|&nbsp;")


def _broken_heading(html: str) -> str:
    for match in _BROKEN.finditer(html):
        text = _TAGS.sub("", match.group(2))
        if 10 <= len(text) <= 120:
            return text
    return ""


def _found(term: str, text: str) -> str:
    if not term:
        return "-"
    hits = find_hits(KeywordMatcher({"t": [term]}), None, text, None)
    return "yes" if hits else "NO"


def main() -> None:
    rows = []
    for path in sorted(PAGES.glob("*/*.html")):
        if path.parent.name == "made":
            continue
        html = decode_html(path.read_bytes(), "text/html").text
        text = extract(html, "http://127.0.0.1/").text
        kept = len(_FOLDED.findall(text))
        title = title_of(html)
        rows.append(
            (
                f"{path.parent.name}/{path.name}"[:48],
                len(text),
                kept,
                _found(title, text),
                _found(_broken_heading(html), text),
            )
        )
    print(f"{'page':48} {'chars':>7} {'spaces kept':>12} {'title hit':>10} {'<br> hit':>9}")
    print("-" * 90)
    for name, chars, kept, title, broken in rows:
        print(f"{name:48} {chars:>7} {kept:>12} {title:>10} {broken:>9}")
    print("spaces kept: spaces beside Hanzi or full-width punctuation in the text of record")


if __name__ == "__main__":
    main()
