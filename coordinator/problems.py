"""The one shape of a validation error, for forms, the API, plan files and imports.

A `Problem` says where (a form or API field, or a plan's key path such as `sessions[1].ends_at`;
or, for a spreadsheet, a column and a row numbered as the spreadsheet shows it) and what is wrong
(a `Message`, translated where it is shown). `Invalid` carries the list of them: a service raises
it and has changed nothing. The API renders it as
`{"error": {"code": "invalid", "message", "details": [{"field"|"column", "row", "message"}]}}`
(`detail()`), pages put each message beside its field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from coordinator.messages import Message


@dataclass(frozen=True)
class Problem:
    field: str | None  # a form / API field or a plan key path; None when `column` names the place
    msg: Message
    row: int | None = None  # a spreadsheet's row as it numbers it (header = 1); None for the whole input
    column: str | None = None  # a spreadsheet column's header (the template's label, or the header as written)
    letter: str | None = None  # that column's letter in the file (A, B, …, AA)
    forbidden: bool = False  # a right is missing (403), not a wrong value (422)

    @property
    def message(self) -> str:
        """The English text (logs, CLI); pages and the API use `localized()`."""
        return self.msg.text if isinstance(self.msg, Message) else str(self.msg)

    def localized(self) -> str:
        return self.msg.localized() if isinstance(self.msg, Message) else str(self.msg)

    def detail(self) -> dict:
        """The API's `details` item, in the request's language: `{field, row, message}` for a field or
        a plan's key path; for a place in a spreadsheet `{row, column, message}` and the column's
        `letter` in the file when it has one (a problem of the whole file: row and column null)."""
        if self.field is None:
            out = {"row": self.row, "column": self.column, "message": self.localized()}
        else:
            out = {"field": self.field, "row": self.row, "message": self.localized()}
        if self.letter:
            out["letter"] = self.letter
        return out

    def __str__(self) -> str:
        where = self.column or self.field or ""
        if self.row is not None:
            where = f"row {self.row}" + (f", {where}" if where else "")
        return f"{where}: {self.message}" if where else self.message


class Invalid(Exception):
    """A refusal: every problem found (not just the first); nothing was changed. `source` names
    the input (a plan file's path, an upload's name) where there is one."""

    def __init__(self, problems: Iterable[Problem] | Problem, source: str = ""):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.source = source
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def forbidden(self) -> bool:
        return any(p.forbidden for p in self.problems)

    def details(self) -> list[dict]:
        return [p.detail() for p in self.problems]
