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


# --- terms as a reader reads them: across line breaks and spaces ------------------------

GAZETTE_TITLE = (
    "全国人民代表大会常务委员会关于批准财政部发行特别国债购买外汇及调整2007年末国债余额限额的决议"
)


def test_a_title_split_by_br_on_the_real_gazette_page_is_a_hit() -> None:
    from watcher.analysis.extract import extract

    html = Path(__file__).parent / "fixtures/pages/gov.cn/gongbao_2007-23_content_711039.html"
    text = extract(html.read_text("utf-8"), "https://www.gov.cn/", select=["#UCAP-CONTENT"]).text
    matcher = KeywordMatcher({"gazette": [GAZETTE_TITLE]})
    hits = find_hits(matcher, None, text, None)
    assert len(hits) == 1
    found = text[hits[0].position : hits[0].position + hits[0].length]
    assert found.count("\n") == 2 and found.replace("\n", "") == GAZETTE_TITLE  # span on the text
    assert "\n" not in hits[0].snippet


def test_terms_match_across_spaces_beside_hanzi_and_line_breaks_between_words() -> None:
    matcher = KeywordMatcher(
        {"g": ["国防科工局", "工信部通知公告", "re:关于.{0,4}决议", "Space Station"]}
    )
    text = "国防 科工局\n工信部 通知公告\n关于批准\n决议\nspace\nstation"
    assert [text[o.start : o.end] for o in matcher.occurrences(text)] == [
        "国防 科工局",
        "工信部 通知公告",
        "关于批准\n决议",
        "space\nstation",
    ]
    assert KeywordMatcher({"g": ["国防 科工局"]}).occurrences("国防科工局")  # terms fold too
    assert not KeywordMatcher({"g": ["spacestation"]}).occurrences("space station")


def test_a_space_put_inside_a_term_does_not_add_it() -> None:
    matcher = KeywordMatcher({"g": ["国防科工局"]})
    old, new = "国防科工局发布通知", "国防 科工局发布公告"
    assert find_hits(matcher, old, new, diff_texts(old, new)) == []
    old, new = "发布通知", "国防 科工局发布通知"
    assert [h.where for h in find_hits(matcher, old, new, diff_texts(old, new))] == ["added"]
