"""What changed, for the dashboards' feed: the newest failures first, then recoveries, then
readiness confirmations, in the country or a unit's subtree, read from what the status model
records (each endpoint's state and since when, its events, its confirmation), and the newest open
incidents (the page's script beeps and counts a new one in the title bar, for those who want it).

A few indexed queries of at most `limit` rows each (recoveries among the subtree's RECENT newest
changes to connected), run when the dashboard's fragment is rendered
(once per ETag: every change they show moves the counters behind it). Times are shown by the
page's script as "n min ago", so time passing changes nothing here.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import aliased

from coordinator.endpoints.models import Endpoint
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.status.models import EndpointStatus, Incident, StatusEvent
from coordinator.status.rule import CONNECTED, DEGRADED, FAILED
from coordinator.units.models import Unit

LIMIT = 8  # items of each kind
RECENT = 1000  # recoveries are looked for among the session's newest changes to "connected"
ALERT_IDS = 20  # the newest open incidents whose ids the page compares with what it has seen

FAILURE, RECOVERY, CONFIRMATION = "failure", "recovery", "confirmation"
KINDS = (FAILURE, RECOVERY, CONFIRMATION)


def _base(event: Event, session: EventSession, unit: Unit | None, *columns):
    stmt = (select(Endpoint.id, Endpoint.name, Unit.code, Unit.name, Unit.tier, EndpointStatus.state,
                   EndpointStatus.source, EndpointStatus.changed_at, EndpointStatus.heard_at, *columns)
            .select_from(EndpointStatus).join(Endpoint, EndpointStatus.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(EndpointStatus.session_id == session.id))  # a session's rows are its event's endpoints
    if unit is not None and unit.tier != "central":
        stmt = stmt.where(Unit.path.startswith(unit.path))
    return stmt


def _item(kind: str, row, at, **more) -> dict:
    eid, name, code, unit_name, tier, state, source, changed_at, heard_at = row[:9]
    return {"kind": kind, "endpoint_id": eid, "endpoint": name, "unit_code": code, "unit": unit_name, "tier": tier,
            "state": state, "source": source, "at": at, "changed_at": changed_at, "heard_at": heard_at, **more}


def changes(event: Event, session: EventSession, unit: Unit | None = None, limit: int = LIMIT) -> dict:
    """The feed of `session` in `unit`'s subtree (None, or the central unit: the whole country):
    `failures` (failed or degraded now, newest first, with what said so and whether an incident is
    open), `recoveries` (connected now after a failure or a degradation earlier in the session),
    `confirmations` (readiness confirmed, newest first, with the state now: "confirmed but
    unreachable" stands out), and the alert's `incidents` (the newest open ones' ids)."""
    incident = aliased(Incident)
    failures = [
        _item(FAILURE, r, r[7], layer=r[9], code=r[10], note=r[11], incident=r[12] is not None)
        for r in db.session.execute(
            _base(event, session, unit, EndpointStatus.probe_layer, EndpointStatus.probe_code, EndpointStatus.note,
                  incident.id)
            .outerjoin(incident, and_(incident.endpoint_id == Endpoint.id, incident.session_id == session.id,
                                      incident.resolved_at.is_(None)))
            .where(EndpointStatus.state.in_((FAILED, DEGRADED)), EndpointStatus.changed_at.is_not(None))
            .order_by(EndpointStatus.changed_at.desc(), EndpointStatus.id.desc()).limit(limit))]
    earlier_failure = exists().where(StatusEvent.endpoint_id == EndpointStatus.endpoint_id,
                                     StatusEvent.session_id == EndpointStatus.session_id,
                                     StatusEvent.state.in_((FAILED, DEGRADED)),
                                     StatusEvent.created_at < EndpointStatus.changed_at)
    newest_connected = select(EndpointStatus.id).where(EndpointStatus.session_id == session.id,
                                                       EndpointStatus.state == CONNECTED,
                                                       EndpointStatus.changed_at.is_not(None))
    if unit is not None and unit.tier != "central":
        newest_connected = (newest_connected.join(Endpoint, EndpointStatus.endpoint_id == Endpoint.id)
                            .join(Unit, Endpoint.unit_id == Unit.id).where(Unit.path.startswith(unit.path)))
    newest_connected = newest_connected.order_by(EndpointStatus.changed_at.desc()).limit(RECENT)
    recoveries = [
        _item(RECOVERY, r, r[7]) for r in db.session.execute(
            _base(event, session, unit)
            .where(EndpointStatus.id.in_(newest_connected.scalar_subquery()), earlier_failure)
            .order_by(EndpointStatus.changed_at.desc(), EndpointStatus.id.desc()).limit(limit))]
    confirmations = [
        _item(CONFIRMATION, r, r[9], via=r[10]) for r in db.session.execute(
            _base(event, session, unit, EndpointStatus.confirmed_at, EndpointStatus.confirmed_via)
            .where(EndpointStatus.confirmed_at.is_not(None))
            .order_by(EndpointStatus.confirmed_at.desc(), EndpointStatus.id.desc()).limit(limit))]
    return {"failures": failures, "recoveries": recoveries, "confirmations": confirmations,
            "incidents": newest_incidents(event, session, unit)}


def newest_incidents(event: Event, session: EventSession, unit: Unit | None = None, limit: int = ALERT_IDS) -> dict:
    """The ids of the newest incidents open in the subtree (newest first) and the newest's: what
    the page's alert compares with what it has already seen."""
    stmt = select(Incident.id).where(Incident.session_id == session.id, Incident.resolved_at.is_(None))
    if unit is not None and unit.tier != "central":
        stmt = (stmt.join(Endpoint, Incident.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
                .where(Unit.path.startswith(unit.path)))
    ids = list(db.session.scalars(stmt.order_by(Incident.id.desc()).limit(limit)))
    return {"ids": ids, "newest": ids[0] if ids else 0}
