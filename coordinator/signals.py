"""Domain signals: the follow-up work of a change, sent by the package that owns the change and
received by the packages that care, so that the owner never imports them (Indico's
`indico.core.signals` is the model).

Rules:
- A signal is sent inside the sender's transaction, after the change is flushed; receivers add
  their own rows to the same session and never commit or roll back: the sender's commit keeps
  the change and all its follow-ups, or none of them.
- Receivers live in each interested package's `handlers.py` and are connected in one place,
  `coordinator.wiring.connect()`, at app start (idempotent: blinker keeps one connection per
  receiver).
- A receiver may return a value; the sender collects them with `results()` (for instance the
  invitations queued by a publication, which the page and the API report).
- `tests/test_wiring.py` lists every signal below with its receivers and fails when one has none.
"""
from __future__ import annotations

from typing import Any, Iterable

from blinker import Namespace, Signal

_signals = Namespace()

# --- events (sender: coordinator.events) --------------------------------------------------------------
event_published = _signals.signal("event-published", doc="""An event was published. Sender: the Event;
kwargs: actor. Receivers return what they queued (invitations: a SyncResult).""")

event_cancelled = _signals.signal("event-cancelled", doc="""An event was cancelled. Sender: the Event;
kwargs: reason (str), actor. Receivers withdraw what was sent and drop what is queued.""")

sessions_moved = _signals.signal("sessions-moved", doc="""One or more sessions of a published event changed
time or place (a significant change: SEQUENCE grew). Sender: the Event; kwargs: sessions (list of
EventSession). Receivers send updates and re-plan reminders.""")

deadlines_changed = _signals.signal("deadlines-changed", doc="""An event's deadlines were created or changed
(plan applied). Sender: the Event; kwargs: deadlines (list of Deadline).""")

# --- endpoints (sender: coordinator.endpoints) ----------------------------------------------------------
endpoints_changed = _signals.signal("endpoints-changed", doc="""Endpoints or contacts of an event were created,
changed or removed (a form, the API, an import, a copy). Sender: the Event; kwargs: units (the Unit
rows whose registration changed), endpoint_ids (list of int: whose contacts may have changed; None
means any of the event's). Receivers: deadline fulfilment, invitations.""")

# --- documents (sender: coordinator.documents) ----------------------------------------------------------
documents_changed = _signals.signal("documents-changed", doc="""A unit's documents for an event were uploaded,
replaced or removed. Sender: the Event; kwargs: units (list of Unit).""")

# --- reminders (sender: coordinator.reminders) ----------------------------------------------------------
readiness_confirmed = _signals.signal("readiness-confirmed", doc="""Contacts confirmed readiness for a session
(a tap on the one-tap link, an SMS reply). Sender: the EventSession; kwargs: endpoint_ids (list of
int), channel (str), at (datetime).""")

# --- outbox and sms (senders: coordinator.outbox, coordinator.sms) --------------------------------------
message_failed = _signals.signal("message-failed", doc="""An outbox message failed for good (no retry left, or
the provider refused it permanently). Sender: the OutboxMessage; kwargs: error (outbox SendError,
with the backend's `code`).""")

sms_received = _signals.signal("sms-received", doc="""A text came in to our number that is not STOP or START.
Sender: the E.164 phone; kwargs: kind (the classified keyword), body (str). Receivers return the
reply text to send back, or None.""")


def results(returned: Iterable[tuple[Any, Any]]) -> list[Any]:
    """The non-None values the receivers of a `send()` returned, in connection order."""
    return [value for _, value in returned if value is not None]


def all_signals() -> dict[str, Signal]:
    """Every signal of this module by name (the wiring test walks them)."""
    return {name: value for name, value in globals().items() if isinstance(value, Signal)}
