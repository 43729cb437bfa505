"""Incidents and their escalation: one SMS per outage to the people who can fix it, never a flood.

- An endpoint's own technical contacts get one SMS for its incident, naming what failed in
  words ("không trả lời SIP"). A person listed at several endpoints that fail together gets one
  SMS for all of them; an endpoint that fails again within ESCALATION_DIGEST_SECONDS of an
  incident already texted (a flapping line) opens a new incident but texts nobody again.
- A province's focal contacts (the technical contacts of its province-tier endpoint, and any
  contact marked focal in the province) get ONE digest per province and escalation window for all
  of the province's new incidents ("Hà Nội: 125 điểm cầu mất kết nối (12 huyện, 113 xã), xem: …"),
  nothing when there is nothing new; the first digest goes at once, later incidents within the
  window wait for its end (the scheduler's `status.tick` sends them). Incidents that recover before
  their digest is due are never reported.
- The national operators (ESCALATION_NATIONAL_PHONES) get a national digest the same way, when set.
- An endpoint connected again resolves its incident (reason "recovered"); that sends nothing.
  People work incidents too (acknowledge, reassign, resolve by hand, notes: `lifecycle`); one
  nobody acknowledged in time is escalated once more (`overdue`).

Opening is one INSERT … ON CONFLICT (open_key) DO NOTHING RETURNING per thousand incidents (a
concurrent opener wins quietly), with the outbox rows and audit entries written in bulk.
Every SMS fits two segments (`texts.fit`).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, case, func, insert, or_, select, update

from coordinator.audit.models import AuditEntry
from coordinator.endpoints.models import Contact, Endpoint
from coordinator.endpoints.phones import PhoneError, parse_phone
from coordinator.events.models import PUBLISHED, Event, EventSession
from coordinator.extensions import db, dialect_insert
from coordinator.outbox import services as outbox
from coordinator.sms.services import opted_out_among
from coordinator.status import texts
from coordinator.status.models import EndpointStatus, Incident, IncidentDigest, IncidentState, Resolution
from coordinator.units.models import ROOT_CODE, Unit, province_code

log = logging.getLogger(__name__)

INCIDENT_KIND = "incident"
URGENT = 10  # outbox priority: dispatched before any queued reminder or invitation
NATIONAL = "national"
OWN_TIERS = ("province", "central")  # their incidents go to their own contacts, who are the focal ones
CHUNK = 500


def window() -> timedelta:
    return timedelta(seconds=current_app.config["ESCALATION_DIGEST_SECONDS"])


def in_window(session: EventSession, now: datetime) -> bool:
    """Inside the escalation window of a session: from STATUS_WINDOW_BEFORE_SECONDS before it to its end."""
    before = timedelta(seconds=current_app.config["STATUS_WINDOW_BEFORE_SECONDS"])
    return session.starts_at - before <= now <= session.ends_at



def _local_hhmm(now: datetime, tz: str) -> str:
    return now.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def open_for(session: EventSession, failures: list[tuple[int, str, str, str, int | None]], now: datetime,
             changes) -> list[int]:
    """Open incidents for failures (endpoint id, cause, detail, layer, code) that have none open;
    text their people; note the provinces in `changes`. In the caller's transaction; returns the
    endpoints whose incident opened now."""
    if not failures:
        return []
    wanted: dict[int, tuple] = {}
    for failure in failures:
        wanted.setdefault(failure[0], failure)
    # An outage lasting several sweeps fails the same endpoints every time: those already open are
    # dropped with one read of the session's open incidents, not thousands of conflicting inserts.
    already = set(open_among(session, list(wanted)))
    wanted = {eid: f for eid, f in wanted.items() if eid not in already}
    # Failed probes of an outage someone resolved by hand open nothing; an operator's "failed" does.
    settled = settled_by_hand(session, [eid for eid, f in wanted.items() if f[1] == "probe"])
    wanted = {eid: f for eid, f in wanted.items() if eid not in settled}
    if not wanted:
        return []
    event = session.event
    info: dict[int, tuple] = {}
    ids = sorted(wanted)
    for i in range(0, len(ids), CHUNK):
        for eid, name, protocol, path, tier in db.session.execute(
                select(Endpoint.id, Endpoint.name, Endpoint.protocol, Unit.path, Unit.tier)
                .join(Unit, Endpoint.unit_id == Unit.id).where(Endpoint.id.in_(ids[i:i + CHUNK]))):
            info[eid] = (name, protocol or "", province_code(path), tier)
    rows = [{"event_id": event.id, "endpoint_id": eid, "session_id": session.id, "open_key": f"{eid}:{session.id}",
             "cause": cause, "detail": (detail or "")[:2000], "layer": layer or "", "code": code,
             "protocol": info[eid][1], "province_code": info[eid][2], "tier": info[eid][3], "opened_at": now,
             "notified": 0}
            for eid, (_, cause, detail, layer, code) in wanted.items() if eid in info]
    table = Incident.__table__
    # One pipelined executemany; a concurrent opener's row wins quietly (ON CONFLICT DO NOTHING on
    # the open key). Ours are then the open ones of these endpoints opened at `now`: RETURNING over
    # a thousand-row VALUES costs more to compile than the insert itself.
    db.session.execute(dialect_insert()(table).on_conflict_do_nothing(index_elements=["open_key"]), rows)
    opened: dict[int, int] = {}  # endpoint -> incident
    ids = [r["endpoint_id"] for r in rows]
    for i in range(0, len(ids), CHUNK):
        opened.update({endpoint_id: incident_id for incident_id, endpoint_id in db.session.execute(
            select(table.c.id, table.c.endpoint_id).where(
                table.c.session_id == session.id, table.c.endpoint_id.in_(ids[i:i + CHUNK]),
                table.c.resolved_at.is_(None), table.c.opened_at == now))})
    if not opened:
        return []
    by_endpoint = {r["endpoint_id"]: r for r in rows}
    for eid in opened:
        changes.add(info[eid][2], True)
    messages, notified = _own_messages(event, session, opened, by_endpoint, info, now)
    if notified:
        db.session.execute(update(table).where(table.c.id == bindparam("_id")).values(notified=bindparam("_n")),
                           [{"_id": i, "_n": n} for i, n in notified.items()],
                           execution_options={"synchronize_session": False})
    outbox.enqueue(messages)
    db.session.execute(insert(AuditEntry.__table__), [
        {"at": now, "actor_id": None, "actor_label": by_endpoint[eid]["cause"], "action": "incident.open",
         "object_type": "endpoint", "object_id": str(eid),
         "details": {"incident": opened[eid], "session": session.kind, "detail": by_endpoint[eid]["detail"][:500],
                     "layer": by_endpoint[eid]["layer"], "notified": notified.get(opened[eid], 0)}}
        for eid in opened])
    flush_digests(session, now, provinces={info[eid][2] for eid in opened})
    return list(opened)


def _own_messages(event: Event, session: EventSession, opened: dict[int, int], rows: dict[int, dict],
                  info: dict[int, tuple], now: datetime) -> tuple[list[dict], dict[int, int]]:
    """The SMS to the failed endpoints' own technical contacts: one per person (naming every one of
    their endpoints that failed now), none for an endpoint texted within the escalation window,
    none to a province's focal contact about the province's other endpoints (the digest tells them)."""
    recent = set()
    ids = list(opened)
    since = now - window()
    for i in range(0, len(ids), CHUNK):
        recent.update(db.session.scalars(select(Incident.endpoint_id).where(
            Incident.session_id == session.id, Incident.endpoint_id.in_(ids[i:i + CHUNK]), Incident.notified > 0,
            Incident.opened_at >= since)))  # the incidents opened now have notified 0 still
    to_text = [eid for eid in ids if eid not in recent]
    people: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for i in range(0, len(to_text), CHUNK):
        for eid, phone, name in db.session.execute(
                select(Contact.endpoint_id, Contact.phone, Contact.name).where(
                    Contact.endpoint_id.in_(to_text[i:i + CHUNK]), Contact.role == "technical",
                    Contact.phone_type == "mobile").order_by(Contact.id)):
            people.setdefault(phone, []).append(eid)
            names.setdefault(phone, name)
    focal = focal_phones(event, {info[eid][2] for eid in to_text})
    blocked = opted_out_among(set(people))
    hhmm = _local_hhmm(now, event.timezone)
    support = f" Hỗ trợ: {event.organizer_phone}." if event.organizer_phone else ""
    messages, notified = [], {}
    for phone, endpoints in people.items():
        if phone in blocked:
            continue
        # A focal contact hears of the province's other endpoints in its digest.
        endpoints = [e for e in endpoints if info[e][3] in ("province", "central")
                     or phone not in focal.get(info[e][2], set())]
        if not endpoints:
            continue
        first = endpoints[0]
        if len(endpoints) == 1:
            row = rows[first]
            body = texts.incident_text(hhmm=hhmm, endpoint=info[first][0], cause=row["cause"], layer=row["layer"],
                                       code=row["code"], protocol=info[first][1], support=support)
        else:
            body = texts.fit(f"SỰ CỐ {hhmm}: {len(endpoints)} điểm cầu mất kết nối: "
                             + ", ".join(info[e][0] for e in endpoints[:3]) + ("…" if len(endpoints) > 3 else "")
                             + f". Đề nghị kiểm tra ngay.{support}")
        messages.append({"key": f"{INCIDENT_KIND}:{opened[first]}:{phone}", "channel": "sms", "kind": INCIDENT_KIND,
                         "event_id": event.id, "recipient": phone, "priority": URGENT,
                         "payload": {"body": body, "name": names[phone], "lang": "vi",
                                     "incidents": [opened[e] for e in endpoints]}})
        for e in endpoints:
            notified[opened[e]] = notified.get(opened[e], 0) + 1
    return messages, notified


def focal_phones(event: Event, provinces: set[str]) -> dict[str, set[str]]:
    """Province code -> the mobiles of its focal contacts: the technical contacts of the province's
    own endpoint, and every contact marked focal in the province. Two queries."""
    provinces = {p for p in provinces if p != ROOT_CODE}
    out: dict[str, set[str]] = {p: set() for p in provinces}
    if not provinces:
        return out
    base = (select(Unit.path, Contact.phone).join(Endpoint, Contact.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == event.id, Unit.structure == event.unit_structure,
                   Contact.phone_type == "mobile"))
    own = base.where(Unit.code.in_(sorted(provinces)), Unit.tier == "province", Contact.role == "technical")
    marked = base.where(Contact.focal.is_(True), or_(*[Unit.path.startswith(f"/{ROOT_CODE}/{p}/") for p in provinces]))
    for stmt in (own, marked):
        for path, phone in db.session.execute(stmt):
            code = province_code(path)
            if code in out:
                out[code].add(phone)
    return out


def open_among(session: EventSession, endpoint_ids: list[int]) -> dict[int, int]:
    """Endpoint -> its open incident, among these endpoints: an indexed lookup per 500, or for a
    sweep's thousands one read of the session's open incidents."""
    found: dict[int, int] = {}
    ids = sorted(set(endpoint_ids))
    if len(ids) > 4 * CHUNK:
        wanted = set(ids)
        return {e: i for e, i in db.session.execute(select(Incident.endpoint_id, Incident.id).where(
            Incident.session_id == session.id, Incident.resolved_at.is_(None))) if e in wanted}
    for i in range(0, len(ids), CHUNK):
        found.update(db.session.execute(select(Incident.endpoint_id, Incident.id).where(
            Incident.session_id == session.id, Incident.resolved_at.is_(None),
            Incident.endpoint_id.in_(ids[i:i + CHUNK]))).all())
    return found


def resolve_for(session: EventSession, endpoint_ids: list[int], now: datetime, changes,
                provinces: dict[int, str], by: str = "probe") -> int:
    """Resolve the open incidents (acknowledged or not) of these endpoints: connected again,
    reason "recovered", an audit entry each (`by`: who saw it connected). No SMS. One resolved by
    hand meanwhile by someone else is left as they resolved it."""
    if not endpoint_ids:
        return 0
    open_ = open_among(session, endpoint_ids)
    closing = sorted(open_.values())
    closed: list[tuple[int, int]] = []
    table = Incident.__table__
    for i in range(0, len(closing), CHUNK):
        closed += db.session.execute(
            update(table).where(table.c.id.in_(closing[i:i + CHUNK]), table.c.resolved_at.is_(None))
            .values(resolved_at=now, open_key=None, state=IncidentState.RESOLVED, resolution=Resolution.RECOVERED)
            .returning(table.c.id, table.c.endpoint_id)).all()
    for e in open_:
        changes.add(provinces[e], True)
    if closed:
        db.session.execute(insert(AuditEntry.__table__), [
            {"at": now, "actor_id": None, "actor_label": by, "action": "incident.resolve", "object_type": "endpoint",
             "object_id": str(eid), "details": {"incident": iid, "session": session.kind, "event": session.event.slug,
                                                "how": Resolution.RECOVERED}}
            for iid, eid in closed])
    return len(closed)


def settled_by_hand(session: EventSession, endpoint_ids: list[int]) -> set[int]:
    """Endpoints whose incident was resolved by hand during the outage they are still in (their
    state has not changed since): failed probes do not open it again."""
    found: set[int] = set()
    ids = sorted(set(endpoint_ids))
    status = EndpointStatus.__table__
    for i in range(0, len(ids), CHUNK):
        found.update(db.session.scalars(
            select(Incident.endpoint_id).join(status, (status.c.endpoint_id == Incident.endpoint_id)
                                              & (status.c.session_id == Incident.session_id))
            .where(Incident.session_id == session.id, Incident.endpoint_id.in_(ids[i:i + CHUNK]),
                   Incident.resolution == Resolution.BY_HAND, Incident.resolved_at >= status.c.changed_at)))
    return found


# --- digests -------------------------------------------------------------------------------------

def flush_digests(session: EventSession, now: datetime, provinces: set[str] | None = None) -> list[IncidentDigest]:
    """Send the digests that are due: for each province (and the nation, when national phones are
    set) with open incidents not yet reported, unless a digest went to it within the window. A
    constant number of queries however many provinces are due at once."""
    event = session.event
    pending = [code for code, _ in db.session.execute(
        select(Incident.province_code, func.count()).where(
            Incident.session_id == session.id, Incident.resolved_at.is_(None), Incident.digest_id.is_(None),
            Incident.tier.not_in(OWN_TIERS))
        .group_by(Incident.province_code)) if provinces is None or code in provinces]
    since = now - window()
    recent = set(db.session.scalars(select(IncidentDigest.scope).where(
        IncidentDigest.session_id == session.id, IncidentDigest.created_at > since)))
    due = sorted(code for code in pending if code not in recent)
    made = _digests(event, session, due, now) if due else []
    phones = national_phones()
    if phones and NATIONAL not in recent and db.session.scalar(select(Incident.id).where(
            Incident.session_id == session.id, Incident.resolved_at.is_(None),
            Incident.national_digest_id.is_(None)).limit(1)) is not None:
        made += _digests(event, session, [NATIONAL], now, phones)
    return made


def national_phones() -> list[str]:
    """ESCALATION_NATIONAL_PHONES as E.164 mobiles (anything else is left out, with a warning)."""
    raw = current_app.config.get("ESCALATION_NATIONAL_PHONES") or ""
    out = []
    for part in raw.replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            phone = parse_phone(part)
        except PhoneError as exc:
            log.warning("ESCALATION_NATIONAL_PHONES: %r left out: %s", part, exc.msg)
            continue
        if phone.type == "mobile":
            out.append(phone.e164)
        elif phone.type == "foreign":
            log.warning("ESCALATION_NATIONAL_PHONES: %r is a foreign number, which the Vietnamese SMS sender "
                        "cannot reach: left out", part)
        else:
            log.warning("ESCALATION_NATIONAL_PHONES: %r is not a mobile: left out", part)
    return out


def _digests(event: Event, session: EventSession, scopes: list[str], now: datetime,
             phones: list[str] | None = None) -> list[IncidentDigest]:
    """One digest per scope (province codes, or NATIONAL alone), covering that scope's open
    incidents not yet reported: rows, marks on the incidents, SMS and audit entries in bulk."""
    national = scopes == [NATIONAL]
    column = Incident.national_digest_id if national else Incident.digest_id
    digests = {scope: IncidentDigest(event_id=event.id, session_id=session.id, scope=scope, created_at=now,
                                     by_tier={}, body="") for scope in scopes}
    db.session.add_all(digests.values())
    db.session.flush()
    stmt = update(Incident).where(Incident.session_id == session.id, Incident.resolved_at.is_(None), column.is_(None))
    if national:
        stmt = stmt.values({column.key: digests[NATIONAL].id})
    else:
        stmt = stmt.where(Incident.province_code.in_(scopes), Incident.tier.not_in(OWN_TIERS)).values(
            {column.key: case({s: d.id for s, d in digests.items()}, value=Incident.province_code)})
    counts: dict[str, dict[str, int]] = {scope: {} for scope in scopes}
    for code, tier in db.session.execute(stmt.returning(Incident.province_code, Incident.tier),
                                         execution_options={"synchronize_session": False}):
        by_tier = counts[NATIONAL if national else code]
        by_tier[tier] = by_tier.get(tier, 0) + 1
    base = current_app.config["PUBLIC_BASE_URL"]
    if national:
        names, recipients = {NATIONAL: "Toàn quốc"}, {NATIONAL: list(phones or [])}
    else:
        names = {code: _short_name(name) for code, name in db.session.execute(select(Unit.code, Unit.name).where(
            Unit.structure == event.unit_structure, Unit.code.in_(scopes)))}
        focal = focal_phones(event, set(scopes))
        recipients = {scope: sorted(focal.get(scope, set())) for scope in scopes}
    blocked = opted_out_among({p for people in recipients.values() for p in people})
    hhmm = _local_hhmm(now, event.timezone)
    made, messages, audits = [], [], []
    for scope, digest in digests.items():
        by_tier = counts[scope]
        if not by_tier:  # resolved meanwhile by another writer: nothing to report
            db.session.delete(digest)
            continue
        total = sum(by_tier.values())
        link = (f"{base}/events/{event.slug}/status/incidents" if national
                else f"{base}/events/{event.slug}/status/{scope}?filter=failed")
        people = [p for p in recipients.get(scope, []) if p not in blocked]
        body = texts.digest_text(hhmm=hhmm, place=names.get(scope, scope), total=total, by_tier=by_tier, link=link)
        digest.incidents, digest.by_tier, digest.recipients, digest.body = total, by_tier, len(people), body
        messages += [{"key": f"digest:{digest.id}:{phone}", "channel": "sms", "kind": INCIDENT_KIND,
                      "event_id": event.id, "recipient": phone, "priority": URGENT,
                      "payload": {"body": body, "name": "", "lang": "vi", "digest": digest.id}} for phone in people]
        audits.append({"at": now, "actor_id": None, "actor_label": "escalation", "action": "incident.digest",
                       "object_type": "event", "object_id": event.slug,
                       "details": {"scope": scope, "session": session.kind, "incidents": total,
                                   "recipients": len(people)}})
        made.append(digest)
    outbox.enqueue(messages)
    if audits:
        db.session.execute(insert(AuditEntry.__table__), audits)
    return made


def _short_name(name: str) -> str:
    for prefix in ("Thành phố ", "Tỉnh "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def flush_all(now: datetime) -> int:
    """The scheduler's tick: digests due in every published event's sessions under way (in window)."""
    made = 0
    for session in db.session.scalars(select(EventSession).join(Event, EventSession.event_id == Event.id)
                                      .where(Event.status == PUBLISHED)):
        if in_window(session, now):
            made += len(flush_digests(session, now))
    if made:
        db.session.commit()
    return made
