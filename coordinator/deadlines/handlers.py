"""What `coordinator.deadlines` does when other packages change things: deadline fulfilment
follows the registrations and the documents. Receivers of the domain signals
(`coordinator.signals`), connected by `coordinator.wiring`; they run inside the sender's
transaction and never commit."""
from __future__ import annotations

from coordinator import signals
from coordinator.deadlines import services as deadlines


def on_endpoints_changed(event, *, units=(), endpoint_ids=None, **_):
    """Units that registered (or removed) endpoints or contacts meet or miss their deadlines."""
    deadlines.refresh(event, units)


def connect() -> None:
    """Connect this package's receivers (idempotent)."""
    signals.endpoints_changed.connect(on_endpoints_changed)
