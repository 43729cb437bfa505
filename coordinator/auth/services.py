"""Users, passwords, sessions and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import and_, delete, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from coordinator.audit import services as audit
from coordinator.auth.models import (COORDINATOR, ROLES, UNUSABLE_PASSWORD_PREFIX, ApiToken, PasswordToken,
                                     User, UserSession)
from coordinator.extensions import db
from coordinator.messages import N_, Message
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit
from coordinator.units.services import default_structure, get_unit

TOKEN_PREFIX = "vcc_"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # scrypt of a megabyte "password" is a denial of service, not a password
# A real hash to compare against when the user does not exist, so that a login attempt takes
# the same time whether or not the email is known.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class UserError(ValueError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def is_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(at and local and domain) and "@" not in domain and \
        not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in email)


def get_user_by_email(email: str) -> User | None:
    email = normalise_email(email)
    if "\x00" in email:  # no account has one, and PostgreSQL cannot even compare it
        return None
    return db.session.scalar(select(User).where(User.email == email))


def password_problem(password: str) -> Message | None:
    """The one password rule, for the CLI, the set-password page and the API: None when acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return Message(N_("The password must have at least %(min)s characters."), {"min": MIN_PASSWORD_LENGTH})
    if len(password) > MAX_PASSWORD_LENGTH:
        return Message(N_("The password must have at most %(max)s characters."), {"max": MAX_PASSWORD_LENGTH})
    return None


def unusable_password() -> str:
    """The hash of an account without a password yet: nothing matches it."""
    return UNUSABLE_PASSWORD_PREFIX + secrets.token_hex(16)


def create_user(
    email: str,
    password: str | None,
    role: str,
    *,
    unit_code: str | None = None,
    structure: str | None = None,
    display_name: str = "",
    actor=None,
) -> User:
    """Create an account (the CLI's and the tests' way; the pages and the API use
    `accounts.create_account`, which also mails the set-password link). Without `password` the
    account has no usable password until a set-password link is used."""
    email = normalise_email(email)
    if not is_email(email):
        raise UserError(f"not an email address: {email!r}")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password is not None and len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    unit: Unit | None = None
    if role == COORDINATOR:
        if not unit_code:
            raise UserError("a coordinator needs --unit CODE: the unit whose subtree they manage")
    if unit_code:
        structure = structure or default_structure()
        unit = get_unit(structure, unit_code)
        if unit is None:
            raise UserError(f"no unit with code {unit_code!r} in structure {structure} (load units first)")
    if get_user_by_email(email):
        raise UserError(f"a user with email {email} already exists")
    user = User(email=email, password_hash=generate_password_hash(password) if password else unusable_password(),
                role=role, unit=unit, display_name=display_name or email.split("@")[0])
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, actor=actor, email=email, role=role, unit=unit_code,
                 structure=unit.structure if unit else None, first_password="given" if password else "link")
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    user = get_user_by_email(email)
    if user is None or not user.has_usable_password:
        check_password_hash(_DUMMY_HASH, password)  # the same time whether or not the account can sign in
        return None
    if not user.active or not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def set_password(user: User, password: str, *, actor=None, via: str = "cli") -> None:
    """Give `user` a new password: every session opened before stops working (the epoch moves),
    and the account's open set-password links are revoked. Flushes; the caller commits."""
    problem = password_problem(password)
    if problem is not None:
        raise UserError(problem.text)
    user.password_hash = generate_password_hash(password)
    end_all_sessions(user)
    revoke_password_links(user)
    audit.record("user.password_set", "user", user.id, actor=actor, via=via)  # never the password
    db.session.flush()


def revoke_password_links(user: User, *, except_id: int | None = None) -> int:
    now = utcnow()
    stmt = (update(PasswordToken)
            .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None), PasswordToken.revoked_at.is_(None))
            .values(revoked_at=now))
    if except_id is not None:
        stmt = stmt.where(PasswordToken.id != except_id)
    return db.session.execute(stmt, execution_options={"synchronize_session": False}).rowcount


def revoke_access(user: User) -> int:
    """End everything that speaks for `user` now: session cookies (the epoch moves on, so even a
    re-enabled account's old cookies stay dead), API tokens and open set-password links.
    Returns how many API tokens were revoked. Flushes; the caller commits."""
    end_all_sessions(user)
    revoked = db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()),
        execution_options={"synchronize_session": False}).rowcount
    revoke_password_links(user)
    db.session.flush()
    return revoked


# --- sign-in sessions --------------------------------------------------------------------------------
#
# The session cookie (and the remember-me cookie) carries "<user id>:<epoch>:<session id>". The
# epoch is the account's generation of sessions: moving it on ends every session at once. The
# session id names a UserSession row: revoking it ends that one sign-in, on the server, whatever
# copies of its cookies exist.

SESSION_TOUCH = timedelta(minutes=1)  # last_seen_at is written at most this often
MAX_SESSION_ID = 64


def _hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _lifetimes() -> tuple[timedelta, timedelta]:
    """(idle lifetime of a sign-in, lifetime of a remembered one), as the cookies have them."""
    from flask import current_app

    idle = current_app.permanent_session_lifetime
    remember = current_app.config.get("REMEMBER_COOKIE_DURATION") or timedelta(days=365)  # Flask-Login's default
    if not isinstance(remember, timedelta):
        remember = timedelta(seconds=int(remember))
    return idle, remember


def _session_alive(row: UserSession, now) -> bool:
    idle, remember = _lifetimes()
    if row.revoked_at is not None:
        return False
    if row.remember:
        return row.created_at > now - remember
    return row.last_seen_at > now - idle


def open_session(user: User, *, remember: bool = False, address: str = "", user_agent: str = "") -> str:
    """A new sign-in for `user`: its random id (also set on `user.session_id`, so that
    Flask-Login's `login_user` writes it into the cookies). Dead sign-ins of the account are
    dropped on the way. Flushes; the caller commits."""
    now = utcnow()
    idle, long = _lifetimes()
    db.session.execute(delete(UserSession).where(
        UserSession.user_id == user.id,
        or_(UserSession.revoked_at.is_not(None),
            and_(UserSession.remember.is_(False), UserSession.last_seen_at < now - idle),
            UserSession.created_at < now - long)), execution_options={"synchronize_session": False})
    session_id = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, sid_hash=_hash_session_id(session_id), remember=remember,
                               created_at=now, last_seen_at=now, address=(address or "")[:64],
                               user_agent=(user_agent or "")[:200]))
    user.session_id = session_id
    db.session.flush()
    return session_id


def open_sessions(user: User) -> list[UserSession]:
    """The account's sign-ins still alive, newest first."""
    now = utcnow()
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id,
                                                        UserSession.revoked_at.is_(None))
                              .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()))
    return [row for row in rows if _session_alive(row, now)]


def session_row_id(user: User) -> int | None:
    """The UserSession id of the sign-in `user` was loaded for (None for older cookies)."""
    if not user.session_id:
        return None
    return db.session.scalar(select(UserSession.id).where(UserSession.sid_hash == _hash_session_id(user.session_id)))


def end_session(user: User) -> None:
    """Sign-out: the sign-in `user` was loaded for ends on the server. A session from before
    sign-ins were recorded (no session id in its cookie) cannot be told from its copies: the
    account's epoch moves on instead, ending every session opened before. Flushes; the caller commits."""
    if user.session_id:
        db.session.execute(update(UserSession).where(
            UserSession.sid_hash == _hash_session_id(user.session_id), UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow()), execution_options={"synchronize_session": False})
    else:
        user.session_epoch += 1
    db.session.flush()


def end_all_sessions(user: User) -> int:
    """Every session of `user` ends now (the epoch moves on: cookies of any age; every recorded
    sign-in is revoked). API tokens are not sessions and are left alone. Returns the number of
    sign-ins that were alive. Flushes; the caller commits."""
    alive = len(open_sessions(user)) if user.id is not None else 0
    user.session_epoch += 1
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()), execution_options={"synchronize_session": False})
    db.session.flush()
    return alive


def user_for_session(user_id: str) -> User | None:
    """The user of a session cookie: `<id>:<epoch>:<session id>` as written at sign-in
    (`User.get_id`). A cookie of an older epoch, of a sign-in that was ended or has expired, or of
    a disabled account names nobody. Cookies from before sign-ins were recorded (`<id>:<epoch>`,
    or a bare `<id>` from before epochs) are accepted while the account's epoch is unchanged."""
    parts = (user_id or "").split(":")
    if len(parts) > 3:
        return None
    ident, epoch, session_id = (parts + ["", ""])[:3]
    try:
        user = db.session.get(User, int(ident))
        epoch_number = int(epoch) if epoch else 0
    except (TypeError, ValueError):
        return None
    if user is None or not user.active or user.session_epoch != epoch_number:
        return None
    if len(parts) == 3:
        if not session_id or len(session_id) > MAX_SESSION_ID:
            return None
        row = db.session.scalar(select(UserSession).where(UserSession.sid_hash == _hash_session_id(session_id)))
        now = utcnow()
        if row is None or row.user_id != user.id or not _session_alive(row, now):
            return None
        if now - row.last_seen_at > SESSION_TOUCH:  # not a database write on every page
            row.last_seen_at = now
            db.session.commit()
        user.session_id = session_id
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str = "cli", *, actor=None) -> str:
    """A new bearer token for `user`; only its hash is stored, so this is the only time it is seen."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=_hash_token(token), name=name))
    audit.record("token.issue", "user", user.id, actor=actor, name=name)
    db.session.commit()
    return token


def user_for_token(token: str) -> User | None:
    row = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _hash_token(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.user.active:
        return None
    now = utcnow()
    # Recorded at most once a minute: not a database write on every API call.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        db.session.commit()
    return row.user



def set_alert_sound(user: User, on: bool) -> bool:
    """The person's choice of a sound and a title-bar count when a new incident opens on the
    status dashboards (off until they turn it on), saved and audited; returns it. Saving what is
    already saved changes nothing and records nothing."""
    on = bool(on)
    if user.alert_sound == on:
        return on
    user.alert_sound = on
    audit.record("user.preferences", "user", user.id, actor=user, alert_sound=on)
    db.session.commit()
    return on
