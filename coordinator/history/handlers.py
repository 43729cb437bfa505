"""What `coordinator.history` does when other packages change things: its receivers of the domain
signals (`coordinator.signals`) and its registrations, connected by `coordinator.wiring`.
Receivers run inside the sender's transaction and never commit.

Registered here:
- the page part "endpoint_history" (`coordinator.web.parts`): an endpoint's history as sentences,
  `part("endpoint_history", endpoint.id)` -> list of `services.Line`, shown by the endpoint pages
  (endpoints, status) through `templates/audit/_history.html`;
- the audit entry as the row that means "a person's change was saved" (`web.faults`: the 503 page
  after a lost connection says whether the change was kept).
"""
from __future__ import annotations

from coordinator.audit.models import AuditEntry
from coordinator.history.services import history_for_endpoint
from coordinator.web import faults, parts


def connect() -> None:
    """Connect this package's receivers and registrations (idempotent)."""
    parts.register("endpoint_history", history_for_endpoint)
    faults.count_as_saved(AuditEntry)
