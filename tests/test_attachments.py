"""attachments: PDF/DOCX/XLSX text, kinds by magic bytes, never a crash, bounded work.

Every file is made here: Chinese PDFs with reportlab's built-in CID font
STSong-Light (no font file needed), DOCX with python-docx or by hand, XLSX with
openpyxl, and hostile PDFs (5,000 pages, an inflating stream, radical code points in
a ToUnicode map, an image-only scan) written object by object.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher.analysis import attachments
from watcher.analysis.attachments import (
    ATTACHMENT_EXTENSIONS,
    AttachmentText,
    extract_attachment_text,
    is_attachment_url,
    sniff_kind,
)

TITLE = "国防科工局关于推动船舶工业高质量发展的通知"
NOTICE = [
    "各省、自治区、直辖市及计划单列市、新疆生产建设兵团国防科技工业管理部门，有关中央企业：",
    "为深入贯彻落实党中央、国务院决策部署，加快推进船舶工业转型升级，提升产业链供应链韧性"
    "和安全水平，现就有关事项通知如下。",
    "一、总体要求。坚持创新驱动、绿色发展、开放合作，以高端化、智能化、绿色化为方向，"
    "到2027年，船舶工业综合实力显著增强，大型LNG运输船设计建造能力进入世界前列。",
    "二、保障措施。各地要加强组织领导，完善配套政策，强化资金保障，及时总结推广典型经验做法。",
    "国防科工局",
]
OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


# --- file makers ----------------------------------------------------------------------


def chinese_pdf(
    paragraphs: list[str], *, title: str = TITLE, repeat: int = 1, page_numbers: bool = False
) -> bytes:
    """A notice typeset like a ministry's: justified, first lines indented two characters."""
    from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle(
        "body",
        fontName="STSong-Light",
        fontSize=16,
        leading=28,
        firstLineIndent=32,
        alignment=TA_JUSTIFY,
        wordWrap="CJK",
    )
    heading = ParagraphStyle(
        "title", parent=body, fontSize=22, leading=34, firstLineIndent=0, alignment=TA_CENTER
    )

    def footer(canvas, doc) -> None:  # type: ignore[no-untyped-def]
        if page_numbers:
            canvas.setFont("STSong-Light", 14)
            canvas.drawCentredString(A4[0] / 2, 40, f"— {doc.page} —")

    out = io.BytesIO()
    story = [Paragraph(title, heading)]
    story += [Paragraph(p, body) for _ in range(repeat) for p in paragraphs]
    SimpleDocTemplate(out, pagesize=A4).build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF from its objects (1 is the catalog), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), extra, data)


def many_pages_pdf(pages: int) -> bytes:
    """``pages`` pages sharing one content stream: tiny file, huge page count."""
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R"
    page += b" /Resources << /Font << /F1 4 0 R >> >> >>"
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
            stream(b"BT /F1 12 Tf 72 720 Td (Annex page) Tj ET"),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            *[page] * pages,
        ]
    )


def one_page_pdf(content: bytes, resources: bytes, *extra_objects: bytes) -> bytes:
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
            b" /Resources %s >>" % resources,
            stream(content),
            *extra_objects,
        ]
    )


def docx_bytes(build: Callable[[object], None]) -> bytes:
    import docx

    document = docx.Document()
    build(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
MC_NS = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'


def handmade_docx(body_xml: str, part: str = "word/document.xml") -> bytes:
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    return zip_bytes(
        {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                f'<Override PartName="/{part}" ContentType="{main}"/></Types>'
            ),
            part: f"<w:document {W_NS} {MC_NS}><w:body>{body_xml}</w:body></w:document>",
        }
    )


@pytest.fixture(scope="module")
def notice_pdf() -> bytes:
    return chinese_pdf(NOTICE)


# --- PDF ------------------------------------------------------------------------------


def test_chinese_pdf_gives_exact_text_one_paragraph_per_line(notice_pdf: bytes) -> None:
    result = extract_attachment_text(notice_pdf, "application/pdf", "http://x.gov.cn/a.pdf")
    assert result == AttachmentText("pdf", result.text, True, "")
    assert TITLE in result.text
    assert "国防科工局" in result.text
    # wrapped lines are joined back: every paragraph is one line, with nothing between
    # its characters (a keyword wrapped over a line end must still match)
    assert result.text.split("\n") == [TITLE, *NOTICE]


def test_paragraphs_run_over_page_breaks_and_page_numbers_are_dropped() -> None:
    from pypdf import PdfReader

    long = "".join(NOTICE[1:4])
    body = chinese_pdf([NOTICE[0], long], repeat=6, page_numbers=True)
    page_2 = PdfReader(io.BytesIO(body)).pages[1].extract_text().split("\n")
    assert page_2[0] == "— 2 —"
    assert page_2[1].startswith("事项通知如下。")  # the page starts inside a paragraph
    result = extract_attachment_text(body)
    assert result.extracted, result.note
    assert result.text.split("\n") == [TITLE, *[NOTICE[0], long] * 6]


def test_letter_spaced_pdf_has_no_spaces_inside_words_or_numbers() -> None:
    """Some converters place every character on its own, spread to justify the line."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    for row, line in enumerate(["到2027年，大型LNG运输船", "国防科工局"]):
        for column, char in enumerate(line):
            text = page.beginText(72 + column * 17, 720 - row * 30)
            text.setFont("STSong-Light", 12)
            text.textOut(char)
            page.drawText(text)
    page.save()
    result = extract_attachment_text(out.getvalue())
    assert result.text.split("\n") == ["到2027年，大型LNG运输船", "国防科工局"]


def test_radical_code_points_from_a_to_unicode_map_become_ideographs() -> None:
    """Fonts (Noto CJK via Chromium, some WPS exports) map 工 to ⼯ U+2F2F, 门 to ⻔ U+2ED4."""
    mapping = {b"A": "国", b"B": "防", b"C": "科", b"D": "\u2f2f", b"E": "局", b"F": "\u2ed4"}
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap "
        b"/CMapName /Test def /CMapType 2 def 1 begincodespacerange <00> <FF> "
        b"endcodespacerange %d beginbfchar\n"
        % len(mapping)
        + b"".join(
            b"<%s> <%s>\n" % (code.hex().encode(), char.encode("utf-16-be").hex().encode())
            for code, char in mapping.items()
        )
        + b"endbfchar endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    body = one_page_pdf(
        b"BT /F1 12 Tf 72 720 Td (ABCDE) Tj 0 -20 Td (F) Tj ET",
        b"<< /Font << /F1 5 0 R >> >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        stream(cmap),
    )
    result = extract_attachment_text(body)
    assert result.text == "国防科工局\n门"


def test_truncated_pdf_is_not_extracted_and_does_not_raise(notice_pdf: bytes) -> None:
    for cut in (len(notice_pdf) // 2, len(notice_pdf) - 10, 100, 6):
        result = extract_attachment_text(notice_pdf[:cut], "application/pdf")
        assert result.kind == "pdf"
        assert not result.extracted
        assert result.text == ""
        assert "truncated" in result.note


@pytest.mark.parametrize(
    "body",
    [
        b"%PDF-1.7\n" + b"\x00garbage\xff" * 1000 + b"\n%%EOF\n",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 1 0 R >> endobj\ntrailer << /Root 1 0 R >>"
        b"\n%%EOF",  # a page tree that is its own parent
        b"%PDF-" + bytes(range(256)) * 50 + b"%%EOF",
    ],
    ids=["garbage", "cyclic-pages", "bytes"],
)
def test_corrupt_pdf_is_a_note_not_an_exception(body: bytes) -> None:
    result = extract_attachment_text(body)
    assert result.kind == "pdf"
    assert not result.extracted
    assert result.note


def test_scanned_pdf_says_it_has_no_text_layer() -> None:
    image = stream(
        b"\x80",
        b"/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray"
        b" /BitsPerComponent 8",
    )
    body = one_page_pdf(
        b"q 500 0 0 700 40 60 cm /Im1 Do Q", b"<< /XObject << /Im1 5 0 R >> >>", image
    )
    result = extract_attachment_text(body)
    assert (result.kind, result.extracted) == ("pdf", False)
    assert result.note == "scanned PDF: no text layer"


def test_huge_page_count_stops_at_max_pages_quickly() -> None:
    body = many_pages_pdf(5000)
    started = time.process_time()  # this process's CPU: other processes' load is not in it
    result = extract_attachment_text(body, max_pages=30)
    cpu = time.process_time() - started
    assert result.extracted
    assert result.note == "first 30 of 5,000 pages"
    assert result.text.count("Annex page") == 30
    assert cpu < 10, cpu


def test_time_budget_stops_between_pages() -> None:
    body = many_pages_pdf(300)
    result = extract_attachment_text(body, max_pages=300, timeout=1e-9)
    assert not result.extracted
    assert result.note == "stopped after 0 of 300 pages: time budget spent"


def form_heavy_pdf(operators: int, invocations: int) -> bytes:
    """One page drawing the same text-heavy form XObject again and again (2 KB on disk)."""
    form = zlib.compress(b"BT /F1 12 Tf 72 720 Td " + b"(a) Tj " * operators + b"ET", 9)
    resources = b"<< /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >>"
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
            b" /Resources %s >>" % resources,
            stream(b"/X1 Do " * invocations),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            stream(
                form,
                b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Filter /FlateDecode"
                b" /Resources << /Font << /F1 5 0 R >> >>",
            ),
        ]
    )


def test_time_budget_also_stops_inside_a_page() -> None:
    """pypdf parses a form again at each use: ~40 s for this page without the check."""
    body = form_heavy_pdf(operators=10_000, invocations=400)
    started = time.process_time()  # CPU spent, not wall time: a busy machine adds none
    result = extract_attachment_text(body, timeout=0.5)
    assert time.process_time() - started < 5
    assert "stopped in page 1 of 1: time budget spent" in result.note


def test_content_stream_token_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    body = one_page_pdf(
        b"BT /F1 12 Tf 72 720 Td " + b"(a) Tj " * 1_000 + b"ET",
        b"<< /Font << /F1 5 0 R >> >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    )
    monkeypatch.setattr(attachments, "PDF_MAX_STREAM_TOKENS", 1_000)
    result = extract_attachment_text(body)
    assert not result.extracted
    assert result.note == "1 of 1 pages could not be read"
    monkeypatch.setattr(attachments, "PDF_MAX_STREAM_TOKENS", 10_000)
    assert extract_attachment_text(body).text == "a" * 1_000


def test_inflating_stream_is_capped_not_allocated() -> None:
    """A 200 KB page content that inflates to 200 MB (pypdf stops inflating at 75 MB)."""
    squeeze = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    bomb = b"".join(squeeze.compress(chunk) for _ in range(200)) + squeeze.flush()
    body = raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            stream(bomb, b"/Filter /FlateDecode"),
        ]
    )
    started = time.process_time()
    result = extract_attachment_text(body)
    assert time.process_time() - started < 10  # CPU: 200 MB are never inflated
    assert not result.extracted


def test_encrypted_pdf_opens_with_the_empty_user_password_or_says_it_needs_one() -> None:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))

    def encrypted(user_password: str) -> bytes:
        out = io.BytesIO()
        lock = pdfencrypt.StandardEncryption(user_password, ownerPassword="owner", canPrint=0)
        page = canvas.Canvas(out, encrypt=lock)
        page.setFont("STSong-Light", 16)
        page.drawString(72, 720, TITLE)
        page.save()
        return out.getvalue()

    assert extract_attachment_text(encrypted("")).text == TITLE  # print-protected only (RC4)
    locked = extract_attachment_text(encrypted("secret"))
    assert not locked.extracted
    assert locked.note == "encrypted PDF: a password is needed to open it"


def test_aes_encrypted_pdf_with_the_empty_user_password(notice_pdf: bytes) -> None:
    """AES needs pypdf's crypto extra (the cryptography package)."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(notice_pdf))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    result = extract_attachment_text(out.getvalue())
    assert result.text.split("\n") == [TITLE, *NOTICE]


# --- DOCX and XLSX --------------------------------------------------------------------


def test_docx_paragraphs_and_table_one_per_line() -> None:
    def build(document) -> None:  # type: ignore[no-untyped-def]
        document.add_heading(TITLE, level=1)
        document.add_paragraph("\u3000\u3000" + NOTICE[0])
        document.add_paragraph("")  # empty lines are dropped
        document.add_paragraph(NOTICE[1])
        table = document.add_table(rows=3, cols=3)
        for row, cells in zip(
            table.rows,
            [
                ("序号", "单位名称", "所在地区"),
                ("1", "中国船舶集团有限公司", "上海"),
                ("2", "", ""),
            ],
            strict=True,
        ):
            for cell, text in zip(row.cells, cells, strict=True):
                cell.text = text
        table.cell(2, 1).merge(table.cell(2, 2)).text = "江南造船（集团）有限责任公司"
        document.add_paragraph("附件：重点企业名单　　　（共   2 家）")

    result = extract_attachment_text(docx_bytes(build), "application/octet-stream", None)
    assert result == AttachmentText("docx", result.text, True, "")
    assert result.text.split("\n") == [
        TITLE,
        NOTICE[0],
        NOTICE[1],
        "序号 | 单位名称 | 所在地区",
        "1 | 中国船舶集团有限公司 | 上海",
        "2 | 江南造船（集团）有限责任公司",
        "附件：重点企业名单 （共 2 家）",  # the text of record keeps the separator
    ]


def test_docx_text_boxes_once_tracked_changes_as_accepted_breaks_as_lines() -> None:
    body = (
        "<w:p><w:r><w:t>正文</w:t></w:r></w:p>"
        "<w:p><w:r><mc:AlternateContent>"
        "<mc:Choice Requires='wps'><w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p>"
        "</w:txbxContent></mc:Choice>"
        "<mc:Fallback><w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p>"
        "</w:txbxContent></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>"
        "<w:p><w:ins><w:r><w:t>插入</w:t></w:r></w:ins>"
        "<w:del><w:r><w:delText>删除</w:delText></w:r></w:del></w:p>"
        "<w:sdt><w:sdtContent><w:p><w:r><w:t>第一行</w:t><w:br/><w:t>第二行</w:t><w:tab/>"
        "<w:t>2024</w:t><w:noBreakHyphen/><w:t>05</w:t></w:r></w:p></w:sdtContent></w:sdt>"
    )
    result = extract_attachment_text(handmade_docx(body, part="word/main.xml"))
    assert result.text.split("\n") == ["正文", "文本框", "插入", "第一行", "第二行 2024-05"]


def test_docx_with_radicals_and_entities_is_safe_and_mapped() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "哈哈哈哈哈哈哈哈">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    part = f"{laughs}<w:document {W_NS}><w:body><w:p><w:r><w:t>&c;国防科⼯局</w:t></w:r></w:p>"
    part += "</w:body></w:document>"
    body = zip_bytes({"word/document.xml": part})
    result = extract_attachment_text(body)
    assert result.kind == "docx"
    assert "哈" not in result.text  # entities are not expanded
    assert result.text == "国防科工局"


def test_docx_part_inflating_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "MAX_XML_BYTES", 10_000)
    paragraph = "<w:p><w:r><w:t>船舶工业</w:t></w:r></w:p>"
    result = extract_attachment_text(handmade_docx(paragraph * 1000))
    assert (result.kind, result.extracted) == ("docx", False)
    assert "inflates to" in result.note


def test_xlsx_rows_one_per_line_sheets_named() -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "名单"
    sheet.append(["序号", "企业名称", "金额（万元）", "日期"])
    sheet.append([1, "中国船舶集团有限公司", 1200.0, datetime(2024, 5, 10)])
    sheet.append([2, "江南造船\n有限责任公司", 35.5, None])
    sheet.append([None, None, None, None])
    second = workbook.create_sheet("说明")
    second["B2"] = "国防科工局　制表"
    out = io.BytesIO()
    workbook.save(out)
    result = extract_attachment_text(out.getvalue(), "application/octet-stream", "/x.xlsx")
    assert result == AttachmentText("xlsx", result.text, True, "")
    assert result.text.split("\n") == [
        "名单",
        "序号 | 企业名称 | 金额（万元） | 日期",
        "1 | 中国船舶集团有限公司 | 1200 | 2024-05-10",
        "2 | 江南造船 有限责任公司 | 35.5",  # a line break in a cell: one space, as in HTML
        "说明",
        "国防科工局 制表",  # the cell's separator is kept (not compared)
    ]


# --- bombs: budgets of time, text and parts held, whatever the bytes ----------------


def paragraphs_xml(texts: list[str]) -> str:
    return "".join(f"<w:p><w:r><w:t>{t}</w:t></w:r></w:p>" for t in texts)


def test_docx_time_budget_is_checked_while_parsing() -> None:
    """A part of many small paragraphs: the budget stops the reading, not its end."""
    texts = [f"第{n}段" for n in range(20_000)]
    result = extract_attachment_text(handmade_docx(paragraphs_xml(texts)), timeout=1e-9)
    read = result.text.split("\n")
    assert result.extracted
    assert result.note == f"stopped after {len(read):,} paragraphs and rows: time budget spent"
    assert read == texts[: len(read)] and len(read) < len(texts)


def test_docx_reading_stops_at_the_text_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """What lies past the budget is never parsed: here it is not even well-formed XML."""
    monkeypatch.setattr(attachments, "MAX_TEXT_CHARS", 1_000)
    broken = paragraphs_xml(["船舶工业"] * 5_000) + "<w:p><w:r><w:t>未完"
    result = extract_attachment_text(handmade_docx(broken))
    assert result.extracted
    assert result.note == "text cut at 1,000 characters (reading stopped at 2,000)"
    assert result.text.split("\n") == ["船舶工业"] * 200  # 1,000 characters with line breaks


def test_docx_paragraph_of_too_many_elements_stops_the_reading_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attachments, "_DOCX_MAX_BLOCK_ELEMENTS", 100)
    huge = "<w:p>" + "<w:r><w:t>a</w:t></w:r>" * 100 + "</w:p>"
    body = paragraphs_xml(["通知"]) + huge + paragraphs_xml(["附件"])
    result = extract_attachment_text(handmade_docx(body))
    assert (result.text, result.extracted) == ("通知", True)
    assert result.note == "stopped after 1 paragraphs and rows: one has more than 100 XML elements"


def test_an_attachment_over_its_text_budget_is_a_named_warning_of_its_capture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attachments, "MAX_TEXT_CHARS", 1_000)
    body = handmade_docx(paragraphs_xml(["船舶工业"] * 5_000) + "<w:p><w:r><w:t>未完")
    result, text = _analysed(body, None, url="http://127.0.0.1/a.docx")
    note = "text cut at 1,000 characters (reading stopped at 2,000)"
    assert text.split("\n")[:2] == [f"[docx] ({note})", "船舶工业"]
    assert result.warnings == ({"kind": "file-partly-read", "message": note, "file_kind": "docx"},)
    assert result.hits  # the text read is searched like any other


S_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def names_workbook(names: list[str]) -> bytes:
    """One column of distinct shared strings, as Excel and WPS write them (openpyxl
    writes inline strings), built by hand; a name may be an ``<si>`` element."""
    package_rels = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>{n - 1}</v></c></row>' for n in range(1, len(names) + 1)
    )
    return zip_bytes(
        {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/xl/workbook.xml" ContentType="{office}.sheet.main+xml"/>'
                f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{office}.'
                'worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" '
                f'ContentType="{office}.sharedStrings+xml"/></Types>'
            ),
            "_rels/.rels": (
                f'<Relationships xmlns="{package_rels}"><Relationship Id="rId1" '
                f'Type="{R_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                f'<workbook xmlns="{S_NS}" xmlns:r="{R_NS}"><sheets>'
                '<sheet name="名单" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                f'<Relationships xmlns="{package_rels}">'
                f'<Relationship Id="rId1" Type="{R_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
                f'<Relationship Id="rId2" Type="{R_NS}/sharedStrings" Target="sharedStrings.xml"/>'
                "</Relationships>"
            ),
            "xl/worksheets/sheet1.xml": (
                f'<worksheet xmlns="{S_NS}"><sheetData>{rows}</sheetData></worksheet>'
            ),
            "xl/sharedStrings.xml": f'<sst xmlns="{S_NS}">'
            + "".join(
                name if name.startswith("<si>") else f"<si><t>{name}</t></si>" for name in names
            )
            + "</sst>",
        }
    )


def test_xlsx_shared_strings_past_their_budget_stop_the_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attachments, "_XLSX_MAX_SHARED_STRINGS", 100)
    names = [f"船舶企业{n}" for n in range(300)]
    names[1] = "<si><r><t>船舶</t></r><r><rPr><b/></rPr><t>工业</t></r><rPh><t>フリ</t></rPh></si>"
    result = extract_attachment_text(names_workbook(names))
    assert result.extracted
    assert result.text.split("\n") == [names[0], "船舶工业", *names[2:100]]  # as openpyxl reads
    assert result.note == (
        "stopped at shared string 100: the budget is 100 strings or 4,000,000 characters"
    )


def test_xlsx_time_budget_is_checked_in_the_shared_strings() -> None:
    result = extract_attachment_text(
        names_workbook([f"企业{n}" for n in range(3_000)]), timeout=1e-9
    )
    assert (result.extracted, result.note) == (
        False,
        "stopped at shared string 1,024: time budget spent",
    )


def test_xlsx_parts_read_whole_have_a_smaller_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "_XLSX_MAX_WHOLE_PART", 300)
    result = extract_attachment_text(names_workbook(["国防科工局"]))
    assert (result.kind, result.extracted) == ("xlsx", False)
    assert "inflates to" in result.note and "sharedStrings" not in result.note


def test_pdf_pages_past_max_pages_are_never_built() -> None:
    """pypdf's page list would build all 5,000 pages before the first is read (a
    100,000-page file took 19 s and 400 MB so); its page tree limit, lowered here,
    stands in for such a file."""
    from pypdf import apply_configuration

    with apply_configuration(page_tree_maximum_entries=1_000):
        result = extract_attachment_text(many_pages_pdf(5_000), max_pages=3)
    assert (result.text, result.note) == (
        "Annex page\nAnnex page\nAnnex page",
        "first 3 of 5,000 pages",
    )


# --- formats without an extractor, and identification -----------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://www.sastind.gov.cn/n1/附件1.doc", "doc"),
        ("http://www.sastind.gov.cn/n1/附件2.WPS?t=1", "wps"),
        ("http://www.sastind.gov.cn/n1/附件3.xls", "xls"),
        ("http://www.sastind.gov.cn/n1/附件4.et", "xls"),
    ],
)
def test_ole_files_are_kept_as_evidence(url: str, kind: str) -> None:
    result = extract_attachment_text(OLE_HEADER, "application/octet-stream", url)
    assert (result.kind, result.extracted, result.text) == (kind, False, "")
    assert "kept as evidence" in result.note
    assert "no text extractor" in result.note


def test_ole_stream_names_beat_the_extension() -> None:
    word = OLE_HEADER + "WordDocument".encode("utf-16-le")
    excel = OLE_HEADER + "Workbook".encode("utf-16-le")
    assert sniff_kind(word, None, None) == "doc"
    assert sniff_kind(word, None, "/a.wps") == "wps"
    assert sniff_kind(excel, "application/msword", "/a.doc") == "xls"
    assert sniff_kind(OLE_HEADER, None, None) == "other"


def test_ofd_and_plain_zip_are_identified() -> None:
    ofd = zip_bytes({"OFD.xml": "<ofd:OFD/>", "Doc_0/Document.xml": "<ofd:Document/>"})
    result = extract_attachment_text(ofd, "application/zip", "http://x.gov.cn/a.zip")
    assert (result.kind, result.extracted) == ("ofd", False)
    assert result.note == "no text extractor for OFD; kept as evidence"
    archive = zip_bytes({"附件1.pdf": b"%PDF-1.4", "附件2.doc": OLE_HEADER})
    assert extract_attachment_text(archive).kind == "zip"
    assert sniff_kind(archive[: len(archive) // 2] + b"x", None, None) == "zip"  # truncated


def test_sniff_trusts_magic_bytes_over_a_wrong_content_type(notice_pdf: bytes) -> None:
    docx = handmade_docx("<w:p><w:r><w:t>正文</w:t></w:r></w:p>")
    octet = "application/octet-stream"
    assert sniff_kind(notice_pdf, octet, "http://x.gov.cn/download.jsp?id=3") == "pdf"
    assert sniff_kind(notice_pdf, "text/html; charset=utf-8", "/a.doc") == "pdf"
    assert sniff_kind(b"\r\n" + notice_pdf, octet, None) == "pdf"  # junk before the header
    assert sniff_kind(docx, "application/msword", "/a.doc") == "docx"
    assert sniff_kind(docx[:-30], None, None) == "docx"  # truncated: names in local headers
    assert sniff_kind(docx, octet, "/a.wps") == "docx"  # WPS saves .wps as OOXML too
    # no magic bytes: then the content type, then the extension
    assert sniff_kind(b"", "application/pdf", "/a.doc") == "pdf"
    assert sniff_kind(b"\x00\x01", octet, "/A.DOCX#x") == "docx"
    assert sniff_kind(b"\x00\x01", None, None) == "other"


def test_html_error_page_behind_a_pdf_link_is_not_an_attachment() -> None:
    page = "<!DOCTYPE html><html><head><title>404</title></head><body>文件不存在</body></html>"
    result = extract_attachment_text(page.encode(), "application/pdf", "/files/a.pdf")
    assert (result.kind, result.extracted) == ("other", False)
    assert "HTML" in result.note


def test_archives_and_empty_bodies_have_notes() -> None:
    assert extract_attachment_text(b"Rar!\x1a\x07\x01\x00").note == (
        "RAR archive: no text extractor; kept as evidence"
    )
    assert extract_attachment_text(b"", None, "/a.rar").note == "empty file"
    unknown = extract_attachment_text(b"\x00\x01\x02", None, "/a.dps")
    assert unknown.note == "no text extractor for .dps; kept as evidence"


def test_is_attachment_url_by_extension_of_its_path_or_of_a_file_name_in_its_query() -> None:
    assert all(ext.startswith(".") and ext == ext.lower() for ext in ATTACHMENT_EXTENSIONS)
    for url in (
        "http://www.miit.gov.cn/cms_files/filemanager/附件.PDF",
        "http://x.gov.cn/a/b.docx?version=2&t=1",
        "http://x.gov.cn/a/b.xls#page=2",
        "http://x.gov.cn/a/%E9%99%84%E4%BB%B6.wps",
        "http://x.gov.cn/a/b.zip;jsessionid=ABC",
        "/relative/c.ofd",
        "http://x.gov.cn/a/b.et",
        # download scripts (Hanweb and others) that name the file in a query parameter
        "http://x.gov.cn/download?file=a.pdf",
        "http://www.zj.gov.cn/module/download/downfile.jsp?classid=0&filename=2201.pdf",
        "/module/download/downfile.jsp?fileName=%E5%90%8D%E5%8D%95.xlsx&showname=x",
        "http://x.gov.cn/download.jsp?id=3&filename=通知.docx;jsessionid=ABC",
        "http://x.gov.cn/down.do?path=/upload/2024/a.doc&t=17",
    ):
        assert is_attachment_url(url), url
    for url in (
        "http://x.gov.cn/download.jsp?id=3",
        "http://x.gov.cn/a/b.html",
        "http://x.gov.cn/pdf/",
        "http://x.gov.cn/a/b.pdf.html",
        "http://x.gov.cn/list.jsp?type=pdf",
        "http://x.gov.cn/view.jsp?name=a.pdf.html",
        "http://[::1",
        "",
    ):
        assert not is_attachment_url(url), url


def test_bad_arguments_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        extract_attachment_text(b"%PDF-", max_pages=0)
    with pytest.raises(ValueError):
        extract_attachment_text(b"%PDF-", timeout=0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"%PDF-1.4\n", b"PK\x03\x04", OLE_HEADER[:8], b""]),
    junk=st.binary(max_size=2000),
    tail=st.sampled_from([b"", b"\n%%EOF\n"]),
)
def test_never_raises_on_junk(prefix: bytes, junk: bytes, tail: bytes) -> None:
    result = extract_attachment_text(prefix + junk + tail, timeout=5)
    assert isinstance(result, AttachmentText)
    assert result.extracted or result.note


def test_never_raises_on_damaged_office_files() -> None:
    docx = docx_bytes(lambda d: d.add_paragraph(TITLE))  # type: ignore[attr-defined]
    for cut in range(0, len(docx), max(1, len(docx) // 40)):
        damaged = docx[:cut] + bytes(64) + docx[cut + 64 :]
        result = extract_attachment_text(damaged, None, "/a.docx")
        assert result.extracted or result.note


# --- the compared text of a file: nothing that changes with every byte ----------------


def _analysed(body: bytes, previous: str | None, url: str = "http://127.0.0.1/a.pdf"):  # type: ignore[no-untyped-def]
    """The analysis of a fetched file, and its stored text."""
    import zstandard

    from watcher.analysis.analyse import Page, analyse
    from watcher.keywords import KeywordMatcher

    page = Page(body=body, content_type="application/pdf", final_url=url)
    result, frames = analyse(page, previous, KeywordMatcher({"ships": ["船舶"]}))
    text = zstandard.ZstdDecompressor().decompress(frames[result.text_sha256]).decode()
    return result, text


def test_a_two_character_edit_in_a_pdf_counts_two_characters() -> None:
    """The file's size and SHA-256 change whenever any byte does; in the compared text
    they made every edit a 67+67 change of the first line. They are the capture's
    ``raw_size`` and ``raw_sha256``, not its text."""
    before = chinese_pdf(NOTICE)
    edited = [p.replace("2027年", "2028年").replace("世界前列", "世界前例") for p in NOTICE]
    after = chinese_pdf(edited)
    _, old_text = _analysed(before, None)
    assert hashlib.sha256(before).hexdigest() not in old_text
    assert f"{len(before):,}" not in old_text.splitlines()[0]
    result, new_text = _analysed(after, old_text)
    assert old_text.splitlines()[0] == new_text.splitlines()[0] == "[pdf]"
    assert (result.added, result.removed) == (2, 2)
    assert result.raw_sha256 == hashlib.sha256(after).hexdigest()  # the fact is kept


def test_a_file_without_readable_text_is_still_compared_by_its_bytes() -> None:
    """A scanned or unreadable file has no text to compare: its line keeps size and
    SHA-256, so a new version is a change; the note is also a warning of the capture."""
    body = b"%PDF-1.7\n" + bytes(range(256)) * 4  # no %%EOF: truncated
    result, text = _analysed(body, None)
    assert text.startswith(f"[pdf, {len(body):,} bytes, sha256 {hashlib.sha256(body).hexdigest()}]")
    [warning] = result.warnings
    assert warning["kind"] == "file-not-read" and "truncated PDF" in str(warning["message"])


# --- attachment links in the text of record -------------------------------------------

GONGBAO = (
    Path(__file__).parent / "fixtures" / "pages" / "gov.cn" / "gongbao_2007-23_content_711039.html"
)


def _gongbao_with(links: str) -> bytes:
    """The real gov.cn article page with attachment links at the end of its body."""
    real = GONGBAO.read_bytes()
    at = real.index(b'<div class="pages_content" id="UCAP-CONTENT">')
    at = real.index(b"</p>", at) + len(b"</p>")
    return real[:at] + links.encode("utf-8") + real[at:]


def _text_of(html: bytes) -> str:
    from watcher.analysis.analyse import Page, document_of

    page = Page(body=html, content_type="text/html", final_url="https://www.gov.cn/gongbao/a.htm")
    return document_of(page)[0].text


def test_a_swapped_file_behind_the_same_link_text_is_a_change() -> None:
    old = _text_of(_gongbao_with('<p>附件：<a href="/files/abc.pdf;jsessionid=A1">名单</a></p>'))
    new = _text_of(_gongbao_with('<p>附件：<a href="/files/abd.pdf;jsessionid=B2">名单</a></p>'))
    assert "附件：名单 [abc.pdf]" in old.splitlines()
    assert "附件：名单 [abd.pdf]" in new.splitlines()
    assert "jsessionid" not in new  # the file's name, not its URL


def test_only_attachment_links_get_their_file_name() -> None:
    plain = GONGBAO.read_bytes()
    assert _text_of(plain) == _text_of(plain.replace(b"</body>", b"</body>"))
    text = _text_of(
        _gongbao_with(
            '<p><a href="/zhengce/content_1.htm">相关文件</a>'
            '<a href="/module/download/downfile.jsp?classid=0&filename=2412.pdf">附件2</a>'
            '<a href="/files/名单.xlsx">名单.xlsx</a></p>'
        )
    )
    assert "相关文件附件2 [2412.pdf]名单.xlsx" in text.splitlines()
    assert "[" not in text.replace("[2412.pdf]", "")  # no other link of the page changed


def test_content_disposition_file_names() -> None:
    from watcher.analysis.filelinks import file_name_of

    gbk_raw = "附件1.wps".encode("gbk").decode("latin-1")  # raw bytes, as headers arrive
    assert file_name_of(f'attachment; filename="{gbk_raw}"') == "附件1.wps"
    utf8_raw = "名单.pdf".encode().decode("latin-1")
    assert file_name_of(f"attachment; filename={utf8_raw}") == "名单.pdf"
    assert file_name_of("attachment; filename*=UTF-8''%E5%90%8D%E5%8D%95.xlsx") == "名单.xlsx"
    assert file_name_of('attachment; filename="%E5%90%8D%E5%8D%95.docx"') == "名单.docx"
    assert file_name_of("attachment") is None and file_name_of(None) is None
    wps = OLE_HEADER + "WordDocument".encode("utf-16-le")
    assert sniff_kind(wps, "application/octet-stream", "http://x/down.jsp?id=3") == "doc"
    assert sniff_kind(wps, "application/octet-stream", "http://x/d.jsp", "附件1.wps") == "wps"
    assert sniff_kind(wps, None, "http://x/downfile.jsp?filename=a.wps") == "wps"


# --- download-script links, end to end over a real HTTP server ------------------------


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    from httpserver import HTTPServer
    from test_listings import Site

    with HTTPServer() as server:
        yield Site(server, tmp_path)


def test_hanweb_download_links_are_fetched_as_attachments(site) -> None:  # type: ignore[no-untyped-def]
    """Hanweb-style links name the file in a query parameter; the server answers
    ``application/octet-stream`` and names the file in Content-Disposition."""
    from test_listings import UTF8

    from watcher.store.index import Store

    site.write_config()
    site.check()
    notice_html = (
        '<html><head><meta charset="utf-8"><title>关于发布名单的通知</title></head><body>'
        '<div id="con_con"><p>名单见附件。</p>'
        '<a href="/module/download/downfile.jsp?classid=0&filename=2412051030.pdf">附件1</a>'
        '<a href="/download.jsp?id=7&fileName=%E7%94%B3%E6%8A%A5%E8%A1%A8.wps">附件2</a>'
        '<a href="/download.jsp?id=8">附件3</a></div></body></html>'
    )
    site.server.route("/art/8.html", body=notice_html.encode(), headers=UTF8)
    site.server.route(
        "/module/download/downfile.jsp",
        body=chinese_pdf(["入选企业：某某船舶重工集团有限公司"]),
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": "attachment; filename*=UTF-8''%E5%90%8D%E5%8D%95.pdf",
        },
    )
    site.server.route(
        "/download.jsp",
        body=OLE_HEADER + "WordDocument".encode("utf-16-le"),
        headers={"Content-Type": "application/octet-stream"},
    )
    site.items.insert(0, ("/art/8.html", "关于发布名单的通知", "2026-11-27"))
    site.publish()
    line = site.check()
    found = sorted(d["url"].split("/", 3)[3] for d in line["documents"])
    assert found == [
        "art/8.html",
        "download.jsp?id=7&fileName=%E7%94%B3%E6%8A%A5%E8%A1%A8.wps",
        "module/download/downfile.jsp?classid=0&filename=2412051030.pdf",
    ]  # id=8 names no file: not guessed
    by_url = {d["url"].split("/", 3)[3]: d for d in line["documents"]}
    wps_line = by_url["download.jsp?id=7&fileName=%E7%94%B3%E6%8A%A5%E8%A1%A8.wps"]
    assert [w["kind"] for w in wps_line["warnings"]] == ["file-not-read"]
    docs = site.documents()
    pdf_doc = docs["/module/download/downfile.jsp?classid=0&filename=2412051030.pdf"]
    wps_doc = docs["/download.jsp?id=7&fileName=%E7%94%B3%E6%8A%A5%E8%A1%A8.wps"]
    assert pdf_doc.kind == wps_doc.kind == "attachment"
    with Store(site.folder / "snapshots", readonly=True) as store:
        pdf = store.history(pdf_doc.name)[0]
        wps = store.history(wps_doc.name)[0]
        assert "入选企业：某某船舶重工集团有限公司" in store.text(pdf)
        assert pdf.metadata == {"file_name": "名单.pdf"}
        assert "no text extractor for .wps" in store.text(wps)  # the query's name: not .doc
        assert [w["kind"] for w in wps.warnings or []] == ["file-not-read"]
        notice = store.history(docs["/art/8.html"].name)[0]
        assert "附件1 [2412051030.pdf]" in store.text(notice)
        assert "附件2 [申报表.wps]" in store.text(notice)


# --- layout: a signature block drawn right-aligned stays on its own lines -------------


def exported_pdf(paragraphs: list[str], right_aligned: list[str]) -> bytes:
    """A page laid out like a Word/WPS export: one text object, each line placed with
    ``Td``, body lines justified to both margins, first lines indented two characters,
    and the signature and date on the next lines, pushed right by a displacement
    inside ``TJ`` (``[-18000 (工业和信息化部)] TJ``), which is how those exports
    right-align."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    size, left, per_line, leading = 16, 90, 26, 28
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    text = page.beginText(left, 760)
    text.setFont("STSong-Light", size)
    font, _ = text._formatText("工").split(" TL ", 1)  # "/F2 16 Tf 19.2"

    def shown(line: str) -> str:  # "(…) Tj" in the font's encoding
        return text._formatText(line).split(" TL ", 1)[1]

    ops = ["BT", f"{font} TL", f"{left} 760 Td"]
    for paragraph in paragraphs:
        body = "\u3000\u3000" + paragraph
        for start in range(0, len(body), per_line):
            ops += [shown(body[start : start + per_line]), f"0 -{leading} Td"]
    for line in right_aligned:
        gap = (per_line - len(line) * 0.5 - sum(c > "\u2e80" for c in line) * 0.5) * 1000
        string = shown(line).removesuffix(" Tj")
        ops += [f"[-{gap:.0f} {string}] TJ", f"0 -{leading} Td"]
    ops.append("ET")
    page._code.append("\n".join(ops))
    page.save()
    return out.getvalue()


def test_a_right_aligned_signature_is_not_glued_to_the_last_article() -> None:
    last = (
        "第二十条　本办法由工业和信息化部负责解释，"
        "原有规定与本办法不一致的，以本办法为准，自发布之日起施行。"
    )
    assert (len(last) + 2) % 26 == 0  # the article's last line reaches the right margin
    pdf = exported_pdf(
        ["第一条　为规范船舶工业标准化工作，推动船舶工业高质量发展，制定本办法。", last],
        ["工业和信息化部", "2024年1月5日"],
    )
    found = extract_attachment_text(pdf)
    assert found.extracted, found.note
    assert "施行。工业和信息化部" not in found.text
    lines = found.text.splitlines()
    assert lines[-3].endswith("自发布之日起施行。")
    assert lines[-2:] == ["工业和信息化部", "2024年1月5日"]
    assert lines[0].startswith(
        "第一条 为规范船舶工业标准化工作"
    )  # wrapped lines still joined; the page's space kept


def test_a_files_reading_time_is_its_targets_timeout_when_that_is_shorter() -> None:
    """An attachment's 20 s reading budget must not outlast the target's own timeout:
    a target given 5 s is over in about 5 s, whatever its file holds."""
    from watcher.analysis.analyse import Page, analyse
    from watcher.check.options import page_of
    from watcher.config import parse_config_text
    from watcher.core.models import FetchResult
    from watcher.keywords import KeywordMatcher

    body = handmade_docx(paragraphs_xml([f"第{n}段" for n in range(20_000)]))
    config = parse_config_text(
        "targets:\n  - {name: quick, url: 'http://127.0.0.1/a.docx', timeout: 5s}\n"
        "  - {name: slow, url: 'http://127.0.0.1/b.docx', timeout: 90s}\n",
        "targets.yaml",
    )
    quick, slow = config.targets
    fetched = FetchResult(
        url=quick.url,
        final_url=quick.url,
        status_code=200,
        headers=[],
        body=body,
        fetched_at=datetime.now(UTC),
        duration=0.1,
    )
    assert page_of(quick, fetched, None).file_timeout == 5.0
    assert page_of(slow, fetched, None).file_timeout == 20.0  # the file budget itself
    page = Page(body=body, content_type=None, final_url=quick.url, file_timeout=1e-9)
    result, _ = analyse(page, None, KeywordMatcher({}))
    assert any("time budget spent" in str(w["message"]) for w in result.warnings)
