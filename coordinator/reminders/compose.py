"""What the outbox sends for a reminder: the SMS text decided when it was queued, or the same
text as a plain email."""
from __future__ import annotations

import hashlib

from flask import current_app

from coordinator.outbox import mime
from coordinator.outbox.senders import office_sender
from coordinator.outbox.models import OutboxMessage


def compose(row: OutboxMessage):
    payload = row.payload
    if row.channel == "sms":
        return payload["body"]
    domain = current_app.config["MAIL_FROM_ADDRESS"].rpartition("@")[2] or "localhost"
    sender, reply_to = office_sender(payload.get("organizer_office"), payload.get("organizer_email"))
    return mime.build(subject=payload.get("subject") or payload["body"][:80],
                      sender=sender, reply_to=reply_to,
                      to=mime.address(payload.get("name") or "", row.recipient),
                      message_id=f"<{hashlib.sha256(row.key.encode()).hexdigest()[:32]}@{domain}>",
                      text=payload["body"] + "\n", language=payload.get("lang") or "vi")
