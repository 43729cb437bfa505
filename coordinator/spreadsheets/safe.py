"""Writing spreadsheets that are safe to open: no user-supplied text ever becomes a formula.

XLSX: openpyxl stores a string starting with "=" as a formula; every text cell here is written
with an explicit string type instead, so its value stays exactly what was typed.
CSV has no types: a value starting with =, +, -, @ (or tab / carriage return) is prefixed with an
apostrophe, which spreadsheet programs show as text (OWASP's CSV-injection advice).

Both: a character a spreadsheet file cannot hold (NUL, ESC, BEL and the other C0 controls but tab
and line breaks; see `coordinator.fields.writable`) is written as U+FFFD "�". Such text is refused
at entry, but rows stored before that rule (or by a script) must never make an export fail: openpyxl
raises IllegalCharacterError for them, and Excel cuts a CSV cell at a NUL.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from coordinator.fields import writable

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    text = writable("" if value is None else str(value))
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def xlsx_value(value):
    """What a cell may hold: text with what XML cannot hold replaced; other values as they are."""
    return writable(value) if isinstance(value, str) else value


def write_csv(headers: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """UTF-8 with a BOM, so Excel shows Vietnamese diacritics correctly when opening the file."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([writable(str(h)) for h in headers])
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@dataclass
class Sheet:
    """One sheet of a workbook: a table under an optional caption."""
    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence]
    widths: Sequence[int] | None = None  # None: as wide as each header, at least 12
    percent: Sequence[int] = ()  # 0-based columns of shares, shown as percentages
    caption: Sequence[str] = ()  # lines above the table (the first in bold), then an empty line
    printable: bool = False  # A4 landscape, one page wide, the header row repeated on every page


PERCENT_FORMAT = "0.0%"


def write_xlsx(headers: Sequence[str], rows: Iterable[Sequence], *, sheet_title: str = "Sheet1",
               widths: Sequence[int] | None = None) -> bytes:
    """One sheet: the header row (bold, frozen), then the rows."""
    return write_workbook([Sheet(sheet_title, headers, rows, widths)])


def write_workbook(sheets: Sequence[Sheet]) -> bytes:
    """The one .xlsx writer: every text cell typed as a string (never a formula, whatever it starts
    with) and written `writable`; other values as they are."""
    wb = Workbook()
    for i, sheet in enumerate(sheets):
        _write_sheet(wb.active if i == 0 else wb.create_sheet(), sheet)
    return _saved(wb)


def write_template(sheet: Sheet, *, text_columns: Iterable[int] = (), guide_title: str,
                   guide: Iterable[Sequence[str | None]]) -> bytes:
    """A template to fill in: its data sheet, the columns `text_columns` (0-based) formatted as Text
    (Excel then keeps the leading zeros officials type), then a guide sheet of two columns (a line
    of one cell, or whose second cell is None, is a heading)."""
    wb = Workbook()
    ws = wb.active
    _write_sheet(ws, sheet)
    for i in text_columns:
        ws.column_dimensions[get_column_letter(i + 1)].number_format = "@"
    ws = wb.create_sheet(guide_title)
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 100
    for r, line in enumerate(guide, start=1):
        for c, text in enumerate(line, start=1):
            if text:
                put(ws.cell(row=r, column=c), text).alignment = Alignment(wrap_text=True, vertical="top")
        if len(line) == 1 or line[1] is None:
            ws.cell(row=r, column=1).font = Font(bold=True, size=13 if r == 1 else 11)
    return _saved(wb)


def _saved(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _write_sheet(ws, sheet: Sheet) -> None:
    ws.title = sheet.title[:31]
    r = 1
    for line in sheet.caption:
        put(ws.cell(row=r, column=1), line).font = Font(bold=(r == 1))
        r += 1
    if sheet.caption:
        r += 1
    header_row = r
    for c, header in enumerate(sheet.headers, start=1):
        put(ws.cell(row=r, column=c), header).font = Font(bold=True)
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1).coordinate
    for row in sheet.rows:
        r += 1
        for c, value in enumerate(row, start=1):
            cell = put(ws.cell(row=r, column=c), value)
            if c - 1 in sheet.percent and isinstance(value, float):
                cell.number_format = PERCENT_FORMAT
    widths = sheet.widths or [max(12, len(str(h)) + 2) for h in sheet.headers]
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = width
    if sheet.printable:
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_title_rows = f"{header_row}:{header_row}"


def put(cell, value):
    """`value` into an openpyxl cell, as every writer here does: text as a string, never a formula."""
    cell.value = xlsx_value(value)
    if isinstance(value, str):
        cell.data_type = TYPE_STRING  # never a formula, whatever the text starts with
    return cell
