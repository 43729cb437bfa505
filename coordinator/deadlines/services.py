"""Deadlines: per-unit fulfilment, the registration window (open / late / closed), closing and reopening."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update

from coordinator.audit import services as audit
from coordinator.deadlines.models import DeadlineFulfilment
from coordinator.events.models import CANCELLED, FINISHED, Deadline, Event
from coordinator.events.windows import (CLOSED, LATE, OPEN, REGISTRATION_KINDS, RegistrationClosed,  # noqa: F401
                                       Window, ensure_open, registration_window)
from coordinator.extensions import db
from coordinator.messages import N_, Message
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit

def _units_meeting(event: Event, kind: str, among: set[int], now: datetime) -> dict[int, datetime]:
    """Which of `among` meet a registration deadline of `kind`, and since when, from the data
    itself: `endpoints` by an endpoint of their own (since its creation) or by attending at
    another's, `focal_contacts` by a technical contact on their endpoint (since the first one's)."""
    from coordinator.endpoints.models import Contact, Endpoint, HostedUnit

    # A few units: ask about them; thousands (an import): one pass over the event is cheaper.
    narrow = (lambda column: column.in_(among)) if len(among) <= 500 else (lambda column: True)
    found: dict[int, datetime] = {}
    if kind == "endpoints":
        found.update(db.session.execute(select(Endpoint.unit_id, Endpoint.created_at).where(
            Endpoint.event_id == event.id, narrow(Endpoint.unit_id))).all())
        for unit_id, host_created in db.session.execute(
                select(HostedUnit.unit_id, Endpoint.created_at).join(Endpoint, HostedUnit.endpoint_id == Endpoint.id)
                .where(HostedUnit.event_id == event.id, narrow(HostedUnit.unit_id))):
            found.setdefault(unit_id, host_created)
    else:
        found.update(db.session.execute(select(Endpoint.unit_id, func.min(Contact.created_at)).join(Contact).where(
            Endpoint.event_id == event.id, Contact.role == "technical", narrow(Endpoint.unit_id))
            .group_by(Endpoint.unit_id)).all())
    return {unit_id: at or now for unit_id, at in found.items() if unit_id in among}


def refresh(event: Event, units: Iterable[Unit], now: datetime | None = None) -> None:
    """Recompute the fulfilment of every deadline of `event` that concerns `units`, in the caller's
    transaction: when each unit met it, taken from the data (the endpoint's or first technical
    contact's creation; a document request's completion), so that on time, late and missing follow
    from the data and the deadline as they are now (`is_late` compares with the due time when
    read: moving a deadline later makes a registration on time). A few statements per deadline,
    whether one unit changed (a form) or eleven thousand (a national spreadsheet)."""
    now = now or utcnow()
    by_tier: dict[str, set[int]] = {}
    for unit in units:
        by_tier.setdefault(unit.tier, set()).add(unit.id)
    for deadline in event.deadlines:
        concerned = by_tier.get(deadline.tier)
        if concerned:
            _refresh_deadline(event, deadline, concerned, now)


def refresh_deadline(event: Event, deadline: Deadline, now: datetime | None = None) -> None:
    """A deadline created or moved: recompute it for every unit of its tier (in the caller's
    transaction); registrations made before it existed count."""
    ids = set(db.session.scalars(select(Unit.id).where(Unit.structure == event.unit_structure,
                                                       Unit.tier == deadline.tier)))
    if ids:
        _refresh_deadline(event, deadline, ids, now or utcnow())


def _refresh_deadline(event: Event, deadline: Deadline, concerned: set[int], now: datetime) -> None:
    if deadline.kind == "documents":
        from coordinator.documents.services import is_complete

        met = {unit_id: now for unit_id in concerned if is_complete(deadline, unit_id)}
    else:
        met = _units_meeting(event, deadline.kind, concerned, now)
    stmt = select(DeadlineFulfilment.id, DeadlineFulfilment.unit_id, DeadlineFulfilment.fulfilled_at).where(
        DeadlineFulfilment.deadline_id == deadline.id)
    if len(concerned) <= 500:
        stmt = stmt.where(DeadlineFulfilment.unit_id.in_(concerned))
    stored = {row.unit_id: row for row in db.session.execute(stmt)}
    due = deadline.due_at
    inserts, updates = [], []
    for unit_id in concerned:
        row = stored.get(unit_id)
        at = met.get(unit_id)
        if at is not None and deadline.kind == "documents" and row is not None and row.fulfilled_at is not None:
            at = row.fulfilled_at  # a dossier stays complete since it was completed
        if at is not None and row is None:
            inserts.append({"deadline_id": deadline.id, "unit_id": unit_id, "fulfilled_at": at, "late": at > due,
                            "contact_name": "", "contact_phone": "", "updated_at": now})
        elif at is not None and row.fulfilled_at != at:
            updates.append({"id": row.id, "fulfilled_at": at, "late": at > due, "updated_at": now})
        elif at is None and row is not None and row.fulfilled_at is not None:
            updates.append({"id": row.id, "fulfilled_at": None, "late": False, "updated_at": now})
    if inserts:
        db.session.execute(insert(DeadlineFulfilment), inserts)
    if updates:
        db.session.execute(update(DeadlineFulfilment), updates)


def is_late(fulfilled_at: datetime | None, deadline: Deadline) -> bool:
    """Met after the deadline's due time as it is now."""
    return fulfilled_at is not None and fulfilled_at > deadline.due_at


def fulfilment_map(deadline: Deadline) -> dict[int, DeadlineFulfilment]:
    return {f.unit_id: f for f in db.session.scalars(
        select(DeadlineFulfilment).where(DeadlineFulfilment.deadline_id == deadline.id))}


def set_closed(deadline: Deadline, closed: bool, *, actor=None) -> Deadline:
    """The organizer closes registration for a deadline (late deliveries refused) or reopens it."""
    if closed and deadline.closed_at is None:
        deadline.closed_at = utcnow()
        audit.record("deadline.close", "deadline", deadline.id, actor=actor, kind=deadline.kind, tier=deadline.tier)
    elif not closed and deadline.closed_at is not None:
        deadline.closed_at = None
        audit.record("deadline.reopen", "deadline", deadline.id, actor=actor, kind=deadline.kind, tier=deadline.tier)
    db.session.commit()
    return deadline
