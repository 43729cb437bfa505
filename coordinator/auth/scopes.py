"""A coordinator's scope in each unit structure.

An account is scoped to one unit (`User.unit`, in the structure it was given in). In the other
structure its scope is, in this order: a unit an administrator assigned for that structure
(`UserScope`), else the official succession of its unit (`units.succession`): 2024 Ninh Thuận
and 2024 Khánh Hòa -> 2025 Khánh Hòa; a 2025 unit -> its only predecessor when it had exactly
one. Where nothing maps (a 2024 district: no districts in 2025; a 2025 province merged from
two), the account has no scope there: `ScopeMissing` says which unit and whom to ask.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_request_context
from sqlalchemy import select

from coordinator.auth.models import ADMIN, COORDINATOR, ORGANIZER, User, UserScope
from coordinator.extensions import db
from coordinator.units import succession
from coordinator.units.models import STRUCTURES, Unit

ASSIGNED, OWN, SUCCESSION, MISSING = "assigned", "own", "succession", "missing"


@dataclass
class Scope:
    structure: str
    unit: Unit | None
    source: str  # own (the account's unit), assigned (for this structure), succession, missing
    # When missing: the account's own unit and the units it maps to (none, or several).
    from_unit: Unit | None = None
    candidates: tuple[Unit, ...] = ()


class ScopeMissing(Exception):
    """A coordinator opened something of a structure its account has no unit in."""

    def __init__(self, scope: Scope):
        super().__init__(f"no scope in structure {scope.structure}")
        self.scope = scope


def _resolve(user, structure: str) -> Scope:
    own = user.unit
    if own is not None and own.structure == structure:
        return Scope(structure, own, OWN)
    if getattr(user, "id", None) is not None:
        assigned = db.session.scalar(select(UserScope).where(UserScope.user_id == user.id,
                                                             UserScope.structure == structure))
        if assigned is not None:
            return Scope(structure, assigned.unit, ASSIGNED)
    if own is None:
        return Scope(structure, None, MISSING)
    found = succession.equivalent(own, structure)
    if found is not None:
        return Scope(structure, found, SUCCESSION, from_unit=own)
    before = succession.predecessors(own, structure)
    if len(before) == 1 and before[0][1] == succession.WHOLE:
        return Scope(structure, before[0][0], SUCCESSION, from_unit=own)
    candidates = tuple(u for u, _share in (succession.successors(own, structure) or before))
    return Scope(structure, None, MISSING, from_unit=own, candidates=candidates)


def scope_in(user, structure: str) -> Scope:
    """The scope of `user` (a coordinator) in `structure`, cached for the request."""
    if not has_request_context():
        return _resolve(user, structure)
    cache = g.setdefault("_scopes", {})
    key = (getattr(user, "id", None), getattr(user, "unit_id", None), structure)
    if key not in cache:
        cache[key] = _resolve(user, structure)
    return cache[key]


def scope_unit(user, structure: str | None) -> Unit | None:
    """The unit whose subtree a coordinator manages in `structure` (None: no scope there)."""
    if structure is None:
        return user.unit
    return scope_in(user, structure).unit


def require_scope(user, structure: str) -> None:
    """Raise ScopeMissing when `user` is a coordinator without a unit in `structure`."""
    if getattr(user, "role", None) == COORDINATOR and user.is_authenticated:
        scope = scope_in(user, structure)
        if scope.unit is None:
            raise ScopeMissing(scope)


def scopes_of(user, structures=STRUCTURES) -> list[Scope]:
    """The account's scope in each structure (for its page and the API)."""
    return [scope_in(user, s) for s in structures]


def assign(user, structure: str, unit: Unit | None) -> bool:
    """Set (or with None, remove) the unit `user` is scoped to in `structure`, other than its own
    unit's structure. Returns whether anything changed; flushes."""
    row = db.session.scalar(select(UserScope).where(UserScope.user_id == user.id, UserScope.structure == structure))
    if unit is None:
        if row is None:
            return False
        db.session.delete(row)
    elif row is None:
        db.session.add(UserScope(user_id=user.id, structure=structure, unit_id=unit.id))
    elif row.unit_id == unit.id:
        return False
    else:
        row.unit_id = unit.id
    db.session.flush()
    if has_request_context():
        g.pop("_scopes", None)
    return True


def contacts_to_ask(limit: int = 5) -> list:
    """Whom a coordinator without a scope asks: active organizers, then admins."""
    rows = db.session.scalars(select(User).where(User.active.is_(True), User.role.in_((ORGANIZER, ADMIN)))
                              .order_by(User.role.desc(), User.email).limit(limit))
    return list(rows)
