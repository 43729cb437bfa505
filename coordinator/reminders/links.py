"""The one-tap confirmation link carried by every session reminder: `/c/<token>`.

Short on purpose (an SMS pays for every character): the session and contact ids in base 36 and
a 50-bit HMAC of them under SECRET_KEY, all lower-case ASCII, so the link costs no UCS-2 units.
It needs no expiry of its own: it is refused once the session has ended.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if n == 0:
            return out


def _mac(session_id: int, contact_id: int) -> str:
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), f"confirm:{session_id}:{contact_id}".encode(),
                      hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:10].lower()


def token(session_id: int, contact_id: int) -> str:
    return f"{_b36(session_id)}-{_b36(contact_id)}-{_mac(session_id, contact_id)}"


def parse(value: str) -> tuple[int, int] | None:
    """(session_id, contact_id) of a genuine token, else None."""
    parts = (value or "").lower().split("-")
    if len(parts) != 3 or not all(parts) or len(parts[0]) > 12 or len(parts[1]) > 12:
        return None
    try:
        session_id, contact_id = int(parts[0], 36), int(parts[1], 36)
    except ValueError:
        return None
    if not hmac.compare_digest(parts[2], _mac(session_id, contact_id)):
        return None
    return session_id, contact_id


def url(session_id: int, contact_id: int) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/c/{token(session_id, contact_id)}"
