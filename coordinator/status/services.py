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
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.events.models import Event, EventSession
from coordinator.extensions import BULK_ROWS, db, refresh_statistics
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
                now: datetime | None = None) -> int:
    """Several checks at once (a script reporting a whole province), in one transaction and a few
    statements: every check is appended as an event, each endpoint's status follows its last
    check, incidents are opened and resolved as `record` would. All or none (the caller validated
    the checks; an endpoint not of this event raises StatusError and nothing is written)."""
    from sqlalchemy import case

    now = now or utcnow()
    if source not in SOURCES:
        raise StatusError(f"unknown source {source!r}")
    ids = sorted({c["endpoint_id"] for c in checks})
    known: set[int] = set()
    existing: dict[int, int] = {}
    table = EndpointStatus.__table__
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        known.update(db.session.scalars(select(Endpoint.id).where(Endpoint.id.in_(chunk), Endpoint.event_id == event.id)))
        existing.update(dict(db.session.execute(select(table.c.endpoint_id, table.c.id).where(
            table.c.session_id == session.id, table.c.endpoint_id.in_(chunk))).all()))
    missing = [i for i in ids if i not in known]
    if missing:
        raise StatusError(f"no endpoint {missing[0]} in event {event.slug}")
    for c in checks:
        if c["state"] not in STATES:
            raise StatusError(f"unknown state {c['state']!r}")
    label = getattr(actor, "email", None) or source
    rows = [{"event_id": event.id, "endpoint_id": c["endpoint_id"], "session_id": session.id, "source": source,
             "state": c["state"], "audio": c.get("audio"), "video": c.get("video"), "content": c.get("content"),
             "note": (c.get("note") or "").strip()[:2000], "layer": "", "target": "", "actor_id": getattr(actor, "id", None),
             "actor_label": label, "created_at": now} for c in checks]
    last: dict[int, tuple[int, dict]] = {}  # endpoint -> its last check, and that check's event id
    for (event_id, endpoint_id), row in zip(db.session.execute(
            insert(StatusEvent).returning(StatusEvent.id, StatusEvent.endpoint_id, sort_by_parameter_order=True), rows),
            rows):
        last[endpoint_id] = (event_id, row)
    confirms = source in ("self", "sms")
    fresh, updates = [], []
    for endpoint_id, (event_id, row) in last.items():
        values = {"state": row["state"], "source": source, "last_event_id": event_id, "changed_at": now,
                  "checked_at": now, "check_state": row["state"], "audio": row["audio"], "video": row["video"],
                  "content": row["content"], "note": row["note"],
                  "confirm": now if confirms and row["state"] == CONNECTED else None}
        if endpoint_id in existing:
            updates.append({f"_{k}": v for k, v in values.items()} | {"_id": existing[endpoint_id]})
        else:
            confirmed = values.pop("confirm")
            fresh.append({**values, "endpoint_id": endpoint_id, "session_id": session.id, "confirmed_at": confirmed,
                          "probe_state": "", "probe_layer": "", "probe_target": "", "probe_failures": 0})
    if fresh:
        db.session.execute(insert(table), fresh)
    if updates:
        db.session.execute(update(table).where(table.c.id == bindparam("_id")).values(
            **{k: bindparam(f"_{k}") for k in ("state", "source", "last_event_id", "changed_at", "checked_at",
                                                "check_state", "audio", "video", "content")},
            note=case((bindparam("_note") == "", table.c.note), else_=bindparam("_note")),
            confirmed_at=func.coalesce(table.c.confirmed_at, bindparam("_confirm"))),
            updates, execution_options={"synchronize_session": False})
    failed = [(eid, row["note"]) for eid, (_, row) in last.items() if row["state"] == FAILED]
    if failed and source == "operator" and in_window(session, now):
        open_incidents_for(session, failed, "operator", now)
    resolve_incidents_for(session, [eid for eid, (_, row) in last.items() if row["state"] == CONNECTED], now)
    db.session.commit()
    if len(fresh) >= BULK_ROWS:
        refresh_statistics("endpoint_status", "status_events")
    return len(rows)


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
    """Write a sweep's results in one transaction, a few statements whatever their number: the
    status rows read in chunks, new ones inserted at once, the others updated by two executemany
    statements with fixed columns (the verdict changed or not), an event per changed verdict
    (inserted with RETURNING, so each row points at its newest event in the same pass), and
    incidents opened and resolved in batches."""
    now = now or utcnow()
    summary = ProbeSummary()
    results = [r for r in results if r.state != UNKNOWN or r.layer]
    table = EndpointStatus.__table__
    ids = [r.key for r in results]
    existing: dict[int, tuple] = {}
    for i in range(0, len(ids), 500):
        for row in db.session.execute(select(table.c.endpoint_id, table.c.id, table.c.probe_state, table.c.probe_layer,
                                             table.c.probe_code, table.c.probe_failures).where(
                table.c.session_id == session.id, table.c.endpoint_id.in_(ids[i:i + 500]))):
            existing[row[0]] = row
    threshold = current_app.config["PROBE_FAILURES_TO_ESCALATE"]
    window = in_window(session, now)
    inserts, changed, unchanged, new_events, escalate, resolve = [], [], [], [], [], []
    for r in results:
        summary.probed += 1
        setattr(summary, r.state, getattr(summary, r.state) + 1)
        summary.layers[r.layer] = summary.layers.get(r.layer, 0) + 1
        row = existing.get(r.key)
        failures = ((row[5] if row else 0) + 1) if r.state == FAILED else 0
        probe = {"probed_at": now, "probe_state": r.state, "probe_layer": r.layer, "probe_code": r.code,
                 "probe_rtt_ms": r.rtt_ms, "probe_target": r.target[:255], "probe_failures": failures}
        verdict_changed = row is None or (row[2], row[3], row[4]) != (r.state, r.layer, r.code)
        if verdict_changed:
            new_events.append({"event_id": event.id, "endpoint_id": r.key, "session_id": session.id, "source": "probe",
                               "state": r.state, "note": r.detail[:2000], "layer": r.layer, "code": r.code,
                               "rtt_ms": r.rtt_ms, "target": r.target[:255], "actor_label": "probe",
                               "created_at": now})
        if row is None:
            inserts.append({"endpoint_id": r.key, "session_id": session.id, "state": r.state, "source": "probe",
                            "changed_at": now, "note": "", "check_state": "", **probe})
        elif verdict_changed:
            changed.append((r.key, {"_id": row[1], "_state": r.state, **{f"_{k}": v for k, v in probe.items()}}))
        else:
            unchanged.append({"_id": row[1], **{f"_{k}": v for k, v in probe.items()}})
        if r.state == FAILED and failures >= threshold and window:
            escalate.append((r.key, f"{failures} probes failed in a row: {r.detail}"))
        elif r.state == CONNECTED:
            resolve.append(r.key)
    last_event: dict[int, int] = {}
    if new_events:
        for event_id, endpoint_id in db.session.execute(
                insert(StatusEvent).returning(StatusEvent.id, StatusEvent.endpoint_id, sort_by_parameter_order=True),
                new_events):
            last_event[endpoint_id] = event_id
        summary.events = len(new_events)
    probe_columns = {k: bindparam(f"_{k}") for k in ("probed_at", "probe_state", "probe_layer", "probe_code",
                                                      "probe_rtt_ms", "probe_target", "probe_failures")}
    if inserts:
        for item in inserts:
            item["last_event_id"] = last_event.get(item["endpoint_id"])
        db.session.execute(insert(table), inserts)
    if changed:
        db.session.execute(update(table).where(table.c.id == bindparam("_id")).values(
            state=bindparam("_state"), source="probe", changed_at=now, last_event_id=bindparam("_last_event_id"),
            **probe_columns), [{**item, "_last_event_id": last_event.get(endpoint_id)} for endpoint_id, item in changed],
            execution_options={"synchronize_session": False})
    if unchanged:
        db.session.execute(update(table).where(table.c.id == bindparam("_id")).values(**probe_columns), unchanged,
                           execution_options={"synchronize_session": False})
    summary.incidents = len(open_incidents_for(session, escalate, "probe", now))
    resolve_incidents_for(session, resolve, now)
    db.session.commit()
    if len(inserts) >= BULK_ROWS:  # the first sweep of a session: the dashboards' plans need fresh statistics
        refresh_statistics("endpoint_status", "status_events")
    return summary


# --- incidents and escalation ----------------------------------------------------------------------

def open_incident(endpoint: Endpoint, session: EventSession, cause: str, detail: str, now: datetime) -> Incident | None:
    """Open the endpoint's incident for the session unless one is open; tell its people once.
    In the caller's transaction; None when one was already open."""
    opened = open_incidents_for(session, [(endpoint.id, detail)], cause, now)
    return opened[0] if opened else None


def open_incidents_for(session: EventSession, failures: list[tuple[int, str]], cause: str,
                       now: datetime) -> list[Incident]:
    """Open incidents for endpoints (id, what failed) that have none open, and queue one SMS per
    incident and person: a constant number of queries however many fail at once (a provider's
    outage during a sweep fails thousands). In the caller's transaction."""
    from coordinator.audit import services as audit
    from coordinator.outbox import services as outbox
    from coordinator.reminders.services import local_time
    from coordinator.sms.services import opted_out_among

    if not failures:
        return []
    keys = {f"{endpoint_id}:{session.id}": (endpoint_id, detail) for endpoint_id, detail in failures}
    known: set[str] = set()
    key_list = list(keys)
    for i in range(0, len(key_list), 500):
        known.update(db.session.scalars(select(Incident.open_key).where(Incident.open_key.in_(key_list[i:i + 500]))))
    wanted = [v for k, v in keys.items() if k not in known]
    if not wanted:
        return []
    ids = [endpoint_id for endpoint_id, _ in wanted]
    endpoints: dict[int, tuple] = {}
    for i in range(0, len(ids), 500):
        for row in db.session.execute(select(Endpoint.id, Endpoint.name, Unit.path, Unit.structure)
                                      .join(Unit, Endpoint.unit_id == Unit.id).where(Endpoint.id.in_(ids[i:i + 500]))):
            endpoints[row[0]] = row
    event = session.event
    # Whom to text: each endpoint's technical contacts, then its province's (the focal contacts);
    # mobiles only, opted-out numbers left out. Two indexed queries for all of them.
    own: dict[int, list[tuple[str, str]]] = {}
    for i in range(0, len(ids), 500):
        for endpoint_id, phone, name in db.session.execute(
                select(Contact.endpoint_id, Contact.phone, Contact.name).where(
                    Contact.endpoint_id.in_(ids[i:i + 500]), Contact.role == "technical",
                    Contact.phone_type == "mobile").order_by(Contact.id)):
            own.setdefault(endpoint_id, []).append((phone, name))
    provinces = {_province_code(row[2]) for row in endpoints.values()}
    focal: dict[str, list[tuple[str, str]]] = {}
    for code, phone, name in db.session.execute(
            select(Unit.code, Contact.phone, Contact.name).join(Endpoint, Contact.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == event.id, Unit.structure == event.unit_structure, Unit.code.in_(provinces),
                   Contact.role == "technical", Contact.phone_type == "mobile").order_by(Contact.id)):
        focal.setdefault(code, []).append((phone, name))
    everyone = {p for people in list(own.values()) + list(focal.values()) for p, _ in people}
    blocked = opted_out_among(everyone)
    local = now.astimezone(ZoneInfo(event.timezone))
    support = f" Hỗ trợ: {event.organizer_phone}." if event.organizer_phone else ""
    when = f"{session.title or session.kind}, {local_time(session.starts_at, event.timezone)}"
    opened, messages = [], []
    for endpoint_id, detail in wanted:
        row = endpoints.get(endpoint_id)
        if row is None:
            continue
        incident = Incident(event_id=event.id, endpoint_id=endpoint_id, session_id=session.id,
                            open_key=f"{endpoint_id}:{session.id}", cause=cause, detail=detail[:2000], opened_at=now,
                            notified=0)
        try:
            with db.session.begin_nested():
                db.session.add(incident)
        except IntegrityError:  # opened at the same moment elsewhere
            continue
        text = (f"SỰ CỐ {local:%H:%M}: điểm cầu {row[1]} mất kết nối ({when}). Đề nghị kiểm tra ngay.{support}")
        seen = set()
        for phone, name in own.get(endpoint_id, []) + focal.get(_province_code(row[2]), []):
            if phone in seen or phone in blocked:
                continue
            seen.add(phone)
            messages.append({"key": f"{INCIDENT_KIND}:{incident.id}:{phone}", "channel": "sms", "kind": INCIDENT_KIND,
                             "event_id": event.id, "recipient": phone,
                             "payload": {"body": text, "name": name, "lang": "vi"}})
        incident.notified = len(seen)
        audit.record("incident.open", "endpoint", endpoint_id, actor_label=cause, session=session.kind,
                     detail=detail[:500], notified=incident.notified)
        opened.append(incident)
    outbox.enqueue(messages)
    return opened


def resolve_incident(endpoint_id: int, session_id: int, now: datetime) -> None:
    key = f"{endpoint_id}:{session_id}"
    if db.session.scalar(select(Incident.id).where(Incident.open_key == key)) is None:
        return  # the common case: a read, not a write that locks
    db.session.execute(update(Incident).where(Incident.open_key == key)
                       .values(resolved_at=now, open_key=None), execution_options={"synchronize_session": False})


def resolve_incidents_for(session: EventSession, endpoint_ids: list[int], now: datetime) -> None:
    for i in range(0, len(endpoint_ids), 500):
        db.session.execute(update(Incident).where(Incident.session_id == session.id,
                                                  Incident.endpoint_id.in_(endpoint_ids[i:i + 500]),
                                                  Incident.resolved_at.is_(None))
                           .values(resolved_at=now, open_key=None), execution_options={"synchronize_session": False})


def _province_code(path: str) -> str:
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 else ROOT_CODE


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

def _province_prefix():
    """"/TW/56/" of a unit's path (the centre's: "/TW/"), as SQL. Literal bounds, not bind
    parameters: PostgreSQL must see the same expression in SELECT and GROUP BY."""
    from sqlalchemy import literal_column

    return func.substr(Unit.path, literal_column("1"), literal_column("7"))


def _counts() -> dict[str, int]:
    return {s: 0 for s in STATES}


def rollup(event: Event, session: EventSession) -> dict:
    """The national picture: per province (and the central endpoint) the endpoints per state, how
    many their contacts confirmed, the share ready (connected), the open incidents. Three grouped
    queries, whatever the number of endpoints."""
    # Grouped in the database: a province's subtree is the path prefix "/TW/<2-digit code>/"
    # (the centre's own endpoint: "/TW/"); 11,400 endpoints come back as ~130 rows.
    prefix = _province_prefix()
    from sqlalchemy import literal_column

    state_col = func.coalesce(EndpointStatus.state, literal_column(f"'{UNKNOWN}'"))
    rows = db.session.execute(
        select(prefix, state_col, func.count(), func.count(EndpointStatus.confirmed_at))
        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id)
        .outerjoin(EndpointStatus, (EndpointStatus.endpoint_id == Endpoint.id) & (EndpointStatus.session_id == session.id))
        .where(Endpoint.event_id == event.id).group_by(prefix, state_col)).all()
    provinces = {u.code: u.name for u in db.session.scalars(
        select(Unit).where(Unit.structure == event.unit_structure, Unit.tier.in_(("central", "province"))))}
    incidents: dict[str, int] = {}
    for path, n in db.session.execute(
            select(_province_prefix(), func.count()).select_from(Incident)
            .join(Endpoint, Incident.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
            .where(Incident.session_id == session.id, Incident.resolved_at.is_(None))
            .group_by(_province_prefix())):
        code = _province_code(path)
        incidents[code] = incidents.get(code, 0) + n
    tiles: dict[str, dict] = {}
    total = {"endpoints": 0, "confirmed": 0, "counts": _counts(), "incidents": sum(incidents.values())}
    for path, state, n, confirmed in rows:
        code = _province_code(path)
        tile = tiles.get(code)
        if tile is None:
            tile = tiles[code] = {"code": code, "name": provinces.get(code, code), "endpoints": 0, "confirmed": 0,
                                  "counts": _counts(), "incidents": incidents.get(code, 0)}
        tile["endpoints"] += n
        tile["counts"][state] += n
        total["counts"][state] += n
        tile["confirmed"] += confirmed
        total["confirmed"] += confirmed
        total["endpoints"] += n
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
