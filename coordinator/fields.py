"""Free text as every way in takes it: one set of cleaners for the forms, the API, the spreadsheet
imports and the plan files.

`clean_text()` turns what a person typed (or a program sent) into what is stored, or says why it
cannot be stored:

- Unicode NFC. Vietnamese typed on macOS and some phones arrives decomposed (NFD: "ệ" as e + two
  combining marks); composed, the same word is the same text for search, for the unique phone /
  name matching of imports, for SMS length counting and for the length limits below.
- Zero-width characters that carry nothing in Vietnamese (soft hyphen, zero-width space and
  joiners, word joiner, byte-order mark) are dropped: they come in with copy and paste from Word
  and web pages, nobody can see them, and they make two equal names differ.
- Refused, with the position: C0 and C1 control characters (NUL, BEL, ESC, DEL, …: spreadsheet
  files cannot hold them and PostgreSQL refuses NUL), bidirectional embeddings, overrides,
  isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C: they make a text
  display as something else, "Trojan Source"), other invisible format characters (Unicode
  category Cf: tag characters, interlinear annotations, …), lone surrogates and noncharacters
  (not text: they cannot be encoded, and U+FFFE / U+FFFF break XML).
- Line breaks and tabs: kept in multi-line fields (an address, a description; CR LF and CR become
  LF), turned into a space in one-line fields (a name typed in a spreadsheet cell with Alt+Enter).
- Surrounding spaces stripped.
- The length checked against the column the text is stored in (`String(n)` of the model: see
  `max_length_of`), in characters, as PostgreSQL counts them.

Every problem is a `Message` (translated where shown) with the same shape as any other field
problem; the caller attaches it to its field, or to its row and column in an import.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from coordinator.messages import N_, Message

# Dropped without a word: invisible, meaningless in Vietnamese text.
INVISIBLE = frozenset("\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff")
# Bidirectional controls: embeddings and overrides, isolates, and the marks.
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_DROP = {ord(ch): None for ch in INVISIBLE}
_MULTILINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029]")
_ONE_LINE_BREAKS = re.compile(r"[ ]*[\t\r\n\u2028\u2029]+[ ]*")
# Fast path: text made only of these needs no character-by-character look (almost every value):
# ASCII, Latin-1 but the soft hyphen, Latin Extended A/B, the combining marks (NFD Vietnamese),
# Greek, Cyrillic, Latin Extended Additional (ạ…ỹ), general punctuation but the format
# characters, currency signs (₫). None of them is a control or a format character.
_PLAIN = re.compile(r"[\t\n\r\x20-\x7e\u00a0-\u00ac\u00ae-\u052f\u1e00-\u1eff\u2010-\u2027\u2030-\u205e"
                    r"\u20a0-\u20c0]*")


@dataclass(frozen=True)
class TextRule:
    """How one field's text is cleaned: its column's length (None: unlimited, a `Text` column)
    and whether it may hold several lines."""

    max_length: int | None = None
    multiline: bool = False


# The largest value of an `Integer` column on every backend (PostgreSQL's integer: 4 bytes): the
# largest id, and the largest whole number a form, a file or the API may store.
INTEGER_MAX = 2**31 - 1


def max_length_of(column: Any) -> int | None:
    """The length of a model attribute's `String(n)` column (`Endpoint.name` -> 255); None for
    `Text` and for anything without a length."""
    prop = getattr(column, "property", None)
    columns = getattr(prop, "columns", None) or [column]
    return getattr(getattr(columns[0], "type", None), "length", None)


def rule(column: Any = None, *, multiline: bool = False) -> TextRule:
    """The rule of a field stored in `column` (a model attribute such as `Contact.name`)."""
    return TextRule(max_length_of(column) if column is not None else None, multiline)


def _code(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def character_problem(ch: str, position: int) -> Message | None:
    """Why character `ch` (at 1-based `position`) cannot be stored, or None."""
    cp = ord(ch)
    if ch in "\t\n\r" or ch in "\u2028\u2029":
        return None  # handled as line breaks and tabs
    if cp < 0x20 or 0x7F <= cp <= 0x9F:
        return Message(N_("contains a control character (%(char)s) at position %(position)s, which cannot be "
                          "stored or exported: type the text again, or paste it as plain text"),
                       {"char": _code(ch), "position": position})
    if ch in BIDI:
        return Message(N_("contains an invisible character that changes the direction of the text (%(char)s) "
                          "at position %(position)s, so that it shows differently from what it is: type the "
                          "text again without it"), {"char": _code(ch), "position": position})
    category = unicodedata.category(ch)
    if category == "Cf":
        return Message(N_("contains an invisible formatting character (%(char)s) at position %(position)s: "
                          "type the text again without it"), {"char": _code(ch), "position": position})
    if category == "Cs" or (cp & 0xFFFE) == 0xFFFE or 0xFDD0 <= cp <= 0xFDEF:
        return Message(N_("contains a character that is not valid text (%(char)s) at position %(position)s: "
                          "type the text again"), {"char": _code(ch), "position": position})
    return None


def text_problem(text: str) -> Message | None:
    """The first character of `text` that cannot be stored, as a problem; None when all can."""
    if _PLAIN.fullmatch(text):
        return None
    for i, ch in enumerate(text, start=1):
        problem = character_problem(ch, i)
        if problem is not None:
            return problem
    return None


def repaired(text: Any) -> Any:
    """Stored text without the characters `clean_text` refuses (text saved before these rules):
    what a save merges from the stored row (a PATCH of one field, a commune attending at its
    district's endpoint) is repaired rather than refused, since the person saving did not type it
    and may not be allowed to change it. Non-text values pass through."""
    if not isinstance(text, str) or _PLAIN.fullmatch(text) or text_problem(text) is None:
        return text
    return "".join(ch for ch in text if character_problem(ch, 0) is None)


def too_long(length: int, max_length: int) -> Message:
    return Message(N_("at most %(max)s characters (this text has %(count)s)"), {"max": max_length, "count": length})


def _lines(text: str, multiline: bool) -> str:
    """Line breaks as the field takes them, surrounding spaces stripped."""
    if multiline:
        return _MULTILINE_BREAKS.sub("\n", text).strip()
    return _ONE_LINE_BREAKS.sub(" ", text).strip()


def clean_text(raw: Any, text_rule: TextRule = TextRule()) -> tuple[str, Message | None]:
    """(the text to store, None), or (the text as far as it was cleaned, the problem).

    `raw` None is "". Non-text values (a number from a spreadsheet, a boolean) are taken as their
    `str()`."""
    text = unicodedata.normalize("NFC", "" if raw is None else str(raw)).translate(_DROP)
    problem = text_problem(text.lstrip(" \t\r\n"))  # positions as the person sees the text
    if problem is not None:
        return text.strip(), problem
    text = _lines(text, text_rule.multiline)
    if text_rule.max_length is not None and len(text) > text_rule.max_length:
        return text, too_long(len(text), text_rule.max_length)
    return text, None


# --- what a file writer must not write ------------------------------------------------------------

# What XML 1.0 (and so .xlsx) cannot hold: the C0 controls but tab, LF and CR; lone surrogates and
# U+FFFE / U+FFFF. openpyxl raises IllegalCharacterError for the first kind (its
# ILLEGAL_CHARACTERS_RE) and writes a broken file with the others.
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"  # "�": shows that something was there


def writable(text: str) -> str:
    """`text` with every character a spreadsheet file cannot hold replaced by U+FFFD: text stored
    before these rules existed can still be exported."""
    return _UNWRITABLE.sub(REPLACEMENT, text) if _UNWRITABLE.search(text) else text
