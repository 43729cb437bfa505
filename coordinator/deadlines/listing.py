"""Deadline fulfilment in the registration list (`coordinator.endpoints.listing`): which units of
the list missed a deadline of their tier (due and unmet) or met it late. The list is below this
package, so it does not import this: `connect()` registers `late_units` into it at app start
(`coordinator.wiring`)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select

from coordinator.deadlines.models import DeadlineFulfilment
from coordinator.endpoints import listing
from coordinator.events.models import Event
from coordinator.extensions import db

_CHUNK = 900  # unit ids per IN (...): well below SQLite's limit on bound parameters


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def late_units(event: Event, unit_ids_by_tier: Mapping[str, set[int]],
               now: datetime) -> dict[int, list[tuple[str, str]]]:
    """unit id -> (kind, title) of the deadlines of its tier that it missed (due and unmet) or met late,
    read against the deadlines as they are now."""
    due = [d for d in event.deadlines if d.due_at is not None]
    if not due:
        return {}
    met: dict[tuple[int, int], datetime] = {}
    ids = [unit_id for ids in unit_ids_by_tier.values() for unit_id in ids]
    for chunk in _chunks(ids):
        for deadline_id, unit_id, at in db.session.execute(
                select(DeadlineFulfilment.deadline_id, DeadlineFulfilment.unit_id, DeadlineFulfilment.fulfilled_at)
                .where(DeadlineFulfilment.deadline_id.in_([d.id for d in due]),
                       DeadlineFulfilment.unit_id.in_(chunk), DeadlineFulfilment.fulfilled_at.is_not(None))):
            met[(deadline_id, unit_id)] = at
    out: dict[int, list[tuple[str, str]]] = defaultdict(list)  # (kind, title): a short label, the full title
    for d in due:
        for unit_id in unit_ids_by_tier.get(d.tier, ()):
            at = met.get((d.id, unit_id))
            if (at is None and d.due_at < now) or (at is not None and at > d.due_at):
                out[unit_id].append((d.kind, d.title or d.kind))
    return out


def connect() -> None:
    """Register `late_units` into the registration list (idempotent)."""
    listing.register_late_units(late_units)
