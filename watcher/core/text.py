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
MATCH_SPACE = re.compile(
    f"(?<=[{CJK}])\\s+(?=[{CJK}])|(?<=[{CJK_PUNCTUATION}])\\s+|\\s+(?=[{CJK_PUNCTUATION}])"
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
