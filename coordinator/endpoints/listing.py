"""The long lists of registration, searched and filtered on the server.

Hà Nội in the 2024 structure is 610 units: a page that lists them all is ~29,000 px and ~455 KB.
`registration_list` answers one page of a unit's subtree instead, after a search without
diacritics (unit name or code, room name or address, contact name or phone: "ba dinh" finds
"Ba Đình", "0913 123" finds +84913123…) and the filters tier, status (registered / attends at a
parent endpoint / missing), late (a deadline of the unit's tier passed unmet or met late), and
district (its subtree only: the 2024 structure's grouping).

`endpoint_ids_matching` is the same search for the endpoints API.

Reads light rows (tuples, not ORM objects) in a handful of queries whatever the size of the
subtree, folds in Python (SQLite and PostgreSQL share no accent-folding function), and builds
objects for the page's rows only. Which units are late is read by `coordinator.deadlines` (which
keeps deadline fulfilment) through `register_late_units`.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.events.models import Event
from coordinator.extensions import db
from coordinator.search import Matcher
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit

REGISTERED, HOSTED, MISSING = "registered", "hosted", "missing"
STATUSES = (REGISTERED, HOSTED, MISSING)
PER_PAGE = 50
_CHUNK = 900


@dataclass(frozen=True)
class Filters:
    q: str = ""
    tier: str = ""
    status: str = ""
    late: bool = False
    district: str = ""
    page: int = 1
    focus: str = ""  # a unit code: show the page it is on (after saving its endpoint)

    @property
    def active(self) -> bool:
        return bool(self.q.strip() or self.tier or self.status or self.late or self.district)

    def args(self) -> dict[str, str]:
        """The filters as query arguments (for the pager's links), without the page."""
        out = {"q": self.q.strip(), "tier": self.tier, "status": self.status,
               "late": "1" if self.late else "", "district": self.district}
        return {k: v for k, v in out.items() if v}


@dataclass
class Row:
    unit: Unit
    endpoint_id: int | None = None
    endpoint_name: str = ""
    hosts: int = 0  # units attending at this endpoint
    host_name: str = ""  # the endpoint this unit attends at
    contacts: int = 0
    technical: int = 0
    late: list[tuple[str, str]] = field(default_factory=list)  # (kind, title) of the deadlines missed or met late

    @property
    def status(self) -> str:
        return REGISTERED if self.endpoint_id else HOSTED if self.host_name else MISSING


@dataclass
class Listing:
    root: Unit
    rows: list[Row]
    matching: int  # rows that pass the filters, on every page
    page: int
    pages: int
    per_page: int
    counts: dict[str, int]  # the whole subtree, unfiltered: registered, hosted, total
    districts: list[tuple[str, str]]  # (code, name) of the districts below the root, for the filter


@dataclass
class _Light:
    id: int
    code: str
    name: str
    search_name: str
    tier: str
    path: str
    parent_id: int | None


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _contacts_by_endpoint(endpoint_ids: list[int]) -> dict[int, list[tuple[str, str, str]]]:
    out: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for chunk in _chunks(endpoint_ids):
        for eid, name, phone, role in db.session.execute(
                select(Contact.endpoint_id, Contact.name, Contact.phone, Contact.role)
                .where(Contact.endpoint_id.in_(chunk))):
            out[eid].append((name, phone, role))
    return out


# Which units of the list are late is read from deadline fulfilment, which `coordinator.deadlines`
# (above this package) keeps: it registers its reading here at app start (`register_late_units`,
# from `coordinator.deadlines.listing`). Given the event, the ids of the listed units by tier and
# the time, it returns unit id -> (kind, title) of each deadline of its tier missed or met late.
LateUnits = Callable[[Event, Mapping[str, set[int]], datetime], Mapping[int, list[tuple[str, str]]]]
_late_units: list[LateUnits] = []


def register_late_units(fn: LateUnits) -> None:
    """Make `fn` the reading of late units (idempotent for the same function)."""
    if _late_units and _late_units[0] is not fn:
        raise ValueError(f"late units are already read by {_late_units[0].__module__}")
    _late_units[:] = [fn]


def _late(event: Event, units: list[_Light], now: datetime) -> Mapping[int, list[tuple[str, str]]]:
    if not _late_units:
        raise LookupError("nothing reads late units (coordinator.wiring connects coordinator.deadlines.listing)")
    ids_by_tier: dict[str, set[int]] = defaultdict(set)
    for u in units:
        ids_by_tier[u.tier].add(u.id)
    return _late_units[0](event, ids_by_tier, now)


def registration_list(event: Event, root: Unit, filters: Filters = Filters(), *, per_page: int = PER_PAGE,
                      now: datetime | None = None) -> Listing:
    """One page of the units of `root`'s subtree (the event's tiers only), in path order (a district
    and then its communes), with their endpoints, after the search and filters."""
    now = now or utcnow()
    units = [_Light(*r) for r in db.session.execute(
        select(Unit.id, Unit.code, Unit.name, Unit.search_name, Unit.tier, Unit.path, Unit.parent_id)
        .where(Unit.structure == event.unit_structure, Unit.path.startswith(root.path),
               Unit.tier.in_(event.tiers)).order_by(Unit.path))]
    ids = [u.id for u in units]
    endpoints: dict[int, tuple[int, str, str]] = {}  # unit id -> (endpoint id, name, address)
    hosted_by: dict[int, str] = {}  # unit id -> name of the endpoint it attends at
    hosts: dict[int, int] = defaultdict(int)  # endpoint id -> units attending there
    for chunk in _chunks(ids):
        for eid, unit_id, name, address in db.session.execute(
                select(Endpoint.id, Endpoint.unit_id, Endpoint.name, Endpoint.address)
                .where(Endpoint.event_id == event.id, Endpoint.unit_id.in_(chunk))):
            endpoints[unit_id] = (eid, name, address)
        for unit_id, eid, name in db.session.execute(
                select(HostedUnit.unit_id, HostedUnit.endpoint_id, Endpoint.name)
                .join(Endpoint, HostedUnit.endpoint_id == Endpoint.id)
                .where(HostedUnit.event_id == event.id, HostedUnit.unit_id.in_(chunk))):
            hosted_by[unit_id] = name
            hosts[eid] += 1
    contacts = _contacts_by_endpoint([e[0] for e in endpoints.values()])
    late = _late(event, units, now)

    counts = {"registered": len(endpoints), "hosted": len([u for u in hosted_by if u not in endpoints]),
              "total": len(units)}
    districts = [(u.code, u.name) for u in units if u.tier == "district"]

    match = Matcher(filters.q)
    district_path = next((u.path for u in units if u.tier == "district" and u.code == filters.district), None)
    kept: list[_Light] = []
    for u in units:
        if filters.tier and u.tier != filters.tier:
            continue
        if district_path and not u.path.startswith(district_path):
            continue
        e = endpoints.get(u.id)
        status = REGISTERED if e else HOSTED if u.id in hosted_by else MISSING
        if filters.status and status != filters.status:
            continue
        if filters.late and u.id not in late:
            continue
        if match:
            people = contacts.get(e[0], []) if e else []
            if not (match.texts(u.code, u.name, *(e[1:] if e else ()), *(c[0] for c in people))
                    or any(match.phone(c[1]) for c in people)):
                continue
        kept.append(u)

    pages = max(1, math.ceil(len(kept) / per_page))
    page = filters.page
    if filters.focus:
        page = next((i // per_page + 1 for i, u in enumerate(kept) if u.code == filters.focus), page)
    page = min(max(page, 1), pages)
    shown = kept[(page - 1) * per_page: page * per_page]
    objects = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_([u.id for u in shown])))} \
        if shown else {}
    rows = []
    for u in shown:
        e = endpoints.get(u.id)
        people = contacts.get(e[0], []) if e else []
        rows.append(Row(unit=objects[u.id], endpoint_id=e[0] if e else None, endpoint_name=e[1] if e else "",
                        hosts=hosts.get(e[0], 0) if e else 0, host_name=hosted_by.get(u.id, "") if not e else "",
                        contacts=len(people), technical=sum(1 for c in people if c[2] == "technical"),
                        late=late.get(u.id, [])))
    return Listing(root=root, rows=rows, matching=len(kept), page=page, pages=pages, per_page=per_page,
                   counts=counts, districts=districts)


def endpoint_ids_matching(event: Event, q: str, candidates: Iterable[tuple[int, str, str, str, str]]) -> set[int]:
    """Of `candidates` (endpoint id, unit code, unit name, endpoint name, address), the ids that
    match the search `q`, on those texts or the endpoint's contacts' names and phones."""
    match = Matcher(q)
    rows = list(candidates)
    if not match:
        return {r[0] for r in rows}
    contacts = _contacts_by_endpoint([r[0] for r in rows])
    out = set()
    for eid, code, unit_name, name, address in rows:
        people = contacts.get(eid, [])
        if match.texts(code, unit_name, name, address, *(c[0] for c in people)) or any(match.phone(c[1]) for c in people):
            out.add(eid)
    return out
