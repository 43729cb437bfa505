"""Recording audit entries. Services call `record()` inside their own transaction, so an entry
exists exactly when the change it describes was committed. Reading the log back (the /audit
pages, an endpoint's history) is `coordinator.history`."""
from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_login import current_user

from coordinator.audit.models import AuditEntry
from coordinator.extensions import db


def record(action: str, object_type: str, object_id: Any = None, *, actor=None, actor_label: str | None = None,
           **details: Any) -> AuditEntry:
    """Add an entry to the current transaction. Without `actor`, the signed-in user is the actor;
    outside a request, `actor_label` says who acted (default "cli")."""
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "email", None) or actor_label or ("web" if has_request_context() else "cli"),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=details,
    )
    db.session.add(entry)
    return entry


def recent(limit: int = 100, *, before_id: int | None = None) -> list[AuditEntry]:
    """Newest first; `before_id` pages further back."""
    stmt = db.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(db.session.scalars(stmt))
