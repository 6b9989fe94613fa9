"""Text helpers shared by keyword matching, search and the views of hits."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import opencc

SNIPPET_CONTEXT = 30


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
