"""Deadlines: per-unit fulfilment (each kind's rule: `kinds.py`), closing and reopening. The
registration window (open / late / closed) lives in `events.windows`; its names are re-exported here."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select, update

from coordinator.audit import services as audit
from coordinator.deadlines.kinds import kind_of
from coordinator.deadlines.models import DeadlineFulfilment
from coordinator.events.models import Deadline, Event
from coordinator.events.windows import (CLOSED, LATE, OPEN, REGISTRATION_KINDS, RegistrationClosed,  # noqa: F401
                                       Window, ensure_open, registration_window)
from coordinator.extensions import db
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit


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
    kind = kind_of(deadline)  # its fulfilment rule (coordinator.deadlines.kinds)
    met = kind.met(event, deadline, concerned, now)
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
        if at is not None and kind.keeps_first and row is not None and row.fulfilled_at is not None:
            at = row.fulfilled_at  # e.g. a dossier stays complete since it was completed
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
