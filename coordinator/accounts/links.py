"""One-time set-password links: /password/<token>, valid 72 hours, usable once.

Only the SHA-256 of a token is stored (`PasswordToken.token_hash`). The token itself is an HMAC of
a random nonce under SECRET_KEY: the nonce travels in the payload of the outbox message that
mails the link (the mail is composed by the dispatcher, later, from that payload), so neither
the token table nor the outbox holds anything that opens the account without the secret key.

Issuing a link revokes the account's older open links; using one sets the password, moves the
session epoch (every older session ends) and revokes the rest. Callable without a request.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from coordinator.audit import services as audit
from coordinator.auth import services
from coordinator.auth.models import RESET_PASSWORD, SET_PASSWORD, PasswordToken, User
from coordinator.extensions import db
from coordinator.outbox import services as outbox
from coordinator.timeutil import utcnow

LIFETIME = timedelta(hours=72)
PATH = "/password/"
MAIL_KIND = "account"
# Before bulk invitations and reminders (0), after incident SMS (10): someone is waiting for it.
MAIL_PRIORITY = 5
# A self-service reset ("Forgot password?") within this time of the previous one sends nothing,
# so that repeated requests cannot keep replacing the link a person is about to open.
SELF_SERVICE_COOLDOWN = timedelta(minutes=2)

VALID, UNKNOWN, EXPIRED, USED, REVOKED, INACTIVE = "valid", "unknown", "expired", "used", "revoked", "inactive"


class LinkUnusable(Exception):
    def __init__(self, state: str):
        super().__init__(state)
        self.state = state


@dataclass(frozen=True)
class IssuedLink:
    url: str
    expires_at: datetime
    token_id: int
    mailed: bool


def _token(nonce: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"password-link\0" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def url_for_nonce(nonce: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"] + PATH + _token(nonce)


def mail_language(user: User) -> str:
    languages = current_app.config["LANGUAGES"]
    return user.locale if user.locale in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def subject(purpose: str, lang: str) -> str:
    with force_locale(lang):
        site = _("Online conference coordination")
        if purpose == SET_PASSWORD:
            return _("Your account on %(site)s: choose your password", site=site)
        return _("Reset your password on %(site)s", site=site)


def issue(user: User, purpose: str | None = None, *, actor=None, mail: bool = True, now: datetime | None = None,
          reason: str = "") -> IssuedLink:
    """A new link for `user` (revoking its older open ones), mailed through the outbox unless
    `mail` is false. `purpose` defaults to "set" for an account without a password, else "reset".
    Flushes, never commits: the caller's transaction holds the link, its mail and the audit entry."""
    now = now or utcnow()
    purpose = purpose or (RESET_PASSWORD if user.has_usable_password else SET_PASSWORD)
    services.revoke_password_links(user)
    nonce = secrets.token_urlsafe(32)
    row = PasswordToken(user_id=user.id, token_hash=_hash(_token(nonce)), purpose=purpose, created_at=now,
                        expires_at=now + LIFETIME)
    db.session.add(row)
    db.session.flush()
    if mail:
        lang = mail_language(user)
        unit = user.unit
        outbox.enqueue([{
            "key": f"{MAIL_KIND}:{row.id}", "channel": "email", "kind": MAIL_KIND, "recipient": user.email,
            "priority": MAIL_PRIORITY,
            "payload": {"purpose": purpose, "nonce": nonce, "token_id": row.id, "lang": lang,
                        "name": user.display_name, "email": user.email, "role": user.role,
                        "unit": f"{unit.name} ({unit.code})" if unit else "",
                        "expires_at": row.expires_at.isoformat(), "subject": subject(purpose, lang)},
        }])
    audit.record("user.password_link", "user", user.id, actor=actor, purpose=purpose, mailed=mail,
                 expires_at=row.expires_at.isoformat(), **({"reason": reason} if reason else {}))
    return IssuedLink(url=url_for_nonce(nonce), expires_at=row.expires_at, token_id=row.id, mailed=mail)


def request_reset(email: str, *, now: datetime | None = None) -> None:
    """"Forgot password?": mail a reset link if `email` names an active account, and do nothing
    otherwise; the caller answers the same either way. Commits."""
    now = now or utcnow()
    user = services.get_user_by_email(email)
    if user is None or not user.active:
        return
    recent = db.session.scalar(select(PasswordToken.id).where(
        PasswordToken.user_id == user.id, PasswordToken.created_at > now - SELF_SERVICE_COOLDOWN,
        PasswordToken.used_at.is_(None), PasswordToken.revoked_at.is_(None)).limit(1))
    if recent is not None:
        return
    issue(user, RESET_PASSWORD, actor=user, now=now, reason="forgot")
    db.session.commit()


def lookup(token: str, *, now: datetime | None = None) -> tuple[str, PasswordToken | None]:
    """The state of a link's token: valid, unknown, expired, used, revoked (a newer link was sent,
    or the account was disabled) or inactive (the account is disabled)."""
    now = now or utcnow()
    if not token or len(token) > 100:
        return UNKNOWN, None
    row = db.session.scalar(select(PasswordToken).where(PasswordToken.token_hash == _hash(token)))
    if row is None:
        return UNKNOWN, None
    if row.used_at is not None:
        return USED, row
    if row.revoked_at is not None:
        return REVOKED, row
    if row.expires_at <= now:
        return EXPIRED, row
    if not row.user.active:
        return INACTIVE, row
    return VALID, row


def use(token: str, password: str, *, now: datetime | None = None) -> User:
    """Set the password through a link. Raises LinkUnusable (with the state) when the link cannot
    be used, UserError when the password breaks the rule (the link stays usable). Commits."""
    now = now or utcnow()
    state, row = lookup(token, now=now)
    if state != VALID:
        raise LinkUnusable(state)
    problem = services.password_problem(password)
    if problem is not None:
        raise services.UserError(problem.localized())
    # Single use even against two submissions at once: only one UPDATE finds the link still open.
    claimed = db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.id == row.id, PasswordToken.used_at.is_(None), PasswordToken.revoked_at.is_(None),
               PasswordToken.expires_at > now)
        .values(used_at=now), execution_options={"synchronize_session": False}).rowcount
    if claimed != 1:
        db.session.rollback()
        raise LinkUnusable(USED)
    user = row.user
    services.set_password(user, password, actor=user, via=f"link:{row.purpose}")
    db.session.commit()
    return user
