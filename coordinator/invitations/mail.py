"""The invitation email (RFC 6047 iMIP):

    multipart/mixed
      multipart/alternative
        text/plain; charset=utf-8
        text/html; charset=utf-8
        text/calendar; method=REQUEST|CANCEL; charset=UTF-8   (the calendar's own METHOD)
      application/ics; name=invite.ics                        (the same calendar, for clients that need a file)

The calendar is passed as bytes so that its CRLF line endings survive (`add_alternative` with a
`str` would rewrite them). Headers with Vietnamese text are RFC 2047-encoded by the email package.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from coordinator.events.labels import SESSION_LABELS, TIER_LABELS
from coordinator.invitations import calendar
from coordinator.invitations.models import CANCEL
from coordinator.outbox.models import OutboxMessage
from coordinator.timeutil import utcnow


def when(payload: dict, lang: str) -> dict:
    zone = ZoneInfo(payload["tz"])
    starts = datetime.fromisoformat(payload["starts_at"]).astimezone(zone)
    ends = datetime.fromisoformat(payload["ends_at"]).astimezone(zone)
    offset = starts.strftime("%z")
    return {
        "weekday": format_date(starts.date(), "EEEE", locale=lang),
        "date": starts.strftime("%d/%m/%Y"),
        "start": starts.strftime("%H:%M"),
        "end": ends.strftime("%H:%M") if ends.date() == starts.date() else ends.strftime("%d/%m/%Y %H:%M"),
        "zone": f"{payload['tz']}, UTC{offset[:3]}:{offset[3:]}",
    }


def _context(payload: dict) -> dict:
    lang = payload.get("lang") or "vi"
    return {"p": payload, "when": when(payload, lang), "cancelled": payload["method"] == CANCEL,
            "update": payload["sequence"] > 0, "session_label": SESSION_LABELS.get(payload["session_kind"], ""),
            "tier_label": TIER_LABELS.get(payload.get("tier", ""), "")}


def subject(payload: dict, ctx: dict) -> str:
    w = ctx["when"]
    stamp = f"{w['start']} {w['date']}"
    if ctx["cancelled"]:
        return _("Cancelled: %(summary)s (%(when)s)", summary=payload["summary"], when=stamp)
    if ctx["update"]:
        return _("Updated invitation: %(summary)s (%(when)s)", summary=payload["summary"], when=stamp)
    return _("Invitation: %(summary)s (%(when)s)", summary=payload["summary"], when=stamp)


def set_header(msg: EmailMessage, name: str, value: str) -> None:
    """Set a header with non-ASCII text as RFC 2047 encoded words, folded by `email.header.Header`.

    The policy-based folder of Python 3.11 puts the space between an ASCII word and an encoded
    word outside the encoded words when it folds, and readers drop it ("toàn quốc" arrives as
    "toànquốc"); the legacy encoder keeps every space inside an encoded word.
    """
    if name in ("From", "To", "Reply-To"):  # formataddr has encoded the display name: keep it as it is
        msg.set_raw(name, value)
    elif value.isascii():
        msg[name] = value
    else:
        msg.set_raw(name, Header(value, "utf-8", header_name=name).encode(linesep="\r\n"))


def _message_id(key: str) -> str:
    domain = current_app.config["MAIL_FROM_ADDRESS"].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def compose(row: OutboxMessage) -> EmailMessage:
    payload = row.payload
    lang = payload.get("lang") or "vi"
    with force_locale(lang):
        ctx = _context(payload)
        description = render_template("mail/invitation_description.txt", **ctx).strip()
        ics = calendar.invitation({**payload, "description": description}, stamp=utcnow())
        text = render_template("mail/invitation.txt", description=description, **ctx)
        html = render_template("mail/invitation.html", description=description, **ctx)
        title = subject(payload, ctx)

    msg = EmailMessage(policy=SMTP)
    set_header(msg, "Subject", title)
    set_header(msg, "From", formataddr(parseaddr(current_app.config["MAIL_FROM"]), charset="utf-8"))
    set_header(msg, "To", formataddr((payload.get("attendee_name") or "", row.recipient), charset="utf-8"))
    organizer = payload.get("organizer_email")
    if organizer and organizer != parseaddr(current_app.config["MAIL_FROM"])[1]:
        set_header(msg, "Reply-To", formataddr((payload.get("organizer_name") or "", organizer), charset="utf-8"))
    msg["Date"] = format_datetime(utcnow())
    # Derived from the outbox key: a message sent twice (a crash between send and record) has one id.
    msg["Message-ID"] = _message_id(row.key)
    msg["Content-Language"] = lang
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    method = payload["method"]
    msg.add_alternative(ics, maintype="text", subtype="calendar", cte="base64",
                        params={"method": method, "charset": "UTF-8"})
    msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return msg
