"""Calendar feeds that calendar apps poll (`webcal://`): the event's public one, and a secret one
per unit and per contact listing that unit's sessions with its own endpoint as the location. Their
addresses and tokens: `feed_links.py`.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.events.models import Event
from coordinator.extensions import db
from coordinator.invitations import calendar
from coordinator.invitations import services as invitations
from coordinator.invitations.feed_links import public_feed_url
from coordinator.invitations.mail import _context, render
from coordinator.invitations.models import REQUEST
from coordinator.units.models import Unit


def _items(event: Event, recipient, name: str = "", role: str = "attendee") -> list[dict]:
    tier_roles = {t.tier: (t.chair, t.attendees) for t in event.tier_roles}
    support = invitations._support_contacts(event) if recipient is not None else {}
    items = []
    for session in event.sessions:
        summary = invitations.summary_of(event, session)
        payload = invitations._payload(event, session, summary, tier_roles, support, recipient, "", name, role,
                                       "vi", REQUEST, session.sequence)
        lang = current_app.config["BABEL_DEFAULT_LOCALE"]  # calendar apps say no language
        with force_locale(lang):
            description = render("mail/invitation_description.txt", lang, **_context(payload)).strip()
        items.append({"uid": session.ical_uid, "sequence": session.sequence, "starts_at": session.starts_at,
                      "ends_at": session.ends_at, "summary": summary,
                      "location": payload["location"] or session.location, "description": description,
                      "url": public_feed_url(event).removesuffix("/calendar.ics"),
                      "cancelled": event.status == "cancelled"})
    return items


def _stamp(*times) -> datetime:
    """DTSTAMP of a feed: when what it shows last changed, so that an unchanged feed is byte for byte
    the same and pollers get 304 Not Modified."""
    return max(t for t in times if t is not None)


def public_feed(event: Event) -> bytes:
    return calendar.feed(event.title, _items(event, None), tz=event.timezone, stamp=_stamp(event.updated_at))


def _endpoint_for_unit(event: Event, unit: Unit) -> Endpoint | None:
    endpoint = db.session.scalar(select(Endpoint).where(Endpoint.event_id == event.id, Endpoint.unit_id == unit.id))
    if endpoint is None:  # a unit attending at its parent's endpoint sees that one
        endpoint = db.session.scalar(select(Endpoint).join(HostedUnit, HostedUnit.endpoint_id == Endpoint.id)
                                     .where(HostedUnit.event_id == event.id, HostedUnit.unit_id == unit.id))
    return endpoint


def unit_feed(event: Event, unit: Unit) -> bytes:
    endpoint = _endpoint_for_unit(event, unit)
    recipient = invitations.recipient_at(endpoint) if endpoint is not None else None
    return calendar.feed(f"{event.title} – {unit.name}", _items(event, recipient), tz=event.timezone,
                         stamp=_stamp(event.updated_at, endpoint.updated_at if endpoint else None))


def contact_feed(event: Event, contact: Contact) -> bytes:
    recipient = invitations.recipient_at(contact.endpoint, contact)
    return calendar.feed(f"{event.title} – {contact.name}", _items(event, recipient, contact.name, contact.role),
                         tz=event.timezone, stamp=_stamp(event.updated_at, contact.endpoint.updated_at, contact.updated_at))
