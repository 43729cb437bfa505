"""Probe sweeps of an event's endpoints: which to probe, running the engine, recording the results.

On demand (`flask --app app probes sweep --event SLUG [--unit CODE]`, the dashboard's button for one
endpoint) and automatically: the scheduler asks `due_sweeps()` every minute, which returns the
sessions whose window is open (from PROBE_WINDOW_BEFORE_SECONDS before the start to the end) and
whose last sweep is older than PROBE_INTERVAL_SECONDS.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import func, select, update

from coordinator.endpoints.models import Endpoint
from coordinator.events.models import PUBLISHED, Event, EventSession
from coordinator.extensions import db
from coordinator.probes import engine
from coordinator.probes.base import Target
from coordinator.status import services as status
from coordinator.status.models import ProbeSweep
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit


def targets(event: Event, unit: Unit | None = None, endpoint_ids: list[int] | None = None) -> list[Target]:
    stmt = (select(Endpoint.id, Endpoint.protocol, Endpoint.dial).join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == event.id).order_by(Unit.path))
    if unit is not None:
        stmt = stmt.where(Unit.path.startswith(unit.path))
    if endpoint_ids is not None:
        stmt = stmt.where(Endpoint.id.in_(endpoint_ids))
    return [engine.target_for(eid, protocol, dial) for eid, protocol, dial in db.session.execute(stmt)]


def sweep(event: Event, *, session: EventSession | None = None, unit: Unit | None = None,
          endpoint_ids: list[int] | None = None, progress: Callable | None = None,
          now: datetime | None = None, origin: str = "command") -> status.ProbeSummary:
    """Probe the endpoints (all, a unit's subtree, or some) and record the results for `session`
    (default: the one operators are watching). Each sweep is recorded (`ProbeSweep`: started,
    finished, probed) so that the dashboards can say how fresh their reachability is."""
    session = session or status.current_session(event)
    if session is None:
        return status.ProbeSummary()
    found = targets(event, unit, endpoint_ids)
    probeable = [t for t in found if t.kind != "none"]
    started = utcnow()
    record = ProbeSweep(event_id=event.id, session_id=session.id, origin=origin,
                        unit_code=unit.code if unit is not None else "", started_at=started, probed=0)
    db.session.add(record)
    db.session.commit()  # no transaction held open while the network is probed
    record_id = record.id
    results = engine.sweep(probeable, concurrency=current_app.config["PROBE_CONCURRENCY"],
                           timeout=current_app.config["PROBE_TIMEOUT_SECONDS"], progress=progress)
    summary = status.record_probes(event, session, results, now=now, commit=False)
    finished = utcnow()
    db.session.execute(update(ProbeSweep).where(ProbeSweep.id == record_id).values(
        finished_at=finished, probed=summary.probed, seconds=(finished - started).total_seconds()))
    db.session.commit()
    status.after_bulk_write(summary)
    summary.unknown += len(found) - len(probeable)  # no dial address: nothing to probe
    return summary


def due_sweeps(now: datetime | None = None) -> list[tuple[Event, EventSession]]:
    now = now or utcnow()
    before = timedelta(seconds=current_app.config["PROBE_WINDOW_BEFORE_SECONDS"])
    interval = timedelta(seconds=current_app.config["PROBE_INTERVAL_SECONDS"])
    out = []
    for event in db.session.scalars(select(Event).where(Event.status == PUBLISHED)):
        for session in event.sessions:
            if not (session.starts_at - before <= now <= session.ends_at):
                continue
            last = db.session.scalar(select(func.max(ProbeSweep.started_at)).where(
                ProbeSweep.session_id == session.id, ProbeSweep.unit_code == "", ProbeSweep.origin != "endpoint"))
            if last is None or now - last >= interval:
                out.append((event, session))
    return out
