"""What `coordinator.status` does when other packages change things: its receivers of the domain
signals (`coordinator.signals`) and its registrations, connected by `coordinator.wiring`.
Receivers run inside the sender's transaction and never commit."""
from __future__ import annotations


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent)."""
