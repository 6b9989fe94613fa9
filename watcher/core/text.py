"""Text helpers shared by extraction, keyword matching, search and the views of hits.

The text of record keeps a space wherever the page shows one, also between Hanzi
(joint issuers, a contact's name and number). Chinese needs no space, so an
inserted or deleted one is not a change: comparisons use ``comparison_key``, the
text with every space beside a CJK character or full-width punctuation folded
away (line breaks stay: a new line is a change). Keyword matching and search
also fold line breaks (``MATCH_SPACE``), so a title split by ``<br>`` is found
as a reader reads it.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import opencc

SNIPPET_CONTEXT = 30

CJK = (
    "\u2e80-\u2fdf\u3001-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3200-\u33ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0003134f"
    "\u00b7\u2014\u2018\u2019\u201c\u201d\u2026"  # punctuation Chinese text shares
)
# Full-width punctuation carries its own spacing, so a space beside it is never
# meaningful ("发布日期：　2024-05-10"), whatever is on the other side.
CJK_PUNCTUATION = "\u3001-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
# One space (the text of record has no runs) between two CJK characters or beside
# full-width punctuation. The literal space comes first so the regex engine can
# skip to spaces quickly.
CJK_SPACE = re.compile(
    f" (?:(?<=[{CJK_PUNCTUATION}] )|(?=[{CJK_PUNCTUATION}])|(?<=[{CJK}] )(?=[{CJK}]))"
)
# Any whitespace run, line breaks included, in the same places: what matching folds.
# Its first character comes first, and what is behind it is looked at from after it:
# the engine then skips to whitespace quickly instead of trying the CJK class behind
# every character (astral ranges, so no bitmap), which cost more than the rest of
# keyword matching on a page with many lines.
MATCH_SPACE = re.compile(
    f"\\s(?:(?<=[{CJK}]\\s)\\s*(?=[{CJK}])|(?<=[{CJK_PUNCTUATION}]\\s)\\s*|\\s*(?=[{CJK_PUNCTUATION}]))"
)


def comparison_key(text: str) -> str:
    """What two texts of record are compared by: equal keys mean "unchanged"."""
    return CJK_SPACE.sub("", text) if " " in text else text


@functools.cache
def t2s() -> opencc.OpenCC:
    """Traditional → simplified Chinese: 國防科工局 matches 国防科工局."""
    import opencc  # loaded where text is matched, not wherever snippets are cut

    return opencc.OpenCC("t2s")


def snippet(text: str, start: int, end: int, context: int = SNIPPET_CONTEXT) -> str:
    """The match with about ``context`` characters each side, on one line."""
    left = max(0, start - context)
    right = min(len(text), end + context)
    body = text[left:right].replace("\n", " ").strip()
    return ("…" if left > 0 else "") + body + ("…" if right < len(text) else "")


# --- 文号: one written form for search and matching -------------------------------------

_SPACE_CHARS = " \t\u3000\xa0"
_L_BRACKETS = "〔\\[（［(【〖﹝"
_R_BRACKETS = "〕\\]）］)】〗﹞"
_S = f"[{_SPACE_CHARS}]*"
_DIGIT = "[0-9０-９]"
# a bracketed year, and the number and 号 after it; or 第N号 (令第61号, 公告2022年第8号).
# One class of first characters, so the engine skips to them (two alternatives, one a
# class, made it try every character of a page).
_DOCUMENT_NUMBER_PART = re.compile(
    f"[{_L_BRACKETS}第](?:(?<=[{_L_BRACKETS}]){_S}(?:[1１][9９]|[2２][0０]){_DIGIT}{{2}}{_S}"
    f"[{_R_BRACKETS}](?:{_S}(?:第{_S})?{_DIGIT}{{1,6}}{_S}号)?"
    f"|(?<=第){_S}{_DIGIT}{{1,6}}{_S}号)"
)
_DOCUMENT_NUMBER_FOLD = {
    **{ord(c): "〔" for c in "〔[（［(【〖﹝"},
    **{ord(c): "〕" for c in "〕]）］)】〗﹞"},
    **{ord("０") + i: str(i) for i in range(10)},
}
_HANZI_BEFORE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def fold_document_numbers(text: str) -> tuple[str, list[int] | None]:
    """Every 文号 in ``text`` in one written form, and where each character came from.

    Sites, listings and analysts write the same number many ways: 工信部联规〔2022〕12号,
    [2022], （2022）, 【2022】, (2022), ［2022］, full-width ２０２２, a space here and there.
    Inside a number (a bracketed year with the number and 号 after it, or 第N号), the
    brackets become 〔〕, full-width digits ASCII, and spaces go, also the ones between
    the number and the Hanzi before it. Nothing else in the text changes. Search folds
    both the indexed text and the query; keyword matching both the terms and the text.

    The map gives, for each index of the folded text, the index in ``text`` it came
    from; it is None when no character was dropped (positions are the same).
    """
    if not _DOCUMENT_NUMBER_PART.search(text):
        return text, None
    out: list[str] = []
    mapping: list[int] = []
    last = 0
    for match in _DOCUMENT_NUMBER_PART.finditer(text):
        start = match.start()
        while start > last and text[start - 1] in _SPACE_CHARS:
            start -= 1
        if start == match.start() or start == 0 or not _HANZI_BEFORE.match(text[start - 1]):
            start = match.start()  # spaces before it only go after a Hanzi (国发 〔2022〕)
        out.append(text[last:start])
        mapping.extend(range(last, start))
        for i in range(start, match.end()):
            char = text[i]
            if char in _SPACE_CHARS:
                continue
            out.append(char.translate(_DOCUMENT_NUMBER_FOLD))
            mapping.append(i)
        last = match.end()
    out.append(text[last:])
    mapping.extend(range(last, len(text)))
    folded = "".join(out)
    return folded, (mapping if len(folded) != len(text) else None)


def normalize_document_numbers(text: str) -> str:
    """``fold_document_numbers`` without the map: 国办发 [２０２４] 5 号 -> 国办发〔2024〕5号."""
    return fold_document_numbers(text)[0]
