"""What `coordinator.outbox` does when other packages change things: its receivers of the domain
signals (`coordinator.signals`) and its registrations, connected by `coordinator.wiring`.
Receivers run inside the sender's transaction and never commit."""
from __future__ import annotations

from coordinator.outbox import registry
from coordinator.outbox.backends import mail_backend


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent): the email channel's
    backend (the other channels' come from the packages that send them: SMS from `sms`)."""
    registry.register_backend("email", mail_backend)
