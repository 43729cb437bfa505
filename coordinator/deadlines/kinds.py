"""What meeting a deadline means, per kind: its fulfilment rule says which of some units meet it,
and since when. The registration kinds ("endpoints", "focal_contacts") are read from the
registrations, below deadlines, and registered by `deadlines.handlers`; a package above that
owns what a kind asks for registers its rule from its own `handlers.connect()` (documents: a
complete dossier), so that deadlines never imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import func, select

from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.events.models import Deadline, Event
from coordinator.extensions import db

# (event, deadline, the units concerned (ids), now) -> {unit id: since when it meets the deadline}
Rule = Callable[[Event, Deadline, set[int], datetime], dict[int, datetime]]


@dataclass(frozen=True)
class Kind:
    met: Rule
    # Once met, met since the first time even if the rule says "now" again (a dossier stays
    # complete since it was completed); otherwise the rule's time is taken as it is.
    keeps_first: bool = False


_KINDS: dict[str, Kind] = {}


def register(kind: str, met: Rule, *, keeps_first: bool = False) -> None:
    """Make `met` the fulfilment rule of deadlines of `kind` (idempotent for the same rule)."""
    known = _KINDS.get(kind)
    if known is not None and known.met is not met:
        raise ValueError(f"deadline kind {kind!r} already has a rule, from {known.met.__module__}")
    _KINDS[kind] = Kind(met, keeps_first)


def kind_of(deadline: Deadline) -> Kind:
    try:
        return _KINDS[deadline.kind]
    except KeyError:
        raise LookupError(f"no fulfilment rule for deadline kind {deadline.kind!r} is registered "
                          "(coordinator.wiring connects them)") from None


def _narrow(among: set[int]):
    """A few units: ask about them; thousands (an import): one pass over the event is cheaper."""
    return (lambda column: column.in_(among)) if len(among) <= 500 else (lambda column: True)


def endpoints_met(event: Event, deadline: Deadline, among: set[int], now: datetime) -> dict[int, datetime]:
    """An endpoint of their own (since its creation), or attending at another's (since that one's)."""
    narrow = _narrow(among)
    found: dict[int, datetime] = dict(db.session.execute(select(Endpoint.unit_id, Endpoint.created_at).where(
        Endpoint.event_id == event.id, narrow(Endpoint.unit_id))).all())
    for unit_id, host_created in db.session.execute(
            select(HostedUnit.unit_id, Endpoint.created_at).join(Endpoint, HostedUnit.endpoint_id == Endpoint.id)
            .where(HostedUnit.event_id == event.id, narrow(HostedUnit.unit_id))):
        found.setdefault(unit_id, host_created)
    return {unit_id: at or now for unit_id, at in found.items() if unit_id in among}


def focal_contacts_met(event: Event, deadline: Deadline, among: set[int], now: datetime) -> dict[int, datetime]:
    """A technical contact on their endpoint (since the first one's creation)."""
    narrow = _narrow(among)
    found = dict(db.session.execute(select(Endpoint.unit_id, func.min(Contact.created_at)).join(Contact).where(
        Endpoint.event_id == event.id, Contact.role == "technical", narrow(Endpoint.unit_id))
        .group_by(Endpoint.unit_id)).all())
    return {unit_id: at or now for unit_id, at in found.items() if unit_id in among}
