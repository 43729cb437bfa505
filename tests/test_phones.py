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
