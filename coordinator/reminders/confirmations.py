"""Readiness confirmations: a contact taps the link of a reminder (`confirm_link`) or answers "OK"
by SMS (`confirm_by_sms`), and every endpoint of the event where their number is listed is
confirmed ready for the session (a `Confirmation` once per session and contact; the dashboard's
readiness follows through the `readiness_confirmed` signal, received by `coordinator.status`:
never a connection). `confirmations` counts them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from coordinator import signals
from coordinator.audit import services as audit
from coordinator.endpoints.models import Contact, Endpoint
from coordinator.events.models import PUBLISHED, Event, EventSession
from coordinator.extensions import db
from coordinator.reminders import links
from coordinator.reminders.models import Confirmation
from coordinator.timeutil import utcnow


@dataclass
class ConfirmResult:
    state: str  # confirmed | already | expired | not_found
    session: EventSession | None = None
    event: Event | None = None
    endpoints: list[str] = field(default_factory=list)
    confirmed_at: datetime | None = None


def _contacts_of(event_id: int, phone: str) -> list[tuple[int, int, str]]:
    return db.session.execute(
        select(Contact.id, Endpoint.id, Endpoint.name).join(Endpoint, Contact.endpoint_id == Endpoint.id)
        .where(Endpoint.event_id == event_id, Contact.phone == phone).order_by(Endpoint.id)).all()


def _confirm(session: EventSession, contacts: list[tuple[int, int, str]], channel: str, now: datetime) -> ConfirmResult:
    """Record the confirmations, in the caller's transaction (it commits)."""
    event = session.event
    if event.status != PUBLISHED or now >= session.ends_at:
        return ConfirmResult("expired", session, event)
    existing = {c.contact_id: c for c in db.session.scalars(select(Confirmation).where(
        Confirmation.session_id == session.id, Confirmation.contact_id.in_([c[0] for c in contacts])))}
    names = sorted({name for _, _, name in contacts})
    new = [c for c in contacts if c[0] not in existing]
    if not new:
        first = min(existing.values(), key=lambda c: c.created_at)
        return ConfirmResult("already", session, event, names, first.created_at)
    confirmed_endpoints = set()
    for contact_id, endpoint_id, _ in new:
        try:
            with db.session.begin_nested():
                db.session.add(Confirmation(session_id=session.id, endpoint_id=endpoint_id, contact_id=contact_id,
                                            channel=channel, created_at=now))
        except IntegrityError:  # the same tap twice at once
            continue
        if endpoint_id not in confirmed_endpoints:  # readiness on the dashboard (never a connection)
            confirmed_endpoints.add(endpoint_id)
            signals.readiness_confirmed.send(session, endpoint_ids=[endpoint_id], channel=channel, at=now,
                                             actor_label=f"contact:{contact_id}")
    audit.record("session.confirm", "event", event.slug, actor_label=f"{channel}", session=session.kind,
                 endpoints=[e for _, e, _ in new])
    return ConfirmResult("confirmed", session, event, names, now)


def confirm_link(token: str, now: datetime | None = None) -> ConfirmResult:
    """A contact tapped the link in a reminder: their endpoints (every endpoint of the event where
    their number is listed) are confirmed ready for the session. Works once; refused after the
    session has ended."""
    now = now or utcnow()
    parsed = links.parse(token)
    if parsed is None:
        return ConfirmResult("not_found")
    session = db.session.get(EventSession, parsed[0])
    contact = db.session.get(Contact, parsed[1])
    if session is None or contact is None or contact.endpoint.event_id != session.event_id:
        return ConfirmResult("not_found")
    result = _confirm(session, _contacts_of(session.event_id, contact.phone), "link", now)
    if result.state == "confirmed":
        db.session.commit()
    return result


def confirm_by_sms(phone: str, now: datetime | None = None) -> ConfirmResult:
    """"OK" or "1" from a known number: ready for the next session (the earliest not yet ended)
    of a published event where the number is a contact. In the caller's transaction: the SMS
    webhook, which sends `sms_received` and commits."""
    now = now or utcnow()
    candidates = db.session.execute(
        select(EventSession).join(Event, EventSession.event_id == Event.id)
        .join(Endpoint, Endpoint.event_id == Event.id).join(Contact, Contact.endpoint_id == Endpoint.id)
        .where(Contact.phone == phone, Event.status == PUBLISHED, EventSession.ends_at > now)
        .order_by(EventSession.starts_at).limit(1)).scalars().first()
    if candidates is None:
        return ConfirmResult("not_found")
    return _confirm(candidates, _contacts_of(candidates.event_id, phone), "sms", now)


def confirmations(event: Event) -> dict[int, int]:
    """session id -> endpoints confirmed."""
    rows = db.session.execute(select(Confirmation.session_id, func.count(func.distinct(Confirmation.endpoint_id)))
                              .join(EventSession, Confirmation.session_id == EventSession.id)
                              .where(EventSession.event_id == event.id).group_by(Confirmation.session_id)).all()
    return dict(rows)
