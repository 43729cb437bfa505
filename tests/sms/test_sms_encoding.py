"""What an SMS costs: GSM-7 or UCS-2, characters, segments; Vietnamese with and without marks."""
from __future__ import annotations

import pytest

from coordinator.sms.encoding import GSM7, UCS2, cost, saves_segments, without_diacritics

REMINDER = ("Kính gửi đồng chí: Kiểm tra đường truyền Hội nghị trực tuyến NĐ 49/2024 lúc 14:00 ngày 27/06. "
            "Xác nhận sẵn sàng: https://hoinghi.example.gov.vn/c/AbC123")


@pytest.mark.parametrize("text,encoding,units,segments", [
    ("", GSM7, 0, 0),
    ("a" * 160, GSM7, 160, 1),
    ("a" * 161, GSM7, 161, 2),
    ("a" * 306, GSM7, 306, 2),
    ("a" * 307, GSM7, 307, 3),
    ("€" * 80, GSM7, 160, 1),  # extension characters take two septets
    ("€" * 81, GSM7, 162, 2),
    ("ư" * 70, UCS2, 70, 1),  # one Vietnamese letter makes the whole message UCS-2
    ("ư" * 71, UCS2, 71, 2),
    ("a" * 134 + "ệ", UCS2, 135, 3),
    ("😀" * 35, UCS2, 70, 1),  # an emoji is two UTF-16 units
    ("😀" * 36, UCS2, 72, 2),
])
def test_encoding_units_and_segments(text, encoding, units, segments):
    result = cost(text)
    assert (result.encoding, result.units, result.segments) == (encoding, units, segments)
    assert result.characters == len(text)


def test_vietnamese_without_marks_fits_gsm7_and_saves_segments():
    with_marks = cost(REMINDER)
    plain = without_diacritics(REMINDER)
    assert plain.startswith("Kinh gui dong chi: Kiem tra duong truyen Hoi nghi truc tuyen ND 49/2024")
    assert with_marks.encoding == UCS2 and with_marks.segments == 3
    assert cost(plain).encoding == GSM7 and cost(plain).segments == 1
    assert saves_segments(REMINDER)
    assert not saves_segments("Hop luc 14:00")  # already plain: nothing to save


def test_remaining_units_in_the_last_segment():
    assert cost("a" * 150).remaining == 10
    assert cost("ư" * 68).remaining == 2
    assert cost("ư" * 71).remaining == 2 * 67 - 71
