"""Who a mail is from: the organizer's office for everything sent about an event.

Recipients at the provinces answer the office that convened them, not a robot: the From header
carries the office's name and Reply-To its address. The address in From is MAIL_FROM's when it is
configured (the address the mail relay may send as, so SPF / DKIM / DMARC pass), otherwise the
office's own; a mail with no office to speak for goes out as MAIL_FROM.
"""
from __future__ import annotations

from email.utils import parseaddr

from flask import current_app

from coordinator.outbox import mime


def office_sender(office: str | None, email: str | None) -> tuple[str, str | None]:
    """(From, Reply-To) header values for mail sent on behalf of `office` at `email`."""
    config = current_app.config
    configured_name, configured_address = parseaddr(config["MAIL_FROM"])
    office, email = (office or "").strip(), (email or "").strip()
    name = office or configured_name
    if email and not config.get("MAIL_FROM_SET"):
        return mime.address(name, email), None
    sender = mime.address(name, configured_address)
    if email and email.lower() != configured_address.lower():
        return sender, mime.address(office, email)
    return sender, None
