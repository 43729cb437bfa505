"""The event a request or a command names: 404 for pages and the API (`event_or_404`), the
command's error for the CLI (`event_or_fail`)."""
from __future__ import annotations

from flask import abort
from flask_login import current_user

from coordinator.auth.scopes import require_scope
from coordinator.cliutil import found
from coordinator.events.models import Event
from coordinator.events.services import get_event


def event_or_404(slug: str) -> Event:
    """The event, or 404. A coordinator whose account has no unit in the event's structure gets
    the page (or API error) saying which unit is missing and whom to ask (`auth.scopes`)."""
    event = get_event(slug)
    if event is None:
        abort(404, f"no event {slug!r}")
    if current_user and current_user.is_authenticated:
        require_scope(current_user, event.unit_structure)
    return event


def event_or_fail(slug: str) -> Event:
    """The event, or the command fails with `Error: no event <slug>` (exit 1)."""
    return found(get_event(slug), f"no event {slug}")
