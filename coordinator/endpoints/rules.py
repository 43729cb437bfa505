"""The field rules of endpoints and contacts, shared by the form, the API and the spreadsheet
import: what each field may hold, how it is cleaned (`coordinator.fields`), the words officials
write for roles, protocols and yes / no, and every problem found at once (`coordinator.problems`).
Reads nothing and writes nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from coordinator.endpoints.models import Contact, Endpoint
from coordinator.endpoints.phones import PhoneError, parse_phone
from coordinator.fields import INTEGER_MAX, TextRule, clean_text, rule
from coordinator.messages import N_, Message
from coordinator.problems import Problem
from coordinator.text import fold, looks_like_formula


# Words officials write in spreadsheets, mapped to our codes.
ROLE_ALIASES = {
    "chair": "chair", "chủ trì": "chair", "chu tri": "chair", "lãnh đạo chủ trì": "chair",
    "technical": "technical", "kỹ thuật": "technical", "ky thuat": "technical", "đầu mối": "technical",
    "đầu mối kỹ thuật": "technical", "cán bộ đầu mối": "technical", "focal": "technical",
    "attendee": "attendee", "tham dự": "attendee", "tham du": "attendee", "đại biểu": "attendee",
    "kĩ thuật": "technical", "cán bộ kỹ thuật": "technical",
}
# Compared without case and diacritics: "KỸ THUẬT", "Ky thuat" and "kĩ thuật" are the same word.
_ROLES_FOLDED = {fold(k): v for k, v in ROLE_ALIASES.items()}
# A yes/no cell ("Đầu mối tỉnh"): what officials write for yes, and for no.
FOCAL_YES = ("có", "co", "x", "✓", "✔", "yes", "y", "true", "1", "đúng", "dung", "on", "đầu mối", "dau moi")
FOCAL_NO = ("", "không", "khong", "ko", "k", "no", "n", "false", "0", "sai", "off", "-")
ENDPOINT_FIELDS = ("name", "address", "protocol", "dial", "upstream_bridge", "provider", "expected_attendance")
PROTOCOL_ALIASES = {"sip": "sip", "h323": "h323", "h.323": "h323", "webrtc": "webrtc", "web": "webrtc",
                    "https": "webrtc", "other": "other", "khác": "other", "khac": "other", "": "other"}
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$", re.I)
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")


@dataclass
class ContactValues:
    role: str
    name: str
    position: str
    phone: str
    phone_type: str
    email: str
    focal: bool = False


@dataclass
class EndpointValues:
    name: str
    address: str
    protocol: str
    dial: str
    upstream_bridge: str = ""
    provider: str = ""
    expected_attendance: int | None = None
    contacts: list[ContactValues] | None = None  # None: leave the contacts as they are
    hosted_unit_codes: list[str] | None = None  # None: leave as they are
    problems: list[Problem] = field(default_factory=list)


def formula_error(raw: Any) -> Message | None:
    """The problem of text that a spreadsheet program would run as a formula (`=HYPERLINK(…)`,
    `+cmd|…`, `-2+3`, `@SUM(…)`; see coordinator.text.looks_like_formula), or None.

    Refused in every text field: exported lists are opened in Excel by other people."""
    if not isinstance(raw, str) or not looks_like_formula(raw):
        return None
    text = raw.strip()
    return Message(N_("'%(value)s' would be run as a formula by spreadsheet programs (it starts with %(sign)s); "
                      "remove the %(sign)s at the start or write the text differently"),
                   {"value": text if len(text) <= 60 else text[:57] + "…", "sign": text[0]})


# How each free-text field is cleaned (coordinator.fields: NFC, no control or bidi characters, the
# column's length); values that are parsed (protocol, role, phone) are only checked for characters.
ENDPOINT_TEXT = {"name": rule(Endpoint.name), "address": rule(Endpoint.address, multiline=True),
                 "protocol": TextRule(), "dial": rule(Endpoint.dial), "upstream_bridge": rule(Endpoint.upstream_bridge),
                 "provider": rule(Endpoint.provider)}
CONTACT_TEXT = {"name": rule(Contact.name), "position": rule(Contact.position), "role": TextRule(),
                "email": rule(Contact.email), "phone": TextRule()}


def _text_field(data: dict[str, Any], key: str, field: str, problems: list[Problem],
                text_rule: TextRule = TextRule()) -> tuple[str, bool]:
    """The cleaned text of `key` (coordinator.fields.clean_text), and False when it cannot be
    stored as it is or would act as a formula (its problem is added)."""
    text, err = clean_text(data.get(key), text_rule)
    if err is None:
        err = formula_error(text)
    if err:
        problems.append(Problem(field, err))
        return text, False
    return text, True


def clean_protocol(raw: Any) -> tuple[str, Message | None]:
    value = PROTOCOL_ALIASES.get(str(raw or "").strip().lower())
    if value is None:
        return "", Message(N_("unknown protocol '%(value)s'; use sip, h323, webrtc or other"), {"value": raw})
    return value, None


def clean_dial(protocol: str, raw: Any) -> tuple[str, Message | None]:
    """Normalise a dial address for its protocol; empty is allowed (not known yet)."""
    dial = str(raw or "").strip()
    if not dial:
        return "", None
    if protocol == "sip":
        body = dial.split(":", 1)[1] if dial.lower().startswith(("sip:", "sips:")) else dial
        scheme = "sips" if dial.lower().startswith("sips:") else "sip"
        user, _, host = body.rpartition("@")
        host_only = host.split(";")[0].split(":")[0]
        if not host_only or not (_HOST.match(host_only) or _IPV4.match(host_only)):
            return dial, Message(N_("'%(value)s' is not a SIP address; write e.g. sip:diemcau@10.0.0.5"), {"value": dial})
        return f"{scheme}:{body}", None
    if protocol == "h323":
        target = dial.split("@")[-1].split(":")[0]
        if _IPV4.match(target) or _HOST.match(target) or re.fullmatch(r"\d{3,20}", target):
            return dial, None
        return dial, Message(N_("'%(value)s' is not an H.323 address; write an IP address, a host name or an alias"),
                             {"value": dial})
    if protocol == "webrtc":
        parts = urlsplit(dial)
        if parts.scheme != "https" or not parts.netloc:
            return dial, Message(N_("'%(value)s' is not a web link; it must start with https://"), {"value": dial})
    return dial, None


def clean_role(raw: Any) -> tuple[str, Message | None]:
    value = _ROLES_FOLDED.get(fold(str(raw or "")))
    if value is None:
        return "", Message(N_("unknown role '%(value)s'; use chair, technical or attendee"), {"value": raw})
    return value, None


def clean_email(raw: Any) -> tuple[str, Message | None]:
    email = str(raw or "").strip()
    if not email:
        return "", None
    try:
        return validate_email(email, check_deliverability=False).normalized, None
    except EmailNotValidError:
        return email, Message(N_("'%(value)s' is not an email address"), {"value": email})


def clean_focal(raw: Any) -> tuple[bool, Message | None]:
    """Yes or no: a boolean (form, API) or a word (a spreadsheet's "Đầu mối tỉnh" cell: Có / x /
    empty)."""
    if not isinstance(raw, str):
        return bool(raw), None
    word = " ".join(raw.strip().lower().split())
    if word in FOCAL_YES:
        return True, None
    if word in FOCAL_NO:
        return False, None
    return False, Message(N_("'%(value)s' is not yes or no; write Có (or x) for a province focal contact, "
                             "or leave it empty"), {"value": raw.strip()})


def clean_contact(data: dict[str, Any], prefix: str = "") -> tuple[ContactValues | None, list[Problem]]:
    """A contact's values, or None with every problem found (the phone is checked even when other
    fields are wrong: see `contact_phone`). Every field goes through the rules of all free text
    (`coordinator.fields`: control and bidi characters refused, the column's length), and text
    that would act as a spreadsheet formula is refused in every field (`formula_error`)."""
    problems: list[Problem] = []
    raw, ok = _text_field(data, "name", f"{prefix}name", problems, CONTACT_TEXT["name"])
    name = str(raw or "").strip() if ok else ""
    if ok and not name:
        problems.append(Problem(f"{prefix}name", Message(N_("the contact's name is required"))))
    raw, ok = _text_field(data, "position", f"{prefix}position", problems, CONTACT_TEXT["position"])
    position = str(raw or "").strip()
    raw, ok = _text_field(data, "role", f"{prefix}role", problems, CONTACT_TEXT["role"])
    role = ""
    if ok:
        role, err = clean_role(raw or "attendee")
        if err:
            problems.append(Problem(f"{prefix}role", err))
    raw, ok = _text_field(data, "email", f"{prefix}email", problems, CONTACT_TEXT["email"])
    email = ""
    if ok:
        email, err = clean_email(raw)
        if err:
            problems.append(Problem(f"{prefix}email", err))
    focal, err = clean_focal(data.get("focal"))
    if err:
        problems.append(Problem(f"{prefix}focal", err))
    raw, ok = _text_field(data, "phone", f"{prefix}phone", problems, CONTACT_TEXT["phone"])
    phone = None
    if ok:
        try:
            phone = parse_phone(str(raw or ""))
        except PhoneError as exc:
            problems.append(Problem(f"{prefix}phone", exc.msg))
    if problems:
        return None, problems
    return ContactValues(role, name, position, phone.e164, phone.type, email, focal), []


def _phone_or_none(raw: Any) -> str | None:
    try:
        return parse_phone(str(raw or "")).e164
    except PhoneError:
        return None


def clean_endpoint(data: dict[str, Any]) -> EndpointValues:
    """Check the fields of an endpoint (and its contacts and hosted units, if given)."""
    problems: list[Problem] = []
    texts: dict[str, str | None] = {}  # None: refused as a formula (its problem is said)
    for key in ("name", "address", "protocol", "dial", "upstream_bridge", "provider"):
        raw, ok = _text_field(data, key, key, problems, ENDPOINT_TEXT[key])
        texts[key] = raw if ok else None
    name = texts["name"] or ""
    if texts["name"] == "":
        problems.append(Problem("name", Message(N_("the endpoint's name (room) is required"))))
    protocol, dial = "other", ""
    if texts["protocol"] is not None:
        protocol, err = clean_protocol(texts["protocol"])
        if err:
            problems.append(Problem("protocol", err))
    if texts["dial"] is not None:
        dial, err = clean_dial(protocol, texts["dial"])
        if err:
            problems.append(Problem("dial", err))
    attendance = data.get("expected_attendance")
    if attendance in ("", None):
        attendance = None
    else:
        try:
            attendance = int(attendance)
            if not 0 <= attendance <= INTEGER_MAX:  # beyond the column: refused, not a database error
                raise ValueError
        except (TypeError, ValueError):
            problems.append(Problem("expected_attendance", Message(N_("a whole number of people, e.g. 30"))))
            attendance = None
    contacts = None
    if data.get("contacts") is not None:
        contacts, phones = [], set()
        for i, raw in enumerate(data["contacts"]):
            contact, errs = clean_contact(raw, f"contacts[{i}].")
            problems.extend(errs)
            phone = contact.phone if contact else _phone_or_none(raw.get("phone"))
            if phone in phones:
                problems.append(Problem(f"contacts[{i}].phone",
                                        Message(N_("this phone number is already given for another contact"))))
            if phone:
                phones.add(phone)
            if contact:
                contacts.append(contact)
    hosted = data.get("hosted_unit_codes")
    return EndpointValues(
        name=name, address=str(texts["address"] or "").strip(), protocol=protocol or "other", dial=dial,
        upstream_bridge=str(texts["upstream_bridge"] or "").strip(), provider=str(texts["provider"] or "").strip(),
        expected_attendance=attendance, contacts=contacts,
        hosted_unit_codes=None if hosted is None else [str(c).strip() for c in hosted if str(c).strip()],
        problems=problems,
    )
