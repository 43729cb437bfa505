"""An upload's data rows by column (`read_rows`): the header row found (the first that names at least
two known columns: a title above it is skipped; a second header row and a row of column numbers
taken in), each header matched by meaning (`columns.field_of_header`), unknown, repeated and
missing columns reported at once, rows that hold nothing but a unit's code and name skipped, and
at most `MAX_ROWS` data rows.
"""
from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem
from coordinator.spreadsheets import limits
from coordinator.spreadsheets.columns import (BY_KEY, CONTACT_KEYS, IGNORE, LABEL, REQUIRED, REQUIRED_WITH_CONTACTS,
                                              TEMPLATE_HEADERS, UNKNOWN, column_letter, field_of_header, row_error)
from coordinator.spreadsheets.problems import row_problem
from coordinator.spreadsheets.reading import DELIMITERS, Formula, cell_text, csv_rows, csv_text, xlsx_rows

MAX_ROWS = limits.MAX_ROWS  # data rows (below the header): ~4x the national file
HEADER_SEARCH_ROWS = 30  # the header row is looked for in the first rows (a title may come first)


class Rows(list):
    """The data rows of an upload, [(row number, {column key: text})], each dict holding the
    columns the file has; `letters` gives each column's letter in the file."""

    def __init__(self, rows: Iterable[tuple[int, dict[str, str]]] = (), letters: dict[str, str] | None = None,
                 header_row: int = 1):
        super().__init__(rows)
        self.letters = letters or {}
        self.header_row = header_row


def read_rows(filename: str, data: bytes) -> Rows:
    """The data rows of an upload as (row number, {column key: text}), with the file's letters.

    The header row is the first (of the first HEADER_SEARCH_ROWS) that names two known columns;
    a second header row below it (sub-headers under a merged "Cán bộ đầu mối") and a row of column
    numbers ("(1) (2) (3)") are taken in. Rows with nothing but a unit's code and name (a
    pre-filled template's rows not filled in) are skipped. Raises Invalid for a file that
    cannot be read or whose header is wrong (unknown, repeated or missing columns).
    """
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext == "xlsx":
        raw = xlsx_rows(data, formulas=True)
    elif ext == "csv":
        raw = csv_rows(data, delimiter=_csv_delimiter(data))
    else:
        raise Invalid([row_error(None, None, N_("'%(name)s' is not an .xlsx or .csv file (an old .xls workbook "
                                                      "must be saved as .xlsx first)"), name=filename)])
    return _table(iter(raw))


def _header_fields(cells: Sequence[Any]) -> list[str]:
    return [field_of_header(cell_text(c, "header")) for c in cells]


def _known(fields: list[str]) -> int:
    return sum(1 for f in fields if f in BY_KEY)


_NUMBERING = re.compile(r"[(\[]?(\d{1,2})[)\]]?")


def _is_numbering(cells: Sequence[Any]) -> bool:
    """A row of column numbers under the header, as official forms have: (1) (2) (3) …"""
    texts = [cell_text(c, "header") for c in cells]
    numbers = [_NUMBERING.fullmatch(t) for t in texts if t]
    if len(numbers) < 3 or not all(numbers):
        return False
    values = [int(m.group(1)) for m in numbers]
    return all(b == a + 1 for a, b in zip(values, values[1:]))


def _table(raw: Iterator[tuple[int, Sequence[Any]]]) -> Rows:
    # 1. The header row.
    seen: list[tuple[int, Sequence[Any], list[str]]] = []
    header = None
    for number, cells in raw:
        fields = _header_fields(cells)
        seen.append((number, cells, fields))
        if _known(fields) >= 2:
            header = len(seen) - 1
            break
        if number >= HEADER_SEARCH_ROWS:
            break
    if header is None:
        candidates = [i for i, (_, _, f) in enumerate(seen) if any(f)]
        if not candidates:
            raise Invalid([row_error(1, None, N_("the file is empty: the first row must be the template's header"))])
        # The row naming most known columns, to say what is wrong with it; if none names any,
        # the file has no header row at all (one error, not one per cell of its first row).
        header = max(candidates, key=lambda i: (_known(seen[i][2]), -i))
        if not _known(seen[header][2]):
            raise Invalid([row_error(seen[header][0], None, N_(
                "no header row: no cell of the first rows names a column of the template; keep the template's "
                "header row above the data (the headers are: %(expected)s)"), expected=", ".join(TEMPLATE_HEADERS))])
    header_number, header_cells, fields = seen[header]
    rest = itertools.chain(seen[header + 1:], ((n, c, None) for n, c in raw))
    rest = ((n, c) for n, c, _ in rest)

    # 2. A second header row (sub-headers under a merged group title), then a numbering row.
    texts = [cell_text(c, "header") for c in header_cells]
    first_data: list[tuple[int, Sequence[Any]]] = []
    numbering_row = None
    for number, cells in rest:
        sub = _header_fields(cells)
        if (_known(sub) >= 1 and all(f in ("", IGNORE) or f in BY_KEY for f in sub)
                and any(f in BY_KEY and (i >= len(fields) or fields[i] in ("", UNKNOWN)) for i, f in enumerate(sub))):
            width = max(len(fields), len(sub))
            fields = [(sub[i] if i < len(sub) and sub[i] else (fields[i] if i < len(fields) else ""))
                      for i in range(width)]
            texts = [(cell_text(cells[i], "header") if i < len(cells) and sub[i] else (texts[i] if i < len(texts) else ""))
                     for i in range(width)]
            header_number = number
            continue
        if not first_data and _is_numbering(cells):
            first_data.append((number, ()))  # nothing in it: skipped below
            numbering_row = number
            continue
        first_data.append((number, cells))
        break
    rows_iter = itertools.chain(first_data, rest)
    # Data rows are counted from the first row below the header (title rows, the header, a second
    # header row and a numbering row are not data); empty rows after the last data row do not count.
    before_data = numbering_row or header_number

    # 3. Each header's meaning: unknown, repeated and missing columns are all said at once.
    errors: list[Problem] = []
    positions: dict[str, int] = {}
    expected = ", ".join(TEMPLATE_HEADERS)
    for i, (f, text) in enumerate(zip(fields, texts)):
        letter = column_letter(i)
        if f == UNKNOWN:
            errors.append(row_problem(header_number, text, Message(N_(
                "'%(found)s' is not a column of the template; the headers are: %(expected)s (other usual names such "
                "as SĐT or Họ tên are recognised; STT and Ghi chú are ignored)"), {"found": text, "expected": expected}),
                letter))
        elif f in BY_KEY:
            if f in positions and BY_KEY[f].saved:
                first = positions[f]
                errors.append(row_problem(header_number, LABEL[f], Message(N_(
                    "'%(found)s' is the same column as %(other)s ('%(first)s'): keep one of them"),
                    {"found": text, "other": column_letter(first), "first": texts[first]}), letter))
            positions.setdefault(f, i)
    missing = [k for k in REQUIRED if k not in positions]
    if any(k in positions for k in CONTACT_KEYS):
        missing += [k for k in REQUIRED_WITH_CONTACTS if k not in positions]
    if missing:
        errors.append(row_problem(header_number, None, Message(N_(
            "the header row (row %(row)s) lacks the column(s) %(missing)s; the headers are: %(expected)s"),
            {"row": header_number, "missing": ", ".join(LABEL[k] for k in missing), "expected": expected})))
    if errors:
        raise Invalid(errors)

    # 4. The data rows.
    saved = {k: i for k, i in positions.items() if BY_KEY[k].saved}
    headed = set(positions.values()) | {i for i, f in enumerate(fields) if f}
    letters = {LABEL[k]: column_letter(i) for k, i in positions.items()}
    rows = Rows(letters=letters, header_row=header_number)
    unheaded: dict[int, int] = {}  # column index -> first row with a value under no header
    for number, cells in rows_iter:
        if not any(cells) and cells.count(None) + cells.count("") == len(cells):
            continue  # an empty row (openpyxl fills the rows a sheet skips with them; CSV: ;;;;)
        if number - before_data > MAX_ROWS:
            raise Invalid([row_error(number, None, N_(
                "the file has more than %(max)s data rows (row %(number)s is the first one beyond the limit; the "
                "header is not counted): split the list into several files"), max=MAX_ROWS, number=number)])
        values = {}
        for key, i in saved.items():
            cell = cells[i] if i < len(cells) else None
            values[key] = cell if isinstance(cell, Formula) else cell_text(cell, key)
        for i in range(len(cells)):
            if i not in headed and i not in unheaded and cells[i] is not None and cell_text(cells[i], "") != "":
                unheaded[i] = number
        # Nothing but the unit (a pre-filled row not filled in), or nothing at all: skipped.
        if any(v for k, v in values.items() if k != "unit_code"):
            rows.append((number, values))
    if unheaded:
        raise Invalid([row_problem(number, None, Message(N_(
            "this column has values but no header: give it one of the template's headers (%(expected)s) or empty it"),
            {"expected": expected}), column_letter(i)) for i, number in sorted(unheaded.items())])
    if not rows:
        raise Invalid([row_error(None, None, N_("the file has no rows below the header"))])
    return rows


def _csv_delimiter(data: bytes) -> str | None:
    """The separator under which the file's first rows name the most known columns (Excel writes
    ';' where the decimal separator is ',', as in Vietnamese settings; tabs for "Unicode text");
    None when no separator finds any (then the first line decides)."""
    try:
        head = "\n".join(csv_text(data).split("\n", HEADER_SEARCH_ROWS)[:HEADER_SEARCH_ROWS])
    except Invalid:
        return None  # said when the rows are read
    best, score = None, 0
    for delimiter in DELIMITERS:
        try:
            known = max((_known(_header_fields(cells[:limits.MAX_COLUMNS]))
                         for cells in csv.reader(io.StringIO(head), delimiter=delimiter)), default=0)
        except csv.Error:
            continue
        if known > score:
            best, score = delimiter, known
    return best
