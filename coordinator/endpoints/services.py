"""Endpoints and their contacts written one at a time (the form, the API): create / update /
delete, attending at the parent's endpoint, the registry counter.

Callable without a request. Every write checks the actor's scope (a coordinator: its unit's
subtree) and the registration window of the unit's tier (`events.windows`), records an audit entry
and tells the packages that follow registrations (`signals.endpoints_changed`: deadline
fulfilment, invitations), all in one transaction. The field rules are `rules.py`, the reads
`queries.py`, the spreadsheet's bulk path `bulk.py`; their names used by callers are re-exported
here, so that `endpoints.services` stays the one name to import.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified

from coordinator import signals
from coordinator.audit import services as audit
from coordinator.auth.permissions import can
from coordinator.endpoints.locking import (EndpointConflict, EndpointGone, begin_write, check_version,
                                           expected_versions, lock_endpoint, state as endpoint_state)
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit, RegistryVersion
from coordinator.endpoints.queries import (as_input, endpoint_ids, endpoint_of_unit, get_endpoint, host_of_unit,
                                           list_endpoints, load_endpoints, may_host)
from coordinator.endpoints.rules import (CONTACT_TEXT, ENDPOINT_FIELDS, ENDPOINT_TEXT, ContactValues, EndpointValues,
                                         clean_contact, clean_endpoint, formula_error)
from coordinator.events.models import Event
from coordinator.events.windows import ensure_open
from coordinator.extensions import db, dialect_insert
from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem
from coordinator.units.models import Unit
from coordinator.units.services import get_unit

__all__ = [  # the writes, and the names of rules.py, queries.py and locking.py that callers use from here
    "ScopeError", "touch_registry", "resolve_unit", "save_endpoint", "update_endpoint", "delete_endpoint",
    "attend_at_parent", "stop_attending",
    "CONTACT_TEXT", "ENDPOINT_FIELDS", "ENDPOINT_TEXT", "ContactValues", "EndpointValues", "clean_contact",
    "clean_endpoint", "formula_error",
    "as_input", "endpoint_ids", "endpoint_of_unit", "get_endpoint", "host_of_unit", "list_endpoints",
    "load_endpoints", "may_host",
    "EndpointConflict", "EndpointGone",
]


class ScopeError(Exception):
    """The unit lies outside what the actor may change."""


def touch_registry(event_id: int) -> None:
    """The event's registration changed (an endpoint created, edited or deleted): move its counter.
    In the caller's transaction."""
    table = RegistryVersion.__table__
    if db.session.execute(update(table).where(table.c.event_id == event_id)
                          .values(version=table.c.version + 1)).rowcount:
        return
    db.session.execute(dialect_insert()(table).values(event_id=event_id, version=1).on_conflict_do_update(
        index_elements=["event_id"], set_={"version": table.c.version + 1}))


def resolve_unit(event: Event, unit_code: str, user) -> Unit:
    unit = get_unit(event.unit_structure, str(unit_code or "").strip())
    if unit is None or unit.tier not in event.tiers:
        raise Invalid([Problem("unit_code", Message(
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
    the last writer wins. Raises Invalid (nothing changed), ScopeError, RegistrationClosed."""
    if not can(actor, "registration.manage", unit):
        raise ScopeError(unit.code)
    ensure_open(event, unit)
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
        raise Invalid(problems)

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
    # Deadline fulfilment of the units touched; new contacts invited, removed ones' invitations withdrawn.
    signals.endpoints_changed.send(event, units=list(touched.values()), endpoint_ids=[endpoint.id])
    audit.record("endpoint.create" if created else "endpoint.update", "endpoint", endpoint.id, actor=actor,
                 event=event.slug, unit=unit.code)
    db.session.commit()
    return endpoint


def update_endpoint(endpoint: Endpoint, changes: dict[str, Any], *, actor,
                    expected_version: int | Collection[int] | None = None) -> Endpoint:
    """Change some fields of an endpoint (the API's PATCH): `changes` are applied, under the
    endpoint's lock, to the endpoint as it is then, so a field not given keeps what was saved last
    (by anyone). Raises EndpointGone (removed meanwhile, no `expected_version`), EndpointConflict,
    Invalid, ScopeError, RegistrationClosed."""
    event, unit, endpoint_id = endpoint.event, endpoint.unit, endpoint.id
    if not can(actor, "registration.manage", unit):
        raise ScopeError(unit.code)
    ensure_open(event, unit)
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
    ensure_open(event, unit)
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
    # Deadline fulfilment of the units touched; its contacts' invitations withdrawn.
    signals.endpoints_changed.send(event, units=touched, endpoint_ids=[endpoint_id])
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
        raise Invalid([Problem("unit", Message(
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
