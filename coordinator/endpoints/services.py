"""Endpoints and their contacts: validation, scope, create / update / delete, hosted units.

Callable without a request. Every write checks the actor's scope (a coordinator: its unit's
subtree), the registration window of the unit's tier, records an audit entry and refreshes the
deadline fulfilment of the units it touches, all in one transaction.
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified

from coordinator.audit import services as audit
from coordinator.auth.permissions import can, scope_path
from coordinator.deadlines import services as deadlines
from coordinator.endpoints import listing
from coordinator.endpoints.locking import (EndpointConflict, EndpointGone, begin_write, check_version,  # noqa: F401
                                           expected_versions, lock_endpoint, state as endpoint_state)
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit, RegistryVersion
from coordinator.endpoints.phones import PhoneError, parse_phone
from coordinator.events.models import Event
from coordinator.extensions import db
from coordinator.fields import INTEGER_MAX, TextRule, clean_text, repaired, rule
from coordinator.invitations import services as invitations
from coordinator.messages import N_, Message
from coordinator.text import fold, looks_like_formula
from coordinator.units.models import Unit
from coordinator.units.services import get_unit

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


class ScopeError(Exception):
    """The unit lies outside what the actor may change."""


@dataclass
class Problem:
    field: str
    msg: Message

    def localized(self) -> str:
        return self.msg.localized()


class EndpointInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.msg}" for p in problems))


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


# --- field rules, shared by the form, the API and the spreadsheet import --------------------------

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


# --- queries -------------------------------------------------------------------------------------

def endpoint_ids(event: Event, user, *, unit_code: str | None = None, q: str | None = None,
                 tier: str | None = None) -> list[int]:
    """The ids of the event's endpoints the user may see, ordered by unit code, in one light query
    (no contacts loaded unless `q` asks to search them). `q` searches without diacritics (see
    `coordinator.search`); `tier` keeps one tier."""
    stmt = select(Endpoint.id, Unit.code, Unit.name, Endpoint.name, Endpoint.address).join(
        Unit, Endpoint.unit_id == Unit.id).where(Endpoint.event_id == event.id)
    path = scope_path(user, event.unit_structure)
    if path is not None:
        stmt = stmt.where(Unit.path.startswith(path))
    if unit_code:
        unit = get_unit(event.unit_structure, unit_code)
        if unit is None:
            return []
        stmt = stmt.where(Endpoint.unit_id == unit.id)
    if tier:
        stmt = stmt.where(Unit.tier == tier)
    rows = db.session.execute(stmt.order_by(Unit.code, Endpoint.id)).all()
    if q and q.strip():
        keep = listing.endpoint_ids_matching(event, q, rows)
        return [r[0] for r in rows if r[0] in keep]
    return [r[0] for r in rows]


def load_endpoints(ids: list[int]) -> list[Endpoint]:
    """The endpoints of `ids` with contacts, hosted units and unit, in the order of `ids` (chunks of
    900 bound parameters: well below SQLite's limit)."""
    found: dict[int, Endpoint] = {}
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        for e in db.session.scalars(select(Endpoint).where(Endpoint.id.in_(chunk)).options(
                selectinload(Endpoint.contacts), selectinload(Endpoint.hosted).selectinload(HostedUnit.unit),
                selectinload(Endpoint.unit))):
            found[e.id] = e
    return [found[i] for i in ids if i in found]


def list_endpoints(event: Event, user, *, unit_code: str | None = None, q: str | None = None,
                   tier: str | None = None) -> list[Endpoint]:
    """The event's endpoints the user may see, with contacts and hosted units, ordered by unit code.
    `q` searches without diacritics (see `coordinator.search`); `tier` keeps one tier."""
    return load_endpoints(endpoint_ids(event, user, unit_code=unit_code, q=q, tier=tier))


def get_endpoint(endpoint_id: int, user) -> Endpoint | None:
    """The endpoint, or None when it does not exist or lies outside the user's scope (a 404 either
    way: a coordinator learns nothing of other provinces)."""
    endpoint = db.session.get(Endpoint, endpoint_id)
    if endpoint is None or not can(user, "registration.view", endpoint.unit):
        return None
    return endpoint


def as_input(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint as input data: what a PATCH is merged into. Text stored before the field rules
    is repaired (`fields.repaired`), so that a save of another field is not refused for it."""
    return {**{attr: repaired(getattr(endpoint, attr)) for attr in ENDPOINT_FIELDS},
            "contacts": [{"name": repaired(c.name), "position": repaired(c.position), "phone": c.phone,
                          "email": c.email, "role": c.role, "focal": c.focal} for c in endpoint.contacts],
            "hosted_unit_codes": [h.unit.code for h in endpoint.hosted]}


def endpoint_of_unit(event: Event, unit: Unit) -> Endpoint | None:
    return db.session.scalar(select(Endpoint).where(Endpoint.event_id == event.id, Endpoint.unit_id == unit.id))


def host_of_unit(event: Event, unit: Unit) -> Endpoint | None:
    """The endpoint a unit attends at when it has none of its own."""
    return db.session.scalar(select(Endpoint).join(HostedUnit).where(
        HostedUnit.event_id == event.id, HostedUnit.unit_id == unit.id))


def may_host(event: Event, host_unit: Unit, *, without_endpoint: bool = False) -> list[Unit]:
    """The units that may attend at `host_unit`'s endpoint: its children of a tier that has the
    "attend at the parent's endpoint" rule (with `without_endpoint`, only those with none of their own)."""
    tiers = {r.tier for r in event.tier_roles if r.may_attend_at_parent}
    if not tiers:
        return []
    stmt = select(Unit).where(Unit.parent_id == host_unit.id, Unit.tier.in_(tiers)).order_by(Unit.code)
    if without_endpoint:
        stmt = stmt.where(~select(Endpoint.id).where(Endpoint.event_id == event.id,
                                                     Endpoint.unit_id == Unit.id).exists())
    return list(db.session.scalars(stmt))


# --- writes --------------------------------------------------------------------------------------

def touch_registry(event_id: int) -> None:
    """The event's registration changed (an endpoint created, edited or deleted): move its counter.
    In the caller's transaction."""
    table = RegistryVersion.__table__
    if db.session.execute(update(table).where(table.c.event_id == event_id)
                          .values(version=table.c.version + 1)).rowcount:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(table).values(event_id=event_id, version=1).on_conflict_do_update(
        index_elements=["event_id"], set_={"version": table.c.version + 1}))


def resolve_unit(event: Event, unit_code: str, user) -> Unit:
    unit = get_unit(event.unit_structure, str(unit_code or "").strip())
    if unit is None or unit.tier not in event.tiers:
        raise EndpointInvalid([Problem("unit_code", Message(
            N_("no unit with code '%(code)s' among this event's tiers"), {"code": unit_code}))])
    if not can(user, "registration.manage", unit):
        raise ScopeError(unit_code)
    return unit


def _hosted_units(event: Event, host: Unit, codes: list[str], problems: list[Problem]) -> list[Unit]:
    allowed = {u.code: u for u in may_host(event, host)}
    free = {u.code for u in may_host(event, host, without_endpoint=True)}
    wanted: list[Unit] = []
    for i, code in enumerate(codes):
        unit = allowed.get(code)
        if unit is None:
            problems.append(Problem(f"hosted_unit_codes[{i}]", Message(
                N_("'%(code)s' cannot attend at this endpoint: only units directly below it whose tier may "
                   "attend at the parent's endpoint"), {"code": code})))
        elif code not in free:
            problems.append(Problem(f"hosted_unit_codes[{i}]", Message(
                N_("%(unit)s has its own endpoint"), {"unit": unit.name})))
        else:
            wanted.append(unit)
    return wanted


def save_endpoint(event: Event, unit: Unit, values: EndpointValues, *, actor,
                  endpoint: Endpoint | None = None,
                  expected_version: int | Collection[int] | None = None) -> Endpoint:
    """Create the unit's endpoint or update it, under the endpoint's lock (see `locking`): the
    contacts become exactly `values.contacts`, never a mix with a concurrent save's.

    `expected_version` is the version the caller read (0: no endpoint yet; a collection accepts
    any of them): when the endpoint is no longer at it, EndpointConflict (nothing changed). None:
    the last writer wins. Raises EndpointInvalid (nothing changed), ScopeError, RegistrationClosed."""
    if not can(actor, "registration.manage", unit):
        raise ScopeError(unit.code)
    deadlines.ensure_open(event, unit)
    if endpoint is None:
        endpoint = endpoint_of_unit(event, unit)
    if endpoint is not None:
        endpoint = lock_endpoint(endpoint.id)  # None: removed meanwhile
    else:
        begin_write()
    check_version(endpoint, expected_version)
    problems = list(values.problems)
    hosted_units = None
    if values.hosted_unit_codes is not None:
        hosted_units = _hosted_units(event, unit, values.hosted_unit_codes, problems)
    if problems:
        db.session.rollback()
        raise EndpointInvalid(problems)

    created = endpoint is None
    touched = {unit.id: unit}
    before = None if created else (endpoint.version, endpoint_state(endpoint))
    if created:
        # A unit that gets its own endpoint no longer attends at its parent's: the host changes too.
        previous = db.session.scalar(select(HostedUnit.endpoint_id).where(HostedUnit.event_id == event.id,
                                                                          HostedUnit.unit_id == unit.id))
        host = lock_endpoint(previous) if previous is not None else None
        hosted = next((h for h in host.hosted if h.unit_id == unit.id), None) if host is not None else None
        if hosted is not None:
            touched[host.unit_id] = host.unit
            host.hosted.remove(hosted)
            host.version += 1
        endpoint = Endpoint(event_id=event.id, unit_id=unit.id, unit=unit, version=1)
    for attr in ENDPOINT_FIELDS:
        setattr(endpoint, attr, getattr(values, attr))
    db.session.add(endpoint)
    if values.contacts is not None:
        _replace_contacts(endpoint, values.contacts)
    if hosted_units is not None:
        for h in list(endpoint.hosted):
            touched[h.unit_id] = h.unit
        endpoint.hosted = [next((h for h in endpoint.hosted if h.unit_id == u.id), None)
                           or HostedUnit(event_id=event.id, unit=u) for u in hosted_units]
        for u in hosted_units:
            touched[u.id] = u
    try:
        db.session.flush()
    except IntegrityError:
        # Created by someone else between our look and our insert (there was no row to lock).
        db.session.rollback()
        current = endpoint_of_unit(event, unit) if created else None
        if current is None:
            raise
        raise EndpointConflict(current, expected_versions(expected_version) or {0}, current.version) from None
    after = endpoint_state(endpoint)
    if before is not None and after != before[1]:
        endpoint.version = before[0] + 1
        if after[0] == before[1][0]:
            flag_modified(endpoint, "updated_at")  # written as it is: it dates the endpoint's own fields
    touch_registry(event.id)
    deadlines.refresh(event, touched.values())
    invitations.sync_endpoints(event, [endpoint.id])  # new contacts invited, removed ones cancelled
    audit.record("endpoint.create" if created else "endpoint.update", "endpoint", endpoint.id, actor=actor,
                 event=event.slug, unit=unit.code)
    db.session.commit()
    return endpoint


def update_endpoint(endpoint: Endpoint, changes: dict[str, Any], *, actor,
                    expected_version: int | Collection[int] | None = None) -> Endpoint:
    """Change some fields of an endpoint (the API's PATCH): `changes` are applied, under the
    endpoint's lock, to the endpoint as it is then, so a field not given keeps what was saved last
    (by anyone). Raises EndpointGone (removed meanwhile, no `expected_version`), EndpointConflict,
    EndpointInvalid, ScopeError, RegistrationClosed."""
    event, unit, endpoint_id = endpoint.event, endpoint.unit, endpoint.id
    if not can(actor, "registration.manage", unit):
        raise ScopeError(unit.code)
    deadlines.ensure_open(event, unit)
    locked = lock_endpoint(endpoint_id)
    if locked is None and expected_version is None:
        db.session.rollback()
        raise EndpointGone(endpoint_id)
    check_version(locked, expected_version)
    values = clean_endpoint({**as_input(locked), **changes})
    return save_endpoint(event, unit, values, actor=actor, endpoint=locked)


def _replace_contacts(endpoint: Endpoint, contacts: list[ContactValues]) -> None:
    """The endpoint's contacts become exactly `contacts`; a person is the same person when the
    phone number is the same, so their row (and what was sent to them) is kept."""
    by_phone = {c.phone: c for c in endpoint.contacts}
    result = []
    for values in contacts:
        contact = by_phone.pop(values.phone, None) or Contact(phone=values.phone)
        for attr in ("role", "name", "position", "phone_type", "email", "focal"):
            setattr(contact, attr, getattr(values, attr))
        result.append(contact)
    endpoint.contacts = result


def delete_endpoint(event: Event, endpoint: Endpoint, *, actor,
                    expected_version: int | Collection[int] | None = None) -> bool:
    """Remove the endpoint, under its lock. False when someone else removed it meanwhile (nothing
    left to do); EndpointConflict when it is not at `expected_version` (None: any)."""
    unit = endpoint.unit
    if not can(actor, "registration.manage", unit):
        raise ScopeError(unit.code)
    deadlines.ensure_open(event, unit)
    endpoint = lock_endpoint(endpoint.id)
    check_version(endpoint, expected_version)
    if endpoint is None:
        db.session.rollback()
        return False
    touched = [unit] + [h.unit for h in endpoint.hosted]
    audit.record("endpoint.delete", "endpoint", endpoint.id, actor=actor, event=event.slug, unit=unit.code,
                 contacts=len(endpoint.contacts))
    endpoint_id = endpoint.id
    db.session.delete(endpoint)
    db.session.flush()
    touch_registry(event.id)
    deadlines.refresh(event, touched)
    invitations.sync_endpoints(event, [endpoint_id])  # its contacts' invitations are withdrawn
    db.session.commit()
    return True


def attend_at_parent(event: Event, unit: Unit, *, actor) -> Endpoint:
    """Mark `unit` (without an endpoint of its own) as attending at its parent's endpoint."""
    if not can(actor, "registration.manage", unit):
        raise ScopeError(unit.code)
    parent = db.session.get(Unit, unit.parent_id) if unit.parent_id else None
    host = endpoint_of_unit(event, parent) if parent is not None else None
    if host is not None:
        host = lock_endpoint(host.id)  # its hosted units read under the lock: two joining at once both stay
    if host is None:
        db.session.rollback()
        raise EndpointInvalid([Problem("unit", Message(
            N_("%(parent)s has no endpoint yet: register it first"), {"parent": parent.name if parent else "-"}))])
    codes = [h.unit.code for h in host.hosted]
    if unit.code in codes:
        db.session.rollback()  # nothing to change: the lock is released
        return host
    values = clean_endpoint({**as_input(host), "hosted_unit_codes": codes + [unit.code], "contacts": None})
    return save_endpoint(event, host.unit, values, actor=actor, endpoint=host)


def stop_attending(event: Event, unit: Unit, *, actor) -> None:
    if not can(actor, "registration.manage", unit):
        raise ScopeError(unit.code)
    host = host_of_unit(event, unit)
    if host is not None:
        host = lock_endpoint(host.id)
    if host is None or all(h.unit_id != unit.id for h in host.hosted):
        db.session.rollback()  # left meanwhile (or its host was removed): nothing to change
        return
    codes = [h.unit.code for h in host.hosted if h.unit_id != unit.id]
    values = clean_endpoint({**as_input(host), "hosted_unit_codes": codes, "contacts": None})
    save_endpoint(event, host.unit, values, actor=actor, endpoint=host)
