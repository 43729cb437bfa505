"""Whom a broadcast reaches: the contacts (by role) of an event's endpoints chosen by unit subtree,
tier, current state in one session (`status`: the state shown) and readiness (confirmed or not),
one recipient per mobile number, and the contacts no SMS can reach, with why.

One query whatever the size of the audience: contacts, their endpoints and units, the endpoint's
status row for the session and the opt-out list, joined and filtered in SQL.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from coordinator.endpoints.models import CONTACT_ROLES, Contact, Endpoint
from coordinator.endpoints.phones import is_foreign
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.sms.models import SmsOptOut
from coordinator.status.models import EndpointStatus
from coordinator.status.rule import STATES, UNKNOWN
from coordinator.units.models import ROOT_CODE, TIERS, Unit

DEFAULT_ROLES = ("technical",)
ROOT_PATH = f"/{ROOT_CODE}/"


@dataclass(frozen=True)
class Filter:
    """The audience as asked. Empty `states`: any state; `confirmed` None: either; `unit` None: the
    whole country (or the sender's own subtree)."""

    unit: str | None = None
    tier: str | None = None
    states: tuple[str, ...] = ()
    confirmed: bool | None = None
    roles: tuple[str, ...] = DEFAULT_ROLES

    def as_dict(self) -> dict:
        return {"unit": self.unit, "tier": self.tier, "states": list(self.states), "confirmed": self.confirmed,
                "roles": list(self.roles)}

    @classmethod
    def of(cls, data: dict | None) -> "Filter":
        """From the API's, the form's or the command's values (None and "" mean "not filtered")."""
        data = data or {}
        states = tuple(dict.fromkeys(s for s in (data.get("states") or ()) if s))
        roles = tuple(dict.fromkeys(r for r in (data.get("roles") or ()) if r)) or DEFAULT_ROLES
        return cls(unit=(str(data.get("unit") or "").strip() or None), tier=data.get("tier") or None,
                   states=states, confirmed=data.get("confirmed"), roles=roles)

    def unknown_values(self) -> dict[str, list[str]]:
        """Values that are none of the known ones, per field (the API's schema and the command's
        choices refuse them first; the form and direct callers rely on this)."""
        out = {"tier": [self.tier] if self.tier and self.tier not in TIERS else [],
               "states": [s for s in self.states if s not in STATES],
               "roles": [r for r in self.roles if r not in CONTACT_ROLES]}
        return {k: v for k, v in out.items() if v}


@dataclass
class Recipient:
    """One mobile number, and the contacts and endpoints of the audience it stands for."""

    phone: str
    name: str
    contact_ids: list[int] = field(default_factory=list)
    endpoint_names: list[str] = field(default_factory=list)
    unit_names: list[str] = field(default_factory=list)
    unit_codes: list[str] = field(default_factory=list)


@dataclass
class Unreachable:
    name: str
    phone: str
    role: str
    endpoint: str
    unit_code: str
    reason: str  # "fixed_line", "foreign_number", "opted_out" (the reminders' words: reminders.labels)


@dataclass
class Audience:
    recipients: list[Recipient]
    unreachable: list[Unreachable]
    contacts: int  # contacts matched, reachable or not


def select_audience(event: Event, session: EventSession, flt: Filter, path: str) -> Audience:
    """The contacts of `flt` under the unit path `path` (ROOT_PATH: everywhere), one recipient per
    mobile number, in the order of the unit tree."""
    state = func.coalesce(EndpointStatus.state, UNKNOWN)
    stmt = (select(Contact.id, Contact.name, Contact.role, Contact.phone, Contact.phone_type, Contact.sms_opt_out,
                   Endpoint.name, Unit.name, Unit.code, SmsOptOut.phone)
            .join(Endpoint, Contact.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
            .outerjoin(EndpointStatus, (EndpointStatus.endpoint_id == Endpoint.id)
                       & (EndpointStatus.session_id == session.id))
            .outerjoin(SmsOptOut, SmsOptOut.phone == Contact.phone)
            .where(Endpoint.event_id == event.id, Contact.role.in_(list(flt.roles))))
    if path != ROOT_PATH:
        stmt = stmt.where(Unit.path.startswith(path, autoescape=True))
    if flt.tier:
        stmt = stmt.where(Unit.tier == flt.tier)
    if flt.states and set(flt.states) != set(STATES):
        stmt = stmt.where(state.in_(list(flt.states)))
    if flt.confirmed is True:
        stmt = stmt.where(EndpointStatus.confirmed_at.is_not(None))
    elif flt.confirmed is False:
        stmt = stmt.where(EndpointStatus.confirmed_at.is_(None))
    rows = db.session.execute(stmt.order_by(Unit.path, Contact.id)).all()
    found: dict[str, Recipient] = {}
    unreachable: list[Unreachable] = []
    for cid, name, role, phone, phone_type, opt_out, endpoint_name, unit_name, unit_code, blocked in rows:
        if phone_type != "mobile" or is_foreign(phone):  # a number stored before foreign ones were typed
            reason = "foreign_number" if phone_type == "foreign" or is_foreign(phone) else "fixed_line"
            unreachable.append(Unreachable(name, phone, role, endpoint_name, unit_code, reason))
            continue
        if opt_out or blocked is not None:
            unreachable.append(Unreachable(name, phone, role, endpoint_name, unit_code, "opted_out"))
            continue
        r = found.get(phone)
        if r is None:
            r = found[phone] = Recipient(phone, name)
        r.contact_ids.append(cid)
        if endpoint_name not in r.endpoint_names:
            r.endpoint_names.append(endpoint_name)
            r.unit_names.append(unit_name)
            r.unit_codes.append(unit_code)
    return Audience(list(found.values()), unreachable, len(rows))
