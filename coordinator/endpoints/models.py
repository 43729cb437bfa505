from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import Unit

if TYPE_CHECKING:
    from coordinator.events.models import Event



class Protocol(StrEnum):
    """How an endpoint connects: what `dial` holds and what the probes try."""

    SIP = "sip"  # a SIP URI (sip:room@host)
    H323 = "h323"  # an IP address, a host name or an alias
    WEBRTC = "webrtc"  # an https:// link to a web room
    OTHER = "other"  # not known, or none of these: not probed


class ContactRole(StrEnum):
    """A contact's part at the endpoint: who chairs, the technical focal point, an attendee."""

    CHAIR = "chair"
    TECHNICAL = "technical"
    ATTENDEE = "attendee"


class PhoneType(StrEnum):
    """What kind of number a contact's phone is (endpoints.phones decides): only a Vietnamese
    mobile number receives SMS."""

    MOBILE = "mobile"
    FIXED = "fixed"
    FOREIGN = "foreign"  # a valid number outside Vietnam: not reachable by the Vietnamese SMS sender


PROTOCOLS = tuple(Protocol)
CONTACT_ROLES = tuple(ContactRole)
PHONE_TYPES = tuple(PhoneType)


class Endpoint(db.Model):
    """One conference room (điểm cầu) of one unit for one event."""

    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("event_id", "unit_id"),
                      CheckConstraint(column("protocol", String).in_(PROTOCOLS), name="protocol"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: The unit whose endpoint this is (one per unit and event; units it hosts: `hosted`).
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    #: Where the room is (a postal address): with the name, the location of its invitations.
    address: Mapped[str] = mapped_column(Text, default="")
    protocol: Mapped[str] = mapped_column(String(16), default=Protocol.OTHER)
    #: What to dial, in the protocol's form (see Protocol); empty while not known.
    dial: Mapped[str] = mapped_column(String(500), default="")
    #: The MCU/bridge this endpoint cascades into (the province's, into the central endpoint).
    upstream_bridge: Mapped[str] = mapped_column(String(255), default="")
    #: The telecom provider of its line: VNPT, Viettel, …
    provider: Mapped[str] = mapped_column(String(100), default="")
    #: How many people are expected in the room; None: not said.
    expected_attendance: Mapped[int | None] = mapped_column()
    #: Moved by every change to the endpoint, its contacts or the units it hosts, under the row's
    #: lock (endpoints.locking): what a client read is compared with it before a save (the
    #: API's ETag / If-Match, the form's hidden field), so that nobody overwrites unseen changes.
    #: An explicit column, not the mapper's version_id_col: contact-only changes and the bulk
    #: statements of the spreadsheet import would bypass that.
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
    __table_args__ = (UniqueConstraint("endpoint_id", "phone"),
                      CheckConstraint(column("role", String).in_(CONTACT_ROLES), name="role"),
                      CheckConstraint(column("phone_type", String).in_(PHONE_TYPES), name="phone_type"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    #: The person's title or office (chức vụ), as written.
    position: Mapped[str] = mapped_column(String(255), default="")
    #: E.164 ("+84913123456").
    phone: Mapped[str] = mapped_column(String(20))
    #: What kind of number `phone` is: only a mobile one receives SMS.
    phone_type: Mapped[str] = mapped_column(String(8))
    email: Mapped[str] = mapped_column(String(255), default="")
    #: The language of the contact's invitations ("vi").
    language: Mapped[str] = mapped_column(String(8), default="vi")
    #: Not to be texted as this endpoint's contact; reminders honour it, but nothing sets it today:
    #: opt-outs are kept per number, for every event, in sms_opt_outs.
    sms_opt_out: Mapped[bool] = mapped_column(default=False)
    #: Marked by the coordinator as one of the province's focal contacts (cán bộ đầu mối): told of
    #: the province's incidents (one digest per escalation window) beside the technical contacts of
    #: the province's own endpoint.
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
    #: The endpoint it attends at.
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    #: The unit that attends there (at most one endpoint per event hosts it).
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))

    endpoint: Mapped[Endpoint] = relationship(back_populates="hosted")
    unit: Mapped[Unit] = relationship()


class RegistryVersion(db.Model):
    """A counter of an event's registration: moved by every endpoint created, edited or deleted
    (form, API, spreadsheet), so that the status dashboards know in one primary-key lookup that
    their list of endpoints changed."""

    __tablename__ = "endpoint_registry"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    #: Moved by every endpoint created, edited or deleted in the event.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
