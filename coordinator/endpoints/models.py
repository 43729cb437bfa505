from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import Unit

if TYPE_CHECKING:
    from coordinator.events.models import Event

PROTOCOLS = ("sip", "h323", "webrtc", "other")
CONTACT_ROLES = ("chair", "technical", "attendee")


class Endpoint(db.Model):
    """One conference room (điểm cầu) of one unit for one event."""

    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("event_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(Text, default="")
    protocol: Mapped[str] = mapped_column(String(16), default="other")
    dial: Mapped[str] = mapped_column(String(500), default="")
    # The MCU/bridge this endpoint cascades into (the province's, into the central endpoint).
    upstream_bridge: Mapped[str] = mapped_column(String(255), default="")
    provider: Mapped[str] = mapped_column(String(100), default="")  # telecom provider: VNPT, Viettel, …
    expected_attendance: Mapped[int | None] = mapped_column()
    # Moved by every change to the endpoint, its contacts or the units it hosts, under the row's
    # lock (endpoints.locking): what a client read is compared with it before a save (the
    # API's ETag / If-Match, the form's hidden field), so that nobody overwrites unseen changes.
    # An explicit column, not the mapper's version_id_col: contact-only changes and the bulk
    # statements of the spreadsheet import would bypass that.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()
    unit: Mapped[Unit] = relationship()
    contacts: Mapped[list[Contact]] = relationship(back_populates="endpoint", cascade="all, delete-orphan",
                                                   order_by="Contact.id")
    hosted: Mapped[list[HostedUnit]] = relationship(back_populates="endpoint", cascade="all, delete-orphan",
                                                    order_by="HostedUnit.id")


class Contact(db.Model):
    """A person of an endpoint: its chair, a technical focal point, or an attendee."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("endpoint_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    phone_type: Mapped[str] = mapped_column(String(8))  # "mobile" (can receive SMS) or "fixed"
    email: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str] = mapped_column(String(8), default="vi")
    sms_opt_out: Mapped[bool] = mapped_column(default=False)
    # Marked by the coordinator as one of the province's focal contacts (cán bộ đầu mối): told of
    # the province's incidents (one digest per escalation window) beside the technical contacts of
    # the province's own endpoint.
    focal: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    endpoint: Mapped[Endpoint] = relationship(back_populates="contacts")


class HostedUnit(db.Model):
    """A unit without an endpoint of its own that attends at this endpoint (the letter's rule:
    communes that cannot host an endpoint attend at their district's)."""

    __tablename__ = "hosted_units"
    __table_args__ = (UniqueConstraint("event_id", "unit_id"), Index("ix_hosted_units_endpoint", "endpoint_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))

    endpoint: Mapped[Endpoint] = relationship(back_populates="hosted")
    unit: Mapped[Unit] = relationship()


class RegistryVersion(db.Model):
    """A counter of an event's registration: moved by every endpoint created, edited or deleted
    (form, API, spreadsheet), so that the status dashboards know in one primary-key lookup that
    their list of endpoints changed."""

    __tablename__ = "endpoint_registry"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
