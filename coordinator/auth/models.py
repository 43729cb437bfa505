from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, column, event, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.extensions import db
from coordinator.text import fold
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import Unit



class Role(StrEnum):
    """What an account may do (auth.permissions): an administrator everything; an organizer run the
    events; a coordinator register the endpoints of its unit and the units below it; an operator
    watch the endpoints and record their status."""

    ADMIN = "admin"
    ORGANIZER = "organizer"
    COORDINATOR = "coordinator"
    OPERATOR = "operator"


ADMIN, ORGANIZER, COORDINATOR, OPERATOR = Role.ADMIN, Role.ORGANIZER, Role.COORDINATOR, Role.OPERATOR
# Plain strings, not the members: click.Choice (`users create --role`) matches an Enum member by
# its name ("ADMIN"), not by its value.
ROLES = tuple(role.value for role in Role)
# The password hash of an account whose password has not been chosen yet (created with a
# set-password link): no password matches it, and werkzeug cannot parse it as a hash.
UNUSABLE_PASSWORD_PREFIX = "!"


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(column("role", String).in_(ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-case.
    email: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    #: werkzeug's hash of the password; UNUSABLE_PASSWORD_PREFIX while none has been chosen.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    #: A coordinator's scope: this unit and everything below it. Other roles have none.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: A disabled account (False) cannot sign in, and its sessions and links stop working.
    active: Mapped[bool] = mapped_column(default=True)
    #: The account's saved language ("vi" or "en") for its pages and mail; None: none saved.
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Sessions carry the epoch they were opened in (in Flask-Login's user id, so the remember-me
    #: cookie too); signing out everywhere, a new password, a new role or disabling the account
    #: moves it on, and every older session cookie stops working at its next request.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Email and name, lower-case and without diacritics: "nguyen van" finds "Nguyễn Văn A".
    search_text: Mapped[str] = mapped_column(String(500), default="", server_default="")
    #: The status dashboards beep and count new incidents in the title bar for this person (off until
    #: they turn it on; remembered across browsers).
    alert_sound: Mapped[bool] = mapped_column(default=False, server_default=false())

    unit: Mapped[Unit | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def has_usable_password(self) -> bool:
        return bool(self.password_hash) and not self.password_hash.startswith(UNUSABLE_PASSWORD_PREFIX)

    # The random id of the sign-in this object was loaded for (or is being signed in with): see
    # UserSession. Not a column: one account has a session per browser.
    session_id = None  # str | None; a plain attribute (no annotation: not mapped)

    def get_id(self) -> str:
        """What the session (and the remember-me cookie) stores: the id, the session epoch and the
        sign-in's random id (`<id>:<epoch>:<session id>`)."""
        if self.session_id:
            return f"{self.id}:{self.session_epoch}:{self.session_id}"
        return f"{self.id}:{self.session_epoch}"

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _fill_search_text(mapper, connection, target: User) -> None:
    target.search_text = fold(f"{target.email or ''} {target.display_name or ''}")[:500]


class UserSession(db.Model):
    """One sign-in (one browser). Its random id travels in the session cookie and the remember-me
    cookie (in Flask-Login's user id); only its SHA-256 is stored. Signing out sets `revoked_at`:
    that browser's cookies, and any copy of them, name nobody from then on. A sign-in also ends
    when it has not been used for PERMANENT_SESSION_LIFETIME (with "remember me":
    REMEMBER_COOKIE_DURATION after it was opened)."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_open", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: SHA-256 (hex) of the sign-in's random id.
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Signed in with "remember me": the sign-in lasts REMEMBER_COOKIE_DURATION.
    remember: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The IP address it signed in from and its browser's user agent: what the account's page shows
    #: to tell the sign-ins apart.
    address: Mapped[str] = mapped_column(String(64), default="")
    #: The User-Agent header at sign-in (its first 200 characters).
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class ApiToken(db.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 (hex) of the token.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: What the token is for: the name given when it was created.
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Purpose(StrEnum):
    """What a set-password link is for."""

    SET = "set"  # a new account chooses its first password
    RESET = "reset"  # "forgot password", or an administrator sent a new link


SET_PASSWORD, RESET_PASSWORD = Purpose.SET, Purpose.RESET
PURPOSES = tuple(Purpose)


class PasswordToken(db.Model):
    """A one-time set-password link. Only the SHA-256 of its token is stored; the token itself is
    derived from SECRET_KEY and a nonce kept with the outbox message that mails it (`accounts.links`).

    Usable once (`used_at`), until `expires_at`, and only while it is the account's newest link:
    issuing another, using one, or disabling the account sets `revoked_at` on the others.
    """

    __tablename__ = "password_tokens"
    __table_args__ = (Index("ix_password_tokens_user_open", "user_id", "used_at", "revoked_at"),
                      CheckConstraint(column("purpose", String).in_(PURPOSES), name="purpose"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: SHA-256 (hex) of the link's token.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class UserScope(db.Model):
    """The unit an account is scoped to in a structure other than its own unit's, where an
    administrator set one (else the succession of units decides: `auth.scopes`)."""

    __tablename__ = "user_scopes"
    __table_args__ = (UniqueConstraint("user_id", "structure"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: The structure this scope applies in (not the account's own unit's).
    structure: Mapped[str] = mapped_column(String(8))
    #: The unit of that structure the account is scoped to.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))

    unit: Mapped[Unit] = relationship()
