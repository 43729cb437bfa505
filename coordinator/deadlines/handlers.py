"""What `coordinator.deadlines` does when other packages change things: deadline fulfilment
follows the registrations, the documents and the deadlines themselves. Receivers of the domain
signals (`coordinator.signals`), connected by `coordinator.wiring`; they run inside the sender's
transaction and never commit. Also the fulfilment rules of the registration kinds
(`deadlines.kinds`; documents registers its own)."""
from __future__ import annotations

from coordinator import signals
from coordinator.deadlines import kinds, services


def on_endpoints_changed(event, *, units=(), endpoint_ids=None, **_):
    """Units that registered (or removed) endpoints or contacts meet or miss their deadlines."""
    services.refresh(event, units)


def on_documents_changed(event, *, units=(), **_):
    """A unit's dossier is complete, or no longer."""
    services.refresh(event, units)


def on_deadlines_changed(event, *, deadlines=(), **_):
    """A deadline created or moved: who met it, on time or late, from the data as it is (every
    unit of its tier; registrations made before it existed count)."""
    for deadline in deadlines:
        services.refresh_deadline(event, deadline)


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent)."""
    kinds.register("endpoints", kinds.endpoints_met)
    kinds.register("focal_contacts", kinds.focal_contacts_met)
    signals.endpoints_changed.connect(on_endpoints_changed)
    signals.documents_changed.connect(on_documents_changed)
    signals.deadlines_changed.connect(on_deadlines_changed)
