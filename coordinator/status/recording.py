"""Recording what probes, operators and contacts say, and deriving what the dashboards show.

Every write goes the same way, for one check or a sweep of 11,000 probes: append the events
(one Core INSERT), merge the new fact into each endpoint's `EndpointStatus` row, derive the shown
state with `rule.shown`, note the first evidence of connection inside the session, write the rows
(one INSERT for new ones, one UPDATE executemany with fixed columns for the others), open or
resolve incidents in bulk, and move the touched provinces' version counters; one commit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, insert, literal, select, update

from coordinator.endpoints.models import Endpoint
from coordinator.events.models import Event, EventSession
from coordinator.extensions import BULK_ROWS, db, dialect_insert, refresh_statistics
from coordinator.status import incidents, rule, versions
from coordinator.status.incidents import in_window  # the escalation window (re-exported)
from coordinator.status.models import READY, SOURCES, EndpointStatus, StatusEvent, StatusVersion
from coordinator.status.rule import CONNECTED, DEGRADED, FAILED, STATES, UNKNOWN
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit, province_code

PEOPLE = ("operator", "self", "sms")
LEAF_TIER = "commune"  # shown on its province's grouped page only as counts
READINESS_SOURCES = ("self", "sms")
CHUNK = 500

TABLE = EndpointStatus.__table__
DERIVED = ("state", "source", "changed_at", "hold_until", "last_event_id", "evidence_at", "evidence_source",
           "evidence_by", "heard_at")
# What tells that an endpoint is alive (`heard_at`): a probe it answered, an operator who saw or
# heard it, a contact's confirmation. A probe's timeout and an operator's "failed" are silence.
HEARD_STATES = (CONNECTED, DEGRADED, READY)
OBSERVATION = ("checked_at", "check_state", "audio", "video", "content", "note", "checked_by")
READINESS = ("confirmed_at", "confirmed_via")
REACHABILITY = ("probed_at", "probe_state", "probe_layer", "probe_code", "probe_rtt_ms", "probe_target",
                "probe_failures")
ALL = DERIVED + OBSERVATION + READINESS + REACHABILITY


class StatusError(ValueError):
    pass


def hold() -> timedelta:
    return timedelta(seconds=current_app.config["STATUS_HUMAN_HOLD_SECONDS"])


def _blank(endpoint_id: int, session_id: int, province: str, tier: str) -> dict:
    return {"id": None, "endpoint_id": endpoint_id, "session_id": session_id, "province_code": province, "tier": tier,
            "state": UNKNOWN, "source": "", "changed_at": None, "hold_until": None, "last_event_id": None,
            "checked_at": None, "check_state": "", "audio": None, "video": None, "content": None, "note": "",
            "checked_by": "", "confirmed_at": None, "confirmed_via": "", "probed_at": None, "probe_state": "",
            "probe_layer": "", "probe_code": None, "probe_rtt_ms": None, "probe_target": "", "probe_failures": 0,
            "evidence_at": None, "evidence_source": "", "evidence_by": "", "heard_at": None}



@dataclass
class Batch:
    """The rows of one write: the status rows it touches (as dicts), keyed by endpoint."""

    event: Event
    session: EventSession
    now: datetime
    rows: dict[int, dict] = field(default_factory=dict)
    before: dict[int, tuple] = field(default_factory=dict)  # what each row added to its tile before
    created: int = 0  # rows created blank by `load` (the first write of a session)
    changes: versions.Changes = field(default_factory=versions.Changes)

    @classmethod
    def load(cls, event: Event, session: EventSession, endpoint_ids, now: datetime) -> Batch:
        """Read the rows of these endpoints, locked for this transaction (missing ones created
        blank first); StatusError when an endpoint is not of the event.

        Two writers of one endpoint (a sweep and an operator's check) must not derive from a
        stale read: on PostgreSQL the rows are locked (SELECT … FOR UPDATE, in endpoint order, as
        every writer does: no deadlock); SQLite serialises writers, and the write lock is taken
        before anything is read. Missing rows are inserted with ON CONFLICT DO NOTHING, in endpoint
        order: two writers creating one at once both go on."""
        batch = cls(event, session, now)
        ids = sorted(set(endpoint_ids))
        postgres = db.session.get_bind().dialect.name == "postgresql"
        if not postgres:  # a write statement takes SQLite's write lock, even one that changes nothing
            db.session.execute(update(StatusVersion.__table__).where(literal(False)).values(version=0))
        existing: set[int] = set()
        for i in range(0, len(ids), CHUNK):
            existing.update(db.session.scalars(select(TABLE.c.endpoint_id).where(
                TABLE.c.session_id == session.id, TABLE.c.endpoint_id.in_(ids[i:i + CHUNK]))))
        missing = [i for i in ids if i not in existing]
        found = {}
        for i in range(0, len(missing), CHUNK):
            found.update({eid: (path, tier) for eid, path, tier in db.session.execute(
                select(Endpoint.id, Unit.path, Unit.tier).join(Unit, Endpoint.unit_id == Unit.id)
                .where(Endpoint.id.in_(missing[i:i + CHUNK]), Endpoint.event_id == event.id))})
        absent = [i for i in missing if i not in found]
        if absent:
            raise StatusError(f"no endpoint {absent[0]} in event {event.slug}")
        if found:
            blanks = [_blank(eid, session.id, province_code(path), tier) for eid, (path, tier) in sorted(found.items())]
            for row in blanks:
                del row["id"]
            db.session.execute(dialect_insert()(TABLE).on_conflict_do_nothing(
                index_elements=["endpoint_id", "session_id"]), blanks)
            batch.created = len(blanks)
        columns = [TABLE.c[c] for c in ("id", "endpoint_id", "session_id", "province_code", "tier") + ALL]
        for i in range(0, len(ids), CHUNK):
            stmt = select(*columns).where(TABLE.c.session_id == session.id, TABLE.c.endpoint_id.in_(ids[i:i + CHUNK]))
            if postgres:
                stmt = stmt.order_by(TABLE.c.endpoint_id).with_for_update()
            for row in db.session.execute(stmt).mappings():
                batch.rows[row["endpoint_id"]] = dict(row)
        for endpoint_id, row in batch.rows.items():
            batch.before[endpoint_id] = _tile_part(row)
        return batch

    def derive(self, row: dict) -> None:
        """The shown state from the row's facts, at `now`."""
        shown = rule.shown(probe_state=row["probe_state"], probed_at=row["probed_at"],
                           check_state=row["check_state"], checked_at=row["checked_at"], now=self.now, hold=hold())
        if shown.state != row["state"]:
            row["changed_at"] = self.now
        row["state"], row["source"], row["hold_until"] = shown.state, shown.source, shown.hold_until

    def evidence(self, row: dict, source: str, state: str, by: str) -> None:
        """The first evidence of connection inside the session itself (not its window before)."""
        s = self.session
        if row["evidence_at"] is None and s.starts_at <= self.now <= s.ends_at and rule.is_evidence(source, state):
            row["evidence_at"], row["evidence_source"], row["evidence_by"] = self.now, source, by

    def heard(self, row: dict, state: str) -> None:
        """The endpoint was heard from now (any source), if `state` says it is alive."""
        if state in HEARD_STATES:
            row["heard_at"] = self.now

    def write(self, columns: tuple[str, ...]) -> None:
        """Update the rows' `columns` and the derived ones (one executemany); note what changed."""
        updates = []
        update_columns = tuple(dict.fromkeys(DERIVED + columns))
        for endpoint_id, row in self.rows.items():
            tile = _tile_part(row) != self.before[endpoint_id]
            self.changes.add(row["province_code"], tile, head=tile or row["tier"] != LEAF_TIER)
            updates.append({"_id": row["id"], **{f"_{c}": row[c] for c in update_columns}})
        if updates:
            updates.sort(key=lambda u: u["_id"])
            db.session.execute(update(TABLE).where(TABLE.c.id == bindparam("_id"))
                               .values(**{c: bindparam(f"_{c}") for c in update_columns}), updates,
                               execution_options={"synchronize_session": False})

    def follow_incidents(self, failures: list[tuple[int, str, str, str, int | None]], by: str = "probe") -> int:
        """Open the incidents of `failures` (endpoint, cause, detail, layer, code) and resolve those
        of endpoints now shown connected (`by`: who saw them connected); returns how many opened."""
        opened = incidents.open_for(self.session, failures, self.now, self.changes)
        connected = [eid for eid, row in self.rows.items() if row["state"] == CONNECTED]
        incidents.resolve_for(self.session, connected, self.now, self.changes, {
            eid: self.rows[eid]["province_code"] for eid in connected}, by=by)
        return len(opened)

    def finish(self, commit: bool = True) -> None:
        versions.bump(self.session.id, self.changes)
        if commit:
            db.session.commit()
            if self.created >= BULK_ROWS:  # the first sweep of a session: the dashboards' plans need statistics
                refresh_statistics("endpoint_status", "status_events")


def _tile_part(row: dict) -> tuple:
    """What a row adds to its province's tile: its state, readiness, when it was last probed."""
    return row["state"], row["confirmed_at"] is not None, row["probed_at"]


RETURNING_ROWS = 100  # above this, ids are read back by one query instead of RETURNING


def _insert_events(rows: list[dict]) -> list[tuple[int, int]]:
    """Append events with one Core INSERT (every row has every column: one statement, not one per
    pattern of empty columns); (event id, endpoint id) of each endpoint's last event given.

    A sweep's thousands of events go through the driver's executemany (PostgreSQL: pipelined), and
    their ids are read back in one query: RETURNING over a batch that large makes psycopg rewrite
    an uncached thousand-row statement, which cost 1.5 s of a 2 s national sweep."""
    if not rows:
        return []
    table = StatusEvent.__table__
    if len(rows) <= RETURNING_ROWS:
        result = db.session.execute(insert(table).returning(table.c.id, table.c.endpoint_id,
                                                            sort_by_parameter_order=True), rows)
        return [(r[0], r[1]) for r in result]
    floor = db.session.scalar(select(func.max(table.c.id))) or 0
    db.session.execute(insert(table), rows)
    ids = sorted({r["endpoint_id"] for r in rows})
    session_id = rows[0]["session_id"]
    found = []
    for i in range(0, len(ids), CHUNK):
        found += db.session.execute(select(func.max(table.c.id), table.c.endpoint_id).where(
            table.c.id > floor, table.c.session_id == session_id, table.c.endpoint_id.in_(ids[i:i + CHUNK]))
            .group_by(table.c.endpoint_id)).all()
    return [(r[0], r[1]) for r in found]


def _event_row(event: Event, session: EventSession, endpoint_id: int, source: str, state: str, now: datetime, *,
               audio=None, video=None, content=None, note: str = "", layer: str = "", code=None, rtt_ms=None,
               target: str = "", actor_id=None, actor_label: str = "") -> dict:
    return {"event_id": event.id, "endpoint_id": endpoint_id, "session_id": session.id, "source": source,
            "state": state, "audio": audio, "video": video, "content": content, "note": note, "layer": layer,
            "code": code, "rtt_ms": rtt_ms, "target": target, "actor_id": actor_id, "actor_label": actor_label,
            "created_at": now}


# --- people ------------------------------------------------------------------------------------------

def record(endpoint: Endpoint, session: EventSession, source: str, state: str, *, audio: bool | None = None,
           video: bool | None = None, content: bool | None = None, note: str = "", actor=None,
           actor_label: str = "", now: datetime | None = None, commit: bool = True) -> StatusEvent:
    """A person's word on one endpoint: an operator's check (or a script's, through the API), or a
    contact's confirmation (source "self" or "sms": readiness, whatever `state` says). Returns the
    appended event."""
    if state not in STATES:
        raise StatusError(f"unknown state {state!r}; known: {', '.join(STATES)}")
    if source not in SOURCES or source == "probe":
        raise StatusError(f"unknown source {source!r}; known: {', '.join(PEOPLE)}")
    if session.event_id != endpoint.event_id:
        raise StatusError("the session is not of the endpoint's event")
    event = session.event
    now = now or utcnow()
    if source in READINESS_SOURCES:
        confirm_ready(event, session, [endpoint.id], source, note=note, actor_label=actor_label, now=now,
                      commit=commit)
        return db.session.scalar(select(StatusEvent).where(StatusEvent.endpoint_id == endpoint.id,
                                                           StatusEvent.session_id == session.id)
                                 .order_by(StatusEvent.id.desc()).limit(1))
    check = {"endpoint_id": endpoint.id, "state": state, "audio": audio, "video": video, "content": content,
             "note": note}
    ids, rows = _checks(event, session, [check], actor=actor, now=now, commit=False)
    # The event as appended (not read back: one query less on the busiest path).
    found = StatusEvent(id=ids[0], **rows[0])
    if commit:
        db.session.commit()
    return found


def record_many(event: Event, session: EventSession, checks: list[dict], *, actor=None, source: str = "operator",
                now: datetime | None = None) -> int:
    """Several checks at once (a province's report, a monitoring system), all or none: every one is
    appended; each endpoint's observation is its last check. With source "self"/"sms" they are
    confirmations of readiness. StatusError (nothing written) when an endpoint is not of the event."""
    now = now or utcnow()
    if source not in SOURCES or source == "probe":
        raise StatusError(f"unknown source {source!r}")
    for c in checks:
        if c["state"] not in STATES:
            raise StatusError(f"unknown state {c['state']!r}")
    if source in READINESS_SOURCES:
        confirm_ready(event, session, [c["endpoint_id"] for c in checks], source, actor_label=source, now=now)
        return len(checks)
    _checks(event, session, checks, actor=actor, now=now, commit=True)
    return len(checks)


def _checks(event: Event, session: EventSession, checks: list[dict], *, actor, now: datetime,
            commit: bool) -> tuple[list[int], list[dict]]:
    batch = Batch.load(event, session, [c["endpoint_id"] for c in checks], now)
    label = getattr(actor, "email", None) or "operator"
    events = [_event_row(event, session, c["endpoint_id"], "operator", c["state"], now, audio=c.get("audio"),
                         video=c.get("video"), content=c.get("content"), note=(c.get("note") or "").strip()[:2000],
                         actor_id=getattr(actor, "id", None), actor_label=label) for c in checks]
    ids = _insert_events(events)
    last: dict[int, dict] = {}
    for c in events:  # in order: each endpoint's observation is its last check
        row = batch.rows[c["endpoint_id"]]
        row["checked_at"], row["check_state"], row["checked_by"] = now, c["state"], label
        row["audio"], row["video"], row["content"] = c["audio"], c["video"], c["content"]
        if c["note"]:
            row["note"] = c["note"]
        batch.derive(row)
        batch.evidence(row, "operator", c["state"], label)
        batch.heard(row, c["state"])
        last[c["endpoint_id"]] = c
    for event_id, endpoint_id in ids:
        batch.rows[endpoint_id]["last_event_id"] = event_id
    failures = [(endpoint_id, "operator", c["note"], "", None) for endpoint_id, c in last.items()
                if c["state"] == FAILED and batch.rows[endpoint_id]["state"] == FAILED and in_window(session, now)]
    batch.write(OBSERVATION)
    batch.follow_incidents(failures, by=label)
    batch.finish(commit)
    return [i for i, _ in ids], events


def confirm_ready(event: Event, session: EventSession, endpoint_ids: list[int], source: str, *, note: str = "",
                  actor_label: str = "", now: datetime | None = None, commit: bool = True) -> int:
    """Contacts confirmed their endpoints ready (the one-tap link: "self"; an SMS reply: "sms").
    Appended as readiness events; readiness never changes the connection state. Returns how many
    endpoints were confirmed for the first time."""
    now = now or utcnow()
    batch = Batch.load(event, session, endpoint_ids, now)
    via = "link" if source == "self" else "sms"
    note = note or ("xác nhận sẵn sàng qua tin nhắn" if via == "sms" else "xác nhận sẵn sàng qua đường dẫn")
    ids = _insert_events([_event_row(event, session, eid, source, READY, now, note=note,
                                     actor_label=actor_label or source) for eid in endpoint_ids])
    first = 0
    for endpoint_id in dict.fromkeys(endpoint_ids):
        row = batch.rows[endpoint_id]
        if row["confirmed_at"] is None:
            row["confirmed_at"], row["confirmed_via"] = now, via
            first += 1
        batch.heard(row, READY)
        batch.derive(row)  # unchanged by readiness; a hold may have ended meanwhile
    for event_id, endpoint_id in ids:
        batch.rows[endpoint_id]["last_event_id"] = event_id
    batch.write(READINESS)
    batch.follow_incidents([])
    batch.finish(commit)
    return first


# --- probes ------------------------------------------------------------------------------------------

@dataclass
class ProbeSummary:
    probed: int = 0
    connected: int = 0
    degraded: int = 0
    failed: int = 0
    unknown: int = 0
    events: int = 0  # probe verdicts that changed
    incidents: int = 0
    layers: dict[str, int] = field(default_factory=dict)
    inserted: int = 0  # status rows created (the first sweep of a session)


def after_bulk_write(summary: ProbeSummary) -> None:
    """After the commit of a first sweep: the dashboards' plans need fresh statistics."""
    if summary.inserted >= BULK_ROWS:
        refresh_statistics("endpoint_status", "status_events")


def record_probes(event: Event, session: EventSession, results, now: datetime | None = None,
                  commit: bool = True) -> ProbeSummary:
    """A sweep's results, in one transaction and a few statements whatever their number. Every
    result updates its endpoint's reachability and the time of it; a verdict that changed (state,
    layer or code) is also appended as an event."""
    now = now or utcnow()
    summary = ProbeSummary()
    results = [r for r in results if r.state != UNKNOWN or r.layer]
    if not results:
        return summary
    batch = Batch.load(event, session, [r.key for r in results], now)
    threshold = current_app.config["PROBE_FAILURES_TO_ESCALATE"]
    window = in_window(session, now)
    new_events, failures = [], []
    for r in results:
        summary.probed += 1
        setattr(summary, r.state, getattr(summary, r.state) + 1)
        summary.layers[r.layer] = summary.layers.get(r.layer, 0) + 1
        row = batch.rows[r.key]
        changed = row["probed_at"] is None or (row["probe_state"], row["probe_layer"], row["probe_code"]) != (
            r.state, r.layer, r.code)
        row["probe_failures"] = row["probe_failures"] + 1 if r.state == FAILED else 0
        row["probed_at"], row["probe_state"], row["probe_layer"] = now, r.state, r.layer
        row["probe_code"], row["probe_rtt_ms"], row["probe_target"] = r.code, r.rtt_ms, r.target[:255]
        if changed:
            new_events.append(_event_row(event, session, r.key, "probe", r.state, now, note=r.detail[:2000],
                                         layer=r.layer, code=r.code, rtt_ms=r.rtt_ms, target=r.target[:255],
                                         actor_label="probe"))
        batch.derive(row)
        batch.evidence(row, "probe", r.state, "probe")
        batch.heard(row, r.state)
        if window and row["state"] == FAILED and row["source"] == "probe" and row["probe_failures"] >= threshold:
            failures.append((r.key, "probe", f"{row['probe_failures']} probes failed in a row: {r.detail}", r.layer,
                             r.code))
    for event_id, endpoint_id in _insert_events(new_events):
        batch.rows[endpoint_id]["last_event_id"] = event_id
    summary.events = len(new_events)
    batch.write(REACHABILITY)
    summary.incidents = batch.follow_incidents(failures)
    summary.inserted = batch.created
    batch.finish(commit)
    return summary


# --- holds -------------------------------------------------------------------------------------------

def expire_holds(now: datetime | None = None) -> int:
    """Operators' observations whose hold has ended: the probes decide again (incidents follow).
    Run by the scheduler every few seconds and before the dashboards answer; returns the rows changed."""
    now = now or utcnow()
    due = db.session.execute(select(TABLE.c.session_id, TABLE.c.endpoint_id).where(
        TABLE.c.hold_until.is_not(None), TABLE.c.hold_until <= now)).all()
    if not due:
        return 0
    by_session: dict[int, list[int]] = {}
    for session_id, endpoint_id in due:
        by_session.setdefault(session_id, []).append(endpoint_id)
    threshold = current_app.config["PROBE_FAILURES_TO_ESCALATE"]
    for session_id, endpoint_ids in by_session.items():
        session = db.session.get(EventSession, session_id)
        batch = Batch.load(session.event, session, endpoint_ids, now)
        failures = []
        for endpoint_id, row in batch.rows.items():
            batch.derive(row)
            if (row["state"] == FAILED and row["source"] == "probe" and row["probe_failures"] >= threshold
                    and in_window(session, now)):
                failures.append((endpoint_id, "probe", f"{row['probe_failures']} probes failed in a row",
                                 row["probe_layer"], row["probe_code"]))
        batch.write(())
        batch.follow_incidents(failures)
        batch.finish()
    return len(due)


def has_expired_holds(now: datetime | None = None) -> bool:
    """One index lookup: is an operator's hold over and not yet given back to the probes?"""
    return db.session.scalar(select(TABLE.c.id).where(TABLE.c.hold_until.is_not(None),
                                                      TABLE.c.hold_until <= (now or utcnow())).limit(1)) is not None
