"""The problems of an uploaded spreadsheet: each with its row (as Excel numbers it), its column and
a reason, all of a file raised at once (`ImportInvalid`, nothing saved). Shared by the endpoint
import and the account import (`auth.sheets`), the pages and the API.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coordinator.messages import Message


@dataclass(frozen=True)
class RowError:
    row: int | None  # as Excel numbers it
    column: str | None  # the Vietnamese label of the column (COLUMNS), or an unknown header as written
    msg: Message
    letter: str | None = None  # the column's letter in the file (A, B, …, AA)

    def as_dict(self) -> dict[str, Any]:
        out = {"row": self.row, "column": self.column, "message": self.msg.localized()}
        if self.letter:
            out["letter"] = self.letter
        return out


class ImportInvalid(Exception):
    """The file has problems; nothing was saved. `errors` lists every one of them."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s): " + "; ".join(
            f"row {e.row} {e.letter or ''} {e.column}: {e.msg.text}" for e in errors[:5]))

    def as_dicts(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.errors]


def problem(template: str, **params: Any) -> RowError:
    """A problem of the whole file (no row, no column)."""
    return RowError(None, None, Message(template, params))
