"""Vietnamese text helpers."""
from __future__ import annotations

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
