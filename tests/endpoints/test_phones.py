"""Vietnamese phone numbers as officials write them."""
from __future__ import annotations

import pytest

from coordinator.endpoints.phones import PhoneError, parse_phone


@pytest.mark.parametrize("raw,e164,kind,national", [
    ("0258.3563535", "+842583563535", "fixed", "0258 3563 535"),    # the Khánh Hòa department's office line
    ("0913 123 456", "+84913123456", "mobile", "0913 123 456"),
    ("(0258) 3563535", "+842583563535", "fixed", "0258 3563 535"),
    ("+84 913 123 456", "+84913123456", "mobile", "0913 123 456"),
    ("84913123456", "+84913123456", "mobile", "0913 123 456"),
    ("0913-123-456", "+84913123456", "mobile", "0913 123 456"),
    ("024 3825 6789", "+842438256789", "fixed", "024 3825 6789"),
    (" 0905111222 ", "+84905111222", "mobile", "0905 111 222"),
])
def test_accepted_spellings(raw, e164, kind, national):
    phone = parse_phone(raw)
    assert (phone.e164, phone.type, phone.national) == (e164, kind, national)
    assert phone.is_mobile == (kind == "mobile")


@pytest.mark.parametrize("raw,reason", [
    ("0236.3822.xxx", "contains letters"),                   # phonenumbers would turn xxx into 999
    ("0913123456 / 0905111222", "more than one number"),
    ("0913123456, 0258 3563535", "more than one number"),
    ("0913 123 456 - 0905 111 222", "more than one number"),
    ("0913 123 456 hoặc 0905 111 222", "more than one number"),
    ("058.3563535", "area code from before 2017"),            # reads as a valid mobile otherwise
    ("(058) 3563535", "area code from before 2017"),
    ("0511.3822123", "area codes changed in 2017"),
    ("12", "not a valid Vietnamese number"),
    ("", "is required"),
])
def test_refused_with_the_reason(raw, reason):
    with pytest.raises(PhoneError) as exc:
        parse_phone(raw)
    assert reason in str(exc.value)


def test_old_area_code_suggests_the_new_one():
    with pytest.raises(PhoneError) as exc:
        parse_phone("058.3563535")
    assert "0258 3563535" in str(exc.value)


# What `phonenumbers` (metadata of the installed version) says of some ranges, as checked when
# writing these rules: 0899, 0888 and 0386 are allocated (MobiFone, VinaPhone, Viettel), 0890-0895
# are not; 11-digit mobile numbers (016x, 012x, 0186/0188, 0199) were renumbered in 2018.
@pytest.mark.parametrize("raw,e164", [
    ("0899 123 456", "+84899123456"),
    ("0888 123 456", "+84888123456"),
    ("0386 123 456", "+84386123456"),
    ("+84 896 123 456", "+84896123456"),
])
def test_allocated_mobile_ranges(raw, e164):
    phone = parse_phone(raw)
    assert (phone.e164, phone.type) == (e164, "mobile")


@pytest.mark.parametrize("raw,prefix", [
    ("0893 123 456", "0893"),
    ("0893123456", "0893"),
    ("+84 893 123 456", "0893"),
    ("0890 123 456", "0890"),
    ("0550 123 456", "0550"),
])
def test_an_unallocated_mobile_prefix_has_its_own_message(raw, prefix):
    with pytest.raises(PhoneError) as exc:
        parse_phone(raw)
    message = str(exc.value)
    assert f"the prefix {prefix}" in message and "not a mobile number in use" in message
    assert "area code" not in message  # not the landline message


@pytest.mark.parametrize("raw,new", [
    ("0168 123 4567", "0381 234 567"),  # Viettel 0168 -> 038
    ("01213 456 789", "0793 456 789"),  # MobiFone 0121 -> 079
    ("0199 123 4567", "0591 234 567"),  # Gmobile 0199 -> 059
])
def test_an_eleven_digit_mobile_number_suggests_its_new_number(raw, new):
    with pytest.raises(PhoneError) as exc:
        parse_phone(raw)
    assert "11-digit mobile number from before 2018" in str(exc.value) and new in str(exc.value)


@pytest.mark.parametrize("raw,count", [("0913 12 345", 9), ("0913 123 4567", 11)])
def test_a_mobile_number_of_the_wrong_length_says_so(raw, count):
    with pytest.raises(PhoneError) as exc:
        parse_phone(raw)
    assert f"has {count} digits; a mobile number has 10" in str(exc.value)


def test_ho_chi_minh_citys_old_area_code_is_not_read_as_a_mobile():
    with pytest.raises(PhoneError) as exc:
        parse_phone("08 3822 1234")  # would be the mobile 0838 221 234
    assert "area code from before 2017 (08)" in str(exc.value) and "028 3822 1234" in str(exc.value)
    assert parse_phone("0838 221 234").type == "mobile"
    assert parse_phone("028 3822 1234").type == "fixed"


# Foreign numbers (issue 14): valid numbers, kept as E.164, but typed "foreign", never "mobile":
# `phonenumbers` calls most of them FIXED_LINE_OR_MOBILE, and the Vietnamese SMS sender cannot
# reach them. Shown with their country code: without it, "(650) 253-0000" is another number.
@pytest.mark.parametrize("raw,e164,shown", [
    ("+1 650 253 0000", "+16502530000", "+1 650-253-0000"),        # United States
    ("001 650 253 0000", "+16502530000", "+1 650-253-0000"),       # dialled from Vietnam (00 = international)
    ("+44 20 7946 0958", "+442079460958", "+44 20 7946 0958"),     # United Kingdom
    ("+86 138 0013 8000", "+8613800138000", "+86 138 0013 8000"),  # a Chinese mobile: still not ours to text
])
def test_a_foreign_number_is_kept_but_not_a_mobile(raw, e164, shown):
    from coordinator.endpoints.phones import foreign_note, is_foreign

    phone = parse_phone(raw)
    assert (phone.e164, phone.type, phone.national) == (e164, "foreign", shown)
    assert not phone.is_mobile and is_foreign(phone.e164)
    note = foreign_note(phone.e164)
    assert note is not None and note.params == {"phone": shown}
    assert "the Vietnamese SMS sender cannot reach it" in note.text


def test_vietnamese_numbers_carry_no_foreign_note():
    from coordinator.endpoints.phones import foreign_note, is_foreign

    for raw in ("0913 123 456", "0258.3563535", "+84 913 123 456"):
        assert foreign_note(parse_phone(raw).e164) is None and not is_foreign(parse_phone(raw).e164)


def test_an_invalid_foreign_number_is_still_refused():
    with pytest.raises(PhoneError) as exc:
        parse_phone("+1 555 12")
    assert "is not a valid phone number" in str(exc.value)
