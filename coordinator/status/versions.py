"""Versions of what the status pages show, for their ETags, answered in two small queries before
the event is even loaded: a poll of an unchanged dashboard costs no roll-up and no rendering.

Each transaction that changes status rows increments, last before it commits, the counters of
the provinces it touched (`StatusVersion`): `version` for any change, `tile_version` when a
province's tile changes. The national ETag is the sum of the tile counters (a check that changes
no count leaves it as it was); a province's is its own counter. Counters move inside the writing
transaction, so a poller never sees one without the change it counts (a sequence taken before a
slower transaction commits could be overtaken and that change never shown).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, exists, func, select, update
from sqlalchemy.orm import aliased

from coordinator.endpoints.models import RegistryVersion
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db, dialect_insert
from coordinator.leases.models import SchedulerLease
from coordinator.status.models import EndpointStatus, ProbeSweep, StatusVersion
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import ROOT_CODE, Unit


class Changes:
    """What a transaction changed, province by province: collect, then `bump` before committing."""

    def __init__(self) -> None:
        self.rows: dict[str, bool] = {}  # province code -> its tile changed too
        self.heads: set[str] = set()  # provinces whose grouped page changed

    def add(self, province: str, tile: bool, head: bool = True) -> None:
        self.rows[province] = self.rows.get(province, False) or tile
        if head or tile:
            self.heads.add(province)

    def __bool__(self) -> bool:
        return bool(self.rows)


def bump(session_id: int, changes: Changes) -> None:
    """Increment the touched provinces' counters. On PostgreSQL their rows are locked first in
    province-code order (SELECT … ORDER BY … FOR UPDATE), so writers that touch several provinces
    never deadlock; SQLite serialises writers anyway. Rows missing (a province's first change in a
    session) are created, then counted."""
    if not changes:
        return
    codes = sorted(changes.rows)
    table = StatusVersion.__table__
    where = (table.c.session_id == session_id, table.c.province_code.in_(codes))
    if db.session.get_bind().dialect.name == "postgresql":
        known = set(db.session.scalars(select(table.c.province_code).where(*where)
                                       .order_by(table.c.province_code).with_for_update()))
        missing = [c for c in codes if c not in known]
        if missing:
            _insert_missing(session_id, missing)
            db.session.execute(select(table.c.id).where(*where).order_by(table.c.province_code).with_for_update())
    tiles = [c for c in codes if changes.rows[c]]
    heads = sorted(changes.heads)
    count = db.session.execute(update(table).where(*where).values(
        version=table.c.version + 1,
        head_version=table.c.head_version + case((table.c.province_code.in_(heads or [""]), 1), else_=0),
        tile_version=table.c.tile_version + case((table.c.province_code.in_(tiles or [""]), 1), else_=0))).rowcount
    if count < len(codes):  # SQLite: a province's first change in this session
        known = set(db.session.scalars(select(table.c.province_code).where(*where)))
        missing = Changes()
        for code in codes:
            if code not in known:
                missing.rows[code] = changes.rows[code]
                if code in changes.heads:
                    missing.heads.add(code)
        _insert_missing(session_id, list(missing.rows))
        bump(session_id, missing)


def _insert_missing(session_id: int, codes: list[str]) -> None:
    """Counter rows created on first use; two writers creating one at once both go on."""
    dialect = db.session.get_bind().dialect.name
    rows = [{"session_id": session_id, "province_code": c, "version": 0, "head_version": 0, "tile_version": 0}
            for c in codes]
    db.session.execute(dialect_insert(dialect)(StatusVersion.__table__).values(rows).on_conflict_do_nothing())


def touch_all(session_id: int, province_codes: list[str]) -> None:
    changes = Changes()
    for code in province_codes:
        changes.add(code, True)
    bump(session_id, changes)


@dataclass(frozen=True)
class Fingerprint:
    """What a status page's content depends on, read in two queries."""
    session_id: int
    session_uid: str  # the session's iCalendar UID (a uuid): tags never collide across databases or re-used ids
    session_kind: str
    starts_at: datetime
    ends_at: datetime
    counter: int  # the sum of the tile counters (national), or the province's (or every) row counter
    registry: int  # the event's registration counter (endpoints created, edited, deleted)
    sweep_id: int
    sweep_started_at: datetime | None
    sweep_finished_at: datetime | None
    sweep_probed: int
    sweep_seconds: float | None
    scheduler_seen_at: datetime | None
    holds_due: bool = False  # an operator's hold has ended and not been given back to the probes yet

    def tag(self, *parts) -> str:
        return "-".join(str(p) for p in (self.session_uid.split("@")[0][:13], self.session_id, self.counter,
                                          self.registry, self.sweep_id, *parts))


def choose_session(sessions, now: datetime, *, starts=lambda s: s.starts_at, ends=lambda s: s.ends_at):
    """The session operators are watching: the one under way, else the next, else the last."""
    ordered = sorted(sessions, key=starts)
    for s in ordered:
        if starts(s) <= now < ends(s):
            return s
    upcoming = [s for s in ordered if starts(s) > now]
    if upcoming:
        return upcoming[0]
    return ordered[-1] if ordered else None


def fingerprint(slug: str, session_kind: str | None, province: str | None = None,
                now: datetime | None = None, grouped: bool = False) -> Fingerprint | None:
    """The fingerprint of the national tiles (`province` None), of one province's rows (its code),
    or of every row (ROOT_CODE) — with `grouped`, only of what a grouped page shows of them; None
    when the event or the session does not exist. One query when the session's kind is given (the
    dashboards' polls give it), two otherwise."""
    if not session_kind:
        sessions = db.session.execute(
            select(EventSession.kind, EventSession.starts_at, EventSession.ends_at)
            .join(Event, EventSession.event_id == Event.id).where(Event.slug == slug)).all()
        chosen = choose_session(sessions, now or utcnow(), starts=lambda r: r[1], ends=lambda r: r[2])
        if chosen is None:
            return None
        session_kind = chosen[0]
    shape = "national" if province is None else "all" if province == ROOT_CODE else "province"
    row = db.session.execute(_fingerprint_query(shape, grouped), {
        "slug": slug, "kind": session_kind, "province": province or "", "now": now or utcnow()}).first()
    if row is None:
        return None
    (sid, uid, kind, starts_at, ends_at, counter_v, registry, seen, sweep_id, started, finished, probed,
     seconds, holds) = row
    return Fingerprint(sid, uid, kind, starts_at, ends_at, int(counter_v or 0), int(registry or 0), int(sweep_id or 0),
                       started, finished, int(probed or 0), seconds, seen, holds is not None)


@functools.lru_cache(maxsize=None)
def _fingerprint_query(shape: str, grouped: bool):
    """The fingerprint's one query for a shape of page ("national", "all" rows, one "province"),
    built once: every poll only binds its slug, session kind, province and time (building the
    statement cost more than running it)."""
    counter = (StatusVersion.tile_version if shape == "national"
               else StatusVersion.head_version if grouped else StatusVersion.version)
    counters = select(func.coalesce(func.sum(counter), 0)).where(StatusVersion.session_id == EventSession.id)
    if shape == "province":
        counters = counters.where(StatusVersion.province_code == bindparam("province"))
    # The last sweep of the whole event (not a province's, not one endpoint's "probe now").
    last_id = (select(func.max(ProbeSweep.id)).where(ProbeSweep.session_id == EventSession.id,
                                                      ProbeSweep.unit_code == "", ProbeSweep.origin != "endpoint")
               .correlate(EventSession).scalar_subquery())

    def of_last(column):
        return select(column).where(ProbeSweep.id == last_id).correlate(EventSession).scalar_subquery()

    return (select(EventSession.id, EventSession.ical_uid, EventSession.kind, EventSession.starts_at,
                   EventSession.ends_at, counters.correlate(EventSession).scalar_subquery(),
                   select(RegistryVersion.version).where(RegistryVersion.event_id == EventSession.event_id)
                   .correlate(EventSession).scalar_subquery(),
                   select(SchedulerLease.heartbeat_at).where(SchedulerLease.name == "scheduler").scalar_subquery(),
                   last_id, of_last(ProbeSweep.started_at), of_last(ProbeSweep.finished_at),
                   of_last(ProbeSweep.probed), of_last(ProbeSweep.seconds),
                   select(EndpointStatus.id).where(EndpointStatus.hold_until.is_not(None),
                                                   EndpointStatus.hold_until <= bindparam("now", type_=UTCDateTime()))
                   .limit(1).scalar_subquery())
            .join(Event, EventSession.event_id == Event.id)
            .where(Event.slug == bindparam("slug"), EventSession.kind == bindparam("kind")))


def structure_of(slug: str) -> str | None:
    """The unit structure of the event `slug` (None: no such event), without loading the event."""
    return db.session.scalar(select(Event.unit_structure).where(Event.slug == slug))


def unit_path(slug: str, code: str) -> tuple[str, bool] | None:
    """(path, whether its page is grouped: its children have children) of the unit `code` in the
    structure of the event `slug`, in one query; None when there is no such unit."""
    child, grandchild = aliased(Unit), aliased(Unit)
    grouped = exists().where(child.parent_id == Unit.id, grandchild.parent_id == child.id)
    return db.session.execute(select(Unit.path, grouped).join(Event, Event.unit_structure == Unit.structure)
                              .where(Event.slug == slug, Unit.code == code)).first()
