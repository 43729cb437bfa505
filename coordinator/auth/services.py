"""Users, passwords and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from coordinator.audit import services as audit
from coordinator.auth.models import ADMIN, COORDINATOR, ROLES, ApiToken, User
from coordinator.extensions import db
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit
from coordinator.units.services import default_structure, get_unit

TOKEN_PREFIX = "vcc_"
MIN_PASSWORD_LENGTH = 8
# A real hash to compare against when the user does not exist, so that a login attempt takes
# the same time whether or not the email is known.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class UserError(ValueError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(
    email: str,
    password: str,
    role: str,
    *,
    unit_code: str | None = None,
    structure: str | None = None,
    display_name: str = "",
    actor=None,
) -> User:
    email = normalise_email(email)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise UserError(f"not an email address: {email!r}")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
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
    user = User(email=email, password_hash=generate_password_hash(password), role=role,
                unit=unit, display_name=display_name or email.split("@")[0])
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, actor=actor, email=email, role=role, unit=unit_code)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    user = get_user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not user.active or not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = utcnow()
    db.session.commit()
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


def count_admins() -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == ADMIN, User.active))
