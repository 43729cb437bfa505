"""The organizer's view of registration: progress per province, the provinces that have not met
a deadline, the compiled focal-contact list ("danh sách cán bộ đầu mối") and its exports.

Callable without a request. The progress is computed by six queries whatever the number of
provinces, each grouped by province in SQL: the province code is the first code after the root
in a unit's path "/TW/<province>/<district>/<commune>/", cut out with `substr` (portable to
SQLite and PostgreSQL). No query runs per province or per unit.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, and_, func, literal_column, select
from sqlalchemy.orm import aliased

from coordinator.auth.permissions import scope_path
from coordinator.deadlines.models import DeadlineFulfilment
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.endpoints.phones import MOBILE, national
from coordinator.events.models import Deadline, Event
from coordinator.extensions import db
from coordinator.search import Matcher
from coordinator.spreadsheets.safe import write_csv, write_xlsx
from coordinator.units.models import PATH_SEPARATOR, ROOT_CODE, Unit

ON_TIME, LATE, MISSING = "on_time", "late", "missing"
DEADLINE_STATUSES = (ON_TIME, LATE, MISSING)
CENTRAL, PROVINCE = "central", "province"
TOTAL = "total"
TECHNICAL = "technical"  # the letter's "cán bộ đầu mối": contacts with the technical role
# Bound parameters per IN (...) list: well below SQLite's and PostgreSQL's limits.
_CHUNK = 900


# --- progress per province -------------------------------------------------------------------------

@dataclass
class TierCount:
    """Units of one tier in one province (or the whole country): how many have an endpoint of
    their own, how many attend at their parent's endpoint, and how many have neither."""

    tier: str
    total: int = 0
    registered: int = 0
    hosted: int = 0

    @property
    def missing(self) -> int:
        return max(self.total - self.registered - self.hosted, 0)

    def add(self, other: TierCount) -> None:
        self.total += other.total
        self.registered += other.registered
        self.hosted += other.hosted


@dataclass
class DeadlineCount:
    """Units of a deadline's tier in one province: met on time, met late, not met.

    `single` marks the line's own unit as the only one concerned (a province-tier deadline on
    a province line, a central-tier deadline on the central line): then `status` says it in one
    word; otherwise the counts do.
    """

    deadline: Deadline
    total: int = 0
    on_time: int = 0
    late: int = 0
    single: bool = False

    @property
    def missing(self) -> int:
        return max(self.total - self.on_time - self.late, 0)

    @property
    def status(self) -> str | None:
        if not self.single:
            return None
        return ON_TIME if self.on_time else LATE if self.late else MISSING

    # The deadline's own fields, for templates and API schemas.
    @property
    def kind(self) -> str:
        return self.deadline.kind

    @property
    def tier(self) -> str:
        return self.deadline.tier

    @property
    def title(self) -> str:
        return self.deadline.title

    @property
    def due_at(self) -> datetime:
        return self.deadline.due_at

    @property
    def closed(self) -> bool:
        return self.deadline.is_closed

    def add(self, other: DeadlineCount) -> None:
        self.total += other.total
        self.on_time += other.on_time
        self.late += other.late


@dataclass
class ProgressLine:
    """One line of the progress table: a province (its whole subtree), the central unit, or the
    national total (`tier` "total")."""

    code: str
    name: str
    tier: str
    tiers: dict[str, TierCount]
    deadlines: list[DeadlineCount]
    contacts: int = 0
    technical_contacts: int = 0
    mobile_contacts: int = 0

    def for_deadline(self, deadline: Deadline) -> DeadlineCount | None:
        return next((d for d in self.deadlines if d.deadline.id == deadline.id), None)


@dataclass
class Progress:
    event: Event
    central: ProgressLine | None
    provinces: list[ProgressLine]
    totals: ProgressLine

    @property
    def lines(self) -> list[ProgressLine]:
        return ([self.central] if self.central else []) + self.provinces

    @property
    def units_loaded(self) -> bool:
        """False when the event's structure has no units: then nothing is "done", there is
        nothing to do yet (`flask units load --structure …`)."""
        return any(count.total for count in self.totals.tiers.values())


@dataclass(frozen=True)
class ProgressFilters:
    q: str = ""  # a province's name or code, without diacritics if you like
    behind: bool = False  # only the lines with a unit missing, or a deadline missed or met late

    @property
    def active(self) -> bool:
        return bool(self.q.strip() or self.behind)


def is_behind(line: ProgressLine) -> bool:
    return (any(count.missing for count in line.tiers.values())
            or any(dc.missing or dc.late for dc in line.deadlines))


def filter_lines(progress: Progress, filters: ProgressFilters) -> list[ProgressLine]:
    """The progress lines that pass the filters (the totals stay national)."""
    match = Matcher(filters.q)
    return [line for line in progress.lines
            if (not match or match.texts(line.code, line.name)) and (not filters.behind or is_behind(line))]


def _province_code(path: str) -> str | None:
    """"/TW/56/568/22333/" -> "56"; the root "/TW/" -> None."""
    parts = path.strip(PATH_SEPARATOR).split(PATH_SEPARATOR)
    return parts[1] if len(parts) > 1 else None


def _new_line(event: Event, code: str, name: str, tier: str) -> ProgressLine:
    # The central line covers the root unit only; a province line covers the tiers below it.
    if tier == CENTRAL:
        tiers = [CENTRAL]
        deadlines = [d for d in event.deadlines if d.tier == CENTRAL]
    else:
        tiers = [t for t in event.tiers if t != CENTRAL]
        deadlines = [d for d in event.deadlines if d.tier != CENTRAL]
    return ProgressLine(code=code, name=name, tier=tier, tiers={t: TierCount(t) for t in tiers},
                        deadlines=[DeadlineCount(d, single=(d.tier == tier)) for d in deadlines])


def _in_chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


class _Lines:
    """The lines of the progress table, and the SQL expression that tells which line a unit's
    row belongs to.

    The expression cuts the path just after the root ("/TW/"), as wide as the longest province
    code plus one: "56/" for "/TW/56/568/22333/", "" for the root itself. What comes before the
    first "/" of that piece is the province code, whatever the codes' lengths; with codes of one
    width (the GSO's are two digits) each piece is exactly one province, so the queries below
    return one row per province and tier, not one per unit.
    """

    def __init__(self, event: Event):
        self.lines: dict[str, ProgressLine] = {}
        self.central: ProgressLine | None = None
        width = 1
        for code, name, tier in db.session.execute(
                select(Unit.code, Unit.name, Unit.tier)
                .where(Unit.structure == event.unit_structure, Unit.tier.in_((CENTRAL, PROVINCE)))
                .order_by(Unit.code)):
            if tier == PROVINCE:
                self.lines[code] = _new_line(event, code, name, PROVINCE)
                width = max(width, len(code))
            elif code == ROOT_CODE and CENTRAL in event.tiers:
                self.central = _new_line(event, code, name, CENTRAL)
        root = PATH_SEPARATOR + ROOT_CODE + PATH_SEPARATOR
        # Literal integers (ours, not user input), not bound parameters: PostgreSQL only sees
        # the SELECT's expression and the GROUP BY's as the same one when they are spelled alike.
        self.key = func.substr(Unit.path, literal_column(str(len(root) + 1)), literal_column(str(width + 1)))

    def get(self, key: str | None) -> ProgressLine | None:
        code = (key or "").split(PATH_SEPARATOR, 1)[0]
        return self.lines.get(code) if code else self.central

    def tier_count(self, key: str | None, tier: str) -> TierCount | None:
        line = self.get(key)
        return None if line is None else line.tiers.get(tier)

    def deadline_count(self, key: str | None, deadline_id: int) -> DeadlineCount | None:
        line = self.get(key)
        return None if line is None else next((d for d in line.deadlines if d.deadline.id == deadline_id), None)


def province_progress(event: Event) -> Progress:
    """Registration progress of every province of the event (and of the central unit when the
    event has the central tier), with national totals. Six grouped queries in all."""
    lines = _Lines(event)
    key = lines.key

    by_tier: dict[str, list[Deadline]] = {}
    for d in event.deadlines:
        by_tier.setdefault(d.tier, []).append(d)
    for k, tier, n in db.session.execute(
            select(key, Unit.tier, func.count(Unit.id)).where(Unit.structure == event.unit_structure)
            .group_by(key, Unit.tier)):
        if (count := lines.tier_count(k, tier)) is not None:
            count.total += n
        for d in by_tier.get(tier, []):
            if (dc := lines.deadline_count(k, d.id)) is not None:
                dc.total += n

    for k, tier, n in db.session.execute(
            select(key, Unit.tier, func.count(Endpoint.id)).select_from(Endpoint)
            .join(Unit, Endpoint.unit_id == Unit.id).where(Endpoint.event_id == event.id)
            .group_by(key, Unit.tier)):
        if (count := lines.tier_count(k, tier)) is not None:
            count.registered += n

    # A unit with an endpoint of its own is not hosted (save_endpoint keeps them apart; be sure).
    own = aliased(Endpoint)
    for k, tier, n in db.session.execute(
            select(key, Unit.tier, func.count(HostedUnit.id)).select_from(HostedUnit)
            .join(Unit, HostedUnit.unit_id == Unit.id)
            .outerjoin(own, and_(own.event_id == HostedUnit.event_id, own.unit_id == HostedUnit.unit_id))
            .where(HostedUnit.event_id == event.id, own.id.is_(None))
            .group_by(key, Unit.tier)):
        if (count := lines.tier_count(k, tier)) is not None:
            count.hosted += n

    for k, role, phone_type, n in db.session.execute(
            select(key, Contact.role, Contact.phone_type, func.count(Contact.id)).select_from(Contact)
            .join(Endpoint, Contact.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == event.id)
            .group_by(key, Contact.role, Contact.phone_type)):
        if (line := lines.get(k)) is None:
            continue
        line.contacts += n
        if role == TECHNICAL:
            line.technical_contacts += n
        if phone_type == MOBILE:
            line.mobile_contacts += n

    tier_of = {d.id: d.tier for d in event.deadlines}
    if tier_of:
        # Late is read against the deadline as it is now (moved later: on time).
        late_col = case((DeadlineFulfilment.fulfilled_at > Deadline.due_at, 1), else_=0)
        for deadline_id, k, tier, late, n in db.session.execute(
                select(DeadlineFulfilment.deadline_id, key, Unit.tier, late_col, func.count(DeadlineFulfilment.id))
                .join(Unit, DeadlineFulfilment.unit_id == Unit.id)
                .join(Deadline, DeadlineFulfilment.deadline_id == Deadline.id)
                .where(DeadlineFulfilment.deadline_id.in_(list(tier_of)), DeadlineFulfilment.fulfilled_at.is_not(None),
                       Unit.structure == event.unit_structure)
                .group_by(DeadlineFulfilment.deadline_id, key, Unit.tier, late_col)):
            # Only units of the deadline's tier count (as in the totals).
            if tier != tier_of[deadline_id] or (dc := lines.deadline_count(k, deadline_id)) is None:
                continue
            if late:
                dc.late += n
            else:
                dc.on_time += n

    central, provinces = lines.central, list(lines.lines.values())
    return Progress(event=event, central=central, provinces=provinces,
                    totals=_totals(event, ([central] if central else []) + provinces))


def _totals(event: Event, lines: list[ProgressLine]) -> ProgressLine:
    totals = ProgressLine(code="", name="", tier=TOTAL, tiers={t: TierCount(t) for t in event.tiers},
                          deadlines=[DeadlineCount(d) for d in event.deadlines])
    by_id = {dc.deadline.id: dc for dc in totals.deadlines}
    for line in lines:
        for tier, count in line.tiers.items():
            totals.tiers[tier].add(count)
        for dc in line.deadlines:
            by_id[dc.deadline.id].add(dc)
        totals.contacts += line.contacts
        totals.technical_contacts += line.technical_contacts
        totals.mobile_contacts += line.mobile_contacts
    return totals


@dataclass(frozen=True)
class MissingProvince:
    code: str
    name: str
    missing: int  # units of the deadline's tier in the province that have not met it
    total: int


def provinces_missing(event: Event, deadline: Deadline, progress: Progress | None = None) -> list[MissingProvince]:
    """The provinces that have not met `deadline`: for a province-tier deadline, those whose own
    fulfilment is missing; for a lower tier, those with at least one unit missing (the central
    unit, for a central-tier deadline). Pass the `progress` already computed to save its queries."""
    progress = progress or province_progress(event)
    result = []
    for line in progress.lines:
        dc = line.for_deadline(deadline)
        if dc is not None and dc.missing:
            result.append(MissingProvince(line.code, line.name, dc.missing, dc.total))
    return result


# --- per-unit status (the coordinator's dashboard) ----------------------------------------------

@dataclass(frozen=True)
class UnitStatus:
    unit: Unit
    endpoint_id: int | None = None
    host: Unit | None = None  # the unit whose endpoint this one attends at
    host_endpoint_id: int | None = None
    contacts: int = 0
    technical_contacts: int = 0

    @property
    def has_endpoint(self) -> bool:
        return self.endpoint_id is not None

    @property
    def is_hosted(self) -> bool:
        return self.endpoint_id is None and self.host is not None

    @property
    def is_missing(self) -> bool:
        return self.endpoint_id is None and self.host is None


def unit_status(event: Event, units: Iterable[Unit]) -> dict[int, UnitStatus]:
    """For each unit (keyed by id, in the order given): its endpoint, or the unit it attends at,
    and how many contacts (technical ones among them) its endpoint has. Three queries per
    ~900 units."""
    units = list(units)
    ids = [u.id for u in units]
    endpoint_of: dict[int, int] = {}
    host_of: dict[int, tuple[int, Unit]] = {}
    for chunk in _in_chunks(ids):
        endpoint_of.update(db.session.execute(
            select(Endpoint.unit_id, Endpoint.id).where(Endpoint.event_id == event.id, Endpoint.unit_id.in_(chunk))).all())
        for unit_id, endpoint_id, host in db.session.execute(
                select(HostedUnit.unit_id, Endpoint.id, Unit)
                .join(Endpoint, HostedUnit.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
                .where(HostedUnit.event_id == event.id, HostedUnit.unit_id.in_(chunk))):
            host_of[unit_id] = (endpoint_id, host)
    contacts: dict[int, int] = {}
    technical: dict[int, int] = {}
    for chunk in _in_chunks(list(endpoint_of.values())):
        for endpoint_id, role, n in db.session.execute(
                select(Contact.endpoint_id, Contact.role, func.count(Contact.id))
                .where(Contact.endpoint_id.in_(chunk)).group_by(Contact.endpoint_id, Contact.role)):
            contacts[endpoint_id] = contacts.get(endpoint_id, 0) + n
            if role == TECHNICAL:
                technical[endpoint_id] = technical.get(endpoint_id, 0) + n
    result = {}
    for unit in units:
        endpoint_id = endpoint_of.get(unit.id)
        if endpoint_id is not None:
            result[unit.id] = UnitStatus(unit, endpoint_id, contacts=contacts.get(endpoint_id, 0),
                                         technical_contacts=technical.get(endpoint_id, 0))
        elif unit.id in host_of:
            host_endpoint_id, host = host_of[unit.id]
            result[unit.id] = UnitStatus(unit, host=host, host_endpoint_id=host_endpoint_id)
        else:
            result[unit.id] = UnitStatus(unit)
    return result


# --- the compiled focal-contact list ------------------------------------------------------------

@dataclass(frozen=True)
class FocalContact:
    unit_code: str
    unit_name: str
    province_name: str
    endpoint_name: str
    name: str
    position: str
    phone: str  # national format, e.g. "0913 123 456"
    phone_e164: str
    phone_type: str  # mobile | fixed
    email: str


def focal_contacts(event: Event, user) -> list[FocalContact]:
    """Every technical contact of the event's endpoints that `user` may see (a coordinator: its
    subtree), in the order of the units' codes down the hierarchy (a province, then its districts
    and their communes; then the next province)."""
    provinces = dict(db.session.execute(select(Unit.code, Unit.name).where(
        Unit.structure == event.unit_structure, Unit.tier == PROVINCE)).all())
    stmt = (select(Unit.code, Unit.name, Unit.path, Endpoint.name, Contact.name, Contact.position,
                   Contact.phone, Contact.phone_type, Contact.email)
            .select_from(Contact).join(Endpoint, Contact.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == event.id, Contact.role == TECHNICAL)
            # Paths hold zero-padded codes of fixed width per tier: ordering by path orders by code.
            .order_by(Unit.path, Contact.id))
    path = scope_path(user, event.unit_structure)
    if path is not None:
        stmt = stmt.where(Unit.path.startswith(path))
    return [FocalContact(unit_code=code, unit_name=unit_name,
                         province_name=provinces.get(_province_code(unit_path) or "", ""),
                         endpoint_name=endpoint_name, name=name, position=position or "",
                         phone=national(phone), phone_e164=phone, phone_type=phone_type, email=email or "")
            for code, unit_name, unit_path, endpoint_name, name, position, phone, phone_type, email
            in db.session.execute(stmt)]


# In Vietnamese, as the endpoint template names the same columns ("Thư điện tử", not "Email").
FOCAL_HEADERS = ("STT", "Mã đơn vị", "Tên đơn vị", "Tỉnh, thành phố", "Điểm cầu", "Họ và tên", "Chức vụ",
                 "Số điện thoại", "Loại số", "Thư điện tử")
FOCAL_WIDTHS = (6, 11, 32, 26, 32, 26, 30, 16, 10, 30)
PHONE_TYPE_LABELS = {"mobile": "Di động", "fixed": "Cố định", "foreign": "Nước ngoài"}
FOCAL_SHEET_TITLE = "Cán bộ đầu mối"


def _focal_rows(contacts: Iterable[FocalContact]) -> Iterable[list]:
    for i, c in enumerate(contacts, start=1):
        yield [i, c.unit_code, c.unit_name, c.province_name, c.endpoint_name, c.name, c.position, c.phone,
               PHONE_TYPE_LABELS.get(c.phone_type, c.phone_type), c.email]


def focal_contacts_xlsx(contacts: Iterable[FocalContact]) -> bytes:
    return write_xlsx(FOCAL_HEADERS, _focal_rows(contacts), sheet_title=FOCAL_SHEET_TITLE, widths=FOCAL_WIDTHS)


def focal_contacts_csv(contacts: Iterable[FocalContact]) -> bytes:
    return write_csv(FOCAL_HEADERS, _focal_rows(contacts))


def focal_contacts_filename(event: Event, extension: str) -> str:
    return f"Danh sách cán bộ đầu mối - {event.slug}.{extension}"

