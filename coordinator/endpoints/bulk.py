"""Many endpoints and contacts written at once, with bulk statements (the spreadsheet import: a
national file is ~23,000 rows): endpoints created or updated by unit, contacts by phone, what the
caller does not mention kept, a row that matches what is stored not written.

The rules of one save (`services.save_endpoint`) hold here too, in statements instead of objects:
a new row takes the model's defaults for what the caller does not give (`models.py`); a unit that
gets its own endpoint no longer attends at its parent's; every endpoint changed (its fields, its
contacts, a unit it hosted left) moves its version; the event's registry counter moves; and the
packages that follow registrations are told (`signals.endpoints_changed`). In the caller's
transaction: it validates first (under `lock_units`) and commits.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update

from coordinator import signals
from coordinator.endpoints.locking import lock_endpoints
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.endpoints.rules import ContactValues, EndpointValues
from coordinator.endpoints.services import touch_registry
from coordinator.events.models import Event
from coordinator.extensions import db
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit

# A contact's values that a save writes (the phone finds the person).
CONTACT_VALUES = ("role", "name", "position", "phone_type", "email", "focal")
_CHUNK = 500  # ids per IN (...): well below every backend's limit on bound parameters


@dataclass
class Registration:
    """One unit's endpoint and contacts as the caller wants them."""
    unit: Unit
    values: EndpointValues  # the endpoint's fields (those of `save_many`'s `fields` are written)
    stored: Any = None  # the unit's endpoint as stored (a row with `id` and those fields), None for a new one
    contacts: Mapping[str, ContactValues] = field(default_factory=dict)  # E.164 -> values
    # The values a known contact takes from `contacts` (the others are kept); empty: all of them.
    contact_attrs: tuple[str, ...] = ()


@dataclass
class Counts:
    """Rows of one kind (endpoints or contacts) created, updated, or found as they were."""
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class BulkResult:
    """What `save_many` did, per kind and over both."""
    endpoints: Counts = field(default_factory=Counts)
    contacts: Counts = field(default_factory=Counts)

    @property
    def created(self) -> int:
        return self.endpoints.created + self.contacts.created

    @property
    def updated(self) -> int:
        return self.endpoints.updated + self.contacts.updated

    @property
    def unchanged(self) -> int:
        return self.endpoints.unchanged + self.contacts.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "endpoints": self.endpoints.as_dict(), "contacts": self.contacts.as_dict()}


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def lock_units(event: Event, unit_codes: Iterable[str]) -> None:
    """Hold the endpoints of these units, and those hosting them (a unit that gets its own endpoint
    leaves its host), as every save of an endpoint does (`locking`): before anything is read, so
    that what the caller validates against stays as it is."""
    codes = sorted(set(unit_codes) - {""})
    ids: set[int] = set()
    for chunk in _chunks(codes):
        unit_ids = select(Unit.id).where(Unit.structure == event.unit_structure, Unit.code.in_(chunk))
        ids.update(db.session.scalars(select(Endpoint.id).where(Endpoint.event_id == event.id,
                                                                Endpoint.unit_id.in_(unit_ids))))
        ids.update(db.session.scalars(select(HostedUnit.endpoint_id).where(HostedUnit.event_id == event.id,
                                                                           HostedUnit.unit_id.in_(unit_ids))))
    lock_endpoints(ids)


def save_many(event: Event, registrations: list[Registration], fields: tuple[str, ...]) -> BulkResult:
    """Create or update the endpoints of `registrations` (their `fields`; a new endpoint takes the
    model's defaults for the others) and their contacts, in the caller's transaction (no commit).
    When anything was created or updated, the registry counter moves and `endpoints_changed` is
    sent for the units whose endpoint or contacts changed."""
    result = BulkResult()
    now = utcnow()
    touched: dict[int, Unit] = {}

    new_endpoints, changed_endpoints = [], []
    for reg in registrations:
        unit_id = reg.unit.id
        values = {a: getattr(reg.values, a) for a in fields}
        row = reg.stored
        if row is None:
            new_endpoints.append({"event_id": event.id, "unit_id": unit_id, **values})
            touched[unit_id] = reg.unit
        elif any(getattr(row, a) != v for a, v in values.items()):
            changed_endpoints.append({"id": row.id, **values, "updated_at": now})
        else:
            result.endpoints.unchanged += 1
    result.endpoints.created, result.endpoints.updated = len(new_endpoints), len(changed_endpoints)
    if new_endpoints:
        db.session.execute(insert(Endpoint.__table__), new_endpoints)
        _leave_hosts(event, [e["unit_id"] for e in new_endpoints], touched)
    if changed_endpoints:
        db.session.execute(update(Endpoint), changed_endpoints)
    if new_endpoints or changed_endpoints:
        touch_registry(event.id)

    endpoint_ids = {unit_id: endpoint_id for endpoint_id, unit_id in db.session.execute(
        select(Endpoint.id, Endpoint.unit_id).where(Endpoint.event_id == event.id))}
    stored = {(r.endpoint_id, r.phone): r for r in db.session.execute(
        select(Contact.id, Contact.endpoint_id, Contact.phone, *(getattr(Contact, a) for a in CONTACT_VALUES))
        .join(Endpoint).where(Endpoint.event_id == event.id))}
    new_contacts, changed_contacts = [], []
    for reg in registrations:
        unit_id = reg.unit.id
        endpoint_id = endpoint_ids[unit_id]
        for phone, values in reg.contacts.items():
            row = stored.get((endpoint_id, phone))
            if row is None:
                new_contacts.append({"endpoint_id": endpoint_id, "phone": phone,
                                     **{a: getattr(values, a) for a in CONTACT_VALUES}})
                touched[unit_id] = reg.unit
                continue
            # A known person: only what the caller gives changes (e.g. a file without the
            # "Đầu mối tỉnh" column keeps the focal mark as it is).
            given = {a: getattr(values, a) for a in reg.contact_attrs or CONTACT_VALUES}
            if any(getattr(row, a) != v for a, v in given.items()):
                changed_contacts.append({"id": row.id, **given, "updated_at": now})
            else:
                result.contacts.unchanged += 1
                continue
            touched[unit_id] = reg.unit
    result.contacts.created, result.contacts.updated = len(new_contacts), len(changed_contacts)
    if new_contacts:
        db.session.execute(insert(Contact.__table__), new_contacts)
    if changed_contacts:
        db.session.execute(update(Contact), changed_contacts)
    if (new_contacts or changed_contacts) and not (new_endpoints or changed_endpoints):
        touch_registry(event.id)  # a contact is part of its endpoint's registration (the search reads them)
    # Every endpoint changed (its fields, its contacts, a unit it hosted left) moves its version;
    # updated_at keeps dating its own fields.
    new_ids = {endpoint_ids[e["unit_id"]] for e in new_endpoints}
    changed = ({endpoint_ids[u] for u in touched if u in endpoint_ids} | {e["id"] for e in changed_endpoints}) - new_ids
    table = Endpoint.__table__
    for chunk in _chunks(sorted(changed)):
        db.session.execute(update(table).where(table.c.id.in_(chunk))
                           .values(version=table.c.version + 1, updated_at=table.c.updated_at))
    if result.created or result.updated:
        # Deadline fulfilment of the units whose endpoint or contacts changed (only they can have
        # met or unmet a deadline); new contacts invited, changed endpoints sent as updates.
        signals.endpoints_changed.send(event, units=list(touched.values()), endpoint_ids=None)
    return result


def _leave_hosts(event: Event, unit_ids: list[int], touched: dict[int, Unit]) -> None:
    """Units that get their own endpoint no longer attend at their parent's (as `save_endpoint`);
    the hosts are touched."""
    for chunk in _chunks(unit_ids):
        hosts = db.session.execute(
            select(HostedUnit.id, Unit).join(Endpoint, HostedUnit.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(HostedUnit.event_id == event.id, HostedUnit.unit_id.in_(chunk))).all()
        if hosts:
            for _, host_unit in hosts:
                touched[host_unit.id] = host_unit
            db.session.execute(delete(HostedUnit).where(HostedUnit.id.in_([h[0] for h in hosts])))
