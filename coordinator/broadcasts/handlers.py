"""What `coordinator.broadcasts` registers into lower packages: the outbox composer of its SMS
(kind "broadcast"), connected by `coordinator.wiring`."""
from __future__ import annotations

from coordinator.broadcasts.services import KIND
from coordinator.outbox import registry
from coordinator.outbox.models import OutboxMessage


def compose(row: OutboxMessage) -> str:
    """A broadcast's SMS: the text decided for its recipient when it was queued."""
    return row.payload["body"]


def connect() -> None:
    """Register the composer (idempotent)."""
    registry.register_composer(KIND, compose)
