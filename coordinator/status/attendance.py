"""The attendance report (after the session). Callable without a request.

Per tier and per province, the endpoints registered (expected) and those that attended: with
evidence of connection inside the session's window, that is a reachable probe or an operator who
saw it connected (or degraded: there, with trouble) between its start and end
(`EndpointStatus.evidence_at`, noted when it happens). A contact's confirmation alone is never
evidence: those confirmed but never connected are counted apart. The endpoint list (page and
spreadsheet) says for each what the evidence was ("probe at 08:35", "operator X at 08:40", none).
A unit attending at another unit's endpoint (`HostedUnit`: a commune at its district's) attended
when that endpoint did. People: the sums of `Endpoint.expected_attendance`.

Four queries whatever the number of endpoints, grouped by province (`report_scope`); its
spreadsheet is in `report_sheets.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import aliased

from coordinator.endpoints.models import Endpoint, HostedUnit
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.status.models import EndpointStatus
from coordinator.status.report_scope import CENTRAL, PROVINCE, TOTAL, Scope, province_of, share, status_join
from coordinator.timeutil import format_local, utcnow
from coordinator.units.models import PATH_SEPARATOR, ROOT_CODE, TIERS, Unit


@dataclass
class TierAttendance:
    """Units of one tier in one province (or the country): with an endpoint of their own
    (`endpoints`, of which `endpoints_attended`), or attending at another unit's (`hosted`, of which
    `hosted_attended`); `units` is every unit of the tier, registered or not."""

    tier: str
    units: int = 0
    endpoints: int = 0
    endpoints_attended: int = 0
    hosted: int = 0
    hosted_attended: int = 0
    people_expected: int = 0  # sum of expected_attendance over the endpoints that give it
    people_attended: int = 0  # the same over the endpoints that attended
    people_declared: int = 0  # endpoints that give expected_attendance

    @property
    def expected(self) -> int:
        return self.endpoints + self.hosted

    @property
    def attended(self) -> int:
        return self.endpoints_attended + self.hosted_attended

    @property
    def share(self) -> float | None:
        return share(self.attended, self.expected)

    def add(self, other: TierAttendance) -> None:
        for name in ("units", "endpoints", "endpoints_attended", "hosted", "hosted_attended", "people_expected",
                     "people_attended", "people_declared"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _summed(name: str) -> property:
    """The sum of `name` over a line's tiers."""
    return property(lambda line: sum(getattr(t, name) for t in line.tiers.values()))


@dataclass
class AttendanceLine:
    code: str
    name: str
    tier: str  # central | province | total
    tiers: dict[str, TierAttendance]

    expected = _summed("expected")
    attended = _summed("attended")
    endpoints = _summed("endpoints")
    endpoints_attended = _summed("endpoints_attended")
    people_expected = _summed("people_expected")
    people_attended = _summed("people_attended")
    people_declared = _summed("people_declared")

    @property
    def share(self) -> float | None:
        return share(self.attended, self.expected)

    def count_for(self, tier: str) -> TierAttendance:
        found = self.tiers.get(tier)
        if found is None:
            found = self.tiers[tier] = TierAttendance(tier)
        return found


@dataclass
class Attendance:
    event: Event
    session: EventSession
    generated_at: datetime
    tiers: list[str]  # the columns: the event's tiers (and any other an endpoint was found at)
    central: AttendanceLine | None
    provinces: list[AttendanceLine]
    total: AttendanceLine  # per tier: the national (or the user's) summary
    confirmed_never_connected: int = 0  # endpoints their contact confirmed that never showed a connection

    @property
    def lines(self) -> list[AttendanceLine]:
        return ([self.central] if self.central else []) + self.provinces


def attended_endpoints(event: Event, session: EventSession):
    """A SELECT of the ids of the endpoints that attended `session`: those with evidence of
    connection inside it (see the module's docstring); a confirmation alone is none."""
    return select(EndpointStatus.endpoint_id).where(EndpointStatus.session_id == session.id,
                                                    EndpointStatus.evidence_at.is_not(None))


@dataclass
class AttendanceEndpoint:
    """One endpoint of the attendance list: where, and what shows it was connected."""

    endpoint_id: int
    endpoint_name: str
    unit_code: str
    unit_name: str
    tier: str
    province_code: str
    province_name: str
    evidence_at: datetime | None
    evidence_source: str  # "probe" | "operator" | ""
    evidence_by: str
    confirmed_at: datetime | None

    @property
    def confirmed_never_connected(self) -> bool:
        return self.confirmed_at is not None and self.evidence_at is None

    def evidence_vi(self, tz: str) -> str:
        """ "thăm dò lúc 08:35", "cán bộ a@b lúc 08:40", "không có" (the spreadsheet's words)."""
        if self.evidence_at is None:
            return "không có"
        at = format_local(self.evidence_at, tz, "%H:%M")
        return f"thăm dò lúc {at}" if self.evidence_source == "probe" else f"cán bộ {self.evidence_by} lúc {at}"


def attendance_endpoints(event: Event, session: EventSession, user=None, *, province: str | None = None,
                         only: str | None = None) -> list[AttendanceEndpoint]:
    """The endpoints of the user's scope (of one province, if given) with their evidence; `only`
    "absent" (no evidence) or "confirmed_never" (confirmed, never connected). One query."""
    scope = Scope(event, user)
    stmt = status_join(select(Endpoint.id, Endpoint.name, Unit.code, Unit.name, Unit.tier, Unit.path,
                               EndpointStatus.evidence_at, EndpointStatus.evidence_source, EndpointStatus.evidence_by,
                               EndpointStatus.confirmed_at)
                        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id), session)
    stmt = scope.where(stmt.where(Endpoint.event_id == event.id))
    if province:
        stmt = stmt.where(or_(Unit.path.startswith(f"{PATH_SEPARATOR}{ROOT_CODE}{PATH_SEPARATOR}{province}"
                                                   f"{PATH_SEPARATOR}"), Unit.code == province)
                          if province != ROOT_CODE else Unit.code == ROOT_CODE)
    if only == "absent":
        stmt = stmt.where(EndpointStatus.evidence_at.is_(None))
    elif only == "confirmed_never":
        stmt = stmt.where(EndpointStatus.evidence_at.is_(None), EndpointStatus.confirmed_at.is_not(None))
    out = []
    for eid, name, code, unit_name, tier, path, at, source, by, confirmed in db.session.execute(
            stmt.order_by(Unit.path, Endpoint.id)):
        p = province_of(path)
        out.append(AttendanceEndpoint(eid, name, code, unit_name, tier, p,
                                      scope.province_name(p), at,
                                      source or "", by or "", confirmed))
    return out


def attendance(event: Event, session: EventSession, user=None, now: datetime | None = None) -> Attendance:
    """Attendance of `session` (normally the main one) as `user` may see it. Four queries."""
    scope = Scope(event, user)
    key = scope.key
    province_tiers = [t for t in event.tiers if t != CENTRAL]

    def new_line(code: str, name: str, tier: str) -> AttendanceLine:
        tiers = [CENTRAL] if tier == CENTRAL else province_tiers
        return AttendanceLine(code, name, tier, {t: TierAttendance(t) for t in tiers})

    lines = {code: new_line(code, name, PROVINCE) for code, name in scope.provinces.items()}
    central = new_line(ROOT_CODE, scope.central_name, CENTRAL) if scope.shows_central else None

    def line_of(k: str | None) -> AttendanceLine | None:
        code = scope.code(k)
        return central if code == ROOT_CODE else lines.get(code)

    # Every unit of the structure, per province and tier (the central unit counts only if it takes part).
    stmt = scope.where(select(key, Unit.tier, func.count(Unit.id)).where(Unit.structure == event.unit_structure))
    for k, tier, n in db.session.execute(stmt.group_by(key, Unit.tier)):
        line = line_of(k)
        if line is not None and (tier in line.tiers):
            line.tiers[tier].units += n

    attended = attended_endpoints(event, session)
    evidence = EndpointStatus.evidence_at.is_not(None)
    never = and_(EndpointStatus.confirmed_at.is_not(None), EndpointStatus.evidence_at.is_(None))
    stmt = status_join(select(key, Unit.tier, func.count(Endpoint.id), func.sum(case((evidence, 1), else_=0)),
                               func.sum(Endpoint.expected_attendance), func.count(Endpoint.expected_attendance),
                               func.sum(case((evidence, Endpoint.expected_attendance), else_=0)),
                               func.sum(case((never, 1), else_=0)))
                        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id), session) \
        .where(Endpoint.event_id == event.id)
    confirmed_never = 0
    for k, tier, n, there, people, declared, people_there, not_seen in db.session.execute(
            scope.where(stmt).group_by(key, Unit.tier)):
        line = line_of(k)
        if line is None:
            continue
        confirmed_never += int(not_seen or 0)
        count = line.count_for(tier)
        count.endpoints += n
        count.endpoints_attended += int(there or 0)
        count.people_expected += int(people or 0)
        count.people_declared += int(declared or 0)
        count.people_attended += int(people_there or 0)

    # Units attending at another unit's endpoint, per their own province and tier; not those that
    # (also) have an endpoint of their own, which count as such (save_endpoint keeps them apart).
    own = aliased(Endpoint)
    host_there = case((HostedUnit.endpoint_id.in_(attended), 1), else_=0)
    stmt = (select(key, Unit.tier, func.count(HostedUnit.id), func.sum(host_there)).select_from(HostedUnit)
            .join(Unit, HostedUnit.unit_id == Unit.id)
            .outerjoin(own, and_(own.event_id == HostedUnit.event_id, own.unit_id == HostedUnit.unit_id))
            .where(HostedUnit.event_id == event.id, own.id.is_(None)))
    for k, tier, n, there in db.session.execute(scope.where(stmt).group_by(key, Unit.tier)):
        line = line_of(k)
        if line is None:
            continue
        count = line.count_for(tier)
        count.hosted += n
        count.hosted_attended += int(there or 0)

    if central is not None and not central.endpoints and CENTRAL not in event.tiers:
        central = None
    provinces = list(lines.values())
    shown = ([central] if central else []) + provinces
    extra = {t for line in shown for t in line.tiers} - set(event.tiers)
    columns = list(event.tiers) + [t for t in TIERS if t in extra] + sorted(extra - set(TIERS))
    total = AttendanceLine("", "", TOTAL, {t: TierAttendance(t) for t in columns})
    for line in shown:
        for tier, count in line.tiers.items():
            total.tiers[tier].add(count)
    return Attendance(event=event, session=session, generated_at=now or utcnow(), tiers=columns, central=central,
                      provinces=provinces, total=total, confirmed_never_connected=confirmed_never)
