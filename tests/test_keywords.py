from pathlib import Path

import pytest
import yaml

from watcher.diff.ops import diff_texts
from watcher.keywords import KeywordMatcher, find_hits, normalize, snippet

DATA = yaml.safe_load((Path(__file__).parent / "data" / "keyword_cases.yaml").read_text("utf-8"))
MATCHER = KeywordMatcher(DATA["groups"])


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_keyword_cases(case: dict) -> None:
    old, new = case["old"], case["new"]
    diff = diff_texts(old, new) if old is not None else None
    hits = find_hits(MATCHER, old, new, diff)
    assert [[h.group, h.term, h.where] for h in hits] == case["hits"]


def test_hit_positions_and_snippets_refer_to_the_original_text() -> None:
    new = "前" * 50 + "國防科工局" + "后" * 50
    (hit,) = find_hits(MATCHER, None, new, None)
    assert new[hit.position : hit.position + 5] == "國防科工局"
    assert hit.snippet == "…" + "前" * 30 + "國防科工局" + "后" * 30 + "…"


def test_positions_survive_length_changing_normalisation() -> None:
    # NFKC expands ㈱ to (株): positions after it must still point at the term
    text = "㈱㈱ 船舶"
    normalised, mapping = normalize(text)
    assert "船舶" in normalised and mapping is not None
    (hit,) = find_hits(MATCHER, None, text, None)
    assert text[hit.position : hit.position + 2] == "船舶"


def test_snippet_is_one_line() -> None:
    assert snippet("甲\n乙船舶丙\n丁", 3, 5, context=2) == "…乙船舶丙…"
    assert snippet("甲\n船舶\n丁", 2, 4, context=5) == "甲 船舶 丁"


def test_restricted_matcher_only_uses_named_groups() -> None:
    only = MATCHER.restricted(["ii"])
    hits = find_hits(only, None, "国防科工局 工业互联网", None)
    assert [h.group for h in hits] == ["ii"]
