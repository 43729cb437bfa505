"""Connection status: recording what was observed, deriving each endpoint's current status,
escalating failures, and the national and provincial views. Callable without a request.

Every observation is a `StatusEvent` (append-only). `EndpointStatus` holds, per endpoint and
session, what the latest events say; it is updated in the same transaction as each event, so the
national roll-up is one query over 11,400 rows rather than a search for each endpoint's latest
event. Probes write an event only when their verdict changes (state, failing layer or code), but
always refresh the last probe result and the count of failures in a row.

An endpoint that fails during the window of a session (from `STATUS_WINDOW_BEFORE_SECONDS` before
its start to its end) — an operator says failed, or `PROBE_FAILURES_TO_ESCALATE` probes fail in a
row — opens an `Incident`: its technical contacts and its province's focal (technical) contacts get
one SMS per incident through the outbox; the incident stays on the dashboard until the endpoint is
connected again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.status.models import SOURCES, STATES, EndpointStatus, Incident, StatusEvent
from coordinator.timeutil import utcnow
from coordinator.units.models import ROOT_CODE, Unit

CONNECTED, DEGRADED, FAILED, UNKNOWN = STATES
PEOPLE = ("operator", "self", "sms")
INCIDENT_KIND = "incident"


class StatusError(ValueError):
    pass


# --- sessions ---------------------------------------------------------------------------------------

def current_session(event: Event, now: datetime | None = None) -> EventSession | None:
    """The session operators are watching: the one under way, else the next, else the last."""
    now = now or utcnow()
    sessions = sorted(event.sessions, key=lambda s: s.starts_at)
    for s in sessions:
        if s.starts_at <= now < s.ends_at:
            return s
    upcoming = [s for s in sessions if s.starts_at > now]
    if upcoming:
        return upcoming[0]
    return sessions[-1] if sessions else None


def in_window(session: EventSession, now: datetime) -> bool:
    before = timedelta(seconds=current_app.config["STATUS_WINDOW_BEFORE_SECONDS"])
    return session.starts_at - before <= now <= session.ends_at


# --- recording ----------------------------------------------------------------------------------------

def _status_row(endpoint_id: int, session_id: int) -> EndpointStatus:
    row = db.session.scalar(select(EndpointStatus).where(EndpointStatus.endpoint_id == endpoint_id,
                                                         EndpointStatus.session_id == session_id))
    if row is None:
        try:
            with db.session.begin_nested():
                row = EndpointStatus(endpoint_id=endpoint_id, session_id=session_id, state=UNKNOWN, source="",
                                     note="", check_state="", probe_state="", probe_layer="", probe_target="",
                                     probe_failures=0)
                db.session.add(row)
        except IntegrityError:  # created at the same moment by another request
            row = db.session.scalar(select(EndpointStatus).where(EndpointStatus.endpoint_id == endpoint_id,
                                                                 EndpointStatus.session_id == session_id))
    return row


def record(endpoint: Endpoint, session: EventSession, source: str, state: str, *, audio: bool | None = None,
           video: bool | None = None, content: bool | None = None, note: str = "", actor=None,
           actor_label: str = "", now: datetime | None = None, commit: bool = True) -> StatusEvent:
    """A person's observation (an operator's check, a contact's confirmation or reply, a script
    through the API). Appends the event, updates the current status, opens or resolves the
    endpoint's incident."""
    if state not in STATES:
        raise StatusError(f"unknown state {state!r}; known: {', '.join(STATES)}")
    if source not in SOURCES:
        raise StatusError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    if session.event_id != endpoint.event_id:
        raise StatusError("the session is not of the endpoint's event")
    now = now or utcnow()
    note = (note or "").strip()[:2000]
    event = StatusEvent(event_id=endpoint.event_id, endpoint_id=endpoint.id, session_id=session.id, source=source,
                        state=state, audio=audio, video=video, content=content, note=note, layer="", target="",
                        actor_id=getattr(actor, "id", None),
                        actor_label=getattr(actor, "email", None) or actor_label or source, created_at=now)
    db.session.add(event)
    db.session.flush()
    row = _status_row(endpoint.id, session.id)
    row.state, row.source, row.last_event_id, row.changed_at = state, source, event.id, now
    if source in PEOPLE:
        row.checked_at, row.check_state = now, state
        row.audio, row.video, row.content = audio, video, content
        if note:
            row.note = note
        if source in ("self", "sms") and state == CONNECTED:
            row.confirmed_at = row.confirmed_at or now
    if state == FAILED and source == "operator" and in_window(session, now):
        open_incident(endpoint, session, "operator", note or "", now)
    elif state == CONNECTED:
        resolve_incident(endpoint.id, session.id, now)
    if commit:
        db.session.commit()
    return event


def record_many(event: Event, session: EventSession, checks: list[dict], *, actor=None, source: str = "operator",
                now: datetime | None = None) -> list[StatusEvent]:
    """Several checks at once (a script reporting a whole province), in one transaction: every
    check is applied as `record` would, or none is (the caller validated them)."""
    now = now or utcnow()
    ids = sorted({c["endpoint_id"] for c in checks})
    endpoints = {}
    for i in range(0, len(ids), 500):
        endpoints.update({e.id: e for e in db.session.scalars(select(Endpoint).where(
            Endpoint.id.in_(ids[i:i + 500]), Endpoint.event_id == event.id))})
    missing = [i for i in ids if i not in endpoints]
    if missing:
        raise StatusError(f"no endpoint {missing[0]} in event {event.slug}")
    events = [record(endpoints[c["endpoint_id"]], session, source, c["state"], audio=c.get("audio"),
                     video=c.get("video"), content=c.get("content"), note=c.get("note") or "", actor=actor, now=now,
                     commit=False) for c in checks]
    db.session.commit()
    return events


@dataclass
class ProbeSummary:
    probed: int = 0
    connected: int = 0
    degraded: int = 0
    failed: int = 0
    unknown: int = 0
    events: int = 0  # verdicts that changed
    incidents: int = 0
    layers: dict[str, int] = field(default_factory=dict)


def record_probes(event: Event, session: EventSession, results, now: datetime | None = None) -> ProbeSummary:
    """Write a sweep's results in one transaction, a few statements whatever their number."""
    now = now or utcnow()
    summary = ProbeSummary()
    results = [r for r in results if r.state != UNKNOWN or r.layer]
    ids = [r.key for r in results]
    existing: dict[int, EndpointStatus] = {}
    for i in range(0, len(ids), 500):
        existing.update({row.endpoint_id: row for row in db.session.scalars(select(EndpointStatus).where(
            EndpointStatus.session_id == session.id, EndpointStatus.endpoint_id.in_(ids[i:i + 500])))})
    threshold = current_app.config["PROBE_FAILURES_TO_ESCALATE"]
    window = in_window(session, now)
    new_events, escalate, resolve = [], [], []
    for r in results:
        summary.probed += 1
        setattr(summary, r.state, getattr(summary, r.state) + 1)
        summary.layers[r.layer] = summary.layers.get(r.layer, 0) + 1
        row = existing.get(r.key)
        if row is None:
            row = EndpointStatus(endpoint_id=r.key, session_id=session.id, state=UNKNOWN, source="", note="",
                                 check_state="", probe_state="", probe_layer="", probe_target="", probe_failures=0)
            db.session.add(row)
            existing[r.key] = row
        changed = (row.probe_state, row.probe_layer, row.probe_code) != (r.state, r.layer, r.code)
        failures = row.probe_failures + 1 if r.state == FAILED else 0
        row.probed_at, row.probe_state, row.probe_layer, row.probe_code = now, r.state, r.layer, r.code
        row.probe_rtt_ms, row.probe_target, row.probe_failures = r.rtt_ms, r.target[:255], failures
        if changed:
            new_events.append({"event_id": event.id, "endpoint_id": r.key, "session_id": session.id, "source": "probe",
                               "state": r.state, "note": r.detail[:2000], "layer": r.layer, "code": r.code,
                               "rtt_ms": r.rtt_ms, "target": r.target[:255], "actor_label": "probe",
                               "created_at": now})
            row.state, row.source, row.changed_at = r.state, "probe", now
        if r.state == FAILED and failures >= threshold and window:
            escalate.append((r.key, f"{failures} probes failed in a row: {r.detail}"))
        elif r.state == CONNECTED:
            resolve.append(r.key)
    db.session.flush()
    if new_events:
        db.session.execute(insert(StatusEvent), new_events)
        summary.events = len(new_events)
        # The current status points at each endpoint's newest event.
        latest = dict(db.session.execute(
            select(StatusEvent.endpoint_id, func.max(StatusEvent.id)).where(
                StatusEvent.session_id == session.id, StatusEvent.source == "probe", StatusEvent.created_at == now)
            .group_by(StatusEvent.endpoint_id)).all())
        for endpoint_id, event_id in latest.items():
            existing[endpoint_id].last_event_id = event_id
    if escalate:
        endpoints = {e.id: e for e in db.session.scalars(select(Endpoint).where(Endpoint.id.in_([k for k, _ in escalate])))}
        for key, detail in escalate:
            if open_incident(endpoints[key], session, "probe", detail, now) is not None:
                summary.incidents += 1
    if resolve:
        for i in range(0, len(resolve), 500):
            db.session.execute(update(Incident).where(Incident.session_id == session.id,
                                                      Incident.endpoint_id.in_(resolve[i:i + 500]),
                                                      Incident.resolved_at.is_(None))
                               .values(resolved_at=now, open_key=None), execution_options={"synchronize_session": False})
    db.session.commit()
    return summary


# --- incidents and escalation ----------------------------------------------------------------------

def open_incident(endpoint: Endpoint, session: EventSession, cause: str, detail: str, now: datetime) -> Incident | None:
    """Open the endpoint's incident for the session unless one is open; tell its people once.
    In the caller's transaction; None when one was already open."""
    key = f"{endpoint.id}:{session.id}"
    if db.session.scalar(select(Incident.id).where(Incident.open_key == key)) is not None:
        return None
    incident = Incident(event_id=endpoint.event_id, endpoint_id=endpoint.id, session_id=session.id, open_key=key,
                        cause=cause, detail=detail[:2000], opened_at=now, notified=0)
    try:
        with db.session.begin_nested():
            db.session.add(incident)
    except IntegrityError:  # opened at the same moment elsewhere
        return None
    incident.notified = _notify(incident, endpoint, session, now)
    from coordinator.audit import services as audit

    audit.record("incident.open", "endpoint", endpoint.id, actor_label=cause, session=session.kind,
                 detail=detail[:500], notified=incident.notified)
    return incident


def resolve_incident(endpoint_id: int, session_id: int, now: datetime) -> None:
    db.session.execute(update(Incident).where(Incident.open_key == f"{endpoint_id}:{session_id}")
                       .values(resolved_at=now, open_key=None), execution_options={"synchronize_session": False})


def _province_code(path: str) -> str:
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 else ROOT_CODE


def escalation_contacts(endpoint: Endpoint) -> list[tuple[str, str]]:
    """(E.164, name) of whom to text when `endpoint` fails: its technical contacts and its
    province's (the focal contacts), mobiles only, opted-out numbers left out."""
    from coordinator.sms.services import opted_out_among

    province = _province_code(endpoint.unit.path)
    stmt = (select(Contact.phone, Contact.name).join(Endpoint, Contact.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == endpoint.event_id, Contact.role == "technical", Contact.phone_type == "mobile",
                   (Endpoint.id == endpoint.id) | ((Unit.code == province) & (Unit.structure == endpoint.unit.structure)))
            .order_by(Endpoint.id != endpoint.id, Contact.id))
    seen, out = set(), []
    for phone, name in db.session.execute(stmt):
        if phone not in seen:
            seen.add(phone)
            out.append((phone, name))
    blocked = opted_out_among(seen)
    return [(p, n) for p, n in out if p not in blocked]


def _notify(incident: Incident, endpoint: Endpoint, session: EventSession, now: datetime) -> int:
    from coordinator.outbox import services as outbox
    from coordinator.reminders.services import local_time

    event = endpoint.event
    local = now.astimezone(ZoneInfo(event.timezone))
    support = f" Hỗ trợ: {event.organizer_phone}." if event.organizer_phone else ""
    text = (f"SỰ CỐ {local:%H:%M}: điểm cầu {endpoint.name} mất kết nối "
            f"({session.title or session.kind}, {local_time(session.starts_at, event.timezone)}). "
            f"Đề nghị kiểm tra ngay.{support}")
    messages = [{"key": f"{INCIDENT_KIND}:{incident.id}:{phone}", "channel": "sms", "kind": INCIDENT_KIND,
                 "event_id": event.id, "recipient": phone, "payload": {"body": text, "name": name, "lang": "vi"}}
                for phone, name in escalation_contacts(endpoint)]
    return outbox.enqueue(messages)


def open_incident_of(endpoint_id: int, session_id: int) -> Incident | None:
    return db.session.scalar(select(Incident).where(Incident.open_key == f"{endpoint_id}:{session_id}"))


def open_incidents(event: Event, session: EventSession, province: str | None = None) -> list[dict]:
    rows = db.session.execute(
        select(Incident, Endpoint.name, Unit.code, Unit.name, Unit.path)
        .join(Endpoint, Incident.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
        .where(Incident.session_id == session.id, Incident.resolved_at.is_(None))
        .order_by(Incident.opened_at.desc())).all()
    return [{"incident": i, "endpoint": name, "unit_code": code, "unit": unit, "province": _province_code(path)}
            for i, name, code, unit, path in rows if province is None or _province_code(path) == province]


# --- views -----------------------------------------------------------------------------------------------

def _counts() -> dict[str, int]:
    return {s: 0 for s in STATES}


def rollup(event: Event, session: EventSession) -> dict:
    """The national picture: per province (and the central endpoint) the endpoints per state, how
    many their contacts confirmed, the share ready (connected), the open incidents. Two queries."""
    rows = db.session.execute(
        select(Unit.path, EndpointStatus.state, EndpointStatus.confirmed_at)
        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id)
        .outerjoin(EndpointStatus, (EndpointStatus.endpoint_id == Endpoint.id) & (EndpointStatus.session_id == session.id))
        .where(Endpoint.event_id == event.id)).all()
    provinces = {u.code: u.name for u in db.session.scalars(
        select(Unit).where(Unit.structure == event.unit_structure, Unit.tier.in_(("central", "province"))))}
    incidents: dict[str, int] = {}
    for path, in db.session.execute(
            select(Unit.path).select_from(Incident).join(Endpoint, Incident.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(Incident.session_id == session.id, Incident.resolved_at.is_(None))):
        code = _province_code(path)
        incidents[code] = incidents.get(code, 0) + 1
    tiles: dict[str, dict] = {}
    total = {"endpoints": 0, "confirmed": 0, "counts": _counts(), "incidents": sum(incidents.values())}
    for path, state, confirmed in rows:
        code = _province_code(path)
        tile = tiles.get(code)
        if tile is None:
            tile = tiles[code] = {"code": code, "name": provinces.get(code, code), "endpoints": 0, "confirmed": 0,
                                  "counts": _counts(), "incidents": incidents.get(code, 0)}
        state = state or UNKNOWN
        tile["endpoints"] += 1
        tile["counts"][state] += 1
        total["counts"][state] += 1
        if confirmed is not None:
            tile["confirmed"] += 1
            total["confirmed"] += 1
    total["endpoints"] = len(rows)
    for code, name in provinces.items():  # provinces with nothing registered still get a tile
        tiles.setdefault(code, {"code": code, "name": name, "endpoints": 0, "confirmed": 0, "counts": _counts(),
                                "incidents": incidents.get(code, 0)})
    for tile in list(tiles.values()) + [total]:
        tile["ready"] = round(tile["counts"][CONNECTED] / tile["endpoints"], 4) if tile["endpoints"] else 0.0
    ordered = sorted(tiles.values(), key=lambda t: (t["code"] != ROOT_CODE, t["code"]))
    return {"session": session, "provinces": ordered, "total": total}


FILTERS = ("failed", "unknown", "not_confirmed", "hosting", "incident")


_STATUS_COLUMNS = ("state", "source", "changed_at", "checked_at", "check_state", "audio", "video", "content", "note",
                   "confirmed_at", "probed_at", "probe_state", "probe_layer", "probe_code", "probe_rtt_ms",
                   "probe_target", "probe_failures")


def unit_view(event: Event, unit: Unit, session: EventSession, filter_: str | None = None) -> list[dict]:
    """Every endpoint in `unit`'s subtree with its current status, last probe and last check,
    in tree order; `filter_` one of FILTERS. Three queries; plain rows, no ORM objects (the centre's
    subtree is the whole country)."""
    from types import SimpleNamespace

    columns = [getattr(EndpointStatus, c) for c in _STATUS_COLUMNS]
    rows = db.session.execute(
        select(Endpoint.id, Endpoint.name, Endpoint.protocol, Endpoint.dial, Unit.code, Unit.name, Unit.tier, Unit.path,
               EndpointStatus.id, *columns)
        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id)
        .outerjoin(EndpointStatus, (EndpointStatus.endpoint_id == Endpoint.id) & (EndpointStatus.session_id == session.id))
        .where(Endpoint.event_id == event.id, Unit.path.startswith(unit.path))
        .order_by(Unit.path)).all()
    hosted = dict(db.session.execute(select(HostedUnit.endpoint_id, func.count()).where(HostedUnit.event_id == event.id)
                                     .group_by(HostedUnit.endpoint_id)).all())
    open_ = {i.endpoint_id: i for i in db.session.scalars(select(Incident).where(
        Incident.session_id == session.id, Incident.resolved_at.is_(None)))}
    out = []
    for eid, name, protocol, dial, code, unit_name, tier, path, status_id, *values in rows:
        status = SimpleNamespace(**dict(zip(_STATUS_COLUMNS, values))) if status_id is not None else None
        out.append({"id": eid, "name": name, "protocol": protocol, "dial": dial, "unit_code": code, "unit": unit_name,
                    "tier": tier, "depth": path.strip("/").count("/"), "state": status.state if status else UNKNOWN,
                    "status": status, "hosted": hosted.get(eid, 0), "incident": open_.get(eid)})
    return apply_filter(out, filter_)


def apply_filter(rows: list[dict], filter_: str | None) -> list[dict]:
    """`unit_view` rows narrowed to one of FILTERS (None: all)."""
    if not filter_:
        return rows
    keep = {
        "failed": lambda r: r["state"] in (FAILED, DEGRADED),
        "unknown": lambda r: r["state"] == UNKNOWN,
        "not_confirmed": lambda r: r["status"] is None or r["status"].confirmed_at is None,
        "hosting": lambda r: bool(r["hosted"]),
        "incident": lambda r: r["incident"] is not None,
    }[filter_]
    return [r for r in rows if keep(r)]


def timeline(endpoint_id: int, session_id: int, limit: int = 200) -> list[StatusEvent]:
    return list(db.session.scalars(select(StatusEvent).where(StatusEvent.endpoint_id == endpoint_id,
                                                             StatusEvent.session_id == session_id)
                                   .order_by(StatusEvent.id.desc()).limit(limit)))


def status_of(endpoint_id: int, session_id: int) -> EndpointStatus | None:
    return db.session.scalar(select(EndpointStatus).where(EndpointStatus.endpoint_id == endpoint_id,
                                                          EndpointStatus.session_id == session_id))


def version(event: Event, session: EventSession) -> str:
    """Changes whenever anything the dashboard shows changes (an ETag): the newest status event,
    the newest incident change, the number of endpoints. Three index lookups."""
    last_event = db.session.scalar(select(func.max(StatusEvent.id)).where(StatusEvent.event_id == event.id)) or 0
    incidents = db.session.execute(select(func.count(), func.max(Incident.id)).where(
        Incident.event_id == event.id, Incident.resolved_at.is_(None))).one()
    probes = db.session.scalar(select(func.max(EndpointStatus.probed_at)).where(
        EndpointStatus.session_id == session.id))
    endpoints = db.session.scalar(select(func.count()).select_from(Endpoint).where(Endpoint.event_id == event.id))
    stamp = probes.timestamp() if probes else 0
    return f"{session.id}-{last_event}-{incidents[0]}-{incidents[1] or 0}-{endpoints}-{stamp:.0f}"
