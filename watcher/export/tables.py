"""Rows of an export as a file an analyst opens in Excel or LibreOffice: CSV or XLSX.

One writer for both formats, so they hold the same cells. CSV starts with a UTF-8
byte-order mark (without one Excel reads UTF-8 as the local code page, and Chinese
titles turn to mojibake). XLSX gets a bold, frozen header row, columns as wide as
their content (CJK characters count double) and real datetimes, so sorting and
filtering work. A text cell starting with ``= + - @`` (or a tab or carriage return)
would be run as a formula by a spreadsheet: a scraped title is untrusted input, so
such cells are prefixed with an apostrophe in both formats.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Cell",
    "Table",
    "escape_formula",
    "to_csv",
    "to_xlsx",
    "write",
]

Cell = str | int | float | datetime | date | None
Format = Literal["csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_WIDTH = 60  # characters: a long title wraps the sheet no wider than this
EXCEL_MAX_CELL = 32767  # characters Excel keeps in one cell
WIDTH_SAMPLE = 2000  # rows measured for the column widths
# East Asian wide and full-width characters (Unicode's W and F): CJK, kana, hangul,
# full-width forms
WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6"
    "\U00020000-\U0003fffd]"
)


@dataclass(frozen=True, slots=True)
class Table:
    """An export: its sheet's name, the header and the rows (one cell per column)."""

    name: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]]


def escape_formula(value: str) -> str:
    """``value`` as text a spreadsheet shows and never evaluates (OWASP's advice:
    a leading apostrophe)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _text(cell: Cell) -> Cell:
    return escape_formula(cell) if isinstance(cell, str) else cell


def to_csv(table: Table) -> bytes:
    """The table as CSV, UTF-8 with a BOM, CRLF line ends (RFC 4180); datetimes as
    ISO 8601."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_text(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(c) for c in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_cell(cell: Cell) -> str | int | float:
    if cell is None:
        return ""
    if isinstance(cell, datetime) and cell.utcoffset() == timedelta(0):
        return cell.isoformat().replace("+00:00", "Z")  # as the API writes UTC
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return _text(cell)  # type: ignore[return-value]


def to_xlsx(table: Table) -> bytes:
    """The table as one XLSX sheet: bold frozen header, fitted widths, datetimes as
    Excel datetimes (timezone-aware ones as they read in their own zone). Written in
    openpyxl's streaming mode (several times faster, memory flat); the widths are
    measured first, since a streamed sheet takes them before its rows."""
    widths = [_width(str(c)) for c in table.columns]
    for row in table.rows[:WIDTH_SAMPLE]:
        for i, cell in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], _width(_shown(cell)))
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_sheet_title(table.name))
    sheet.freeze_panes = "A2"
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(width + 2, MAX_WIDTH)
    bold = Font(bold=True)
    header = []
    for name in table.columns:
        cell = WriteOnlyCell(sheet, _text(name))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append([_xlsx_cell(c) for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(cell: Cell) -> Cell:
    if isinstance(cell, datetime) and cell.tzinfo is not None:
        return cell.replace(tzinfo=None)  # Excel has no zones; the column's name says which
    if isinstance(cell, str):
        return _text(cell)[:EXCEL_MAX_CELL]
    return cell


def _shown(cell: Cell) -> str:
    if isinstance(cell, datetime):
        return "yyyy-mm-dd hh:mm:ss"
    return "" if cell is None else str(cell)


def _width(text: str) -> int:
    """Columns a text takes in a spreadsheet: wide (CJK, full-width) characters count two."""
    text = text[:MAX_WIDTH]
    return len(text) + len(WIDE.findall(text))


def _sheet_title(name: str) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of ``[]:*?/\\``."""
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in name).strip("'")
    return cleaned[:31] or "export"


def write(table: Table, format: Format) -> bytes:
    """The table in ``format`` (``csv`` or ``xlsx``)."""
    if format == "csv":
        return to_csv(table)
    if format == "xlsx":
        return to_xlsx(table)
    raise ValueError(f"unknown export format {format!r}: use {' or '.join(FORMATS)}")
