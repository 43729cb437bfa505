"""What `coordinator.reminders` does when other packages change things: reminders follow the event
(cancelled, a session moved, a plan applied), previews say which are still to fire, an "OK" by
SMS confirms readiness. Receivers of the domain signals (`coordinator.signals`) and its
registrations, connected by `coordinator.wiring`. Receivers run inside the sender's transaction
and never commit."""
from __future__ import annotations

from coordinator import signals
from coordinator.events.consequences import Queued
from coordinator.outbox import registry as outbox
from coordinator.reminders import services as reminders
from coordinator.reminders.compose import compose
from coordinator.reminders.confirmations import confirm_by_sms


def on_event_cancelled(event, *, reason="", **_) -> Queued:
    """Queued reminders are dropped; everyone sent an SMS reminder is texted that it is cancelled."""
    return Queued(sms=reminders.on_cancel(event, reason))


def on_schedule_changed(event, **_) -> None:
    """A session moved (or a plan changed the event): its reminders fire again for the new time,
    those queued for the old one are dropped."""
    reminders.supersede_outdated(event)


def on_change_previewed(event, *, now, **_) -> dict:
    """How many reminders are still to fire after the change, and the first one's time."""
    planned = [p for p in reminders.plan(event, now) if p.state in ("scheduled", "due") and p.fire_at]
    return {"reminders": len(planned), "first_reminder_at": min((p.fire_at for p in planned), default=None)}


def on_sms_received(phone, *, kind, **_) -> str | None:
    """"OK" (or "1") confirms readiness for the sender's next session; the reply says for which
    endpoints."""
    if kind != "confirm":
        return None
    result = confirm_by_sms(phone)
    if result.state not in ("confirmed", "already"):
        return None
    return (f"Đã ghi nhận: điểm cầu {', '.join(result.endpoints)} sẵn sàng cho "
            f"{result.session.title or result.event.title}.")


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent)."""
    signals.event_cancelled.connect(on_event_cancelled)
    signals.sessions_moved.connect(on_schedule_changed)
    signals.event_changed.connect(on_schedule_changed)
    signals.change_previewed.connect(on_change_previewed)
    signals.sms_received.connect(on_sms_received)
    for kind in ("reminder", "reminder-cancel", "incident"):  # incident SMS (queued by status) too
        outbox.register_composer(kind, compose)
