"""An event's registration window per tier (open / late / closed), read from its deadlines: what
endpoints, contacts and imports check before they write. Per-unit fulfilment of deadlines is
`coordinator.deadlines`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coordinator.events.labels import STATUS_LABELS
from coordinator.events.models import CANCELLED, FINISHED, Deadline, Event
from coordinator.messages import N_, Message
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit

OPEN, LATE, CLOSED = "open", "late", "closed"
# The deadlines that govern registering endpoints and contacts for units of their tier.
REGISTRATION_KINDS = ("endpoints", "focal_contacts")


@dataclass(frozen=True)
class Window:
    state: str  # open | late | closed
    deadline: Deadline | None = None  # the deadline that makes it late or closed

    @property
    def accepts(self) -> bool:
        return self.state != CLOSED


class RegistrationClosed(Exception):
    def __init__(self, message: Message):
        self.msg = message
        super().__init__(message.text)


def registration_window(event: Event, tier: str, now: datetime | None = None) -> Window:
    """Whether units of `tier` may still register endpoints and contacts, and whether it is late."""
    if event.status in (CANCELLED, FINISHED):
        return Window(CLOSED)
    now = now or utcnow()
    governing = [d for d in event.deadlines if d.tier == tier and d.kind in REGISTRATION_KINDS]
    closed = next((d for d in governing if d.is_closed), None)
    if closed:
        return Window(CLOSED, closed)
    passed = [d for d in governing if d.due_at <= now]
    if passed:
        return Window(LATE, min(passed, key=lambda d: d.due_at))
    return Window(OPEN)


def ensure_open(event: Event, unit: Unit) -> Window:
    window = registration_window(event, unit.tier)
    if not window.accepts:
        if window.deadline is None:
            raise RegistrationClosed(Message(N_("this event is %(status)s: registration is closed"),
                                             {"status": STATUS_LABELS[event.status]}))
        raise RegistrationClosed(Message(N_("the organizer has closed registration for %(unit)s"), {"unit": unit.name}))
    return window
