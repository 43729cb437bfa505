from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow


class AuditEntry(db.Model):
    """Append-only: who changed what, when. Never updated or deleted by the application."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: Who acted, readable even without a user row: an email, or "cli" for commands run on the server.
    actor_label: Mapped[str] = mapped_column(String(255))
    #: What was done, "<object>.<verb>" ("endpoint.update", "event.publish", …: audit.actions).
    action: Mapped[str] = mapped_column(String(64), index=True)
    #: What it was done to: the kind of object ("event", "endpoint", "phone", …) and its id or key.
    object_type: Mapped[str] = mapped_column(String(64))
    #: See object_type (a slug, a number, a phone; None for none).
    object_id: Mapped[str | None] = mapped_column(String(64))
    #: What changed, as the action records it (old and new values, counts, reasons).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
