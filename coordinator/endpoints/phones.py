"""Vietnamese phone numbers, parsed with `phonenumbers` (region VN) and stored as E.164.

`phonenumbers` alone accepts things an official did not mean: letters become keypad digits
("0236.3822.xxx" is "valid"), and a landline written with its pre-2017 area code
("058.3563535", Khánh Hòa before 058 became 0258) reads as a valid *mobile*. Both are refused
here with a message that says why, as are two numbers in one field.

Numbers `phonenumbers` finds invalid get the reason that fits their shape: ten digits in a mobile
range (03x, 05x, 07x, 08x, 09x) whose prefix no network was given (0893 123 456, while 0896–0899
are MobiFone's); eleven-digit mobile numbers from before the 2018 change to ten digits
(0168 123 4567, now 0381 234 567); otherwise a landline with an area code changed in 2017.

A valid foreign number (+1 …, anything but +84) is accepted as a number but typed "foreign", not
"mobile": `phonenumbers` calls most of them FIXED_LINE_OR_MOBILE, and the Vietnamese SMS sender
(a sender ID registered for Vietnam) cannot reach them, so every SMS fan-out skips them with the
reason (`FOREIGN_NOTE`) instead of trying.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from coordinator.messages import N_, Message

MOBILE, FIXED, FOREIGN = "mobile", "fixed", "foreign"
VIETNAM = 84
FOREIGN_NOTE = N_("%(phone)s is not a Vietnamese number: it is kept, but the Vietnamese SMS sender cannot "
                  "reach it, so it gets no SMS (reminders, incidents); call it or use email")

# Two-digit landline area codes in use before the 2017 renumbering (after it: 02xx, e.g. 058 -> 0258).
# Those that now begin mobile ranges (03x, 05x, 07x, 08x) are the dangerous ones.
OLD_TWO_DIGIT_AREA_CODES = {
    "20", "22", "25", "26", "27", "29", "30", "31", "33", "36", "37", "38", "39", "52", "53", "54", "55",
    "56", "57", "58", "59", "60", "61", "62", "63", "64", "66", "67", "68", "70", "72", "73", "74", "75",
    "76", "77", "79",
}
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_SPLITTERS = re.compile(r"[,;/|\n]|\s(?:-|–|hoặc|hoac|và|va|or)\s", re.IGNORECASE)
_OLD_LANDLINE = re.compile(r"^\(?0(\d{2})\)?[\s.\-]+(\d{7})$")
# Hồ Chí Minh City had the one-digit area code 08 and eight-digit numbers before 2017 (now 028):
# "08 3822 1234" would read as the mobile 0838 221 234. (Hà Nội's 04 reads as nothing valid.)
_OLD_CITY_LANDLINE = re.compile(r"^\(?0(8)\)?[\s.\-]+(\d{4}[\s.\-]?\d{4})$")
# Mobile numbers (national significant number, without the trunk 0) have nine digits and begin
# with one of these since 2018.
MOBILE_FIRST_DIGITS = "35789"
# The 2018 renumbering of eleven-digit mobile numbers: 01XY -> 0ZT, the last seven digits kept.
OLD_MOBILE_PREFIXES = {
    "162": "32", "163": "33", "164": "34", "165": "35", "166": "36", "167": "37", "168": "38", "169": "39",  # Viettel
    "120": "70", "121": "79", "122": "77", "126": "76", "128": "78",  # MobiFone
    "123": "83", "124": "84", "125": "85", "127": "81", "129": "82",  # VinaPhone
    "186": "56", "188": "58",  # Vietnamobile
    "199": "59",  # Gmobile
}


class PhoneError(ValueError):
    def __init__(self, message: Message):
        self.msg = message
        super().__init__(message.text)


@dataclass(frozen=True)
class Phone:
    e164: str
    type: str  # "mobile" (can receive SMS), "fixed", or "foreign" (not reachable by the Vietnamese sender)

    @property
    def national(self) -> str:
        """The way Vietnamese offices write it: 0913 123 456, 0258 3563 535; a foreign number in
        its international form (+1 650-253-0000), since without its country code it is another number."""
        number = phonenumbers.parse(self.e164)
        fmt = PhoneNumberFormat.NATIONAL if number.country_code == VIETNAM else PhoneNumberFormat.INTERNATIONAL
        return phonenumbers.format_number(number, fmt)

    @property
    def is_mobile(self) -> bool:
        return self.type == MOBILE


def parse_phone(raw: str) -> Phone:
    text = (raw or "").strip()
    if not text:
        raise PhoneError(Message(N_("a phone number is required")))
    parts = [p for p in _SPLITTERS.split(text) if re.sub(r"\D", "", p or "")]
    if len(parts) > 1:
        raise PhoneError(Message(N_("'%(value)s' holds more than one number; enter one number per field"),
                                 {"value": text}))
    if _LETTERS.search(text):
        raise PhoneError(Message(N_("'%(value)s' contains letters; write the number with digits only"), {"value": text}))
    old = _OLD_LANDLINE.match(text)
    if not (old and old.group(1) in OLD_TWO_DIGIT_AREA_CODES):
        old = _OLD_CITY_LANDLINE.match(text)
    if old:
        raise PhoneError(Message(
            N_("'%(value)s' uses a landline area code from before 2017 (0%(old)s), which now reads as a mobile "
               "number; write it with the new area code, e.g. 02%(old)s %(rest)s"),
            {"value": text, "old": old.group(1), "rest": old.group(2)}))
    try:
        number = phonenumbers.parse(text, "VN")
    except NumberParseException:
        raise PhoneError(Message(N_("'%(value)s' is not a phone number"), {"value": text})) from None
    if not phonenumbers.is_valid_number(number):
        if number.country_code == 84:
            raise PhoneError(_invalid_vietnamese(text, str(number.national_number)))
        raise PhoneError(Message(N_("'%(value)s' is not a valid phone number"), {"value": text}))
    if number.country_code != VIETNAM:
        return Phone(phonenumbers.format_number(number, PhoneNumberFormat.E164), FOREIGN)
    kind = phonenumbers.number_type(number)
    phone_type = MOBILE if kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE) else FIXED
    return Phone(phonenumbers.format_number(number, PhoneNumberFormat.E164), phone_type)


def _invalid_vietnamese(text: str, significant: str) -> Message:
    """Why a Vietnamese number `phonenumbers` finds invalid is wrong, by its shape."""
    if len(significant) == 9 and significant[0] in MOBILE_FIRST_DIGITS:
        return Message(N_("'%(value)s' is not a mobile number in use: no network has been given the prefix "
                          "%(prefix)s; check the number"), {"value": text, "prefix": "0" + significant[:3]})
    if len(significant) == 10 and significant[0] == "1":
        new = OLD_MOBILE_PREFIXES.get(significant[:3])
        if new is not None:
            candidate = phonenumbers.parse("0" + new + significant[3:], "VN")
            if phonenumbers.is_valid_number(candidate):
                return Message(N_("'%(value)s' is an 11-digit mobile number from before 2018, when mobile numbers "
                                  "changed to 10 digits; write it as %(new)s"),
                               {"value": text, "new": phonenumbers.format_number(candidate, PhoneNumberFormat.NATIONAL)})
    if significant[0] == "9":  # 09x is only ever mobile: no landline area code began with 9
        return Message(N_("'%(value)s' has %(count)s digits; a mobile number has 10 (e.g. 0913 123 456)"),
                       {"value": text, "count": len(significant) + 1})
    return Message(N_("'%(value)s' is not a valid Vietnamese number (landline area codes changed in 2017: "
                      "e.g. 0511 became 0236)"), {"value": text})


def national(e164: str) -> str:
    return Phone(e164, FIXED).national


def is_foreign(e164: str) -> bool:
    """Not a Vietnamese number (E.164 without +84): the Vietnamese SMS sender cannot reach it."""
    return bool(e164) and not e164.startswith(f"+{VIETNAM}")


def foreign_note(e164: str) -> Message | None:
    """The warning to show beside a stored foreign number, or None."""
    return Message(FOREIGN_NOTE, {"phone": national(e164)}) if is_foreign(e164) else None
