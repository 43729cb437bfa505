"""Reading endpoints: the ids and rows a user may see (scope-filtered, searched without
diacritics), one endpoint, a unit's endpoint or host, the units that may attend at an endpoint,
and an endpoint as input data (what a PATCH is merged into). Writes nothing.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from coordinator.auth.permissions import can, scope_path
from coordinator.endpoints import listing
from coordinator.endpoints.models import Endpoint, HostedUnit
from coordinator.endpoints.rules import ENDPOINT_FIELDS
from coordinator.events.models import Event
from coordinator.extensions import db
from coordinator.fields import repaired
from coordinator.units.models import Unit
from coordinator.units.services import get_unit


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



def provinces(event: Event) -> list[Unit]:
    """The provinces of the event's structure, by code: where an organizer picks whose registration to see."""
    return list(db.session.scalars(select(Unit).where(Unit.structure == event.unit_structure,
                                                      Unit.tier == "province").order_by(Unit.code)))
