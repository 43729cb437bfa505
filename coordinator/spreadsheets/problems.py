"""The problems of an uploaded spreadsheet, in the one shape of validation errors
(`coordinator.problems`): a `Problem` without a field, with its row (as Excel numbers it), its
column (the template's header, or a header as written) and that column's letter in the file; all
the problems of a file raised at once in one `Invalid` (nothing saved). Shared by the endpoint
import and the account import; the pages list them with `as_dicts`, the API's error handler
renders the same problems.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from coordinator.messages import Message
from coordinator.problems import Problem


def row_problem(row: int | None, column: str | None, msg: Message, letter: str | None = None) -> Problem:
    """A problem at a row (None: the whole file) and a column (None: the whole row)."""
    return Problem(None, msg, row=row, column=column, letter=letter)


def problem(template: str, **params: Any) -> Problem:
    """A problem of the whole file (no row, no column)."""
    return row_problem(None, None, Message(template, params))


def as_dicts(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """The problems as the upload pages list them: `{"row", "column", "message"}` in the request's
    language, and the column's `letter` when known (what the API's `details` say too)."""
    return [p.detail() for p in problems]
