"""Vietnamese text helpers."""
from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower-case and strip diacritics ("Tỉnh Khánh Hòa" -> "tinh khanh hoa"), for search.

    Đ/đ is a separate letter, not D with a combining mark, so NFD alone keeps it.
    """
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.lower().split())


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
