"""What `coordinator.status` does when other packages change things: its receivers of the domain
signals (`coordinator.signals`) and its registrations, connected by `coordinator.wiring`.
Receivers run inside the sender's transaction and never commit."""
from __future__ import annotations

from coordinator import signals
from coordinator.events import plans
from coordinator.status import services as status


def on_readiness_confirmed(session, *, endpoint_ids, channel, at, actor_label="", **_) -> None:
    """A contact confirmed (the one-tap link: "self"; an SMS reply: "sms"): the dashboard shows the
    endpoints ready, which never changes their connection state."""
    status.confirm_ready(session.event, session, list(endpoint_ids), "self" if channel == "link" else "sms",
                         actor_label=actor_label, now=at, commit=False)


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent)."""
    signals.readiness_confirmed.connect(on_readiness_confirmed)
    # The event's duty phones are read as every phone is (endpoints.phones), which events cannot import.
    plans.register_duty_phone_reader(status.read_duty_phone)
