"""The one authorization helper every view and API route goes through.

A permission is granted by role; a coordinator is further limited to its unit's subtree,
checked whenever the action concerns a unit.
"""
from __future__ import annotations

from functools import wraps

from flask import abort, current_app
from flask_login import current_user

from coordinator.auth.models import ADMIN, COORDINATOR, OPERATOR, ORGANIZER
from coordinator.auth.scopes import scope_unit
from coordinator.units.models import Unit

ALL_ROLES = frozenset({ADMIN, ORGANIZER, COORDINATOR, OPERATOR})
PERMISSIONS: dict[str, frozenset[str]] = {
    "events.view": ALL_ROLES,
    "events.manage": frozenset({ADMIN, ORGANIZER}),
    "units.view": ALL_ROLES,
    "audit.view": frozenset({ADMIN, ORGANIZER}),
    # Endpoints and contacts: everybody sees (a coordinator only its subtree); operators only read.
    "registration.view": ALL_ROLES,
    "registration.manage": frozenset({ADMIN, ORGANIZER, COORDINATOR}),
    # The national picture: progress of every province, compiled lists, closing deadlines.
    "registration.oversee": frozenset({ADMIN, ORGANIZER, OPERATOR}),
    "deadlines.manage": frozenset({ADMIN, ORGANIZER}),
    "documents.submit": frozenset({ADMIN, ORGANIZER, COORDINATOR}),
    "documents.collect": frozenset({ADMIN, ORGANIZER}),
    # The outbox: what was sent to whom (emails, SMS), failures, sending again.
    "messages.view": frozenset({ADMIN, ORGANIZER}),
    "messages.manage": frozenset({ADMIN, ORGANIZER}),
    # Connection status: everyone watches (a coordinator its province); operators, organizers and a
    # province's coordinator record checks; operators and organizers run probes.
    "status.view": ALL_ROLES,
    "status.check": frozenset({ADMIN, ORGANIZER, OPERATOR, COORDINATOR}),
    "probes.run": frozenset({ADMIN, ORGANIZER, OPERATOR}),
    # Broadcast SMS to a filtered audience: organizers and operators nationally, a coordinator
    # within its province (the filter's unit checked against its scope).
    "broadcasts.send": frozenset({ADMIN, ORGANIZER, OPERATOR, COORDINATOR}),
    # Accounts: admins manage every account; organizers those of coordinators and operators
    # (they onboard the provinces and the duty staff), never admins' or organizers' (see
    # `assignable_roles`, `can_manage_account`).
    "users.manage": frozenset({ADMIN, ORGANIZER}),
}
# The roles each role may give, and whose accounts it may change or disable.
ASSIGNABLE_ROLES: dict[str, tuple[str, ...]] = {
    ADMIN: (ADMIN, ORGANIZER, COORDINATOR, OPERATOR),
    ORGANIZER: (COORDINATOR, OPERATOR),
}


def can(user, permission: str, unit: Unit | None = None) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if user.role not in PERMISSIONS[permission]:
        return False
    if unit is not None and user.role == COORDINATOR:
        own = scope_unit(user, unit.structure)  # the scope in the unit's structure (auth.scopes)
        return own is not None and own.contains(unit)
    return True


def assignable_roles(user) -> tuple[str, ...]:
    """The roles `user` may create accounts with, or change accounts of."""
    if not can(user, "users.manage"):
        return ()
    return ASSIGNABLE_ROLES.get(user.role, ())


def can_manage_account(user, account) -> bool:
    """Whether `user` may change or disable `account` (as it is now; the new role is checked
    against `assignable_roles` separately)."""
    return account.role in assignable_roles(user)


def authorize(permission: str, unit: Unit | None = None) -> None:
    """Abort with 401 for anonymous requests and 403 for a missing right."""
    if not current_user.is_authenticated:
        # Pages redirect to the login form; the API answers 401 (see auth.setup).
        abort(current_app.login_manager.unauthorized())
    if not can(current_user, permission, unit):
        abort(403)


def scope_path(user, structure: str | None = None) -> str | None:
    """The materialised-path prefix a user is limited to in `structure` (an event's
    `unit_structure`; None: the account's own unit's), or None for no limit. A coordinator
    without a unit there is limited to nothing ("/nothing/")."""
    if user.role == COORDINATOR:
        unit = scope_unit(user, structure)
        return unit.path if unit is not None else "/nothing/"
    return None


def require(permission: str):
    """View decorator: `@require("events.manage")`."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            authorize(permission)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


class SystemActor:
    """The actor of commands run on the server (CLI, scheduler): full rights, no user row."""

    id = None
    role = ADMIN
    unit = None
    is_authenticated = True
    is_active = True

    def __init__(self, label: str = "cli"):
        self.email = label
