"""Search as users type it: without diacritics, in any order, or a piece of a phone number.

"ba dinh" finds "Quận Ba Đình", "nguyen anh" finds "Nguyễn Văn Anh" (the words in their order, each
the start of a word of one text), "tran thi anh" does not find "Thị trấn Đông Anh"; "0913 123" and
"+84 913 123" find +84913123456 (so do "0913.123.456" and "+84913123456"); "10.56.0" finds the
dial address "sip:kh@10.56.0.10" (an address: a piece of it, spaces ignored).
SQLite and PostgreSQL share no accent-folding function, so lists fold their rows in Python
(`Matcher.texts`, or `Matcher.words_in` on texts folded once by `words_of`) or compare with a
folded column (`Unit.search_name`).
"""
from __future__ import annotations

import re

from coordinator.text import fold

_NOT_DIGITS = re.compile(r"\D+")
_PHONE_TYPED = re.compile(r"[+\d\s().\-]+")
_ADDRESS_SEPARATORS = ":@/;?=&#"  # what separates the parts of a dial address (scheme, user, host, port, path)


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


def words_of(folded: str) -> list[str]:
    """The words of a folded text as the rule reads them (a hyphen separates words): what
    `Matcher.words_in` takes, for a list that folds its texts once and searches them often."""
    return folded.replace("-", " ").split()


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
        #: The search as a piece of an address: folded, without spaces; None under 3 characters.
        self.piece = "".join(self.words) if len("".join(self.words)) >= 3 else None

    def __bool__(self) -> bool:
        return bool(self.words)

    def texts(self, *texts: str | None) -> bool:
        return any(self._one(fold(t)) for t in texts if t)

    def _one(self, folded: str) -> bool:
        return self.words_in(words_of(folded))

    def words_in(self, words: list[str]) -> bool:
        """`texts` for one text already folded and split (`words_of`)."""
        at = 0
        for wanted in self.words:
            while at < len(words) and not words[at].startswith(wanted):
                at += 1
            if at == len(words):
                return False
            at += 1
        return True

    def phone(self, e164: str | None) -> bool:
        return bool(self.digits and e164) and self.digits in national_digits(e164)

    def whole_phone(self, e164: str | None) -> bool:
        """The search is this whole number, however written ("0913.123.456", "+84913123456",
        "913 123 456"): not just a piece of it."""
        if not (self.digits and e164 and len(self.digits) >= 9):
            return False
        number = national_digits(e164)
        return self.digits == number or "0" + self.digits == number

    def address(self, folded: str | None) -> bool:
        """The search (folded, spaces ignored, 3 characters at least) is a piece of this address,
        already folded (a dial string: "sip:kh@10.56.0.10", an https link)."""
        return bool(self.piece and folded) and self.piece in folded

    def whole_address(self, folded: str | None) -> bool:
        """The search is a whole part of this address, not a piece of a longer one: the address,
        its host, its user, its path ("10.56.0.10" of "sip:kh@10.56.0.10:5060", not of
        "sip:kh@10.56.0.101")."""
        if not (self.piece and folded):
            return False
        at = folded.find(self.piece)
        while at >= 0:
            end = at + len(self.piece)
            if (at == 0 or folded[at - 1] in _ADDRESS_SEPARATORS) and (
                    end == len(folded) or folded[end] in _ADDRESS_SEPARATORS):
                return True
            at = folded.find(self.piece, at + 1)
        return False
