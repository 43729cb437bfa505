"""What an SMS costs: its encoding, length and number of segments (3GPP TS 23.038 / 23.040).

A message that fits the GSM 03.38 alphabet goes as GSM-7: 160 characters in one segment, 153 per
segment when it is split (the rest carries the concatenation header); characters of the
extension table (€ [ ] { } ~ ^ \\ |) take two. Any other character, such as Vietnamese ư, ơ, đ, ệ,
makes the whole message UCS-2: 70 UTF-16 units in one segment, 67 per segment when split (an
emoji takes two units). Without diacritics Vietnamese is plain GSM-7, which is why officials often
send it that way.
"""
from __future__ import annotations

from dataclasses import dataclass

from coordinator.text import strip_diacritics

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# The GSM 03.38 default alphabet (one septet each) and its extension table (two septets each).
_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = set("\f^{}\\[~]|€")
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SmsCost:
    encoding: str  # GSM-7 or UCS-2
    characters: int  # as a reader counts them
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # units per segment at this length (160/153 or 70/67)

    @property
    def remaining(self) -> int:
        """Units left in the last segment before another one is needed."""
        return self.segments * self.per_segment - self.units if self.segments else self.per_segment


def encoding_of(text: str) -> str:
    return GSM7 if all(ch in _BASIC or ch in _EXTENSION for ch in text) else UCS2


def cost(text: str) -> SmsCost:
    encoding = encoding_of(text)
    if encoding == GSM7:
        units = sum(2 if ch in _EXTENSION else 1 for ch in text)
    else:
        units = len(text.encode("utf-16-le")) // 2
    single, multi = _LIMITS[encoding]
    if units == 0:
        segments, per_segment = 0, single
    elif units <= single:
        segments, per_segment = 1, single
    else:
        segments, per_segment = -(-units // multi), multi
    return SmsCost(encoding, len(text), units, segments, per_segment)


def without_diacritics(text: str) -> str:
    """The message as it would be sent without Vietnamese marks (and so, usually, in GSM-7)."""
    return strip_diacritics(text)


def saves_segments(text: str) -> bool:
    """True when sending without diacritics takes fewer segments: the composer then offers it."""
    return cost(without_diacritics(text)).segments < cost(text).segments
