"""A notice's identity, citations and deadlines, from the text ministries write
(tests/data/document_cases.yaml), and near-duplicate texts from the real pages in
tests/fixtures: the same text on another template, one sentence edited, and other
notices."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml

from watcher.analysis import identity
from watcher.analysis.citations import citations_in
from watcher.analysis.deadlines import deadlines_in
from watcher.analysis.metadata import normalize_document_number
from watcher.config import ConfigError
from watcher.config.load import parse_config_text
from watcher.keywords import KeywordMatcher, metadata_hits

HERE = Path(__file__).parent
CASES = yaml.safe_load((HERE / "data" / "document_cases.yaml").read_text("utf-8"))
PAGES = HERE / "fixtures" / "pages"


def text_of(path: str) -> str:
    return (PAGES / f"{path}.expected.txt").read_text("utf-8")


@pytest.mark.parametrize(("written", "issuer", "key"), CASES["numbers"])
def test_every_way_of_writing_a_number_gives_one_key(written: str, issuer: str, key: str) -> None:
    assert identity.document_key(written, issuer) == key
    normalised = normalize_document_number(written)
    if normalised is not None:  # as the page's metadata gives it
        assert identity.document_key(normalised, issuer) == key


def test_a_generic_number_without_an_issuer_names_nothing() -> None:
    assert identity.document_key("公告2022年第8号", None) is None


@pytest.mark.parametrize(("text", "expected"), CASES["citations"])
def test_citations_as_ministries_write_them(text: str, expected: list[list[str | None]]) -> None:
    found = [[c.number, c.title] for c in citations_in(text)]
    assert found == expected
    assert all(c.snippet and c.snippet in " ".join(text.split()) for c in citations_in(text))


@pytest.mark.parametrize(("text", "published", "expected"), CASES["deadlines"])
def test_deadline_sentences(text: str, published: object, expected: list[list[object]]) -> None:
    found = list(deadlines_in(text, str(published) if published else None))
    assert [[d.date, d.kind] for d in found] == [[str(d), k] for d, k in expected]
    assert all(d.sentence in unicodedata.normalize("NFKC", text) for d in found)


def test_a_long_notices_citations_are_bounded() -> None:
    text = "".join(f"《第{i}号文件的通知》" for i in range(1000))
    assert len(list(citations_in(text))) == 200


def test_the_same_text_on_another_template_is_near_identical_and_others_are_not() -> None:
    kepu = text_of("kepu.gov.cn/article_content_1755244.html")
    reflowed = "\n\n".join(line.strip() for line in kepu.splitlines() if line.strip())
    edited = kepu.replace("。", "。新增一句说明。", 1)
    other = text_of("cmse.gov.cn/article_t20210106_47506.html")
    sketch = identity.sketch(kepu)
    assert identity.similarity(sketch, identity.sketch(reflowed)) == 1.0
    assert identity.similarity(sketch, identity.sketch(edited)) >= 0.8
    assert identity.similarity(sketch, identity.sketch(other)) < 0.1
    assert len(sketch) == identity.SKETCH_SIZE and list(sketch) == sorted(sketch)


def _whole_page_sketch(text: str) -> tuple[int, ...]:
    """The sketch as first defined: NFKC of the whole (sketched) text, one set of all
    shingles."""
    import heapq
    import zlib

    text = text[: identity.SKETCHED]
    flat = identity._NOT_WORD.sub("", unicodedata.normalize("NFKC", text)).lower()
    if len(flat) < identity.MIN_TEXT:
        return ()
    shingles = {flat[i : i + identity.SHINGLE] for i in range(len(flat) - identity.SHINGLE + 1)}
    hashes = ((zlib.crc32(s.encode()) * identity._MIX) & identity._MASK for s in shingles)
    return tuple(sorted(heapq.nsmallest(identity.SKETCH_SIZE, hashes)))


TRICKY = [
    "ＳＡＳＴＩＮＤ２０２４年第１２号，①项",  # full-width letters and digits, a circled one
    "Cafe\u0301、e\u0301，x\u0308。",  # combining marks after ASCII and beside punctuation
    "\u1100\u1161\u11a8 한국 ㈜ ㎏ ﬁ Ⅻ",  # conjoining jamo, compatibility forms
    "國防科工局（ＳＡＳＴＩＮＤ）：“船舶”…\u3000《通知》",  # CJK punctuation kept as it is
    "\u0301开头的组合符，\u0301与全角，\u0301之后",  # a mark with nothing, or punctuation, before
]


@pytest.mark.parametrize("extra", TRICKY)
def test_the_sketch_is_what_normalising_the_whole_text_gives(extra: str) -> None:
    # normalising only the runs NFKC may change must give what it gives on the whole page
    kepu = text_of("kepu.gov.cn/article_content_1755244.html")
    text = f"{kepu[:3000]}{extra}{kepu[3000:]}{extra}"
    assert (
        identity.normalised(extra)
        == identity._NOT_WORD.sub("", unicodedata.normalize("NFKC", extra)).lower()
    )
    assert identity.sketch(text) == _whole_page_sketch(text)


def test_the_sketch_of_a_long_text_is_made_in_chunks_and_the_same(monkeypatch) -> None:
    # past _CHUNK shingles the set is made a part at a time; the smallest hashes stay
    monkeypatch.setattr(identity, "SKETCHED", 10**9)
    pages = ("kepu.gov.cn/article_content_1755244.html", "cmse.gov.cn/article_t20210106_47506.html")
    long = "\n".join(text_of(p) for p in pages) * 50
    assert len(identity.normalised(long)) > 2 * identity._CHUNK
    assert identity.sketch(long) == _whole_page_sketch(long)


def test_only_a_texts_opening_is_sketched() -> None:
    opening = "\n".join(text_of("kepu.gov.cn/article_content_1755244.html") for _ in range(40))
    opening = opening[: identity.SKETCHED]
    assert len(opening) == identity.SKETCHED
    tail = "\n".join(text_of("cmse.gov.cn/article_t20210106_47506.html") for _ in range(10))
    assert identity.sketch(opening + tail) == identity.sketch(opening)
    assert identity.sketch(tail + opening) != identity.sketch(opening)


REPEATED = [
    "加快推进船舶工业结构调整，加强与国防科工局的沟通协调，积极推广绿色智能船舶。",
    "一、二；三，船舶。工业互联网，A，b，ΣΑΣ，ΑΣ；Σ，İstanbul，İ，ﬁ，",  # short runs, case
    "序号 | 企业名称 | 地区\n1 | 某某船舶有限公司 | 江苏\n2 | 某某船舶有限公司 | 江苏\n",
]


@pytest.mark.parametrize("phrase", REPEATED)
def test_a_text_that_repeats_its_phrases_has_the_sketch_of_the_whole_text(phrase: str) -> None:
    # cut once per distinct run of words and the characters around each run's end
    kepu = text_of("kepu.gov.cn/article_content_1755244.html")
    for text in (phrase * 40, f"{phrase * 30}{kepu[:2000]}{phrase * 30}", phrase * 9000):
        assert identity.sketch(text) == _whole_page_sketch(text)


def test_the_stable_characters_need_no_normalising() -> None:
    # each character left as it is: NFKC keeps it, or makes punctuation the sketch drops;
    # none combines with what comes before it
    stable = [chr(c) for c in range(0x110000) if not identity._UNSTABLE.match(chr(c))]
    for ch in stable:
        nfkc = unicodedata.normalize("NFKC", ch)
        assert unicodedata.combining(ch) == 0, repr(ch)
        assert nfkc == ch or not identity.normalised(nfkc), repr(ch)
        assert unicodedata.normalize("NFC", "e" + ch) == "e" + ch, repr(ch)


def test_short_pages_and_pages_without_numbers_or_text_get_no_identity() -> None:
    assert identity.sketch("通知公告") == ()
    assert identity.facts_of("首页 通知公告", None, "通知") is None
    numbered = identity.facts_of("短", {"document_number": "国发〔2018〕43号"}, "t")
    assert numbered is not None and numbered.key == "国发〔2018〕43号" and numbered.sketch == ()


_EDITED = "根据《船舶工业行动计划》（工信部联规〔2018〕5号），请于2024年3月1日前报送。" * 4


@pytest.mark.parametrize(
    ("metadata", "linked_to", "sketched"),
    [
        (None, None, True),  # no document yet: the sketch finds one
        (None, (None,), False),  # an unnumbered copy stays where it is
        (None, ("国发〔2018〕43号",), False),  # the page lost its 文号: still that copy
        ({"document_number": "国发〔2018〕43号"}, ("国发〔2018〕43号",), False),
        ({"document_number": "国发〔2018〕43号"}, (None,), False),  # names its document
        ({"document_number": "国发〔2019〕7号"}, ("国发〔2018〕43号",), True),  # another one
    ],
)
def test_a_linked_notice_is_sketched_only_when_it_may_belong_elsewhere(
    metadata: dict[str, str] | None, linked_to: tuple[str | None] | None, sketched: bool
) -> None:
    facts = identity.facts_of(_EDITED, metadata, "通知", linked_to)
    assert facts is not None
    assert bool(facts.sketch) is sketched
    if sketched:
        assert facts.sketch == identity.sketch(_EDITED)
    # what the store records of an edited copy does not depend on the sketch
    assert [c.number for c in facts.citations] == ["工信部联规〔2018〕5号"]
    assert facts.deadlines


def test_a_linked_notice_too_short_to_sketch_is_no_notice_either() -> None:
    assert identity.facts_of("首页 通知公告", None, "通知", (None,)) is None


def test_titles_fold_the_site_suffix_and_a_reposts_zhuanfa() -> None:
    key = identity.title_key("关于印发《船舶工业行动计划》的通知")
    assert identity.title_key("关于印发《船舶工业行动计划》的通知_工业和信息化部") == key
    assert identity.title_key("转发关于印发《船舶工业行动计划》的通知") == key
    assert identity.title_key("通知") is None


def test_a_notices_own_number_is_not_a_citation() -> None:
    facts = identity.facts_of(
        "工信部规〔2022〕12号 " + "关于船舶工业的规定。" * 20,
        {"document_number": "工信部规〔2022〕12号"},
        "规定",
    )
    assert facts is not None and facts.citations == ()


def test_issuer_and_number_terms_match_metadata_not_text() -> None:
    matcher = KeywordMatcher({"s": ["issuer:国防科工局"], "r": ["docno:工信部规", "docno:科工"]})
    assert matcher.terms == ()  # nothing to look for in the text
    meta = {"issuer": "国家国防科技工业局、國防科工局", "document_number": "科工计〔2023〕1号"}
    hits = metadata_hits(matcher, meta, "……国家国防科技工业局、國防科工局")
    assert [(h.group, h.term) for h in hits] == [("s", "issuer:国防科工局"), ("r", "docno:科工")]
    assert hits[0].snippet == "发文机关：国家国防科技工业局、國防科工局" and hits[0].length > 0
    assert metadata_hits(matcher, {"document_number": "国科工〔2023〕1号"}, "") == []  # a prefix
    assert metadata_hits(matcher.restricted(["r"]), meta, "")[0].group == "r"


OK = "targets:\n  - name: a\n    url: https://a.example/\n"


@pytest.mark.parametrize(
    ("terms", "phrase"),
    [
        ("['issuer:']", "issuer: needs a value: issuer:国防科工局 matches notices whose 发文机关"),
        ("['docno: ']", "docno: needs a value"),
        ("['docno:工信部规', 'docno:工信部规']", "duplicate term 'docno:工信部规'"),
    ],
)
def test_bad_metadata_terms_are_named_with_their_line(terms: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(f"keywords:\n  g: {terms}\n{OK}", "t.yaml")
    (issue,) = info.value.issues
    assert phrase in issue.message and issue.line == 2, str(issue)


def test_deadline_reminders_need_tags_and_a_positive_time() -> None:
    config = parse_config_text(
        f"settings:\n  deadline_reminders: {{notify: analysts, before: 2d}}\n{OK}", "t.yaml"
    )
    assert config.settings.deadline_reminders is not None
    assert config.settings.deadline_reminders.notify == ("analysts",)
    assert config.settings.deadline_reminders.before == 2 * 86400
    for bad, phrase in (("{before: 2d}", "notify"), ("{notify: [a], before: 0s}", "zero")):
        with pytest.raises(ConfigError) as info:
            parse_config_text(f"settings:\n  deadline_reminders: {bad}\n{OK}", "t.yaml")
        assert any(phrase in i.message and i.line == 2 for i in info.value.issues), [
            str(i) for i in info.value.issues
        ]


def test_metadata_terms_and_text_terms_live_in_one_group() -> None:
    config = parse_config_text(f"keywords:\n  g: [国防科工局, 'issuer:国防科工局']\n{OK}", "t.yaml")
    assert config.keywords["g"] == ["国防科工局", "issuer:国防科工局"]


def test_a_citation_by_title_alone_finds_its_document_however_digits_are_written() -> None:
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from watcher.store import schema, works

    engine = sa.create_engine("sqlite://")
    schema.metadata.create_all(engine)
    at = datetime(2024, 1, 8, tzinfo=UTC)
    cited = identity.facts_of(
        "工业互联网创新发展行动计划的正文。" * 10,
        None,
        "关于印发《行动计划（２０２１－２０２３年）》的通知",
    )
    citing = identity.facts_of(
        "现将《关于印发〈行动计划（2021-2023年）〉的通知》转发给你们。" + "请认真贯彻落实。" * 12,
        None,
        "关于转发行动计划的通知",
    )
    assert cited is not None and citing is not None
    with engine.begin() as conn:
        for n in (1, 2):
            conn.execute(
                sa.insert(schema.targets).values(id=n, name=f"t{n}", url="u", created_at=at)
            )
        first = works.record(conn, capture_id="c1", target_id=1, at=at, facts=cited)
        second = works.record(conn, capture_id="c2", target_id=2, at=at, facts=citing)
    assert first.work_id != second.work_id
    (row,) = works.cites(engine, second.work_id)
    assert row.cited_id == first.work_id and row.number is None
    assert [c.work_id for c in works.cited_by(engine, first.work_id)] == [second.work_id]


def test_a_page_that_comes_to_show_a_known_number_becomes_a_copy_of_that_document() -> None:
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from watcher.store import schema, works

    engine = sa.create_engine("sqlite://")
    schema.metadata.create_all(engine)
    at = datetime(2024, 1, 8, tzinfo=UTC)
    number = {"document_number": "工信部规〔2022〕12号"}
    plain = identity.facts_of("一份没有文号的通知正文。" * 12, None, "关于甲的通知")
    numbered = identity.facts_of("另一份有文号的规定正文。" * 12, number, "关于乙的规定")
    later = identity.facts_of("一份没有文号的通知正文。" * 12, number, "关于甲的通知")
    named = identity.facts_of(
        "第三份通知的正文不同。" * 12, {"document_number": "国发〔2018〕43号"}, "丙"
    )
    assert plain and numbered and later and named
    with engine.begin() as conn:
        for n in (1, 2, 3):
            conn.execute(
                sa.insert(schema.targets).values(id=n, name=f"t{n}", url="u", created_at=at)
            )
        first = works.record(conn, capture_id="c1", target_id=1, at=at, facts=plain)
        second = works.record(conn, capture_id="c2", target_id=2, at=at, facts=numbered)
        moved = works.record(conn, capture_id="c3", target_id=1, at=at, facts=later)
        third = works.record(conn, capture_id="c4", target_id=3, at=at, facts=plain)
        kept = works.record(conn, capture_id="c5", target_id=3, at=at, facts=named)
        keys = conn.execute(sa.select(schema.works.c.key).order_by(schema.works.c.id)).scalars()
        keys = list(keys)
    assert moved.work_id == second.work_id != first.work_id and moved.how == "number"
    assert keys.count("工信部规〔2022〕12号") == 1  # never two documents with one number
    # a page first seen without a number takes the number it comes to show
    assert third.work_id == first.work_id and kept.work_id == first.work_id
    assert "国发〔2018〕43号" in keys
