"""One writer at a time per endpoint, and optimistic concurrency on top of it.

Every write of an endpoint (form, API, attend at the parent's, removal, spreadsheet import) first
takes the endpoint's row lock and reads the endpoint again under it, so that two saves never
interleave (ten concurrent saves of three contacts each end with three contacts, never thirty).
A client that says which version it read (the API's If-Match, the form's hidden field) is refused
with `EndpointConflict` when someone else saved in between, instead of overwriting unseen changes.

PostgreSQL: `SELECT … FOR UPDATE`; a second writer waits there until the first commits, then reads
what it saved (READ COMMITTED: each statement sees what was committed before it began).
SQLite has no row locks but one writer at a time: a write as the first statement of the
transaction takes the database's write lock (waiting up to busy_timeout), which is what
`BEGIN IMMEDIATE` does, and everything read after it is current. (pysqlite opens the transaction
only before a write, so reads before it were outside any transaction: hence reading again.)
"""
from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import selectinload

from coordinator.endpoints.models import Endpoint, HostedUnit
from coordinator.endpoints.rules import ENDPOINT_FIELDS
from coordinator.extensions import db

_CHUNK = 500  # ids per IN (...)


class EndpointConflict(Exception):
    """The endpoint is not at the version the caller read: nothing was changed. `current` is the
    endpoint as it is now (None when it was removed); `expected` the versions the caller accepted."""

    def __init__(self, current: Endpoint | None, expected: Collection[int], version: int | None = None):
        self.current = current
        self.expected = sorted(expected)
        self.version = version  # the version found under the lock (None: removed)
        super().__init__(f"endpoint is at version {version if version is not None else 'none (removed)'}, "
                         f"not {', '.join(map(str, self.expected))}")

    def reload(self) -> Endpoint | None:
        """The endpoint as it is now (it may have changed again, or gone, since the refusal), read by
        a query: an expired object of a row removed since would raise on first use."""
        if self.current is None:
            return None
        self.current = db.session.scalar(select(Endpoint).where(Endpoint.id == inspect(self.current).identity[0]))
        return self.current


class EndpointGone(Exception):
    """The endpoint was removed while the caller waited for its lock."""


def _sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def _sqlite_write_lock() -> None:
    # Changes nothing (a text statement: Core's update() would also move updated_at).
    db.session.execute(text("UPDATE endpoints SET version = version WHERE 0 = 1"))


def lock_endpoint(endpoint_id: int) -> Endpoint | None:
    """Hold the endpoint until the transaction ends; return it as committed now, its contacts and
    hosted units read again (whatever the session held), or None when it no longer exists."""
    if _sqlite():
        _sqlite_write_lock()
    return db.session.scalar(
        select(Endpoint).where(Endpoint.id == endpoint_id)
        .options(selectinload(Endpoint.contacts), selectinload(Endpoint.hosted).selectinload(HostedUnit.unit))
        .with_for_update(of=Endpoint)
        .execution_options(populate_existing=True))


def begin_write() -> None:
    """Before the reads of a write that has no endpoint row to lock yet (a new endpoint): on SQLite
    the write lock, so that those reads are current; on PostgreSQL nothing (a concurrent creation
    of the same unit's endpoint is refused by the unique constraint)."""
    if _sqlite():
        _sqlite_write_lock()


def lock_endpoints(ids: Iterable[int]) -> None:
    """Hold many endpoints (the spreadsheet import), in ascending id order so that two writers of
    overlapping sets wait for each other instead of deadlocking. Nothing is loaded."""
    if _sqlite():
        _sqlite_write_lock()
        return
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), _CHUNK):
        db.session.execute(select(Endpoint.id).where(Endpoint.id.in_(ordered[i:i + _CHUNK]))
                           .order_by(Endpoint.id).with_for_update())


def expected_versions(expected: int | Collection[int] | None) -> frozenset[int] | None:
    if expected is None:
        return None
    return frozenset([expected]) if isinstance(expected, int) else frozenset(expected)


def check_version(endpoint: Endpoint | None, expected: int | Collection[int] | None) -> None:
    """Raise EndpointConflict, having rolled back (the lock is released), when the endpoint (locked,
    or None: it does not exist) is not at one of the `expected` versions; 0 stands for "no endpoint
    yet". None accepts any version."""
    accepted = expected_versions(expected)
    if accepted is None:
        return
    found = endpoint.version if endpoint is not None else 0
    if found in accepted:
        return
    db.session.rollback()
    raise EndpointConflict(endpoint, accepted, found if endpoint is not None else None)


def state(endpoint: Endpoint) -> tuple:
    """What a version stands for: the endpoint's fields, its contacts and its hosted units."""
    return (tuple(getattr(endpoint, a) for a in ENDPOINT_FIELDS),
            sorted((c.phone, c.role, c.name, c.position, c.phone_type, c.email, c.language, c.focal)
                   for c in endpoint.contacts),
            sorted(h.unit.id if h.unit is not None else h.unit_id for h in endpoint.hosted))
