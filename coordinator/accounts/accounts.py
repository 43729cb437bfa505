"""Managing accounts: list, create, change, disable and re-enable, send set-password links.

Called by the users pages, the API (`/api/v1/users`), the spreadsheet import (`accounts.sheets`) and
the CLI, without a request. Every change is audited in the transaction that makes it. Rules:

- admins manage every account; organizers create and change coordinator and operator accounts
  only, and cannot give the roles organizer or admin (`permissions.assignable_roles`);
- a coordinator needs a scope unit (a loaded unit; its subtree is the scope);
- nobody disables their own account or changes their own role, and the last active admin
  stays an active admin;
- a new account has no password: it gets a set-password link by email (`accounts.links`);
- disabling an account ends its sessions and revokes its API tokens and open links at once.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from coordinator.audit import services as audit
from coordinator.auth import services
from coordinator.accounts import links
from coordinator.auth.labels import ROLE_LABELS
from coordinator.auth.models import ADMIN, COORDINATOR, ROLES, User, UserScope
from coordinator.auth.permissions import assignable_roles, can_manage_account
from coordinator.extensions import db
from coordinator.fields import clean_text, max_length_of, too_long
from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem
from coordinator.text import fold
from coordinator.auth import scopes
from coordinator.units.models import STRUCTURES, Unit
from coordinator.units.services import default_structure, get_unit

MAX_NAME = max_length_of(User.display_name)
EDITABLE = ("name", "role", "unit_code", "structure", "active", "scopes")


class AccountExists(Exception):
    def __init__(self, email: str):
        super().__init__(f"an account with email {email} already exists")
        self.email = email


def _problem(field: str, template: str, forbidden: bool = False, **params: Any) -> Problem:
    return Problem(field, Message(template, params), forbidden=forbidden)


def _forbidden_account(user: User) -> Problem:
    return _problem("role", N_("You may not change this account (%(role)s)."), forbidden=True,
                    role=ROLE_LABELS.get(user.role, user.role))


# --- reading ---------------------------------------------------------------------------------------

def get_account(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def list_accounts(*, q: str | None = None, role: str | None = None, unit: str | None = None,
                  structure: str | None = None, active: bool | None = None, page: int = 1,
                  per_page: int = 50) -> tuple[list[User], int]:
    """Accounts matching every filter given, by email, one page at a time, with the total.

    `q`: part of the email or name, with or without diacritics; `unit`: a unit code, matching the
    accounts scoped to that unit or a unit below it (in `structure` if given, else in any);
    `structure` alone: accounts scoped to a unit of that structure."""
    stmt = select(User).outerjoin(Unit, User.unit_id == Unit.id)
    if q and q.strip():
        stmt = stmt.where(User.search_text.contains(fold(q), autoescape=True))
    if role:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    if unit and unit.strip():
        roots = select(Unit.structure, Unit.path).where(Unit.code == unit.strip())
        if structure:
            roots = roots.where(Unit.structure == structure)
        scopes = db.session.execute(roots).all()
        if not scopes:
            return [], 0
        stmt = stmt.where(or_(*[and_(Unit.structure == s, Unit.path.startswith(p, autoescape=True))
                                for s, p in scopes]))
    elif structure:
        stmt = stmt.where(Unit.structure == structure)
    total = db.session.scalar(select(func.count()).select_from(stmt.with_only_columns(User.id).subquery()))
    items = list(db.session.scalars(stmt.options(joinedload(User.unit)).order_by(User.email)
                                    .offset((page - 1) * per_page).limit(per_page)))
    return items, total


# --- rules shared by every way in --------------------------------------------------------------------

def clean_name(name: str | None) -> str:
    return " ".join((name or "").split())


def check_name(raw: Any, problems: list[Problem]) -> str:
    """An account's name as stored: the field rules of every free text (coordinator.fields: NFC,
    no control or bidi characters), spaces collapsed, at most the column's length; a problem is
    added to `problems` when it cannot be stored."""
    name, err = clean_text(raw)
    if err is None:
        name = clean_name(name)
        if len(name) > MAX_NAME:
            err = too_long(len(name), MAX_NAME)
    if err is not None:
        problems.append(Problem("name", err))
    return name


def resolve_unit(code: str | None, structure: str | None, problems: list[Problem], *,
                 default: str | None = None) -> Unit | None:
    """The unit of `code` in `structure` (default: `default`, else the configured loaded one);
    None without a code. A wrong code or structure is added to `problems`."""
    code = (code or "").strip()
    structure = (structure or "").strip() or None
    if structure is not None and structure not in STRUCTURES:
        problems.append(_problem("structure", N_("Unknown structure '%(structure)s': use %(known)s."),
                                 structure=structure, known=" or ".join(STRUCTURES)))
        return None
    if not code:
        return None
    structure = structure or default or default_structure()
    unit = get_unit(structure, code)
    if unit is None:
        template = (N_("No unit with code '%(code)s' in the %(structure)s structure. A spreadsheet may have dropped "
                       "its leading zeros (01 became 1): format the column as Text.") if code.isdigit() and
                    len(code) not in (2, 3, 5) else
                    N_("No unit with code '%(code)s' in the %(structure)s structure."))
        problems.append(_problem("unit_code", template, code=code, structure=structure))
    return unit


def check_role(actor, role: str | None, problems: list[Problem], *, field: str = "role") -> None:
    if role not in ROLES:
        problems.append(_problem(field, N_("Unknown role '%(role)s'."), role=role or ""))
    elif role not in assignable_roles(actor):
        problems.append(_problem(field, N_("You may not give the role %(role)s."), forbidden=True,
                                 role=ROLE_LABELS[role]))


def check_scope(role: str | None, unit: Unit | None, problems: list[Problem]) -> None:
    if role == COORDINATOR and unit is None and not any(p.field in ("unit_code", "structure") for p in problems):
        problems.append(_problem("unit_code", N_("A coordinator needs a unit: the unit whose subtree they manage.")))


def check_email(email: str, problems: list[Problem]) -> str:
    email = services.normalise_email(email or "")
    if not email:
        problems.append(_problem("email", N_("Required.")))
    elif not services.is_email(email) or len(email) > 255:
        problems.append(_problem("email", N_("'%(email)s' is not an email address."), email=email))
    return email


def _active_admin_ids() -> set[int]:
    # Locked on PostgreSQL (FOR UPDATE; nothing on SQLite, whose writers are serialised), so
    # that two admins disabling each other at once cannot both succeed.
    return set(db.session.scalars(select(User.id).where(User.role == ADMIN, User.active.is_(True))
                                  .order_by(User.id).with_for_update()))


def check_admins_remain(leaving: set[int], problems: list[Problem], field: str = "active") -> None:
    """`leaving`: ids of active admins that would stop being active admins."""
    if leaving and not (_active_admin_ids() - leaving):
        problems.append(_problem(field, N_("This is the last active administrator: make another account an "
                                           "administrator first.")))


# --- creating ----------------------------------------------------------------------------------------

def create_account(actor, *, email: str, role: str, name: str = "", unit_code: str | None = None,
                   structure: str | None = None, active: bool = True, locale: str | None = None,
                   mail: bool = True, via: str = "web", commit: bool = True) -> tuple[User, links.IssuedLink | None]:
    """A new account without a password, and its set-password link (mailed unless `mail` is
    false; none for an account created disabled). Raises Invalid or AccountExists."""
    problems: list[Problem] = []
    email = check_email(email, problems)
    check_role(actor, role, problems)
    unit = resolve_unit(unit_code, structure, problems)
    check_scope(role, unit, problems)
    name = check_name(name, problems)
    if problems:
        raise Invalid(problems)
    if services.get_user_by_email(email) is not None:
        raise AccountExists(email)
    user = User(email=email, display_name=name or email.split("@")[0], role=role, unit=unit, active=active,
                password_hash=services.unusable_password(), locale=locale)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, actor=actor, email=email, role=role,
                 unit=unit.code if unit else None, structure=unit.structure if unit else None, active=active, via=via)
    link = links.issue(user, actor=actor, mail=mail) if active else None
    if commit:
        db.session.commit()
    return user, link


# --- changing ----------------------------------------------------------------------------------------

def plan_update(actor, user: User, data: dict[str, Any], problems: list[Problem], *,
                check_last_admin: bool = True) -> dict[str, tuple[Any, Any]]:
    """What `data` (some of name, role, unit_code, structure, active) would change on `user`, as
    {field: (before, after)} with the unit as a Unit; problems are added to `problems`."""
    if not can_manage_account(actor, user):
        problems.append(_forbidden_account(user))
        return {}
    is_self = getattr(actor, "id", None) is not None and actor.id == user.id
    changes: dict[str, tuple[Any, Any]] = {}
    if "name" in data:
        before = len(problems)
        name = check_name(data["name"], problems)
        if len(problems) == before and not name:
            problems.append(_problem("name", N_("Required.")))
        elif len(problems) == before and name != user.display_name:
            changes["name"] = (user.display_name, name)
    role = data.get("role", user.role)
    if role != user.role:
        if is_self:
            problems.append(_problem("role", N_("You cannot change your own role."), forbidden=True))
        else:
            check_role(actor, role, problems)
            changes["role"] = (user.role, role)
    unit = user.unit
    if "unit_code" in data or "structure" in data:
        code = data["unit_code"] if "unit_code" in data else (user.unit.code if user.unit else None)
        unit = resolve_unit(code, data.get("structure"), problems,
                            default=user.unit.structure if user.unit else None)
        if (unit.id if unit else None) != user.unit_id:
            changes["unit"] = (user.unit, unit)
    if role in ROLES:
        check_scope(role, unit, problems)
    for structure, code in (data.get("scopes") or {}).items():
        _plan_scope(user, unit, structure, code, problems, changes)
    if "active" in data and bool(data["active"]) != user.active:
        if is_self and not data["active"]:
            problems.append(_problem("active", N_("You cannot disable your own account."), forbidden=True))
        changes["active"] = (user.active, bool(data["active"]))
    if check_last_admin and user.role == ADMIN and user.active:
        if changes.get("role", (None, ADMIN))[1] != ADMIN or not changes.get("active", (None, True))[1]:
            check_admins_remain({user.id}, problems, "role" if "role" in changes else "active")
    return changes


def _plan_scope(user: User, unit: Unit | None, structure: str, code: str | None, problems: list[Problem],
                changes: dict[str, tuple[Any, Any]]) -> None:
    """The unit `user` is scoped to in `structure`, other than its own unit's (see auth.scopes):
    a code sets it, None or "" goes back to the succession of units."""
    field = f"scopes.{structure}"
    if structure not in STRUCTURES:
        problems.append(_problem(field, N_("Unknown structure '%(structure)s'."), structure=structure))
        return
    if unit is not None and unit.structure == structure:
        problems.append(_problem(field, N_("This is the structure of the account's own unit: change its unit instead.")))
        return
    after = None
    if code and str(code).strip():
        after = get_unit(structure, str(code).strip())
        if after is None:
            problems.append(_problem(field, N_("No unit with code '%(code)s' in the %(structure)s structure."),
                                     code=str(code).strip(), structure=structure))
            return
    before = None
    if user.id is not None:
        row = db.session.scalar(select(UserScope).where(UserScope.user_id == user.id, UserScope.structure == structure))
        before = row.unit if row is not None else None
    if (before.id if before else None) != (after.id if after else None):
        changes[f"scope:{structure}"] = (before, after)


def _audit_value(field: str, value: Any) -> Any:
    if field == "unit" or field.startswith("scope:"):
        return f"{value.structure}:{value.code}" if value is not None else None
    return value


def apply_update(actor, user: User, changes: dict[str, tuple[Any, Any]], *, via: str = "web") -> None:
    """Write what plan_update decided, with its audit entries. Flushes; the caller commits."""
    if not changes:
        return
    for field, (_before, after) in changes.items():
        if field == "name":
            user.display_name = after
        elif field == "role":
            user.role = after
        elif field == "unit":
            user.unit = after
        elif field == "active":
            user.active = after
        elif field.startswith("scope:"):
            scopes.assign(user, field.split(":", 1)[1], after)
    described = {f: [_audit_value(f, b), _audit_value(f, a)] for f, (b, a) in changes.items() if f != "active"}
    if described:
        audit.record("user.update", "user", user.id, actor=actor, email=user.email, changes=described, via=via)
    if "role" in changes:
        services.end_all_sessions(user)  # signed in again, the account sees what its new role allows
    if "active" in changes:
        if changes["active"][1]:
            audit.record("user.enable", "user", user.id, actor=actor, email=user.email, via=via)
        else:
            revoked = services.revoke_access(user)
            audit.record("user.disable", "user", user.id, actor=actor, email=user.email, via=via,
                         tokens_revoked=revoked, sessions="revoked")
    db.session.flush()


def update_account(actor, user: User, data: dict[str, Any], *, via: str = "web",
                   commit: bool = True) -> dict[str, tuple[Any, Any]]:
    """Change some of name, role, unit_code (+ structure), active. Raises Invalid (check
    `.forbidden` for a missing right); nothing is changed then. Returns the changes made."""
    unknown = set(data) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    problems: list[Problem] = []
    changes = plan_update(actor, user, data, problems)
    if problems:
        db.session.rollback()  # let go of the admin rows locked by the check
        raise Invalid(problems)
    apply_update(actor, user, changes, via=via)
    if commit:
        db.session.commit()
    return changes


def end_sessions(actor, user: User, *, via: str = "web") -> int:
    """End every session of `user` (each browser must sign in again; API tokens keep working).
    Audited; commits. Returns the number of sign-ins that were alive."""
    if not can_manage_account(actor, user):
        raise Invalid([_forbidden_account(user)])
    ended = services.end_all_sessions(user)
    audit.record("user.sessions_revoke", "user", user.id, actor=actor, email=user.email, via=via, sessions=ended)
    db.session.commit()
    return ended


def send_link(actor, user: User, *, via: str = "web") -> links.IssuedLink:
    """Mail `user` a new set-password link (a reset link if it has a password)."""
    if not can_manage_account(actor, user):
        raise Invalid([_forbidden_account(user)])
    if not user.active:
        raise Invalid([_problem("active", N_("The account is disabled: enable it first."))])
    link = links.issue(user, actor=actor, reason=via)
    db.session.commit()
    return link

