"""Reading an uploaded .xlsx or .csv into raw rows, within `spreadsheets.limits`: (row number, cell
values) of the first sheet, the first `limits.MAX_COLUMNS` columns, formulas told apart (`Formula`),
Excel's _xHHHH_ escapes decoded, CSV in UTF-8 or UTF-16 with our exports' apostrophes taken off,
and each cell as the text the official typed (`cell_text`). Knows nothing of the columns: shared
by the endpoint import (`imports.rows`) and the account import (`accounts.sheets`).
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from typing import Any

from openpyxl import load_workbook
from openpyxl.cell.read_only import EMPTY_CELL

from coordinator.messages import N_
from coordinator.problems import Invalid
from coordinator.spreadsheets import limits
from coordinator.spreadsheets.problems import problem, row_problem
from coordinator.spreadsheets.safe import FORMULA_TRIGGERS
from coordinator.text import nfc


class Formula(str):
    """The text of an .xlsx cell that holds a formula (not a value)."""


# How Office Open XML writes a character XML cannot hold (ESC is _x001B_, a CR Excel keeps in a
# cell _x000D_); openpyxl leaves these escapes as they are.
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(value: Any) -> Any:
    """A cell's text with the file's _xHHHH_ escapes turned back into the characters they stand for
    (then refused or kept by the field rules, as if typed in the form)."""
    if isinstance(value, str) and "_x" in value:
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def xlsx_rows(data: bytes, formulas: bool = False) -> Iterator[tuple[int, Sequence[Any]]]:
    """The first sheet's rows as (row number, cell values), the first `limits.MAX_COLUMNS`
    columns of each. With `formulas`, a cell holding a formula comes as its Formula text ("=A2");
    without, as the value Excel last computed. A workbook that unpacks to more than a real one
    does is refused before it is parsed (`limits.check_xlsx`)."""
    try:
        limits.check_xlsx(data)
    except limits.TooLarge as exc:
        raise Invalid([row_problem(None, None, exc.msg)]) from None
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=not formulas)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise Invalid([problem(N_("the file could not be read as an Excel workbook (.xlsx): "
                                        "%(detail)s"), detail=str(exc) or type(exc).__name__)]) from None
    try:
        ws = wb.worksheets[0]  # the first sheet is the data; a guide may follow
        # Read-only mode trusts the size the file declares, which some programs write wrong
        # (rows beyond it would be dropped silently): read every row there is instead.
        ws.reset_dimensions()
        # Missing rows come as empty ones, so the count is the row number Excel shows.
        # Only the columns the template can use: openpyxl still parses the cells after them, but
        # builds nothing for them (the size checked above bounds the parsing).
        if not formulas:
            for number, cells in enumerate(ws.iter_rows(max_col=limits.MAX_COLUMNS, values_only=True), start=1):
                if cells.count(None) == len(cells):
                    yield number, ()
                    continue
                yield number, tuple(_unescape(v) for v in cells)
            return
        empty = None  # openpyxl yields the rows a sheet skips as one and the same tuple of EMPTY_CELL
        for number, cells in enumerate(ws.iter_rows(max_col=limits.MAX_COLUMNS), start=1):
            if cells is empty or (cells and cells[0] is EMPTY_CELL and all(c is EMPTY_CELL for c in cells)):
                empty = cells
                yield number, ()  # an empty row (a sheet that skips to row 1,048,576 has a million)
                continue
            yield number, [_formula(c.value) if c.data_type == "f" else _unescape(c.value) for c in cells]
    except Invalid:
        raise
    except Exception as exc:  # a damaged sheet: whatever the parser trips on, the file is unreadable
        raise Invalid([problem(N_("the file could not be read as an Excel workbook (.xlsx): "
                                        "%(detail)s"), detail=str(exc) or type(exc).__name__)]) from None
    finally:
        wb.close()


def _formula(value: Any) -> Formula:
    text = str(getattr(value, "text", value) or "")  # an array formula is an object with its text
    return Formula(text if text.startswith("=") else "=" + text)


def csv_text(data: bytes) -> str:
    """The file as text; refused when not UTF-8 (or UTF-16), or when a line holds more columns than
    Excel has (`limits.check_csv`: csv would build a list of millions of empty cells)."""
    try:
        text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid([problem(N_(
            "the CSV file is not in UTF-8; in Excel choose 'CSV UTF-8 (Comma delimited)' when saving, "
            "or upload the .xlsx"))]) from None
    try:
        limits.check_csv(text)
    except limits.TooLarge as exc:
        raise Invalid([row_problem(None, None, exc.msg)]) from None
    return text


DELIMITERS = (",", ";", "\t")


def csv_rows(data: bytes, delimiter: str | None = None) -> Iterator[tuple[int, Sequence[Any]]]:
    text = csv_text(data)
    if delimiter is None:
        # The header line holds the separators of the right kind (Excel pads every line with them).
        first_line = text.split("\n", 1)[0]
        delimiter = max(DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            # Our exports put an apostrophe before text that would read as a formula
            # (safe.csv_safe); take it off again so an exported file re-imports unchanged.
            # Only the first MAX_COLUMNS columns are read, as in an .xlsx.
            yield number, [c[1:] if c.startswith("'") and c[1:].startswith(FORMULA_TRIGGERS) else c
                           for c in cells[:limits.MAX_COLUMNS]]
    except csv.Error as exc:
        raise Invalid([problem(N_("the CSV file could not be read: %(detail)s"),
                                    detail=str(exc))]) from None


def cell_text(value: Any, key: str) -> str:
    """A cell as the text the official typed.

    Excel turns a phone number typed into a General/Number cell into a number and drops its
    leading 0 (0913123456 -> 913123456); openpyxl then gives an int. A number in the phone
    column is turned back into the text it was: 9 or 10 digits get their 0 again (mobile and
    landline numbers without the trunk 0), 84... gets its +. Unit codes lose zeros the same way
    ("01" -> 1), which cannot be undone (1, 001 and 00001 all exist): the unknown-code message
    says so.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as Excel shows it
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        digits = str(value)
        if key == "contact_phone":
            if len(digits) in (9, 10):
                return "0" + digits
            if digits.startswith("84") and len(digits) in (11, 12):
                return "+" + digits
        return digits
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return nfc(str(value)).strip()
