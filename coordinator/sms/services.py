"""SMS bookkeeping: opted-out numbers, the provider's delivery reports, and texts that arrive.

Opt-outs are per number (a person), across events: STOP from the phone, Twilio's 21610
(unsubscribed), or an organizer's decision. START from the phone opts back in.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coordinator.audit import services as audit
from coordinator.extensions import db
from coordinator.outbox.models import OutboxMessage
from coordinator.sms.models import SmsOptOut
from coordinator.text import fold
from coordinator.timeutil import utcnow

# Twilio's standard opt-out and opt-in keywords (also what it handles itself on long codes), and
# the Vietnamese a person would write. Compared without diacritics, case-insensitively.
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "huy", "tu choi", "dung"}
START_WORDS = {"start", "unstop", "yes"}
CONFIRM_WORDS = {"ok", "1", "oke", "okay", "san sang", "xac nhan", "co"}

# A delivery report never moves a message backwards (a late "sent" after "delivered").
_RANK = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "receiving": 3, "received": 4,
         "delivered": 5, "read": 6, "undelivered": 5, "failed": 5, "canceled": 5}


def is_opted_out(phone: str) -> bool:
    return db.session.get(SmsOptOut, phone) is not None


def opted_out_among(phones: set[str]) -> set[str]:
    phones = sorted(phones)
    found: set[str] = set()
    for i in range(0, len(phones), 500):
        found.update(db.session.scalars(select(SmsOptOut.phone).where(SmsOptOut.phone.in_(phones[i:i + 500]))))
    return found


OPTED_OUT = "not sent: the number has opted out of SMS"


def opted_out_rows(rows: list[OutboxMessage]) -> list[tuple[OutboxMessage, str]]:
    """The outbox's pre-send filter for SMS: a message queued before its number opted out (STOP,
    21610, an organizer) is not sent; it fails with the reason."""
    blocked = opted_out_among({row.recipient for row in rows})
    return [(row, OPTED_OUT) for row in rows if row.recipient in blocked]


def opt_out(phone: str, source: str, *, note: str = "", actor=None, actor_label: str = "") -> bool:
    """Stop SMS to `phone`. In the caller's transaction; False when it was already opted out."""
    if db.session.get(SmsOptOut, phone) is not None:
        return False
    label = getattr(actor, "email", None) or actor_label or source
    try:
        # In a savepoint: the same number opted out at the same moment by another process (a STOP
        # arriving while a dispatcher records Twilio's 21610) must not undo the caller's transaction.
        with db.session.begin_nested():
            db.session.add(SmsOptOut(phone=phone, source=source, note=note, actor_label=label, created_at=utcnow()))
    except IntegrityError:
        return False
    audit.record("sms.opt_out", "phone", phone, actor=actor, actor_label=label, source=source, note=note)
    return True


def opt_in(phone: str, *, actor=None, actor_label: str = "") -> bool:
    row = db.session.get(SmsOptOut, phone)
    if row is None:
        return False
    db.session.delete(row)
    audit.record("sms.opt_in", "phone", phone, actor=actor, actor_label=getattr(actor, "email", None) or actor_label)
    return True


def opt_outs(phones: list[str] | None = None) -> list[SmsOptOut]:
    stmt = select(SmsOptOut).order_by(SmsOptOut.created_at.desc())
    if phones is not None:
        stmt = stmt.where(SmsOptOut.phone.in_(phones))
    return list(db.session.scalars(stmt))


def record_delivery(sid: str, status: str, error_code: str = "", at: datetime | None = None) -> OutboxMessage | None:
    """A status callback: what became of the message Twilio calls `sid`. Unknown SIDs are ignored
    (None); a report older than what is known changes nothing. Commits."""
    status = (status or "").strip().lower()
    if not sid:  # a report naming no message must not match the messages not sent yet (no SID)
        return None
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.provider_ref == sid,
                                                        OutboxMessage.channel == "sms"))
    if row is None or status not in _RANK:
        return None
    if _RANK[status] >= _RANK.get(row.delivery_status, -1):
        row.delivery_status = status
        row.delivery_error = (error_code or "")[:16]
        row.delivery_updated_at = at or utcnow()
        if status in ("undelivered", "failed") and error_code == "21610":
            opt_out(row.recipient, "provider", note="Twilio 21610")
    db.session.commit()
    return row


def classify(body: str) -> str:
    """What an incoming text asks: "stop", "start", "confirm" or "other"."""
    words = fold(body or "").strip(" .!")
    if words in STOP_WORDS:
        return "stop"
    if words in START_WORDS:
        return "start"
    if words in CONFIRM_WORDS:
        return "confirm"
    return "other"
