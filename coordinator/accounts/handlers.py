"""What `coordinator.accounts` does when other packages change things: its receivers of the
domain signals (`coordinator.signals`) and its registrations, connected by `coordinator.wiring`.
Receivers run inside the sender's transaction and never commit."""
from __future__ import annotations

from coordinator.accounts import mail
from coordinator.outbox import registry


def connect() -> None:
    """Connect this package's registrations (idempotent): the composer of the set-password mail."""
    registry.register_composer("account", mail.compose)
