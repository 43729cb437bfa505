"""The readiness report (after the connectivity test). Callable without a request.

Per province, the endpoints by current state in the session, how many their contacts confirmed,
the share ready (connected); and the endpoints to fix before the session: every endpoint whose
current status is failed, degraded or unknown (no status recorded at all is unknown), with what the
last probe and the last check said and the phones of its technical contacts. "Current" is
`EndpointStatus`, the latest word on each endpoint in that session: after the test it is the state
the test ended in, plus any fix recorded since against the test session (an endpoint fixed at
17:30 is no longer to fix).

Four queries whatever the number of endpoints, grouped by province (`report_scope`); its
spreadsheet is in `report_sheets.py`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select

from coordinator.endpoints.models import Contact, Endpoint
from coordinator.endpoints.phones import national
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.status.models import STATES, EndpointStatus
from coordinator.status.report_scope import (CENTRAL, CONNECTED, DEGRADED, FAILED, PROVINCE, TECHNICAL, TO_FIX,
                                             TOTAL, UNKNOWN, Scope, province_of, share, status_join)
from coordinator.timeutil import utcnow
from coordinator.units.models import ROOT_CODE, Unit


def _in_state(state: str) -> property:
    """How many endpoints of a line are in `state`."""
    return property(lambda line: line.counts[state])


@dataclass
class ReadinessLine:
    code: str
    name: str
    tier: str  # central | province | total
    endpoints: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STATES})
    confirmed: int = 0

    connected = _in_state(CONNECTED)
    degraded = _in_state(DEGRADED)
    failed = _in_state(FAILED)
    unknown = _in_state(UNKNOWN)

    @property
    def ready(self) -> float | None:
        """The share of endpoints connected; None without endpoints."""
        return share(self.connected, self.endpoints)

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


def readiness(event: Event, session: EventSession, user=None, now: datetime | None = None) -> Readiness:
    """The readiness of `session` (normally the connectivity test) as `user` may see it. Four queries."""
    scope = Scope(event, user)
    key = scope.key
    lines: dict[str, ReadinessLine] = {code: ReadinessLine(code, name, PROVINCE)
                                       for code, name in scope.provinces.items()}
    central = ReadinessLine(ROOT_CODE, scope.central_name, CENTRAL) if scope.shows_central else None

    stmt = status_join(select(key, EndpointStatus.state, func.count(Endpoint.id), func.count(EndpointStatus.confirmed_at))
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


def _to_fix(event: Event, session: EventSession, scope: Scope) -> list[FixItem]:
    """Two queries: the endpoints, then all their technical contacts at once."""
    needs_fix = or_(EndpointStatus.id.is_(None), EndpointStatus.state.in_(TO_FIX))
    stmt = status_join(
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
        province = province_of(path)
        items[eid] = FixItem(
            endpoint_id=eid, endpoint_name=name, protocol=protocol or "", dial=dial or "", unit_code=code,
            unit_name=unit_name, tier=tier, province_code=province,
            province_name=scope.province_name(province),
            state=state if state in TO_FIX else UNKNOWN, changed_at=changed_at, probed_at=probed_at,
            probe_layer=layer or "", probe_code=probe_code, probe_failures=failures or 0, checked_at=checked_at,
            note=note or "", confirmed_at=confirmed_at)
    if items:
        contacts = status_join(
            select(Contact.endpoint_id, Contact.name, Contact.phone).select_from(Contact)
            .join(Endpoint, Contact.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id), session)
        contacts = scope.where(contacts.where(Endpoint.event_id == event.id, Contact.role == TECHNICAL, needs_fix))
        for eid, name, phone in db.session.execute(contacts.order_by(Contact.endpoint_id, Contact.id)):
            if eid in items:
                items[eid].contacts.append(TechnicalContact(name=name, phone=national(phone), phone_e164=phone))
    return list(items.values())

