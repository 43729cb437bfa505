"""Endpoints and contacts as a spreadsheet: the one name the pages, the API, the benchmarks and
outside scripts import; the work is done in the modules named below, one job each.

One row per contact; an endpoint with two contacts takes two rows with the same unit code.

- `columns.py`: the template's columns, the usual synonyms of their headers, the example rows,
  what a header means (`field_of_header`).
- `reading.py`: an .xlsx or .csv upload as raw rows, within `spreadsheets.limits` (formula cells,
  Excel's _xHHHH_ escapes, CSV encodings and separators, a cell as the text that was typed).
- `rows.py`: `read_rows`, the data rows by column: the header row found, every header matched by
  meaning, unknown, repeated and missing columns reported at once, at most `MAX_ROWS` data rows.
- `validation.py`: `validate`, every row checked against the event (units, scope, registration
  window, the field rules of `endpoints.services`, rows of one unit that agree), every problem
  with its row (as Excel numbers it), its column (the template's header and the file's column
  letter) and a reason: `coordinator.problems.Problem`s in one `Invalid` (`spreadsheets.problems`).
- `importing.py`: `import_endpoints`, the all-or-nothing import in one transaction; the rows are
  written by `endpoints.bulk` with bulk statements (a national file is ~23,000 rows); a column the
  file does not have is not mentioned: what is stored for it is kept.
- `template.py`: the template (pre-filled with a province's units when asked) and its guide, and
  the export (same columns, so an export can be edited and uploaded again).
"""
from __future__ import annotations

from coordinator.imports.importing import Counts, ImportResult, import_endpoints
from coordinator.imports.rows import MAX_ROWS, Rows, read_rows
from coordinator.imports.template import export_endpoints, export_rows, template_csv, template_units, template_xlsx
from coordinator.imports.validation import validate
from coordinator.problems import Invalid
from coordinator.spreadsheets.columns import (COLUMNS, EXAMPLE_ROWS, EXAMPLES, HEADERS, LEGACY_KEYS, SHEET_TITLE,
                                              TEMPLATE_HEADERS, Column, column_letter, field_of_header, header_key)
from coordinator.spreadsheets.problems import as_dicts

__all__ = ["COLUMNS", "EXAMPLE_ROWS", "EXAMPLES", "HEADERS", "LEGACY_KEYS", "SHEET_TITLE", "TEMPLATE_HEADERS",
           "Column", "column_letter", "field_of_header", "header_key", "Counts", "ImportResult", "import_endpoints",
           "Invalid", "as_dicts", "MAX_ROWS", "Rows", "read_rows", "export_endpoints", "export_rows",
           "template_csv", "template_units", "template_xlsx", "validate"]
