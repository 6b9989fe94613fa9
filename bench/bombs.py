"""Attachment bombs: small files whose text costs far more than their bytes.

Run: ``.venv/bin/python bench/bombs.py [--timeout S] [--keep]``

Writes three files to ``bench/.work/bombs/`` and reads each with watcher's
attachment reader (``extract_attachment_text``, its default budgets) in a child
process of its own, then prints a table: file size, wall and CPU seconds, the
child's peak RSS over its RSS just before the read (the bytes already loaded),
and what the reader said.

- ``docx``: ~180 KB holding 62 MB of tiny paragraphs in ``word/document.xml``;
- ``xlsx``: ~155 KB whose ``xl/sharedStrings.xml`` holds 62 MB of short strings;
- ``pdf``: 100,000 pages sharing one content stream.

The peak is VmHWM after resetting it (``/proc/self/clear_refs``), so it covers the
read only. A child still running after ``--timeout`` is killed and shown so.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "bombs"
XML_BYTES = 62_000_000
PDF_PAGES = 100_000

_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_S_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_R = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_OFFICE = "application/vnd.openxmlformats-officedocument"


def _repeated(head: bytes, unit: Callable[[int], bytes], tail: bytes, size: int) -> Iterator[bytes]:
    yield head
    written, number, batch = len(head), 0, []
    while written < size - len(tail):
        piece = unit(number)
        batch.append(piece)
        written += len(piece)
        number += 1
        if len(batch) == 10_000:
            yield b"".join(batch)
            batch = []
    yield b"".join(batch)
    yield tail


def _write_member(archive: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 5, 10, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        for chunk in chunks:
            member.write(chunk)


def _zip(path: Path, members: dict[str, Iterable[bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, chunks in members.items():
            _write_member(archive, name, chunks)


def docx_bomb(path: Path) -> None:
    main = f"{_OFFICE}.wordprocessingml.document.main+xml"
    types = f'<Types xmlns="{_CT}"><Override PartName="/word/document.xml" ContentType="{main}"/>'
    types += "</Types>"
    head = f'<w:document xmlns:w="{_W_NS}"><w:body>'.encode()
    tail = b"</w:body></w:document>"
    _zip(
        path,
        {
            "[Content_Types].xml": [types.encode()],
            "word/document.xml": _repeated(
                head, lambda n: b"<w:p><w:r><w:t>%d</w:t></w:r></w:p>" % (n % 10), tail, XML_BYTES
            ),
        },
    )


def xlsx_bomb(path: Path) -> None:
    types = (
        f'<Types xmlns="{_CT}">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_OFFICE}.spreadsheetml.'
        'sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OFFICE}.'
        'spreadsheetml.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_OFFICE}.'
        'spreadsheetml.sharedStrings+xml"/></Types>'
    )
    rels = (
        f'<Relationships xmlns="{_PKG_R}"><Relationship Id="rId1" Type="{_R_NS}/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        f'<workbook xmlns="{_S_NS}" xmlns:r="{_R_NS}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        f'<Relationships xmlns="{_PKG_R}">'
        f'<Relationship Id="rId1" Type="{_R_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_R_NS}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    )
    sheet = (
        f'<worksheet xmlns="{_S_NS}"><sheetData>'
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>'
    )
    _zip(
        path,
        {
            "[Content_Types].xml": [types.encode()],
            "_rels/.rels": [rels.encode()],
            "xl/workbook.xml": [workbook.encode()],
            "xl/_rels/workbook.xml.rels": [workbook_rels.encode()],
            "xl/worksheets/sheet1.xml": [sheet.encode()],
            "xl/sharedStrings.xml": _repeated(
                f'<sst xmlns="{_S_NS}">'.encode(),
                lambda n: b"<si><t>%d</t></si>" % (n % 10),
                b"</sst>",
                XML_BYTES,
            ),
        },
    )


def pdf_bomb(path: Path) -> None:
    pages = PDF_PAGES
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []

    def obj(body: bytes) -> None:
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (len(offsets), body))

    content = b"BT /F1 12 Tf 72 720 Td (Annex page) Tj ET"
    obj(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    obj(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages))
    obj(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    obj(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R"
    page += b" /Resources << /Font << /F1 4 0 R >> >> >>"
    for _ in range(pages):
        obj(page)
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(offsets) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    path.write_bytes(out.getvalue())


BOMBS = {"docx": docx_bomb, "xlsx": xlsx_bomb, "pdf": pdf_bomb}


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_one(path: Path) -> dict[str, object]:
    """In the child: read one file, measure the read alone."""
    from watcher.analysis.attachments import extract_attachment_text

    body = path.read_bytes()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _rss_mb("VmRSS")
    cpu, wall = time.process_time(), time.perf_counter()
    result = extract_attachment_text(body, None, path.name)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_mb": before,
        "peak_over_mb": _rss_mb("VmHWM") - before,
        "extracted": result.extracted,
        "chars": len(result.text),
        "note": result.note,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=300.0, help="per file (300 s)")
    parser.add_argument("--only", choices=sorted(BOMBS), action="append")
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read_one(args.read), ensure_ascii=False))
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"{'file':6} {'size':>9} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}  chars / note")
    for kind in args.only or BOMBS:
        path = WORK / f"bomb.{kind}"
        if not path.exists():
            BOMBS[kind](path)
        size = f"{path.stat().st_size / 1024:,.0f} KB"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--read", str(path)],
                capture_output=True,
                text=True,
                timeout=args.timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            print(f"{kind:6} {size:>9}  killed after {args.timeout:.0f} s")
            continue
        if done.returncode:
            print(f"{kind:6} {size:>9}  failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(done.stdout)
        print(
            f"{kind:6} {size:>9} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} {r['peak_over_mb']:8.0f}"
            f"  {r['chars']:,} / {r['note'] or '-'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
