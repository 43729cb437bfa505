"""Keeping every recipient's calendar in line with the event: which invitations, updates and
cancellations to queue. Callable without a request; runs inside the caller's transaction, so the
change (a published event, a moved session, a removed contact) and the messages it calls for are
committed together or not at all (the transactional outbox).

The rule is a reconciliation: for a published event, every contact with an email on one of its
endpoints should hold one invitation per session, saying what the session and that person's
endpoint are now. `sync` compares that with what was last queued to each address (`Invitation`)
and queues only the difference:

- nobody queued yet                      -> REQUEST, SEQUENCE = the session's
- what the calendar shows has changed    -> REQUEST, SEQUENCE + 1 (an update)
- no longer invited (contact removed,
  email changed, event cancelled)        -> CANCEL, SEQUENCE + 1, STATUS:CANCELLED
- re-invited after a cancellation        -> REQUEST, SEQUENCE + 1

Running it twice queues nothing the second time.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from flask import current_app
from sqlalchemy import func, insert, select, update

from coordinator.endpoints.models import Contact, Endpoint
from coordinator.endpoints.phones import national
from coordinator.events.consequences import Queued
from coordinator.events.models import CANCELLED, PUBLISHED, Event, EventSession
from coordinator.extensions import db
from coordinator.invitations.feed_links import contact_feed_url
from coordinator.invitations.models import CANCEL, REQUEST, Invitation
from coordinator.outbox import services as outbox
from coordinator.outbox.models import FAILED, PENDING, SENDING, SENT, SUPERSEDED, OutboxMessage
from coordinator.outbox.waiting import RETRYING, explain, latest_error
from coordinator.timeutil import utcnow
from coordinator.units.models import TIERS, Unit

KIND = "invitation"
_CHUNK = 500


class SyncResult(Queued):
    """What one `sync` queued: invited, updated, cancelled, per session kind, the addresses written
    to. A `Queued`: the report the events services add up from the receivers of their signals."""


@dataclass
class _Recipient:
    email: str
    contact_id: int
    name: str
    role: str
    language: str
    endpoint_id: int
    endpoint_name: str
    address: str
    protocol: str
    dial: str
    upstream_bridge: str
    unit_name: str
    tier: str
    path: str


def message_key(uid: str, email: str, sequence: int, method: str) -> str:
    return f"{KIND}:{uid}:{email}:{sequence}:{method}"


def summary_of(event: Event, session: EventSession) -> str:
    if session.kind == "main" or not session.title:
        return session.title or event.title
    return f"{session.title} – {event.title}"


def _location(r: _Recipient) -> str:
    return ", ".join(part for part in (r.endpoint_name, r.address) if part)


def _fingerprint(session: EventSession, summary: str, r: _Recipient | None) -> str:
    shown = [session.starts_at.isoformat(), session.ends_at.isoformat(), summary, session.location]
    if r is not None:
        shown += [_location(r), r.protocol, r.dial, r.upstream_bridge]
    return hashlib.sha256(json.dumps(shown, ensure_ascii=False).encode()).hexdigest()


def _lock(event: Event) -> None:
    """Serialise syncs of one event (PostgreSQL: a row lock; SQLite allows one writer anyway)."""
    db.session.execute(select(Event.id).where(Event.id == event.id).with_for_update())


def _recipients(event: Event, emails: set[str] | None) -> dict[str, _Recipient]:
    """Every address to invite, each at one endpoint: a person listed at two endpoints is invited
    once, at the higher tier's (then the first by unit code)."""
    stmt = (select(Contact.id, Contact.email, Contact.name, Contact.role, Contact.language,
                   Endpoint.id, Endpoint.name, Endpoint.address, Endpoint.protocol, Endpoint.dial,
                   Endpoint.upstream_bridge, Unit.name, Unit.tier, Unit.path)
            .join(Endpoint, Contact.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == event.id, Contact.email != ""))
    rows = []
    if emails is None:
        rows = db.session.execute(stmt).all()
    else:
        wanted = sorted(emails)
        for i in range(0, len(wanted), _CHUNK):
            rows += db.session.execute(stmt.where(func.lower(Contact.email).in_(wanted[i:i + _CHUNK]))).all()
    found: dict[str, _Recipient] = {}
    for row in sorted(rows, key=lambda r: (TIERS.index(r[12]), r[13], r[0])):
        email = row[1].strip().lower()
        if email and email not in found:
            found[email] = _Recipient(email, *row[:1], *row[2:])
    return found


def _support_contacts(event: Event) -> dict[str, dict]:
    """Whom a recipient calls for technical help: the province's technical contact for districts
    and communes, the central one for provinces (key: province code, or "TW")."""
    rows = db.session.execute(
        select(Unit.path, Unit.tier, Contact.name, Contact.phone, Contact.email)
        .join(Endpoint, Endpoint.unit_id == Unit.id).join(Contact, Contact.endpoint_id == Endpoint.id)
        .where(Endpoint.event_id == event.id, Unit.tier.in_(("central", "province")), Contact.role == "technical")
        .order_by(Contact.id)).all()
    support: dict[str, dict] = {}
    for path, tier, name, phone, email in rows:
        code = path.strip("/").split("/")[-1]
        support.setdefault(code, {"name": name, "phone": national(phone), "email": email})
    return support


def _support_for(r: _Recipient, support: dict[str, dict], event: Event) -> dict:
    parts = r.path.strip("/").split("/")
    if r.tier in ("district", "commune") and len(parts) > 1 and parts[1] in support:
        return support[parts[1]]
    if r.tier != "central" and parts[0] in support:
        return support[parts[0]]
    return {"name": event.organizer_office or event.organizer_name, "phone": event.organizer_phone,
            "email": event.organizer_email}


def _payload(event: Event, session: EventSession, summary: str, tier_roles: dict, support: dict,
             r: _Recipient | None, email: str, name: str, role: str, language: str,
             method: str, sequence: int) -> dict:
    base_url = current_app.config["PUBLIC_BASE_URL"]
    organizer_email = event.organizer_email or current_app.config["MAIL_FROM_ADDRESS"]
    payload = {
        "method": method, "uid": session.ical_uid, "sequence": sequence,
        "event_id": event.id, "event_slug": event.slug, "event_title": event.title,
        "legal_reference": event.legal_reference, "agenda": event.description,
        "session_kind": session.kind, "session_title": session.title, "summary": summary,
        "starts_at": session.starts_at.isoformat(), "ends_at": session.ends_at.isoformat(),
        "tz": event.timezone, "central_location": session.location,
        "organizer_name": event.organizer_name or event.organizer_office, "organizer_office": event.organizer_office,
        "organizer_email": organizer_email, "organizer_phone": event.organizer_phone,
        "organizer_contact_email": event.organizer_email,  # shown in the text; empty: none given
        "attendee_email": email, "attendee_name": name, "attendee_role": role, "lang": language or "vi",
        "url": f"{base_url}/events/{event.slug}/calendar.ics",
        "location": "",
        "cancel_reason": getattr(event, "cancel_reason", "") if event.status == "cancelled" else "",
    }
    if r is not None:
        chair, attendees = tier_roles.get(r.tier, ("", ""))
        payload.update({
            "location": _location(r), "unit_name": r.unit_name, "tier": r.tier,
            "endpoint_name": r.endpoint_name, "address": r.address, "protocol": r.protocol, "dial": r.dial,
            "upstream_bridge": r.upstream_bridge, "tier_chair": chair, "tier_attendees": attendees,
            "support": _support_for(r, support, event),
        })
    return payload


def sync(event: Event, *, emails: Iterable[str] | None = None) -> SyncResult:
    """Queue what the event's recipients (or only `emails`) need so that their calendars match
    the event. Flushes, never commits: the caller commits with its own change."""
    result = SyncResult()
    if event.status not in (PUBLISHED, CANCELLED):
        return result  # a draft invites nobody; a finished event's calendars stay as they are
    scope = None if emails is None else {e.strip().lower() for e in emails if e and e.strip()}
    if scope is not None and not scope:
        return result
    db.session.flush()
    _lock(event)
    recipients = _recipients(event, scope) if event.status == PUBLISHED else {}
    stmt = select(Invitation).where(Invitation.event_id == event.id)
    existing: dict[tuple[int, str], Invitation] = {}
    if scope is None:
        existing = {(i.session_id, i.email): i for i in db.session.scalars(stmt)}
    else:
        wanted = sorted(scope)
        for i in range(0, len(wanted), _CHUNK):
            existing.update({(inv.session_id, inv.email): inv
                             for inv in db.session.scalars(stmt.where(Invitation.email.in_(wanted[i:i + _CHUNK])))})
    if not recipients and not existing:
        return result
    tier_roles = {t.tier: (t.chair, t.attendees) for t in event.tier_roles}
    support = _support_contacts(event) if recipients else {}
    now = utcnow()
    messages, new_rows, changed_rows, superseded = [], [], [], []

    feed_urls: dict[int, str] = {}  # the contact's own calendar link, once per person (an HMAC each)

    def queue(session, summary, r, email, name, role, language, method, sequence, previous=None):
        key = message_key(session.ical_uid, email, sequence, method)
        payload = _payload(event, session, summary, tier_roles, support, r, email, name, role, language, method,
                           sequence)
        if previous is not None and previous.starts_at is not None and (
                previous.starts_at, previous.ends_at) != (session.starts_at, session.ends_at):
            payload["previous_starts_at"] = previous.starts_at.isoformat()
            payload["previous_ends_at"] = previous.ends_at.isoformat()
        if r is not None:
            if r.contact_id not in feed_urls:
                feed_urls[r.contact_id] = contact_feed_url(event, r.contact_id)
            payload["feed_url"] = feed_urls[r.contact_id]
        messages.append({"key": key, "channel": "email", "kind": KIND, "event_id": event.id, "recipient": email,
                         "payload": payload})
        result.per_session[session.kind] = result.per_session.get(session.kind, 0) + 1
        result.recipients.add(email)
        return key

    for session in event.sessions:
        summary = summary_of(event, session)
        for email, r in recipients.items():
            fingerprint = _fingerprint(session, summary, r)
            inv = existing.pop((session.id, email), None)
            if inv is None:
                key = queue(session, summary, r, email, r.name, r.role, r.language, REQUEST, session.sequence)
                new_rows.append({"event_id": event.id, "session_id": session.id, "email": email,
                                 "contact_id": r.contact_id, "endpoint_id": r.endpoint_id, "method": REQUEST,
                                 "sequence": session.sequence, "fingerprint": fingerprint, "message_key": key,
                                 "updated_at": now, "starts_at": session.starts_at, "ends_at": session.ends_at})
                result.invited += 1
            elif inv.method == REQUEST and inv.fingerprint == fingerprint:
                if (inv.contact_id, inv.endpoint_id) != (r.contact_id, r.endpoint_id):
                    changed_rows.append({"id": inv.id, "contact_id": r.contact_id, "endpoint_id": r.endpoint_id})
            else:
                sequence = max(inv.sequence + 1, session.sequence)
                key = queue(session, summary, r, email, r.name, r.role, r.language, REQUEST, sequence,
                            previous=inv if inv.method == REQUEST else None)
                superseded.append(inv.message_key)
                changed_rows.append({"id": inv.id, "contact_id": r.contact_id, "endpoint_id": r.endpoint_id,
                                     "method": REQUEST, "sequence": sequence, "fingerprint": fingerprint,
                                     "message_key": key, "updated_at": now, "starts_at": session.starts_at,
                                     "ends_at": session.ends_at})
                result.updated += 1
    sessions = {s.id: s for s in event.sessions}
    for (session_id, email), inv in existing.items():
        session = sessions.get(session_id)
        if inv.method == CANCEL or session is None:
            continue
        sequence = max(inv.sequence + 1, session.sequence)
        key = queue(session, summary_of(event, session), None, email, "", "attendee", "vi", CANCEL, sequence)
        superseded.append(inv.message_key)
        changed_rows.append({"id": inv.id, "method": CANCEL, "sequence": sequence,
                             "fingerprint": _fingerprint(session, summary_of(event, session), None),
                             "message_key": key, "updated_at": now})
        result.cancelled += 1

    outbox.supersede(superseded)
    outbox.enqueue(messages)
    if new_rows:
        db.session.execute(insert(Invitation.__table__), new_rows)
    if changed_rows:
        db.session.execute(update(Invitation), changed_rows)
    return result


def emails_touching(event: Event, endpoint_ids: Iterable[int]) -> set[str]:
    """The addresses whose invitations a change of these endpoints may affect: those invited at
    them, and their contacts' current ones. Call after the change is flushed."""
    ids = list(endpoint_ids)
    if not ids:
        return set()
    db.session.flush()
    emails = set(db.session.scalars(select(Invitation.email).where(Invitation.event_id == event.id,
                                                                   Invitation.endpoint_id.in_(ids))))
    emails |= {e.strip().lower() for e in db.session.scalars(
        select(Contact.email).where(Contact.endpoint_id.in_(ids), Contact.email != ""))}
    return emails


def sync_endpoints(event: Event, endpoint_ids: Iterable[int]) -> SyncResult:
    return sync(event, emails=emails_touching(event, endpoint_ids))


def recipient_at(endpoint: Endpoint, contact: Contact | None = None) -> _Recipient:
    """The recipient facts of an endpoint (and one of its contacts), as `sync` builds them."""
    unit = endpoint.unit
    return _Recipient(contact.email.lower() if contact else "", contact.id if contact else 0,
                      contact.name if contact else "", contact.role if contact else "attendee",
                      contact.language if contact else "vi", endpoint.id, endpoint.name, endpoint.address,
                      endpoint.protocol, endpoint.dial, endpoint.upstream_bridge, unit.name, unit.tier, unit.path)


def counts(event: Event) -> list[dict]:
    """Per session: invitations current (the latest sent), pending (queued or retrying), failed,
    and withdrawn (a cancellation sent)."""
    rows = db.session.execute(
        select(Invitation.session_id, Invitation.method, OutboxMessage.status, func.count())
        .join(OutboxMessage, OutboxMessage.key == Invitation.message_key)
        .where(Invitation.event_id == event.id)
        .group_by(Invitation.session_id, Invitation.method, OutboxMessage.status)).all()
    per_session = {s.id: {"current": 0, "pending": 0, "failed": 0, "withdrawn": 0} for s in event.sessions}
    for session_id, method, status, n in rows:
        c = per_session.setdefault(session_id, {"current": 0, "pending": 0, "failed": 0, "withdrawn": 0})
        if status in (PENDING, SENDING, SUPERSEDED):
            c["pending"] += n
        elif status == FAILED:
            c["failed"] += n
        elif status == SENT:
            c["withdrawn" if method == CANCEL else "current"] += n
    return [{"session": s, "counts": per_session[s.id]} for s in event.sessions]


@dataclass
class Retrying:
    """A session's invitations pending after a failed attempt: how many, the error of the latest
    attempt, and the earliest next attempt."""

    count: int = 0
    last_error: str = ""
    next_attempt_at: datetime | None = None

    @property
    def error(self):
        return explain(self.last_error)


def retrying(event: Event) -> dict[int, Retrying]:
    """Per session id (every session of the event): its invitations being retried. A grouped query,
    and two small ones per session that has any."""
    out = {s.id: Retrying() for s in event.sessions}
    rows = db.session.execute(
        select(Invitation.session_id, func.count(), func.min(OutboxMessage.next_attempt_at))
        .join(OutboxMessage, OutboxMessage.key == Invitation.message_key)
        .where(Invitation.event_id == event.id, OutboxMessage.event_id == event.id, RETRYING)
        .group_by(Invitation.session_id)).all()
    for session_id, n, next_at in rows:
        keys = select(Invitation.message_key).where(Invitation.event_id == event.id, Invitation.session_id == session_id)
        out[session_id] = Retrying(n, latest_error(OutboxMessage.event_id == event.id, OutboxMessage.key.in_(keys)),
                                   next_at)
    return out
