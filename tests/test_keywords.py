import re
from pathlib import Path

import pytest
import yaml
from govpages import CMSE, NOTICE, swap_paragraphs
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.core.text import _DOCUMENT_NUMBER_PART, CJK, CJK_PUNCTUATION, MATCH_SPACE
from watcher.diff.ops import diff_texts
from watcher.keywords import KeywordMatcher, changed_ranges, find_hits, normalize, snippet

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


# -- moved paragraphs: their terms were not added ---------------------------------------

SPACE = {"space": ["空间站", "长征五号B", "运载火箭"], "shipbuilding": ["船舶"]}


def notice_versions(edit: tuple[str, str] | None = None) -> tuple[str, str]:
    from watcher.analysis.extract import extract_with_report

    html = NOTICE.read_bytes().decode("gbk")
    swapped = swap_paragraphs(html, "一、验收范围", "三、请各单位")
    if edit:
        swapped = swapped.replace(*edit)
    texts = [
        extract_with_report(h, "http://127.0.0.1/", select=("#article",))[0].text
        for h in (html, swapped)
    ]
    return texts[0], texts[1]


def test_a_moved_paragraph_holding_a_term_is_no_hit() -> None:
    old, new = notice_versions()
    assert "船舶工业科研项目。" in old.split("一、验收范围")[1].split("\n")[0]
    diff = diff_texts(old, new)
    assert find_hits(KeywordMatcher(SPACE), old, new, diff) == []  # was: 船舶 "added"
    assert (diff.added, diff.removed) == (0, 0)  # was 64 and 64
    assert diff.moves


def test_a_term_an_edit_completes_inside_a_moved_paragraph_is_still_added() -> None:
    old, new = notice_versions()
    old = old.replace("研制任务的船舶工业", "研制任务的船只工业")
    diff = diff_texts(old, new)
    assert diff.moves and (diff.added, diff.removed) == (1, 1)
    hits = find_hits(KeywordMatcher(SPACE), old, new, diff)
    assert [(h.term, h.where) for h in hits] == [("船舶", "added")]
    assert new[hits[0].position : hits[0].position + 2] == "船舶"


def test_a_term_across_the_edge_of_a_moved_block_is_new_there() -> None:
    # the edges of a move are empty spans: only a term running across one overlaps it
    diff = diff_texts(
        "甲乙丙丁戊己庚辛\n中间一行文字内容\n", "中间一行文字内容\n甲乙丙丁戊己庚辛\n"
    )
    assert diff.moves
    inserted, deleted = changed_ranges(diff)
    assert (0, 0) in deleted and (9, 9) in deleted
    assert (9, 9) in inserted and (18, 18) in inserted
    assert not any(s < e for s, e in inserted + deleted)  # no text counted as changed


E2E_CONFIG = """\
settings:
  host_delay: 0
defaults:
  retries: 0
  timeout: 5s
keywords:
  space: [空间站, 长征五号B, 运载火箭]
  shipbuilding: [船舶]
targets:
  - name: cmse
    url: {base}/cmse.html
  - name: notice
    url: {base}/notice.html
    select: "#article"
"""


def test_checking_a_real_page_whose_keyword_paragraphs_swapped_raises_no_hit(
    http_server, tmp_path: Path
) -> None:
    """`watcher check` twice over HTTP: the second time two keyword-holding paragraphs
    of each page are swapped. Nothing was added, so no term was (and no alert is due)."""
    import json

    from click.testing import CliRunner

    from watcher.cli.main import main

    cmse = CMSE.read_text("utf-8")
    notice = NOTICE.read_bytes().decode("gbk")
    versions = {
        "/cmse.html": (
            cmse,
            swap_paragraphs(cmse, "中国运载火箭技术研究院负责", "随着空间站工程规模"),
        ),
        "/notice.html": (notice, swap_paragraphs(notice, "一、验收范围", "三、请各单位")),
    }
    config = tmp_path / "targets.yaml"
    config.write_text(E2E_CONFIG.format(base=http_server.url("").rstrip("/")), "utf-8")
    data = tmp_path / "snapshots"

    def check(version: int) -> dict[str, dict]:
        for path, pages in versions.items():
            charset = "gbk" if path == "/notice.html" else "utf-8"
            body = pages[version].encode(charset)
            http_server.route(path, body=body, headers={"Content-Type": "text/html"})
        args = ["--config", str(config), "--data", str(data), "check", "--json", "--no-notify"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        return {line["target"]: line for line in lines}

    first = check(0)
    assert {t: r["status"] for t, r in first.items()} == {"cmse": "new", "notice": "new"}
    second = check(1)
    assert {t: r["status"] for t, r in second.items()} == {"cmse": "changed", "notice": "changed"}
    added = [h for r in second.values() for h in r["hits"] if h["where"] == "added"]
    assert added == []  # was 18 false "added" hits (17 on cmse, 船舶 on the notice)
    assert [(r["added"], r["removed"]) for r in second.values()] == [(0, 0), (0, 0)]
    assert second["cmse"]["moved"] == 731 and second["notice"]["moved"] == 64


_SPACE_KINDS = "ab \n\u3000\t船舶，：|1\U00020001·\xa0"


@given(st.text(alphabet=_SPACE_KINDS, max_size=16))
def test_the_whitespace_folded_for_matching_is_where_it_was_first_defined(text: str) -> None:
    # MATCH_SPACE looks behind from after a space's first character, so the engine can
    # skip to whitespace: the places it folds are those of the lookbehind-first pattern
    first = re.compile(
        f"(?=\\s)(?:(?<=[{CJK}])\\s+(?=[{CJK}])|(?<=[{CJK_PUNCTUATION}])\\s+"
        f"|\\s+(?=[{CJK_PUNCTUATION}]))"
    )
    assert [m.span() for m in MATCH_SPACE.finditer(text)] == [
        m.span() for m in first.finditer(text)
    ]


_NUMBER_KINDS = "国发〔〕[]（）(【】2０１9 第号\u3000年12３"


@given(st.text(alphabet=_NUMBER_KINDS, max_size=16))
def test_document_numbers_are_found_where_the_first_pattern_found_them(text: str) -> None:
    # one class of first characters instead of two alternatives: the same matches
    s, d = "[ \t\u3000\xa0]*", "[0-9０-９]"
    first = re.compile(
        f"[〔\\[（［(【〖﹝]{s}(?:[1１][9９]|[2２][0０]){d}{{2}}{s}[〕\\]）］)】〗﹞]"
        f"(?:{s}(?:第{s})?{d}{{1,6}}{s}号)?"
        f"|第{s}{d}{{1,6}}{s}号"
    )
    assert [m.span() for m in _DOCUMENT_NUMBER_PART.finditer(text)] == [
        m.span() for m in first.finditer(text)
    ]


def test_spellings_learned_in_one_process_spare_another_opencc(monkeypatch) -> None:
    """An analysis worker is taught its terms' traditional spellings by the process
    that starts them: it matches the same without learning them itself (three OpenCC
    simplified → traditional converters, about 40 MB in every worker at its first page)."""
    from watcher import keywords

    groups = {"g": ["国防科工局", "船舶"]}
    spellings = KeywordMatcher(groups).spellings()
    assert "國防科工局" in spellings["国防科工局"] and set(spellings) == {"国防科工局", "船舶"}
    text = "國防科工局發布船舶工業通知"
    expected = KeywordMatcher(groups).occurrences(text)
    assert len(expected) == 2
    learned: list[list[str]] = []
    learn = keywords._learn_spellings
    monkeypatch.setattr(
        keywords, "_learn_spellings", lambda terms: learned.append(sorted(terms)) or learn(terms)
    )
    monkeypatch.setattr(keywords, "_SPELLINGS", {})  # a fresh worker
    keywords.teach_spellings(spellings)
    assert KeywordMatcher(groups).occurrences(text) == expected
    assert learned == []
    monkeypatch.setattr(keywords, "_SPELLINGS", {})  # untaught, it learns them itself
    assert KeywordMatcher(groups).occurrences(text) == expected
    assert learned == [["国防科工局", "船舶"]]


# --- an edit on a long page: only the windows around it are matched --------------------

_PHRASES = (
    "各有关单位",
    "船舶工业",
    "國防科工局",
    "国防科工局",
    "工业互联网平台",
    "建设",
    "造船",
    "船 舶",
    "互联网",
    "科工局",
    "推进",
    "的通知",
    "（一）",
    "2024年",
    "ABC",
    "工业",
)
_EDIT_PIECES = (
    "船舶",
    "船",
    "舶",
    "國防",
    "国防科工局",
    "工业互联网",
    "互联",
    " ",
    "\n",
    "。",
    "修订",
)
WINDOWED = {"ship": ["船舶", "国防科工局"], "net": ["工业互联网", "互联网平台"]}


def _long_text(seed: int) -> str:
    import random

    rng = random.Random(seed)
    lines = ["".join(rng.choice(_PHRASES) for _ in range(rng.randint(3, 30))) for _ in range(400)]
    return "\n".join(lines)


def _whole_text_hits(old: str, new: str) -> list:
    import watcher.keywords as keywords

    windowed_from = keywords.WINDOWED_FROM
    keywords.WINDOWED_FROM = 10**12
    try:
        return find_hits(KeywordMatcher(WINDOWED), old, new, diff_texts(old, new))
    finally:
        keywords.WINDOWED_FROM = windowed_from


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 5),
    edits=st.lists(
        st.tuples(
            st.integers(0, 10**6), st.integers(0, 30), st.lists(st.sampled_from(_EDIT_PIECES))
        ),
        min_size=1,
        max_size=5,
    ),
    move=st.booleans(),
)
def test_an_edits_windows_give_the_hits_the_whole_texts_give(seed, edits, move) -> None:
    """Hits added, hits removed (only for terms the new text has fewer of) and their
    snippets, windowed on a long page as matched over both whole texts; moves included."""
    from watcher.keywords import WINDOWED_FROM

    old = _long_text(seed)
    assert len(old) > WINDOWED_FROM
    new = old
    for at, cut, pieces in edits:
        at %= len(new)
        new = new[:at] + "".join(pieces) + new[at + cut :]
    if move:
        lines = new.split("\n")
        lines.insert(len(lines) // 3, lines.pop(2 * len(lines) // 3))
        new = "\n".join(lines)
    windowed = find_hits(KeywordMatcher(WINDOWED), old, new, diff_texts(old, new))
    assert windowed == _whole_text_hits(old, new)


def _lengths_matched(monkeypatch) -> list[int]:
    """The lengths of the texts ``KeywordMatcher.occurrences`` is given, as it is given them."""
    seen: list[int] = []
    real = KeywordMatcher.occurrences
    monkeypatch.setattr(
        KeywordMatcher, "occurrences", lambda self, text: seen.append(len(text)) or real(self, text)
    )
    return seen


def test_a_long_pages_edit_is_matched_in_its_windows_only(monkeypatch) -> None:
    old = _long_text(1)
    new = old[:5000] + "船舶" + old[5000:]
    seen = _lengths_matched(monkeypatch)
    hits = find_hits(KeywordMatcher(WINDOWED), old, new, diff_texts(old, new))
    assert ("船舶", "added") in [(h.term, h.where) for h in hits]
    assert seen and max(seen) < 1000  # a window, not the page's 20,000+ characters


def test_a_users_pattern_is_matched_over_the_whole_long_page(monkeypatch) -> None:
    old = _long_text(2)
    new = old[:5000] + "军民融合" + old[5000:]
    seen = _lengths_matched(monkeypatch)
    hits = find_hits(KeywordMatcher({"g": ["re:军民.{0,9}融合"]}), old, new, diff_texts(old, new))
    assert [(h.term, h.where) for h in hits] == [("re:军民.{0,9}融合", "added")]
    assert seen == [len(new)]
