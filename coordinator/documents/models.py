from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import Unit


class DocumentFile(db.Model):
    """A file a unit uploaded for a document request (a deadline of kind `documents`).

    The bytes live under instance/uploads/ named by `storage_key`; `filename` keeps the name
    the official gave it, Vietnamese diacritics included. Uploading a file of the same name
    for the same unit and request replaces it.
    """

    __tablename__ = "document_files"
    __table_args__ = (UniqueConstraint("deadline_id", "unit_id", "filename"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: Which of the deadline's required_files it answers (an index into that list).
    slot: Mapped[int] = mapped_column(default=0)
    #: The name the official gave the file, diacritics included.
    filename: Mapped[str] = mapped_column(String(255))
    #: The MIME type, from the file's extension.
    content_type: Mapped[str] = mapped_column(String(100))
    #: In bytes.
    size: Mapped[int] = mapped_column()
    #: Of the stored bytes (hex).
    sha256: Mapped[str] = mapped_column(String(64))
    #: A random name of the file under instance/uploads/ (never the official's filename).
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    unit: Mapped[Unit] = relationship()
