"""Lookups that end a request with 404 when the thing is missing, shared by pages and API."""
from __future__ import annotations

from flask import abort

from coordinator.events.models import Event
from coordinator.events.services import get_event


def event_or_404(slug: str) -> Event:
    event = get_event(slug)
    if event is None:
        abort(404, f"no event {slug!r}")
    return event
