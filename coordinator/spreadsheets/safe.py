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

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Font
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


def write_xlsx(headers: Sequence[str], rows: Iterable[Sequence], *, sheet_title: str = "Sheet1",
               widths: Sequence[int] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title[:31]
    ws.append([xlsx_value(h) for h in headers])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c)
            if isinstance(value, str):
                cell.value = writable(value)
                cell.data_type = TYPE_STRING  # never a formula, whatever the text starts with
            else:
                cell.value = value
    for i, width in enumerate(widths or [max(12, len(h) + 2) for h in headers], start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
