"""What `coordinator.invitations` does when other packages change things: invitations follow the
registrations and the event (published, cancelled, a session moved, a plan applied). Receivers of
the domain signals (`coordinator.signals`), connected by `coordinator.wiring`; they run inside the
sender's transaction and never commit. Also its registration of the invitation mail's composer
(its page parts: `page_parts.py`)."""
from __future__ import annotations

from coordinator import signals
from coordinator.invitations import services as invitations
from coordinator.invitations.mail import compose as compose_invitation
from coordinator.invitations.mail import sender_of
from coordinator.outbox import registry as outbox


def on_endpoints_changed(event, *, units=(), endpoint_ids=None, **_):
    """New contacts invited, removed ones' invitations withdrawn, changed endpoints sent as updates.
    Returns the SyncResult."""
    if endpoint_ids is None:
        return invitations.sync(event)
    return invitations.sync_endpoints(event, list(endpoint_ids))


def on_event_changed(event, **_):
    """Published, cancelled, a session moved, a plan applied: every recipient's calendar brought in
    line (invitations, updates, cancellations). Returns the SyncResult."""
    return invitations.sync(event)


def on_change_previewed(event, *, action, **_):
    """Publishing shows whom the invitations will be from."""
    if action != "publish":
        return None
    sender, reply_to = sender_of(event)
    return {"sender": sender, "reply_to": reply_to}


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent)."""
    signals.endpoints_changed.connect(on_endpoints_changed)
    for signal in (signals.event_published, signals.event_cancelled, signals.sessions_moved, signals.event_changed):
        signal.connect(on_event_changed)
    signals.change_previewed.connect(on_change_previewed)
    outbox.register_composer("invitation", compose_invitation)
