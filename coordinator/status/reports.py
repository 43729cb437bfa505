"""Reports on connection status, for after the test and after the session. Callable without a request.

Readiness (after the connectivity test): per province, the endpoints by current state in the
session, how many their contacts confirmed, the share ready (connected); and the endpoints to fix
before the session: every endpoint whose current status is failed, degraded or unknown (no status
recorded at all is unknown), with what the last probe and the last check said and the phones of
its technical contacts. "Current" is `EndpointStatus`, the latest word on each endpoint in that
session: after the test it is the state the test ended in, plus any fix recorded since against
the test session (an endpoint fixed at 17:30 is no longer to fix).

Attendance (after the session): per tier and per province, the endpoints registered (expected)
and those that attended: with evidence of connection inside the session's window, that is a
reachable probe or an operator who saw it connected (or degraded: there, with trouble) between
its start and end (`EndpointStatus.evidence_at`, noted when it happens). A contact's confirmation
alone is never evidence: those confirmed but never connected are counted apart. The endpoint list
(page and spreadsheet) says for each what the evidence was ("probe at 08:35", "operator X at
08:40", none). A unit attending at another unit's endpoint (`HostedUnit`: a commune at its
district's) attended when that endpoint did. People: the sums of `Endpoint.expected_attendance`.

Whatever the number of endpoints, each report is four queries, grouped by province in SQL (the
province code is cut out of the unit's path, as in `coordinator.reports.services`). A coordinator
sees its subtree only (`scope_path`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.orm import aliased

from coordinator.auth.permissions import scope_path
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.endpoints.phones import national
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.status.models import STATES, EndpointStatus
from coordinator.timeutil import format_local, utcnow
from coordinator.units.models import PATH_SEPARATOR, ROOT_CODE, TIERS, Unit

CONNECTED, DEGRADED, FAILED, UNKNOWN = STATES
TO_FIX = (FAILED, DEGRADED, UNKNOWN)
CENTRAL, PROVINCE, TOTAL = "central", "province", "total"
TECHNICAL = "technical"
READINESS_SESSION, ATTENDANCE_SESSION = "connectivity_test", "main"

STATE_LABELS = {
    CONNECTED: _l("Connected"),
    DEGRADED: _l("Degraded"),
    FAILED: _l("Failed"),
    UNKNOWN: _l("Unknown"),
}


# --- lines: one per province (and the central unit), keyed in SQL -----------------------------------

class _Scope:
    """The provinces a user may see and the SQL expression that tells a unit's province.

    The expression cuts the path just after the root ("/TW/") as wide as the longest province
    code plus one: "56/" for "/TW/56/568/22333/", "" for the root. What comes before its first "/"
    is the province code (see `coordinator.reports.services._Lines`)."""

    def __init__(self, event: Event, user):
        self.path = scope_path(user, event.unit_structure) if user is not None else None
        self.provinces: dict[str, str] = {}
        self.central_name = ROOT_CODE
        width = 1
        for code, name, tier, path in db.session.execute(
                select(Unit.code, Unit.name, Unit.tier, Unit.path)
                .where(Unit.structure == event.unit_structure, Unit.tier.in_((CENTRAL, PROVINCE)))
                .order_by(Unit.code)):
            if tier == PROVINCE:
                width = max(width, len(code))
                if self.sees(path):
                    self.provinces[code] = name
            elif code == ROOT_CODE:
                self.central_name = name
        root = PATH_SEPARATOR + ROOT_CODE + PATH_SEPARATOR
        self.shows_central = self.path is None or self.path == root
        # Literal integers (ours), so that PostgreSQL sees the SELECT's and GROUP BY's expressions as one.
        self.key = func.substr(Unit.path, literal_column(str(len(root) + 1)), literal_column(str(width + 1)))

    def sees(self, province_path: str) -> bool:
        """A province's line is shown when it lies in the user's subtree or contains it."""
        return self.path is None or province_path.startswith(self.path) or self.path.startswith(province_path)

    def where(self, stmt, column=Unit.path):
        return stmt if self.path is None else stmt.where(column.startswith(self.path))

    @staticmethod
    def code(key: str | None) -> str:
        return (key or "").split(PATH_SEPARATOR, 1)[0] or ROOT_CODE


def _province_of(path: str) -> str:
    parts = path.strip(PATH_SEPARATOR).split(PATH_SEPARATOR)
    return parts[1] if len(parts) > 1 else ROOT_CODE


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def session_for(event: Event, kind: str | None, default: str) -> EventSession | None:
    """The event's session of `kind`; without a kind, the `default` kind, else the first session
    (readiness) or the last (attendance)."""
    if kind:
        return event.session(kind)
    found = event.session(default)
    if found is None and event.sessions:
        found = event.sessions[0] if default == READINESS_SESSION else event.sessions[-1]
    return found


# --- readiness -----------------------------------------------------------------------------------------

@dataclass
class ReadinessLine:
    code: str
    name: str
    tier: str  # central | province | total
    endpoints: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STATES})
    confirmed: int = 0

    @property
    def connected(self) -> int:
        return self.counts[CONNECTED]

    @property
    def degraded(self) -> int:
        return self.counts[DEGRADED]

    @property
    def failed(self) -> int:
        return self.counts[FAILED]

    @property
    def unknown(self) -> int:
        return self.counts[UNKNOWN]

    @property
    def ready(self) -> float | None:
        """The share of endpoints connected; None without endpoints."""
        return _share(self.connected, self.endpoints)

    def add(self, other: ReadinessLine) -> None:
        self.endpoints += other.endpoints
        self.confirmed += other.confirmed
        for state, n in other.counts.items():
            self.counts[state] += n


@dataclass(frozen=True)
class TechnicalContact:
    name: str
    phone: str  # national format: 0913 123 456
    phone_e164: str


@dataclass
class FixItem:
    """An endpoint to fix before the session."""

    endpoint_id: int
    endpoint_name: str
    protocol: str
    dial: str
    unit_code: str
    unit_name: str
    tier: str
    province_code: str
    province_name: str
    state: str
    changed_at: datetime | None = None
    probed_at: datetime | None = None
    probe_layer: str = ""
    probe_code: int | None = None
    probe_failures: int = 0
    checked_at: datetime | None = None
    note: str = ""
    confirmed_at: datetime | None = None  # its contact said "ready": a failed one is the first call to make
    contacts: list[TechnicalContact] = field(default_factory=list)

    @property
    def probe(self) -> str:
        """The last probe's verdict in short: "timeout", "sip_error 503"; "" when never probed."""
        if not self.probed_at and not self.probe_layer:
            return ""
        return " ".join(str(p) for p in (self.probe_layer, self.probe_code) if p not in (None, ""))


@dataclass
class Readiness:
    event: Event
    session: EventSession
    generated_at: datetime
    central: ReadinessLine | None
    provinces: list[ReadinessLine]
    total: ReadinessLine
    to_fix: list[FixItem]

    @property
    def lines(self) -> list[ReadinessLine]:
        return ([self.central] if self.central else []) + self.provinces

    def to_fix_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in TO_FIX}
        for item in self.to_fix:
            counts[item.state] += 1
        return counts


def _status_join(stmt, session: EventSession):
    return stmt.outerjoin(EndpointStatus, and_(EndpointStatus.endpoint_id == Endpoint.id,
                                               EndpointStatus.session_id == session.id))


def readiness(event: Event, session: EventSession, user=None, now: datetime | None = None) -> Readiness:
    """The readiness of `session` (normally the connectivity test) as `user` may see it. Four queries."""
    scope = _Scope(event, user)
    key = scope.key
    lines: dict[str, ReadinessLine] = {code: ReadinessLine(code, name, PROVINCE)
                                       for code, name in scope.provinces.items()}
    central = ReadinessLine(ROOT_CODE, scope.central_name, CENTRAL) if scope.shows_central else None

    stmt = _status_join(select(key, EndpointStatus.state, func.count(Endpoint.id), func.count(EndpointStatus.confirmed_at))
                        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id), session)
    stmt = scope.where(stmt.where(Endpoint.event_id == event.id)).group_by(key, EndpointStatus.state)
    for k, state, n, confirmed in db.session.execute(stmt):
        code = scope.code(k)
        line = central if code == ROOT_CODE else lines.get(code)
        if line is None:
            continue
        state = state if state in STATES else UNKNOWN  # no status recorded yet: unknown
        line.endpoints += n
        line.counts[state] += n
        line.confirmed += confirmed

    to_fix = _to_fix(event, session, scope)
    provinces = list(lines.values())
    if central is not None and not central.endpoints and CENTRAL not in event.tiers:
        central = None
    total = ReadinessLine("", "", TOTAL)
    for line in ([central] if central else []) + provinces:
        total.add(line)
    return Readiness(event=event, session=session, generated_at=now or utcnow(), central=central,
                     provinces=provinces, total=total, to_fix=to_fix)


def _to_fix(event: Event, session: EventSession, scope: _Scope) -> list[FixItem]:
    """Two queries: the endpoints, then all their technical contacts at once."""
    needs_fix = or_(EndpointStatus.id.is_(None), EndpointStatus.state.in_(TO_FIX))
    stmt = _status_join(
        select(Endpoint.id, Endpoint.name, Endpoint.protocol, Endpoint.dial, Unit.code, Unit.name, Unit.tier, Unit.path,
               EndpointStatus.state, EndpointStatus.changed_at, EndpointStatus.probed_at, EndpointStatus.probe_layer,
               EndpointStatus.probe_code, EndpointStatus.probe_failures, EndpointStatus.checked_at, EndpointStatus.note,
               EndpointStatus.confirmed_at)
        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id), session)
    # Paths hold codes of fixed width per tier: ordering by path is tree order, province by province.
    stmt = scope.where(stmt.where(Endpoint.event_id == event.id, needs_fix)).order_by(Unit.path, Endpoint.id)
    items: dict[int, FixItem] = {}
    for (eid, name, protocol, dial, code, unit_name, tier, path, state, changed_at, probed_at, layer, probe_code,
         failures, checked_at, note, confirmed_at) in db.session.execute(stmt):
        province = _province_of(path)
        items[eid] = FixItem(
            endpoint_id=eid, endpoint_name=name, protocol=protocol or "", dial=dial or "", unit_code=code,
            unit_name=unit_name, tier=tier, province_code=province,
            province_name=scope.central_name if province == ROOT_CODE else scope.provinces.get(province, province),
            state=state if state in TO_FIX else UNKNOWN, changed_at=changed_at, probed_at=probed_at,
            probe_layer=layer or "", probe_code=probe_code, probe_failures=failures or 0, checked_at=checked_at,
            note=note or "", confirmed_at=confirmed_at)
    if items:
        contacts = _status_join(
            select(Contact.endpoint_id, Contact.name, Contact.phone).select_from(Contact)
            .join(Endpoint, Contact.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id), session)
        contacts = scope.where(contacts.where(Endpoint.event_id == event.id, Contact.role == TECHNICAL, needs_fix))
        for eid, name, phone in db.session.execute(contacts.order_by(Contact.endpoint_id, Contact.id)):
            if eid in items:
                items[eid].contacts.append(TechnicalContact(name=name, phone=national(phone), phone_e164=phone))
    return list(items.values())


# --- attendance ----------------------------------------------------------------------------------------

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
        return _share(self.attended, self.expected)

    def add(self, other: TierAttendance) -> None:
        for name in ("units", "endpoints", "endpoints_attended", "hosted", "hosted_attended", "people_expected",
                     "people_attended", "people_declared"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class AttendanceLine:
    code: str
    name: str
    tier: str  # central | province | total
    tiers: dict[str, TierAttendance]

    def _sum(self, name: str) -> int:
        return sum(getattr(t, name) for t in self.tiers.values())

    @property
    def expected(self) -> int:
        return self._sum("expected")

    @property
    def attended(self) -> int:
        return self._sum("attended")

    @property
    def endpoints(self) -> int:
        return self._sum("endpoints")

    @property
    def endpoints_attended(self) -> int:
        return self._sum("endpoints_attended")

    @property
    def people_expected(self) -> int:
        return self._sum("people_expected")

    @property
    def people_attended(self) -> int:
        return self._sum("people_attended")

    @property
    def people_declared(self) -> int:
        return self._sum("people_declared")

    @property
    def share(self) -> float | None:
        return _share(self.attended, self.expected)

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
    scope = _Scope(event, user)
    stmt = _status_join(select(Endpoint.id, Endpoint.name, Unit.code, Unit.name, Unit.tier, Unit.path,
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
        p = _province_of(path)
        out.append(AttendanceEndpoint(eid, name, code, unit_name, tier, p,
                                      scope.central_name if p == ROOT_CODE else scope.provinces.get(p, p), at,
                                      source or "", by or "", confirmed))
    return out


def attendance(event: Event, session: EventSession, user=None, now: datetime | None = None) -> Attendance:
    """Attendance of `session` (normally the main one) as `user` may see it. Four queries."""
    scope = _Scope(event, user)
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
    stmt = _status_join(select(key, Unit.tier, func.count(Endpoint.id), func.sum(case((evidence, 1), else_=0)),
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
