"""The invitation email (RFC 6047 iMIP):

    multipart/mixed
      multipart/alternative
        text/plain; charset=utf-8
        text/html; charset=utf-8
        text/calendar; method=REQUEST|CANCEL; charset=UTF-8   (the calendar's own METHOD)
      application/ics; name=invite.ics                        (the same calendar, for clients that need a file)

The calendar travels as bytes in base64, so its CRLF line endings survive (`EmailMessage.
add_alternative` with a `str` would rewrite them). The MIME itself is built by `outbox.mime`.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from coordinator.events.labels import SESSION_LABELS, TIER_LABELS
from coordinator.events.models import Event
from coordinator.invitations import calendar
from coordinator.invitations.models import CANCEL
from coordinator.i18n import mail_environment
from coordinator.outbox import mime
from coordinator.outbox.senders import office_sender
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
    """What the mail templates see; call with the recipient's locale forced (labels are translated)."""
    lang = payload.get("lang") or "vi"
    previous = None
    if payload.get("previous_starts_at"):
        previous = when({**payload, "starts_at": payload["previous_starts_at"],
                         "ends_at": payload["previous_ends_at"]}, lang)
    return {"p": payload, "when": when(payload, lang), "previous": previous, "cancelled": payload["method"] == CANCEL,
            "update": payload["sequence"] > 0, "session_label": str(SESSION_LABELS.get(payload["session_kind"], "")),
            "tier_label": str(TIER_LABELS.get(payload.get("tier", ""), ""))}


def render(template: str, lang: str, **context) -> str:
    return mail_environment(lang).get_template(template).render(**context)


def subject(payload: dict, ctx: dict) -> str:
    w = ctx["when"]
    stamp = f"{w['start']} {w['date']}"
    if ctx["cancelled"]:
        return _("Cancelled: %(summary)s (%(when)s)", summary=payload["summary"], when=stamp)
    if ctx["update"]:
        return _("Updated invitation: %(summary)s (%(when)s)", summary=payload["summary"], when=stamp)
    return _("Invitation: %(summary)s (%(when)s)", summary=payload["summary"], when=stamp)


def sender_of(event: Event) -> tuple[str, str | None]:
    """The From and Reply-To of the event's invitations as `compose` writes them, readable (Unicode
    names kept): what the publish preview shows."""
    sender, reply_to = office_sender(event.organizer_office or event.organizer_name, event.organizer_email)
    readable = lambda value: str(make_header(decode_header(value))) if value else value  # noqa: E731
    return readable(sender), readable(reply_to)


def _message_id(key: str) -> str:
    domain = current_app.config["MAIL_FROM_ADDRESS"].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def compose(row: OutboxMessage) -> mime.OutgoingEmail:
    payload = row.payload
    lang = payload.get("lang") or "vi"
    with force_locale(lang):
        ctx = _context(payload)
        title = subject(payload, ctx)
    description = render("mail/invitation_description.txt", lang, **ctx).strip()
    ics = calendar.invitation({**payload, "description": description}, stamp=utcnow())
    text = render("mail/invitation.txt", lang, description=description, **ctx)
    html = render("mail/invitation.html", lang, description=description, **ctx)

    # The organizer's office writes (its address given on the event; older payloads: organizer_email).
    sender, reply_to = office_sender(payload.get("organizer_office") or payload.get("organizer_name"),
                                     payload.get("organizer_contact_email", payload.get("organizer_email")))
    return mime.build(
        subject=title, sender=sender,
        to=mime.address(payload.get("attendee_name") or "", row.recipient),
        reply_to=reply_to,
        # Derived from the outbox key: a message sent twice (a crash between send and record) has one id.
        message_id=_message_id(row.key),
        text=text, html=html, calendar=ics, method=payload["method"], language=lang,
    )
