"""The set-password email (outbox kind "account"): text and HTML, in the recipient's language
(Vietnamese unless the account chose English), the link built from PUBLIC_BASE_URL when sent."""
from __future__ import annotations

import hashlib
from datetime import datetime

from flask import current_app
from flask_babel import force_locale

from coordinator.accounts import links
from coordinator.auth.labels import ROLE_LABELS
from coordinator.i18n import mail_environment
from coordinator.outbox import mime
from coordinator.outbox.models import OutboxMessage
from coordinator.timeutil import format_local


def compose(row: OutboxMessage) -> mime.OutgoingEmail:
    p = row.payload
    lang = p.get("lang") or "vi"
    with force_locale(lang):
        role = str(ROLE_LABELS.get(p.get("role", ""), p.get("role", "")))
    zone = current_app.config["DEFAULT_TIMEZONE"]
    ctx = {"p": p, "url": links.url_for_nonce(p["nonce"]), "role": role, "zone": zone,
           "expires": format_local(datetime.fromisoformat(p["expires_at"]), zone),
           "login_url": current_app.config["PUBLIC_BASE_URL"] + "/login",
           "set": p["purpose"] == "set", "hours": int(links.LIFETIME.total_seconds() // 3600)}
    env = mail_environment(lang)
    text = env.get_template("auth/mail/password.txt").render(**ctx)
    html = env.get_template("auth/mail/password.html").render(**ctx)
    domain = current_app.config["MAIL_FROM_ADDRESS"].rpartition("@")[2] or "localhost"
    return mime.build(subject=p.get("subject") or links.subject(p["purpose"], lang),
                      sender=mime.mailbox(current_app.config["MAIL_FROM"]),
                      to=mime.address(p.get("name") or "", row.recipient),
                      message_id=f"<{hashlib.sha256(row.key.encode()).hexdigest()[:32]}@{domain}>",
                      text=text, html=html, language=lang)
