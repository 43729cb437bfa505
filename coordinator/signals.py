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
# Receivers of the first four return what they queued as an `events.consequences.Queued` (the
# invitations' SyncResult is one), or None; the sender adds them up (`Queued.total`).
event_published = _signals.signal("event-published", doc="""An event was published. Sender: the Event;
kwargs: actor. Receivers queue what publishing sends (invitations: one per contact and session).""")

event_cancelled = _signals.signal("event-cancelled", doc="""An event was cancelled. Sender: the Event;
kwargs: reason (str), actor. Receivers withdraw what was sent (invitations: METHOD:CANCEL) and drop
what is queued (reminders, which also text those reminded by SMS: `Queued.sms`).""")

sessions_moved = _signals.signal("sessions-moved", doc="""A session of an event changed time or place (a
significant change: SEQUENCE grew). Sender: the Event; kwargs: sessions (list of EventSession).
Receivers send updates (invitations) and drop reminders queued for the old time.""")

event_changed = _signals.signal("event-changed", doc="""A plan changed an existing event (its texts, tiers,
sessions, deadlines or reminder rules). Sender: the Event; kwargs: changes (list of str: the
plan's change keys, "title", "session:main", …). Receivers as for sessions_moved.""")

deadlines_changed = _signals.signal("deadlines-changed", doc="""An event's deadlines were created or changed
(plan applied); flushed, so they have ids. Sender: the Event; kwargs: deadlines (list of Deadline).
Receivers recompute who met them (deadline fulfilment).""")

change_previewed = _signals.signal("change-previewed", doc="""A change of an event is being previewed: it was
made in a savepoint rolled back afterwards. Sender: the Event; kwargs: action ("publish" or "move"),
now (datetime). Receivers change nothing and return a dict of `events.consequences.Consequences`
fields they know (reminders: `reminders`, `first_reminder_at`; invitations, when publishing:
`sender`, `reply_to`).""")

# --- endpoints (sender: coordinator.endpoints) ----------------------------------------------------------
endpoints_changed = _signals.signal("endpoints-changed", doc="""Endpoints or contacts of an event were created,
changed or removed (a form, the API, an import, a copy: sent by endpoints.services, .copying and .bulk,
after the rows are flushed). Sender: the Event; kwargs: units (the Unit rows whose registration
changed, hosts that lost a unit included; may be empty), endpoint_ids (list of int: whose contacts may
have changed; None means any of the event's: an import). Receivers: deadline fulfilment, invitations.""")

# --- documents (sender: coordinator.documents) ----------------------------------------------------------
documents_changed = _signals.signal("documents-changed", doc="""A unit's documents for an event were uploaded,
replaced or removed, or its focal contact for them named. Sender: the Event; kwargs: units (list of
Unit). Receivers: deadline fulfilment.""")

# --- reminders (sender: coordinator.reminders) ----------------------------------------------------------
readiness_confirmed = _signals.signal("readiness-confirmed", doc="""A contact confirmed readiness for a session
(a tap on the one-tap link, an SMS reply): sent once per endpoint confirmed for the first time by
them. Sender: the EventSession; kwargs: endpoint_ids (list of int), channel ("link" or "sms"),
at (datetime), actor_label (str: "contact:<id>"). Receivers: the status dashboard's readiness.""")

# --- outbox and sms (senders: coordinator.outbox, coordinator.sms) --------------------------------------
message_failed = _signals.signal("message-failed", doc="""An outbox message failed for good (no retry left, the
provider refused it permanently, a pre-send filter stopped it). Sent by `outbox.sending` once the
outcome is written, in the dispatcher's transaction. Sender: the OutboxMessage (as claimed: its
columns are not refreshed); kwargs: error (outbox SendError; a backend's subclass may carry the
provider's `code`, e.g. Twilio's 21610). Receivers: sms (an unsubscribed number opts out).""")

sms_received = _signals.signal("sms-received", doc="""A text came in to our number that is not STOP or START.
Sender: the E.164 phone; kwargs: kind (the classified keyword: "confirm", …), body (str). Receivers
return the reply text to send back, or None (reminders: "OK" confirms readiness). The sender
commits.""")


def results(returned: Iterable[tuple[Any, Any]]) -> list[Any]:
    """The non-None values the receivers of a `send()` returned. In no particular order: blinker keeps
    receivers in a set, so a sender must not depend on which receiver ran first."""
    return [value for _, value in returned if value is not None]


def all_signals() -> dict[str, Signal]:
    """Every signal of this module by name (the wiring test walks them)."""
    return {name: value for name, value in globals().items() if isinstance(value, Signal)}
