"""Incidents nobody acknowledged in time: escalated once more, by SMS, to the next level up.

An incident still open (nobody acknowledged it) INCIDENT_ACK_SECONDS after it opened is escalated
once, during its session's escalation window, by the scheduler's `status.tick`:

- its first SMS went to the endpoint's own technical contacts (`Incident.notified`, an endpoint
  below the province): next come the province's focal contacts (`incidents.focal_phones`);
- otherwise (the province's own endpoint, whose contacts are the focal ones; nobody to text; a
  province without focal contacts): the event's duty phones (`Event.duty_phones`);
- nobody at that level either: recorded as escalated to nobody, once.

Never a flood: one SMS per person and tick naming how many incidents wait, urgent in the outbox
with the key `escalation:<first incident>:<phone>` (once). Each incident is claimed by a
conditional UPDATE (`… WHERE escalated_at IS NULL`), so two ticks never escalate it twice. Every
escalation is an audit entry (`incident.escalate`).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, insert, select, update

from coordinator.audit.models import AuditEntry
from coordinator.endpoints.models import Endpoint
from coordinator.endpoints.phones import FOREIGN, FOREIGN_NOTE, MOBILE, PhoneError, parse_phone
from coordinator.events.models import PUBLISHED, Event, EventSession
from coordinator.extensions import db
from coordinator.messages import N_, Message
from coordinator.outbox import services as outbox
from coordinator.sms.services import opted_out_among
from coordinator.status import texts, versions
from coordinator.status.incidents import (CHUNK, INCIDENT_KIND, OWN_TIERS, URGENT, _local_hhmm, _short_name,
                                          focal_phones, in_window)
from coordinator.status.models import EscalationLevel, Incident, IncidentState
from coordinator.units.models import ROOT_CODE, Unit

log = logging.getLogger(__name__)

NOT_A_MOBILE = N_("%(phone)s is not a mobile: an SMS cannot reach it")


def read_duty_phone(text: str) -> tuple[str | None, Message | None]:
    """A duty phone as an organizer typed it: (its E.164, None), or (None, why not). Registered
    into `events.plans` (which sits below `endpoints` and cannot parse phones itself)."""
    try:
        phone = parse_phone(text)
    except PhoneError as exc:
        return None, exc.msg
    if phone.type == FOREIGN:
        return None, Message(FOREIGN_NOTE, {"phone": text.strip()})
    if phone.type != MOBILE:
        return None, Message(NOT_A_MOBILE, {"phone": text.strip()})
    return phone.e164, None


def duty_phones(event: Event) -> list[str]:
    """The event's duty mobiles as stored, read again (anything unreadable left out, with a warning)."""
    out = []
    for raw in event.duty_phones or []:
        phone, problem = read_duty_phone(str(raw))
        if phone is None:
            log.warning("event %s: duty phone %r left out: %s", event.slug, raw, problem.text if problem else "")
        elif phone not in out:
            out.append(phone)
    return out


def ack_delay() -> timedelta:
    return timedelta(seconds=current_app.config["INCIDENT_ACK_SECONDS"])


def escalate_overdue(session: EventSession, now: datetime) -> int:
    """Escalate the session's incidents open for INCIDENT_ACK_SECONDS without anybody acknowledging
    them; returns how many. In the caller's transaction."""
    table = Incident.__table__
    cutoff = now - ack_delay()
    due = list(db.session.scalars(select(table.c.id).where(
        table.c.session_id == session.id, table.c.state == IncidentState.OPEN, table.c.escalated_at.is_(None),
        table.c.opened_at <= cutoff).order_by(table.c.id)))
    if not due:
        return 0
    claimed = []
    for i in range(0, len(due), CHUNK):  # one claimant wins each incident
        claimed += db.session.execute(update(table).where(
            table.c.id.in_(due[i:i + CHUNK]), table.c.state == IncidentState.OPEN, table.c.escalated_at.is_(None))
            .values(escalated_at=now).returning(table.c.id, table.c.endpoint_id, table.c.province_code, table.c.tier,
                                                table.c.notified)).all()
    if not claimed:
        return 0
    event = session.event
    names: dict[int, str] = {}
    ids = sorted(r[1] for r in claimed)
    for i in range(0, len(ids), CHUNK):
        names.update(db.session.execute(select(Endpoint.id, Endpoint.name).where(Endpoint.id.in_(ids[i:i + CHUNK]))).all())
    provinces = {r[2] for r in claimed if r[2] != ROOT_CODE}
    focal = focal_phones(event, provinces)
    duty = duty_phones(event)
    groups: dict[tuple[str, str], list] = {}  # (level, province or "") -> incidents
    for row in claimed:
        iid, eid, province, tier, notified = row
        if notified and tier not in OWN_TIERS and focal.get(province):
            key = (EscalationLevel.PROVINCE, province)
        elif duty:
            key = (EscalationLevel.DUTY, "")
        else:
            key = (EscalationLevel.NOBODY, "")
        groups.setdefault(key, []).append(row)
    place_names = {code: _short_name(name) for code, name in db.session.execute(select(Unit.code, Unit.name).where(
        Unit.structure == event.unit_structure, Unit.code.in_(sorted(provinces))))}
    recipients = {key: sorted(focal[key[1]]) if key[0] == EscalationLevel.PROVINCE else
                  duty if key[0] == EscalationLevel.DUTY else [] for key in groups}
    blocked = opted_out_among({p for people in recipients.values() for p in people})
    base = current_app.config["PUBLIC_BASE_URL"]
    hhmm = _local_hhmm(now, event.timezone)
    minutes = max(1, round(ack_delay().total_seconds() / 60))
    messages, marks, audits = [], [], []
    changes = versions.Changes()
    for (level, province), rows in groups.items():
        people = [p for p in recipients[(level, province)] if p not in blocked]
        rows.sort(key=lambda r: r[0])
        if people:
            if len(rows) == 1:
                link = f"{base}/events/{event.slug}/status/endpoints/{rows[0][1]}?session={session.kind}"
            else:
                link = (f"{base}/events/{event.slug}/status/incidents?session={session.kind}&state=open"
                        + (f"&province={province}" if province else ""))
            place = place_names.get(province, "Toàn quốc") if province else (
                place_names.get(rows[0][2], rows[0][2]) if len({r[2] for r in rows}) == 1 else "Toàn quốc")
            body = texts.overdue_text(hhmm=hhmm, minutes=minutes, place=place, total=len(rows), link=link,
                                      endpoints=[names.get(r[1], "") for r in rows])
            messages += [{"key": f"escalation:{rows[0][0]}:{phone}", "channel": "sms", "kind": INCIDENT_KIND,
                          "event_id": event.id, "recipient": phone, "priority": URGENT,
                          "payload": {"body": body, "name": "", "lang": "vi", "incidents": [r[0] for r in rows]}}
                         for phone in people]
        for iid, eid, code, _tier, _n in rows:
            marks.append({"_id": iid, "_level": level, "_n": len(people)})
            audits.append({"at": now, "actor_id": None, "actor_label": "escalation", "action": "incident.escalate",
                           "object_type": "endpoint", "object_id": str(eid),
                           "details": {"incident": iid, "session": session.kind, "event": event.slug, "level": level,
                                       "recipients": len(people), "province": province}})
            changes.add(code, False)
    db.session.execute(update(table).where(table.c.id == bindparam("_id")).values(
        escalation=bindparam("_level"), escalated=bindparam("_n")), marks,
        execution_options={"synchronize_session": False})
    outbox.enqueue(messages)
    db.session.execute(insert(AuditEntry.__table__), audits)
    versions.bump(session.id, changes)
    return len(claimed)


def escalate_all(now: datetime) -> int:
    """The scheduler's tick: overdue incidents of every published event's sessions in window
    (INCIDENT_ACK_SECONDS of 0 or less: none, the escalation is off)."""
    if current_app.config["INCIDENT_ACK_SECONDS"] <= 0:
        return 0
    escalated = 0
    for session in db.session.scalars(select(EventSession).join(Event, EventSession.event_id == Event.id)
                                      .where(Event.status == PUBLISHED)):
        if in_window(session, now):
            escalated += escalate_overdue(session, now)
    if escalated:
        db.session.commit()
    return escalated
