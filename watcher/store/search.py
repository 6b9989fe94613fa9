"""Full-text search over every captured text: what to index, and how to ask.

SQLite's FTS5 ships no tokenizer that finds a two-character Chinese word
(trigram needs three; unicode61 takes a whole run of Hanzi as one token), so
watcher gives it tokens it can use: every distinct pair of adjacent Hanzi
(bigrams; a lone Hanzi as itself) and every Latin word or number, lower-cased,
full-width folded, traditional characters mapped to simplified (the FTS5 table
and its query are in ``watcher.store.sqlite``). The index keeps no positions
(``detail=none``: under 1 KB per page), so a query first finds the texts holding
all its tokens, then each candidate is confirmed on the stored text, which also
gives the snippet. Phrases (``"..."``) are confirmed whole.

Whitespace between Hanzi (a space the page shows, a line break of a title split
by ``<br>``) does not end a run, as it does not for a reader: 工信部 通知公告
gives the pair 部通, so a search for 工信部通知公告 finds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from watcher.core.text import normalize_document_numbers

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_RUNS = re.compile(f"[{_CJK}]+")
_SPACE_IN_RUN = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")
_WORDS = re.compile(f"[^\\W_{_CJK}]+")
_FULL_WIDTH = re.compile("[\uff01-\uff5e]")
_FOLD = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_QUERY_PARTS = re.compile(r'"([^"]+)"|(\S+)')


def _tokens(text: str) -> set[str]:
    text = normalize_document_numbers(text)  # 〔2022〕 and [２０２２] index alike
    if _FULL_WIDTH.search(text):
        text = text.translate(_FOLD)
    text = _SPACE_IN_RUN.sub("", text.lower())
    found: set[str] = set()
    for run in _RUNS.findall(text):
        if len(run) == 1:
            found.add(run)
        else:
            found.update(map(str.__add__, run[:-1], run[1:]))
    found.update(_WORDS.findall(text))
    return found


def _simplified(tokens: str) -> str:
    from watcher.core.text import t2s as _t2s

    return _t2s().convert(tokens)


def index_terms(text: str) -> str:
    """What FTS5 stores for a text: its distinct tokens, space-separated."""
    return _simplified(" ".join(sorted(_tokens(text))))  # sorted: the same text, the same terms


@dataclass(frozen=True, slots=True)
class Branch:
    """One alternative of a query: texts holding all of its terms match."""

    terms: tuple[str, ...]  # what must occur in a text, as the user wrote them
    tokens: tuple[str, ...]  # index tokens that every matching text holds (all of them)


@dataclass(frozen=True, slots=True)
class Query:
    """Alternatives joined by ``OR``; each is words and phrases that must all occur."""

    branches: tuple[Branch, ...]
    notes: tuple[str, ...] = ()  # how the query was read where that may surprise

    @property
    def terms(self) -> tuple[str, ...]:
        """Every term of every alternative, once: what a snippet marks."""
        return tuple(dict.fromkeys(t for b in self.branches for t in b.terms))

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(sorted({t for b in self.branches for t in b.tokens}))

    @property
    def read_as(self) -> str:
        """The query as it was understood: 船舶 OR (造船 AND "industrial internet")."""

        def term(t: str) -> str:
            return f'"{t}"' if " " in t or t.upper() in _OPERATORS else t

        parts = [" AND ".join(map(term, b.terms)) for b in self.branches]
        if len(parts) > 1:
            parts = [f"({p})" if " AND " in p else p for p in parts]
        return " OR ".join(parts)


class QueryError(ValueError):
    """A search the index cannot answer; the message says why."""


_OPERATORS = {"OR", "AND", "|"}


def parse_query(q: str) -> Query:
    """Words and ``"quoted phrases"``, each to be found, in any order; ``OR`` (or ``|``)
    between them gives alternatives. A capitalised ``AND`` is the default and is dropped;
    brackets are ignored (the index has no grouping), and the notes say so."""
    groups: list[list[str]] = [[]]
    notes: list[str] = []
    for phrase, word in _QUERY_PARTS.findall(q):
        if phrase.strip():
            groups[-1].append(phrase.strip())
            continue
        if word in ("OR", "|"):
            groups.append([])
            continue
        if word == "AND":
            continue
        bare = word.strip("()")
        if bare != word and "brackets" not in " ".join(notes):
            notes.append("brackets are ignored: each word is looked for on its own")
        if bare == "or":
            notes.append('"or" was searched for as a word; write OR to find either side')
        if bare:
            groups[-1].append(bare)
    branches = [_branch(tuple(g)) for g in groups if g]
    if not branches:
        raise QueryError("type something to search for")
    return Query(tuple(branches), tuple(notes))


def _branch(terms: tuple[str, ...]) -> Branch:
    tokens: set[str] = set()
    for term in terms:
        if _RUNS.fullmatch(term) and len(term) == 1:
            raise QueryError(
                f"{term!r}: search for at least two Chinese characters (the index holds"
                " pairs of characters, so one alone cannot be looked up)"
            )
        found = _simplified(" ".join(_tokens(term))).split()
        if not found:
            raise QueryError(f"{term!r} has no letters, digits or Chinese characters to search")
        tokens.update(found)
    return Branch(terms, tuple(sorted(tokens)))
