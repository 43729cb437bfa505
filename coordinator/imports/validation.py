"""Checking an upload's rows against the event before anything is saved: every unit known, in the
user's area and its registration window open; the endpoint and contact fields by the rules of the
form and API (`endpoints.rules`); formula cells refused; rows of one unit that agree and one row
per person. Every problem of the file is raised at once (`coordinator.problems.Invalid`, each
`Problem` with its row, column and letter); otherwise what to save.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select

from coordinator.auth.permissions import can
from coordinator.endpoints.models import Endpoint
from coordinator.endpoints.rules import ContactValues, EndpointValues, clean_contact, clean_endpoint, formula_error
from coordinator.events.models import Event
from coordinator.events.windows import RegistrationClosed, ensure_open, registration_window
from coordinator.extensions import db
from coordinator.fields import clean_text
from coordinator.messages import N_
from coordinator.problems import Invalid, Problem
from coordinator.spreadsheets.columns import (CONTACT_ATTRS, CONTACT_COLUMN, CONTACT_KEYS, ENDPOINT_KEYS, EXAMPLES, KEYS,
                                              LABEL, row_error)
from coordinator.spreadsheets.problems import row_problem
from coordinator.spreadsheets.reading import Formula
from coordinator.units.models import Unit


@dataclass
class PlannedEndpoint:
    unit: Unit | None  # None when the code is wrong: its rows are still checked, and nothing is saved
    first_row: int
    raw: dict[str, Any]  # the first row's endpoint fields, which later rows may leave blank
    values: EndpointValues | None  # None when the first row's endpoint fields are wrong
    stored: Any = None  # the unit's endpoint as stored (id and fields), None for a new one
    contacts: dict[str, tuple[int, ContactValues]] = field(default_factory=dict)  # E.164 -> (row, values)
    # The contact attributes the file gives (its columns); the others of a known contact are kept.
    contact_attrs: tuple[str, ...] = ()


def _event_units(event: Event) -> dict[str, Unit]:
    """Every unit the event's spreadsheet may name, by code (one query, ~11,400 for 2024)."""
    return {u.code: u for u in db.session.scalars(
        select(Unit).where(Unit.structure == event.unit_structure, Unit.tier.in_(event.tiers)))}


def _stored_endpoints(event: Event) -> dict[int, Any]:
    return {r.unit_id: r for r in db.session.execute(
        select(Endpoint.id, Endpoint.unit_id, *(getattr(Endpoint, a) for a in ENDPOINT_KEYS))
        .where(Endpoint.event_id == event.id))}


_ENDPOINT_DEFAULTS = {"name": "", "address": "", "protocol": "", "dial": "", "expected_attendance": None}


def _is_example(row: dict[str, Any]) -> bool:
    """The row is one of the template's examples, in the columns the file has (the first
    template had no "Đầu mối tỉnh")."""
    return any(all(v == e.get(k, "") for k, v in row.items()) for e in EXAMPLES)


def validate(event: Event, user, rows: Iterable[tuple[int, dict[str, Any]]]) -> list[PlannedEndpoint]:
    """Check every row; raise Invalid with all the problems, or return what to save."""
    letters = getattr(rows, "letters", None)
    rows = list(rows)
    present = set().union(*(r.keys() for _, r in rows)) if rows else set()
    contact_attrs = ("name", "phone_type") + tuple(a for k, a in CONTACT_ATTRS.items() if k in present)
    units = _event_units(event)
    stored = _stored_endpoints(event)
    windows = {tier: registration_window(event, tier) for tier in event.tiers}
    planned: dict[str, PlannedEndpoint] = {}  # by unit code, in the file's order
    errors: list[Problem] = []
    for number, row in rows:
        if _is_example(row):
            errors.append(row_error(number, "unit_code", N_("this is an example row of the template: delete it")))
            continue
        # A cell holding a formula is refused as such; its field is not checked again.
        formulas = {k for k, v in row.items() if isinstance(v, Formula)}
        for key in sorted(formulas, key=KEYS.index):
            errors.append(row_error(number, key, N_(
                "this cell holds a formula (%(formula)s), not a value: type the value, or copy the column and paste "
                "it back as values only (Paste Special → Values)"), formula=_short(row[key])))
        code = row["unit_code"]
        plan = planned.get(code)
        if plan is None:
            unit = _row_unit(event, user, units, windows, number, row, errors, formulas)
            current = stored.get(unit.id) if unit else None
            if "unit_code" in formulas or formula_error(code) or clean_text(code)[1]:
                # Which unit (first row or not) cannot be told: only the person is checked.
                raw, values = dict(_ENDPOINT_DEFAULTS), None
            elif current is not None and not any(row.get(k) for k in ENDPOINT_KEYS):
                # Rows that only list people of an endpoint already registered leave it as it is.
                raw = {k: getattr(current, k) for k in ENDPOINT_KEYS}
                values = EndpointValues(**raw)
            else:
                # A column the file does not have keeps what is stored (or the default).
                raw = {k: row[k] if k in row else (getattr(current, k) if current is not None else _ENDPOINT_DEFAULTS[k])
                       for k in ENDPOINT_KEYS}
                values = _row_endpoint(number, row, raw, None, errors, formulas)
            plan = PlannedEndpoint(unit, number, raw, values, current, contact_attrs=contact_attrs)
            if code and not isinstance(code, Formula):  # rows without a code are each on their own
                planned[code] = plan
        else:
            if plan.unit is None:  # the unit's problem is this row's too
                _row_unit(event, user, units, windows, number, row, errors, formulas)
            _row_endpoint(number, row, plan.raw, plan, errors, formulas)
        _row_contact(number, row, plan, errors, formulas)
    if errors:
        if letters:
            errors = [e if e.letter or e.column not in letters else replace(e, letter=letters[e.column])
                      for e in errors]
        raise Invalid(errors)
    return [p for p in planned.values() if p.unit is not None]


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _row_unit(event, user, units, windows, number, row, errors, formulas=frozenset()) -> Unit | None:
    code = row["unit_code"]
    if "unit_code" in formulas:
        return None  # said already
    if not code:
        errors.append(row_error(number, "unit_code", N_("the unit code is required")))
        return None
    err = clean_text(code)[1] or formula_error(code)
    if err:
        errors.append(row_problem(number, LABEL["unit_code"], err))
        return None
    unit = units.get(code)
    if unit is None:
        if code.isdigit() and len(code) < 5:
            errors.append(row_error(number, "unit_code", N_(
                "no unit with code '%(code)s' among this event's tiers; if Excel removed the leading zeros, "
                "format the column as Text and type the code again (e.g. 01, 001, 00001)"), code=code))
        else:
            errors.append(row_error(number, "unit_code", N_("no unit with code '%(code)s' among this event's tiers"),
                                 code=code))
        return None
    if not can(user, "registration.manage", unit):
        errors.append(row_error(number, "unit_code", N_(
            "%(unit)s (%(code)s) is outside your area: you may only register endpoints of your own unit and "
            "the units below it"), unit=unit.name, code=code))
        return None
    if not windows[unit.tier].accepts:
        try:
            ensure_open(event, unit)
        except RegistrationClosed as exc:  # the window said closed: this is the message why
            errors.append(row_problem(number, LABEL["unit_code"], exc.msg))
        return None
    return unit


def _row_endpoint(number: int, row: dict[str, Any], raw: dict[str, Any], plan: PlannedEndpoint | None,
                  errors: list[Problem], formulas=frozenset()) -> EndpointValues | None:
    """The endpoint fields of the unit's first row (`raw`: the row's, or what is stored for a
    column the file lacks); on a later row, blank fields repeat the first row's and filled ones
    must agree with it."""
    if plan is None:
        values = clean_endpoint(raw)
        errors.extend(row_problem(number, LABEL.get(p.field), p.msg) for p in values.problems
                      if p.field not in formulas)
        return None if values.problems else values
    given = [k for k in ENDPOINT_KEYS if row.get(k)]
    if not given:
        return plan.values
    merged = {k: row.get(k) or plan.raw[k] for k in ENDPOINT_KEYS}
    values = clean_endpoint(merged)
    bad = {p.field for p in values.problems}
    errors.extend(row_problem(number, LABEL[p.field], p.msg) for p in values.problems
                  if p.field in given and p.field not in formulas)
    if plan.values is None:
        return None  # the first row is wrong already: said there
    for key in given:
        if key not in bad and key not in formulas and getattr(values, key) != getattr(plan.values, key):
            errors.append(row_error(number, key, N_(
                "'%(value)s' differs from row %(first)s of the same unit ('%(other)s'): all rows of a unit "
                "describe the same endpoint; leave this cell empty or make it the same"),
                value=row[key], first=plan.first_row, other=getattr(plan.values, key)))
    return plan.values


def _row_contact(number: int, row: dict[str, Any], plan: PlannedEndpoint, errors: list[Problem],
                 formulas=frozenset()) -> None:
    if not any(row.get(k) for k in CONTACT_KEYS):
        return  # an endpoint row without a person
    contact, problems = clean_contact({f: row.get(key) for f, key in CONTACT_COLUMN.items()})
    errors.extend(row_problem(number, LABEL[CONTACT_COLUMN[p.field]], p.msg) for p in problems
                  if CONTACT_COLUMN[p.field] not in formulas)
    if contact is None:
        return
    seen = plan.contacts.get(contact.phone)
    if seen is not None:
        errors.append(row_error(number, "contact_phone", N_(
            "%(phone)s is already given for this unit in row %(first)s: one row per person"),
            phone=row["contact_phone"], first=seen[0]))
        return
    plan.contacts[contact.phone] = (number, contact)
