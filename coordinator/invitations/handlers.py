"""What `coordinator.invitations` does when other packages change things: invitations follow
the registrations. Receivers of the domain signals (`coordinator.signals`), connected by
`coordinator.wiring`; they run inside the sender's transaction and never commit."""
from __future__ import annotations

from coordinator import signals
from coordinator.invitations import services as invitations


def on_endpoints_changed(event, *, units=(), endpoint_ids=None, **_):
    """New contacts invited, removed ones' invitations withdrawn, changed endpoints sent as updates.
    Returns the SyncResult."""
    if endpoint_ids is None:
        return invitations.sync(event)
    return invitations.sync_endpoints(event, list(endpoint_ids))


def connect() -> None:
    """Connect this package's receivers (idempotent)."""
    signals.endpoints_changed.connect(on_endpoints_changed)
