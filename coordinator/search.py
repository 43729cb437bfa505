"""Search as users type it: without diacritics, in any order, or a piece of a phone number.

"ba dinh" finds "Quận Ba Đình", "nguyen anh" finds "Nguyễn Văn Anh" (the words in their order, each
the start of a word of one text), "tran thi anh" does not find "Thị trấn Đông Anh"; "0913 123" and
"+84 913 123" find +84913123456.
SQLite and PostgreSQL share no accent-folding function, so lists fold their rows in Python
(`Matcher.texts`) or compare with a folded column (`Unit.search_name`).
"""
from __future__ import annotations

import re

from coordinator.text import fold

_NOT_DIGITS = re.compile(r"\D+")
_PHONE_TYPED = re.compile(r"[+\d\s().\-]+")


def phone_digits(q: str) -> str | None:
    """The digits of a search that is a phone number or a piece of one ("0913 123", "+84 913"),
    in the national form ("0913123"); None when the search is words or under 3 digits."""
    raw = q.strip()
    if not raw or not _PHONE_TYPED.fullmatch(raw):
        return None
    digits = _NOT_DIGITS.sub("", raw)
    if len(digits) < 3:
        return None
    if raw.startswith("+84") or (digits.startswith("84") and len(digits) >= 11):
        digits = "0" + digits[2:]
    return digits


def national_digits(e164: str) -> str:
    """"+84913123456" -> "0913123456" (other countries: the digits as they are)."""
    return "0" + e164[3:] if e164.startswith("+84") else _NOT_DIGITS.sub("", e164)


class Matcher:
    """Whether texts match a search: the folded search's words begin words of one of the folded
    texts, in the same order; or the search's digits are in a phone's national form. An empty
    search matches nothing on its own: test `bool(matcher)` first."""

    def __init__(self, q: str):
        self.words = fold(q or "").split()
        self.digits = phone_digits(q or "")

    def __bool__(self) -> bool:
        return bool(self.words)

    def texts(self, *texts: str | None) -> bool:
        return any(self._one(fold(t)) for t in texts if t)

    def _one(self, folded: str) -> bool:
        words, at = folded.replace("-", " ").split(), 0
        for wanted in self.words:
            while at < len(words) and not words[at].startswith(wanted):
                at += 1
            if at == len(words):
                return False
            at += 1
        return True

    def phone(self, e164: str | None) -> bool:
        return bool(self.digits and e164) and self.digits in national_digits(e164)
