"""Vietnamese text helpers."""
from __future__ import annotations

import re
import unicodedata


def strip_diacritics(text: str) -> str:
    """Vietnamese without its marks, case and spacing kept ("Hội nghị Đà Nẵng" -> "Hoi nghi Da Nang"):
    what officials write when an SMS must fit in GSM-7.

    Đ/đ is a separate letter, not D with a combining mark, so NFD alone keeps it.
    """
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def fold(text: str) -> str:
    """Lower-case and strip diacritics ("Tỉnh Khánh Hòa" -> "tinh khanh hoa"), for search."""
    return " ".join(strip_diacritics(text).lower().split())


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# --- text that a spreadsheet program would run as a formula ---------------------------------------

FORMULA_SIGNS = "=+-@"
# What follows the sign when the text is an expression rather than words (ASCII only: function
# names and cell references are; "Nguyễn(" is not a function call).
_FUNCTION_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\(")  # SUM(, HYPERLINK(, _xlfn.CONCAT(
_REFERENCE = re.compile(r"\(*(?:(?:'[^']+'|[A-Za-z_][A-Za-z0-9_.]*)!)?\$?[A-Za-z]{1,3}\$?\d+(?![A-Za-z0-9_])")
_DDE = re.compile(r"[A-Za-z0-9_]+\|[^|]*!")  # cmd|' /C calc'!A0: dynamic data exchange
_OPERAND = r"(?:\d[\d.,]*%?|\$?[A-Za-z]{1,3}\$?\d+)"
_ARITHMETIC = re.compile(rf"\(*\s*{_OPERAND}\s*\)*\s*[-+*/^&<>=]\s*[-+(]*\s*(?:{_OPERAND}|[A-Za-z_(])")
_PHONE_LIKE = re.compile(r"[+\-]?\s*[\d\s().\-]+")
_DECORATION = re.compile(r"[=\-_*~.#\s]*")


def looks_like_formula(text: str | None) -> bool:
    """True when `text` would be run as a formula by Excel or LibreOffice.

    The text starts (after spaces) with = + - or @, and:
    - after "=": anything but more decoration ("=A1", "=1", "=HYPERLINK(...)"; not "=" or "=====");
    - after + - @: an expression: a function call ("@SUM(", "+HYPERLINK("), a cell reference
      ("-A1", "+Sheet1!B2"), a DDE call ("+cmd|' /C calc'!A0", anywhere in the text), or
      arithmetic between numbers or references ("-2+3", "+1*A1").

    Not formulas: a sign alone ("-"), prose after a dash ("- ghi chú", "+ thêm 2 người"), a
    negative or signed number ("-5", "+1"), and phone numbers ("+84 913 123 456",
    "+84-913-123-456": digits and separators only, 8 digits or more).
    """
    t = (text or "").lstrip(" \t\r\n\u00a0\u200b\ufeff")
    if not t or t[0] not in FORMULA_SIGNS:
        return False
    sign, rest = t[0], t[1:].lstrip(" \t\r\n\u00a0")
    if not rest:
        return False
    if sign == "=":
        return not _DECORATION.fullmatch(rest)
    if _PHONE_LIKE.fullmatch(t) and sum(ch.isdigit() for ch in t) >= 8:
        return False
    return bool(_FUNCTION_CALL.match(rest) or _REFERENCE.match(rest) or _ARITHMETIC.match(rest)
                or _DDE.search(rest))
