"""What `coordinator.documents` contributes to other packages: the fulfilment rule of "documents"
deadlines (`coordinator.deadlines.kinds`), registered at app start by `coordinator.wiring`."""
from __future__ import annotations

from coordinator.deadlines import kinds
from coordinator.documents.services import is_complete


def dossiers_complete(event, deadline, among: set[int], now):
    """A unit meets a document request when its dossier is complete (every slot filled, the focal
    contact's phone given); since when is kept from the first completion (`keeps_first`)."""
    return {unit_id: now for unit_id in among if is_complete(deadline, unit_id)}


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent)."""
    kinds.register("documents", dossiers_complete, keeps_first=True)
