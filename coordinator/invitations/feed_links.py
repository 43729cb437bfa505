"""The addresses of the calendar feeds (`feeds.py` builds what they serve): the event's public
one, and a secret one per unit and per contact. The secret in a feed URL is an HMAC of what it
shows, keyed with SECRET_KEY: nothing to store, and rotating SECRET_KEY revokes every feed URL at
once. Apart from `feeds.py` because the invitations (`services.sync`) put a contact's feed link
in each mail, and feeds build on services."""
from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app

from coordinator.events.models import DRAFT, Event
from coordinator.units.models import Unit


def _token(*parts: object) -> str:
    data = ":".join(str(p) for p in ("calendar-feed", *parts)).encode()
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), data, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def check_token(token: str, *parts: object) -> bool:
    return hmac.compare_digest(token.encode(), _token(*parts).encode())


def public_feed_url(event: Event) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/events/{event.slug}/calendar.ics"


def unit_feed_url(event: Event, unit: Unit) -> str:
    token = _token("unit", event.id, unit.id)
    return f"{current_app.config['PUBLIC_BASE_URL']}/calendar/{event.slug}/unit/{unit.code}/{token}.ics"


def contact_feed_url(event: Event, contact_id: int) -> str:
    token = _token("contact", event.id, contact_id)
    return f"{current_app.config['PUBLIC_BASE_URL']}/calendar/{event.slug}/contact/{contact_id}/{token}.ics"


def webcal(url: str) -> str:
    """The same feed with the scheme calendar apps open as a subscription."""
    return "webcal://" + url.split("://", 1)[1]


def is_listed(event: Event) -> bool:
    return event.status != DRAFT
