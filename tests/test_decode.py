"""decode_html: declarations checked against the bytes, GBK/Big5 told apart, never a crash."""

from __future__ import annotations

import codecs
import hashlib
import importlib.util
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from httpserver import HTTPServer
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.analysis import decode
from watcher.analysis.decode import decode_html, encoding_for_label
from watcher.analysis.extract import extract

PAGES = Path(__file__).parent / "fixtures" / "pages"
MADE = PAGES / "made"
REAL = sorted(PAGES.glob("*gov.cn/*.html"))  # the Chinese government pages, all UTF-8

SOURCES = {"bom", "header", "meta", "detected", "utf-8", "fallback"}


def _read(name: str) -> bytes:
    return (PAGES / name).read_bytes()


# --- the fixtures themselves ----------------------------------------------------------


def test_sources_md_lists_every_page_with_its_sha256() -> None:
    listed = dict(
        re.findall(r"^\| `([^`]+\.html)` \|.*?`([0-9a-f]{64})`", _sources_md(), re.MULTILINE)
    )
    on_disk = {p.relative_to(PAGES).as_posix() for p in PAGES.glob("*/*.html")}
    made = {name.removeprefix("made/") for name in on_disk if name.startswith("made/")}
    listed = {(f"made/{n}" if n in made else n): sha for n, sha in listed.items()}
    assert set(listed) == on_disk
    for name, sha in listed.items():
        assert hashlib.sha256(_read(name)).hexdigest() == sha, name


def _sources_md() -> str:
    return (PAGES / "SOURCES.md").read_text(encoding="utf-8")


def test_make_encoded_reproduces_the_made_cases_exactly() -> None:
    spec = importlib.util.spec_from_file_location("make_encoded", PAGES / "make_encoded.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = module.cases()
    assert sorted(cases) == sorted(p.name for p in MADE.glob("*.html"))
    for name, make in cases.items():
        assert make() == (MADE / name).read_bytes(), name


def test_no_real_page_holds_gbk_bytes() -> None:
    """All real fixtures are UTF-8 (see SOURCES.md): the GBK cases had to be made."""
    for page in REAL:
        page.read_bytes().decode("utf-8")


# --- real and made pages --------------------------------------------------------------


@pytest.mark.parametrize("page", REAL, ids=lambda p: p.parent.name + "/" + p.name)
def test_real_pages_decode_as_declared_utf8(page: Path) -> None:
    decoded = decode_html(page.read_bytes(), "text/html")
    assert (decoded.encoding, decoded.source, decoded.replaced) == ("utf-8", "meta", 0)
    assert decoded.text == page.read_bytes().decode("utf-8")


MADE_CASES = [
    # file, Content-Type header, encoding, source, characters that must come through
    ("notice_gbk_meta_gb2312.html", None, "gb18030", "meta", ["镕", "堃", "喆", "船舶工业"]),
    ("notice_gbk_undeclared.html", None, "gb18030", "detected", ["镕", "堃", "喆"]),
    ("notice_gbk_undeclared.html", "text/html", "gb18030", "detected", ["李镕"]),
    ("notice_gbk_short_undeclared.html", None, "gb18030", "detected", ["王堃、陈喆"]),
    ("notice_gb18030_meta_gbk.html", None, "gb18030", "meta", ["𠮷野", "䶮华"]),
    ("notice_big5_meta_big5.html", None, "big5hkscs", "meta", ["國防科工局", "船舶工業"]),
    ("notice_big5_undeclared.html", None, "big5hkscs", "detected", ["國防科工局", "船舶工業"]),
    ("notice_big5_short_undeclared.html", None, "big5hkscs", "detected", ["國防科工局"]),
    ("gongbao_gb18030_meta_gb2312.html", None, "gb18030", "meta", ["特别国债", "金人庆"]),
    ("gongbao_gb18030_undeclared.html", None, "gb18030", "detected", ["特别国债"]),
    ("gongbao_utf8_bom.html", None, "utf-8", "bom", ["特别国债"]),
    # A BOM is definitive, whatever the header says.
    ("gongbao_utf8_bom.html", "text/html; charset=gbk", "utf-8", "bom", ["特别国债"]),
    # A lying meta (gb2312 over UTF-8 bytes): the UTF-8 check overrides it.
    ("kepu_utf8_meta_gb2312.html", None, "utf-8", "utf-8", ["长三角一体化"]),
    ("kepu_utf8_meta_gb2312.html", "text/html; charset=GBK", "utf-8", "utf-8", ["长三角"]),
    # Header and meta disagree.
    # A Tomcat-default Latin-1 header over GBK bytes with a gb2312 meta: the meta wins,
    # because a multibyte declaration that decodes cleanly beats a single-byte one.
    ("notice_gbk_meta_gb2312.html", "text/html; charset=ISO-8859-1", "gb18030", "meta", ["堃"]),
    # A server-default UTF-8 header over GBK bytes: UTF-8 fails, the meta fits.
    ("notice_gbk_meta_gb2312.html", "text/html; charset=utf-8", "gb18030", "meta", ["喆"]),
    # A header the bytes agree with wins over a meta they do not.
    ("notice_big5_meta_big5.html", "text/html; charset=big5", "big5hkscs", "header", ["國防"]),
    # A header whose label Python does not know is ignored; the meta decides.
    ("notice_gbk_meta_gb2312.html", "text/html; charset=x-bogus", "gb18030", "meta", ["镕"]),
    ("notice_gbk_undeclared.html", "text/html; charset=x-bogus", "gb18030", "detected", ["镕"]),
    # A "charset" Python knows but that is no text encoding must not be used (or crash).
    ("notice_gbk_meta_gb2312.html", "text/html; charset=base64", "gb18030", "meta", ["镕"]),
    ("notice_gbk_meta_gb2312.html", "text/html; charset=undefined", "gb18030", "meta", ["镕"]),
]


@pytest.mark.parametrize(("name", "content_type", "encoding", "source", "expected"), MADE_CASES)
def test_made_cases_decode_right(
    name: str, content_type: str | None, encoding: str, source: str, expected: list[str]
) -> None:
    decoded = decode_html((MADE / name).read_bytes(), content_type)
    assert (decoded.encoding, decoded.source, decoded.replaced) == (encoding, source, 0)
    for chars in expected:
        assert chars in decoded.text
    assert "\ufffd" not in decoded.text


def test_gb18030_page_extracts_to_the_same_text_as_its_utf8_original() -> None:
    url = "https://www.gov.cn/gongbao/content/2007/content_711039.htm"
    original = extract(
        decode_html(_read("gov.cn/gongbao_2007-23_content_711039.html"), None).text, url
    )
    for name in ("gongbao_gb18030_meta_gb2312.html", "gongbao_gb18030_undeclared.html"):
        made = extract(decode_html((MADE / name).read_bytes(), None).text, url)
        assert made == original


def test_strict_gb18030_alone_cannot_tell_big5_from_gbk() -> None:
    """Why detection scores readings instead of trying GB18030 strictly first."""
    big5 = (MADE / "notice_big5_undeclared.html").read_bytes()
    misread = big5.decode("gb18030")  # succeeds: Big5 byte pairs are valid GBK pairs
    assert "國防科工局" not in misread
    assert "國防科工局" in decode_html(big5, None).text


def _chinese_lines(min_hanzi: int) -> list[str]:
    lines = []
    for page in REAL:
        text = extract(page.read_text(encoding="utf-8"), "http://example.gov.cn/").text
        lines += [
            line
            for line in text.splitlines()
            if len(re.findall(r"[\u4e00-\u9fff]", line)) >= min_hanzi
        ]
    return lines


def test_undeclared_short_lines_decode_right_in_gbk_and_big5() -> None:
    """Hundreds of single lines (6+ Hanzi) from the real pages, undeclared, GBK and Big5.

    Small samples are where general detectors fail; each line here is a whole "page".
    """
    opencc = pytest.importorskip("opencc")
    to_traditional = opencc.OpenCC("s2t")
    checked = {"gbk": 0, "big5": 0}
    wrong = []
    for line in _chinese_lines(min_hanzi=6):
        for encoding, text in (("gbk", line), ("big5", to_traditional.convert(line))):
            try:
                body = text.encode(encoding)
            except UnicodeEncodeError:
                continue
            checked[encoding] += 1
            if decode_html(body, None).text != text:
                wrong.append((encoding, text))
    assert checked["gbk"] > 250 and checked["big5"] > 250
    assert wrong == []


# --- labels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("gb2312", "gb18030"),
        ("GB2312", "gb18030"),
        ('"gbk"', "gb18030"),
        ("x-gbk", "gb18030"),
        ("gb_2312-80", "gb18030"),
        ("chinese", "gb18030"),
        ("csgb2312", "gb18030"),
        ("euc-cn", "gb18030"),
        ("cp936", "gb18030"),
        ("gb18030", "gb18030"),
        ("big5", "big5hkscs"),
        ("Big5-HKSCS", "big5hkscs"),
        ("iso-8859-1", "cp1252"),
        ("latin1", "cp1252"),
        ("ascii", "cp1252"),
        ("us-ascii", "cp1252"),
        ("utf8", "utf-8"),
        (" UTF-8 ", "utf-8"),
        ("shift_jis", "cp932"),
        ("euc-kr", "cp949"),
        ("windows-1251", "cp1251"),
        ("x-bogus", None),
        ("base64", None),
        ("rot13", None),
        ("undefined", None),
        ("unicode_escape", None),
        ("utf-7", None),
        ("", None),
        (None, None),
    ],
)
def test_encoding_for_label(label: str | None, codec: str | None) -> None:
    assert encoding_for_label(label) == codec


def test_meta_declaration_beyond_4kb_is_not_read() -> None:
    body = b" " * 5000 + '<meta charset="gbk"><p>王堃</p>'.encode("gbk")
    assert decode_html(body, None).source == "detected"


def test_meta_utf16_label_means_utf8() -> None:
    body = '<meta charset="utf-16"><p>中文</p>'.encode()
    decoded = decode_html(body, None)
    assert (decoded.text, decoded.encoding, decoded.source) == (
        '<meta charset="utf-16"><p>中文</p>',
        "utf-8",
        "meta",
    )


def test_header_utf16_without_bom_is_honoured() -> None:
    body = "<p>船舶</p>".encode("utf-16-le")
    decoded = decode_html(body, "text/html; charset=UTF-16LE")
    assert (decoded.text, decoded.encoding, decoded.source) == (
        "<p>船舶</p>",
        "utf-16-le",
        "header",
    )


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ],
)
def test_bom_is_definitive(bom: bytes, encoding: str) -> None:
    body = bom + '<meta charset="gbk"><p>国防科工局</p>'.encode(encoding)
    decoded = decode_html(body, "text/html; charset=big5")
    assert (decoded.encoding, decoded.source) == (encoding, "bom")
    assert decoded.text == '<meta charset="gbk"><p>国防科工局</p>'


# --- plain and odd inputs -------------------------------------------------------------


def test_ascii_page() -> None:
    decoded = decode_html(b"<p>hello</p>", None)
    assert (decoded.text, decoded.encoding, decoded.source) == ("<p>hello</p>", "utf-8", "utf-8")


def test_ascii_page_keeps_its_declaration_as_evidence() -> None:
    decoded = decode_html(b'<meta charset="gb2312"><p>hello</p>', None)
    assert (decoded.encoding, decoded.source) == ("gb18030", "meta")


def test_empty_body() -> None:
    assert decode_html(b"", None).text == ""
    assert decode_html(b"", "text/html; charset=gbk").text == ""


def test_undeclared_utf8() -> None:
    decoded = decode_html("<p>国防科工局</p>".encode(), None)
    assert (decoded.text, decoded.encoding, decoded.source) == (
        "<p>国防科工局</p>",
        "utf-8",
        "utf-8",
    )


def test_utf8_cut_mid_character_stays_utf8() -> None:
    """A size cap can cut the last character; that must not make the page 'not UTF-8'."""
    body = "<p>船舶工业</p><p>国防".encode()[:-1]
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert (decoded.encoding, decoded.source, decoded.replaced) == ("utf-8", "header", 1)
    assert decoded.text == "<p>船舶工业</p><p>国\ufffd"


def test_gbk_cut_mid_character_stays_gbk() -> None:
    body = '<meta charset="gb2312"><p>王堃陈喆</p>'.encode("gbk")[:-5]
    decoded = decode_html(body, None)
    assert (decoded.encoding, decoded.source, decoded.replaced) == ("gb18030", "meta", 1)
    assert decoded.text.endswith("王堃陈\ufffd")


def test_undecodable_bytes_are_replaced_and_counted() -> None:
    body = b"<p>ok</p>\xc3\x28 \xa0\xa1 \xff\xfe\xfd"
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert decoded.source == "header"
    assert decoded.replaced >= 3
    assert decoded.text.count("\ufffd") == decoded.replaced


def test_undeclared_garbage_does_not_crash() -> None:
    body = b"<p>\x81\x20\xff\x00\x80\x30\xfe\x7f</p>" * 3
    decoded = decode_html(body, None)
    assert decoded.source in SOURCES
    assert decoded.text.startswith("<p>")


def test_undeclared_latin1_and_shift_jis_are_detected() -> None:
    latin = "<p>Ça va? Très bien, à bientôt. Déjà vu, naïve café.</p>".encode("cp1252")
    assert decode_html(latin, None).text == latin.decode("cp1252")
    japanese = "<p>日本語のテキストです。よろしくお願いします。</p>".encode("shift_jis")
    assert decode_html(japanese, None).text == japanese.decode("shift_jis")


def test_declared_utf8_page_never_runs_a_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(body: bytes) -> None:
        raise AssertionError("detector ran")

    monkeypatch.setattr(decode, "_detect_chinese", fail)
    monkeypatch.setattr(decode, "_detect_other", fail)
    page = _read("cmse.gov.cn/article_t20120624_43188.html")
    assert decode_html(page, "text/html; charset=utf-8").source == "header"
    assert decode_html(page, None).source == "meta"
    assert decode_html((MADE / "notice_gbk_meta_gb2312.html").read_bytes(), None).source == "meta"


def test_one_megabyte_page_decodes_in_a_few_milliseconds() -> None:
    page = _read("cmse.gov.cn/article_t20120624_43188.html")
    body = (page * 3)[:1_000_000]
    body = body[: len(body.decode("utf-8", "ignore").encode())]  # whole characters
    best = min(_timed(lambda: decode_html(body, "text/html; charset=utf-8")) for _ in range(5))
    assert best < 0.05  # typically ~1.5 ms; generous for slow CI machines


def _timed(func: Callable[[], object]) -> float:
    """CPU seconds ``func`` took in this process (other processes' load is not in it)."""
    start = time.process_time()
    func()
    return time.process_time() - start


# --- properties -----------------------------------------------------------------------

content_types = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.sampled_from(
        ["gbk", "big5", "utf-8", "utf-16", "latin1", "x-bogus", "base64", "undefined"]
    ).map(lambda c: f"text/html; charset={c}"),
)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=600), content_type=content_types)
def test_decode_never_raises(body: bytes, content_type: str | None) -> None:
    decoded = decode_html(body, content_type)
    assert isinstance(decoded.text, str)
    assert decoded.source in SOURCES
    assert decoded.replaced >= 0
    codecs.lookup(decoded.encoding)


@settings(max_examples=150, deadline=None)
@given(
    body=st.lists(
        st.sampled_from(
            [b"<meta charset=gbk>", b"\xef\xbb\xbf", b"\xe4\xb8\xad", b"\xd6\xd0", b"\x81", b"<p>"]
        ),
        max_size=12,
    ).map(b"".join),
    content_type=content_types,
)
def test_decode_never_raises_on_mixed_encodings(body: bytes, content_type: str | None) -> None:
    decoded = decode_html(body, content_type)
    assert decoded.source in SOURCES


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300).filter(lambda t: not t.startswith("\ufeff")))
def test_declared_utf8_round_trips(text: str) -> None:
    body = text.encode("utf-8", "surrogatepass")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return  # lone surrogates are not UTF-8
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert decoded.text == text
    assert decoded.replaced == 0


# --- mixed pages: a GBK paragraph in a UTF-8 page -------------------------------------

GONGBAO = PAGES / "gov.cn" / "gongbao_2007-23_content_711039.html"
PARAGRAPH = re.compile(rb"<p>\xe3\x80\x80\xe3\x80\x80(.+?)</p>", re.DOTALL)  # "<p>　　…</p>"


def _with_gbk_paragraph() -> tuple[bytes, int, str]:
    """The real gov.cn page, its first body paragraph re-encoded as GBK (what a CMS
    does when an editor pastes from a GBK source): the bytes, where the GBK starts,
    and the paragraph's text."""
    real = GONGBAO.read_bytes()
    match = PARAGRAPH.search(real)
    assert match is not None
    text = match.group(1).decode("utf-8")
    gbk = text.encode("gbk")
    return real[: match.start(1)] + gbk + real[match.end(1) :], match.start(1), text


def test_a_gbk_paragraph_in_a_utf8_page_is_read_as_gb18030_and_said_so() -> None:
    body, at, paragraph = _with_gbk_paragraph()
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert (decoded.encoding, decoded.source) == ("utf-8", "header")
    assert paragraph in decoded.text and "\ufffd" not in decoded.text
    assert decoded.bad_bytes == 0
    assert decoded.recovered_offsets[0] == at
    # the paragraph's non-ASCII bytes, in runs split by its digits
    assert decoded.recovered_bytes == len(re.sub(rb"[\x00-\x7f]", b"", paragraph.encode("gbk")))
    [warning] = decode.warnings_of(decoded)
    assert warning["kind"] == "mixed-encoding" and warning["recovered_as"] == "gb18030"
    assert warning["declared"] == {"header": "utf-8"}  # the meta repeats it
    assert f"byte {at:,}" in str(warning["message"])


def test_bytes_that_are_no_encoding_are_counted_with_their_offsets() -> None:
    real = GONGBAO.read_bytes()
    match = PARAGRAPH.search(real)
    assert match is not None
    junk = b"\xff\xfe\xff"  # not UTF-8, and not GB18030 either
    body = real[: match.start(1)] + junk + real[match.start(1) :]
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert decoded.encoding == "utf-8"
    assert decoded.text.count("\ufffd") == 3
    at = match.start(1)
    assert (decoded.bad_bytes, decoded.bad_offsets) == (3, (at, at + 1, at + 2))
    [warning] = decode.warnings_of(decoded)
    assert warning["kind"] == "undecodable" and warning["bytes"] == 3
    assert "3 bytes could not be decoded as utf-8" in str(warning["message"])


def test_a_clean_page_has_no_decoding_warnings() -> None:
    decoded = decode_html(GONGBAO.read_bytes(), "text/html; charset=utf-8")
    assert decode.warnings_of(decoded) == []
    assert decoded.declared == (("header", "utf-8"),)


# --- the warnings travel with the capture: check --json, show, the web UI -------------


def _junk_page() -> tuple[bytes, int]:
    real = GONGBAO.read_bytes()
    match = PARAGRAPH.search(real)
    assert match is not None
    return real[: match.start(1)] + b"\xff\xfe\xff" + real[match.start(1) :], match.start(1)


def test_decoding_warnings_are_stored_and_shown_everywhere(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    import json

    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from watcher.cli.main import main
    from watcher.web.app import create_app

    junk, at = _junk_page()
    mixed, mixed_at, paragraph = _with_gbk_paragraph()
    utf8 = {"Content-Type": "text/html; charset=utf-8"}
    http_server.route("/junk.htm", body=junk, headers=utf8)
    http_server.route("/mixed.htm", body=mixed, headers=utf8)
    config = tmp_path / "targets.yaml"
    config.write_text(
        "settings: {host_delay: 0}\ntargets:\n"
        f"  - {{name: junk, url: '{http_server.url('/junk.htm')}', retries: 0}}\n"
        f"  - {{name: mixed, url: '{http_server.url('/mixed.htm')}', retries: 0}}\n",
        encoding="utf-8",
    )
    data = tmp_path / "snapshots"
    base = ["--config", str(config), "--data", str(data)]
    result = CliRunner().invoke(main, [*base, "check", "--json", "--no-notify"])
    assert result.exit_code == 0, result.output
    lines = {x["target"]: x for x in map(json.loads, result.stdout.splitlines())}
    [bad] = lines["junk"]["warnings"]
    assert (bad["kind"], bad["bytes"], bad["offsets"]) == ("undecodable", 3, [at, at + 1, at + 2])
    assert bad["encoding"] == "utf-8" and bad["declared"] == {"header": "utf-8"}
    [recovered] = lines["mixed"]["warnings"]
    assert recovered["kind"] == "mixed-encoding" and recovered["offsets"][0] == mixed_at

    junk_id = lines["junk"]["capture_id"]
    shown = CliRunner().invoke(main, [*base, "show", junk_id])
    assert shown.exit_code == 0, shown.output
    facts = shown.stdout.partition("text, ")[0]
    assert "warning: 3 bytes could not be decoded as utf-8" in facts
    assert f"first at byte {at:,}" in facts
    as_json = json.loads(CliRunner().invoke(main, [*base, "show", junk_id, "--json"]).stdout)
    assert as_json["warnings"] == [bad]
    assert "\ufffd\ufffd\ufffd" in as_json["text"]

    with TestClient(create_app(data, config), base_url="http://127.0.0.1") as web:
        page = web.get(f"/c/{lines['mixed']['capture_id']}").text
        assert 'class="warning" data-kind="mixed-encoding"' in page
        assert f"runs start at byte {mixed_at:,}" in page
        assert paragraph[:20] in page
        api = web.get(f"/api/captures/{junk_id}").json()
        assert api["warnings"] == [bad]


# --- declarations the bytes overrule ------------------------------------------------

GONGBAO_GBK = MADE / "gongbao_gb18030_undeclared.html"  # the gov.cn page in GBK, no meta
FULL_STOP = "。</p>".encode("gbk")


def _broken_gbk(page: Path) -> tuple[bytes, int, str]:
    """A GBK page with one broken byte: the second byte of its first paragraph's last
    full stop lost (as when a CMS cuts text by bytes). The bytes, where the broken
    character starts, and the text a GBK reader should see."""
    body = page.read_bytes()
    at = body.index(FULL_STOP)
    text = body.decode("gb18030")
    stop = text.index("。</p>")
    return body[: at + 1] + body[at + 2 :], at, text[:stop] + "\ufffd" + text[stop + 1 :]


@pytest.mark.parametrize(
    ("page", "source"),
    [(GONGBAO_GBK, "detected"), (MADE / "gongbao_gb18030_meta_gb2312.html", "meta")],
)
def test_one_broken_byte_does_not_let_a_lying_utf8_header_misread_a_gbk_page(
    page: Path, source: str
) -> None:
    body, at, expected = _broken_gbk(page)
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert (decoded.encoding, decoded.source) == ("gb18030", source)
    assert decoded.text == expected  # one U+FFFD, every other character right
    assert (decoded.bad_bytes, decoded.bad_offsets, decoded.recovered_bytes) == (1, (at,), 0)
    overruled, undecodable = decode.warnings_of(decoded)
    assert overruled["kind"] == "declaration-overruled"
    assert overruled["overruled"] == {"header": "utf-8"}
    assert "utf-8 (header)" in str(overruled["message"])
    assert undecodable["kind"] == "undecodable" and undecodable["offsets"] == [at]


def test_a_broken_gbk_page_behind_a_utf8_header_keeps_its_keyword_hits(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """Over real HTTP, through check --json: the capture's warnings name the overruled
    header and the one undecodable byte; the keywords of the page are all found."""
    import json

    from click.testing import CliRunner

    from watcher.cli.main import main

    body, at, expected = _broken_gbk(GONGBAO_GBK)
    http_server.route("/gbk.htm", body=body, headers={"Content-Type": "text/html; charset=utf-8"})
    config = tmp_path / "targets.yaml"
    config.write_text(
        "settings: {host_delay: 0}\n"
        "keywords: {npc: [全国人民代表大会], bonds: [特别国债]}\n"
        f"targets:\n  - {{name: gbk, url: '{http_server.url('/gbk.htm')}', retries: 0}}\n",
        encoding="utf-8",
    )
    base = ["--config", str(config), "--data", str(tmp_path / "snapshots")]
    result = CliRunner().invoke(main, [*base, "check", "--json", "--no-notify"])
    assert result.exit_code == 0, result.output
    [line] = map(json.loads, result.stdout.splitlines())
    found = {(hit["group"], hit["term"]) for hit in line["hits"]}
    assert found == {("npc", "全国人民代表大会"), ("bonds", "特别国债")}
    npc = sum(hit["count"] for hit in line["hits"] if hit["term"] == "全国人民代表大会")
    assert npc == extract(expected, "http://www.gov.cn/").text.count("全国人民代表大会") > 1
    overruled, undecodable = line["warnings"]
    assert (overruled["kind"], overruled["overruled"]) == (
        "declaration-overruled",
        {"header": "utf-8"},
    )
    assert (undecodable["bytes"], undecodable["offsets"]) == (1, [at])


GONGBAO_UTF8 = PAGES / "gov.cn" / "gongbao_2007-23_content_711039.html"
WESTERN = PAGES / "finanzen.net" / "anzeige-value-stars.html"  # real cp1252, lying utf-8 meta
BBC = PAGES / "bbc.co.uk" / "606_forum_conversation.html"  # real cp1252, no charset


def _broken_utf8() -> tuple[bytes, int]:
    """The real UTF-8 gov.cn page with the last byte of its first body paragraph's first
    character lost."""
    body = GONGBAO_UTF8.read_bytes()
    match = PARAGRAPH.search(body)
    assert match is not None
    at = match.start(1)
    return body[: at + 2] + body[at + 3 :], at


@pytest.mark.parametrize("label", ["iso-8859-1", "ISO_8859-1", "latin1", "windows-1252", "cp1252"])
def test_a_windows_1252_header_yields_to_chinese_bytes_but_not_on_western_pages(
    label: str,
) -> None:
    """A latin-1 decode never fails, so the evidence is what the bytes are: GBK that
    reads as Chinese, UTF-8 but for one byte; a real Western page stays cp1252."""
    header = f"text/html; charset={label}"
    gbk = decode_html(GONGBAO_GBK.read_bytes(), header)
    assert (gbk.encoding, gbk.source) == ("gb18030", "detected")
    assert gbk.text == GONGBAO_GBK.read_bytes().decode("gb18030")
    [warning] = decode.warnings_of(gbk)
    assert warning["overruled"] == {"header": "cp1252"}

    body, at = _broken_utf8()
    utf8 = decode_html(body, header)
    assert (utf8.encoding, utf8.source, utf8.bad_offsets) == ("utf-8", "meta", (at,))
    assert utf8.text == body.decode("utf-8", "replace") and "特别国债" in utf8.text

    for page in (WESTERN, BBC):
        western = decode_html(page.read_bytes(), header)
        assert (western.encoding, western.source, western.bad_bytes) == ("cp1252", "header", 0)
        assert western.text == page.read_bytes().decode("cp1252")
    assert "„grünes“" in decode_html(WESTERN.read_bytes(), header).text
    assert "£825" in decode_html(BBC.read_bytes(), header).text
