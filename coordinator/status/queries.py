"""What the status pages and the API read: the national roll-up, a unit's endpoints (filtered and
paginated in SQL, a province grouped by district), an endpoint's timeline, the incident list, and
how fresh it all is. A few grouped queries each, whatever the number of endpoints. (The incident
list itself is `incident_list`.)"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import and_, case, func, literal_column, select

from coordinator.endpoints.models import Endpoint, HostedUnit
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.status import versions
from coordinator.status.incident_list import list_incidents, open_incidents  # noqa: F401 (their home since issue 16)
from coordinator.status.models import EndpointStatus, Incident, StatusEvent
from coordinator.status.rule import CONNECTED, DEGRADED, FAILED, STATES, UNKNOWN
from coordinator.timeutil import utcnow
from coordinator.units.models import ROOT_CODE, Unit, province_code

FILTERS = ("failed", "unknown", "not_confirmed", "confirmed_unreachable", "hosting", "incident")
SORTS = ("code", "worst", "silent")  # tree order; least reachable first; longest silent first
PER_PAGE = 100


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_WORST = {FAILED: 0, DEGRADED: 1, UNKNOWN: 2, CONNECTED: 3}


def current_session(event: Event, now: datetime | None = None) -> EventSession | None:
    """The session operators are watching: the one under way, else the next, else the last."""
    return versions.choose_session(event.sessions, now or utcnow())



def _province_prefix():
    """"/TW/56/" of a unit's path (the centre's: "/TW/"), as SQL. Literal bounds, not bind
    parameters: PostgreSQL must see the same expression in SELECT and GROUP BY."""
    return func.substr(Unit.path, literal_column("1"), literal_column("7"))


def _counts() -> dict[str, int]:
    return {s: 0 for s in STATES}


def mood(tile: dict) -> str:
    """A tile's colour from its share of endpoints reachable (connected or degraded): green from
    STATUS_GREEN_SHARE, amber from STATUS_AMBER_SHARE, else red; "empty" without endpoints."""
    if not tile["endpoints"]:
        return "empty"
    share = tile["reachable"]
    if share >= current_app.config["STATUS_GREEN_SHARE"]:
        return "green"
    if share >= current_app.config["STATUS_AMBER_SHARE"]:
        return "amber"
    return "red"


def _finish_tile(tile: dict) -> dict:
    n = tile["endpoints"]
    tile["ready"] = round(tile["counts"][CONNECTED] / n, 4) if n else 0.0
    tile["reachable"] = round((tile["counts"][CONNECTED] + tile["counts"][DEGRADED]) / n, 4) if n else 0.0
    tile["mood"] = mood(tile)
    return tile


def _tile(code: str, name: str) -> dict:
    return {"code": code, "name": name, "endpoints": 0, "confirmed": 0, "confirmed_unreachable": 0,
            "counts": _counts(), "incidents": 0, "oldest_probe_at": None, "never_heard": 0, "oldest_heard_at": None}


def rollup(event: Event, session: EventSession, sort: str = "code") -> dict:
    """The national picture: per province (and the central endpoint) the endpoints per shown
    state, those their contacts confirmed (and of them, those failed: the first calls to make),
    the shares ready (connected) and reachable, the open incidents, the oldest probe. Three
    grouped queries; `sort` "worst" puts the least reachable first."""
    prefix = _province_prefix()
    state_col = func.coalesce(EndpointStatus.state, literal_column(f"'{UNKNOWN}'"))
    rows = db.session.execute(
        select(prefix, state_col, func.count(), func.count(EndpointStatus.confirmed_at),
               func.min(EndpointStatus.probed_at), func.count(EndpointStatus.heard_at), func.min(EndpointStatus.heard_at))
        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id)
        .outerjoin(EndpointStatus, (EndpointStatus.endpoint_id == Endpoint.id) & (EndpointStatus.session_id == session.id))
        .where(Endpoint.event_id == event.id).group_by(prefix, state_col)).all()
    provinces = dict(db.session.execute(select(Unit.code, Unit.name).where(
        Unit.structure == event.unit_structure, Unit.tier.in_(("central", "province")))).all())
    incidents = dict(db.session.execute(
        select(Incident.province_code, func.count()).where(Incident.session_id == session.id,
                                                           Incident.resolved_at.is_(None))
        .group_by(Incident.province_code)).all())
    tiles = {code: _tile(code, name) for code, name in provinces.items()}
    total = _tile("", "")
    for path, state, n, confirmed, oldest, heard, oldest_heard in rows:
        code = province_code(path)
        tile = tiles.setdefault(code, _tile(code, code))
        for t in (tile, total):
            t["endpoints"] += n
            t["counts"][state] += n
            t["confirmed"] += confirmed
            t["never_heard"] += n - heard
            if oldest_heard is not None and (t["oldest_heard_at"] is None or oldest_heard < t["oldest_heard_at"]):
                t["oldest_heard_at"] = oldest_heard
            if state == FAILED:
                t["confirmed_unreachable"] += confirmed
            if oldest is not None and (t["oldest_probe_at"] is None or oldest < t["oldest_probe_at"]):
                t["oldest_probe_at"] = oldest
    for code, tile in tiles.items():
        tile["incidents"] = incidents.get(code, 0)
    total["incidents"] = sum(incidents.values())
    for tile in list(tiles.values()) + [total]:
        _finish_tile(tile)
    ordered = sorted(tiles.values(), key=lambda t: (t["code"] != ROOT_CODE, t["code"]))
    if sort == "worst":
        ordered.sort(key=lambda t: (not t["endpoints"], t["reachable"], -t["incidents"], t["code"]))
    elif sort == "silent":  # most endpoints never heard from, then the longest silence
        ordered.sort(key=lambda t: (not t["endpoints"], -t["never_heard"], t["oldest_heard_at"] or _EPOCH, t["code"]))
    return {"session": session, "provinces": ordered, "total": total}


# --- a unit's endpoints ----------------------------------------------------------------------------------

_STATUS_COLUMNS = ("state", "source", "changed_at", "hold_until", "checked_at", "check_state", "audio", "video",
                   "content", "note", "checked_by", "confirmed_at", "confirmed_via", "probed_at", "probe_state",
                   "probe_layer", "probe_code", "probe_rtt_ms", "probe_target", "probe_failures", "evidence_at",
                   "evidence_source", "evidence_by", "heard_at")


def _status_join(stmt, session: EventSession):
    return stmt.outerjoin(EndpointStatus, and_(EndpointStatus.endpoint_id == Endpoint.id,
                                               EndpointStatus.session_id == session.id))


def _filter_clause(event: Event, session: EventSession, filter_: str):
    state = func.coalesce(EndpointStatus.state, UNKNOWN)
    return {
        "failed": state.in_((FAILED, DEGRADED)),
        "unknown": state == UNKNOWN,
        "not_confirmed": EndpointStatus.confirmed_at.is_(None),
        "confirmed_unreachable": and_(EndpointStatus.confirmed_at.is_not(None), state == FAILED),
        "hosting": Endpoint.id.in_(select(HostedUnit.endpoint_id).where(HostedUnit.event_id == event.id)),
        "incident": Endpoint.id.in_(select(Incident.endpoint_id).where(Incident.session_id == session.id,
                                                                        Incident.resolved_at.is_(None))),
    }[filter_]


def _order(sort: str) -> tuple:
    """The rows' order in SQL: tree order ("code"); failed, degraded, not checked, then connected,
    those with an open incident first ("worst"); never heard from, then the longest silent
    ("silent")."""
    if sort == "worst":
        state = func.coalesce(EndpointStatus.state, UNKNOWN)
        return (case((state == FAILED, 0), (state == DEGRADED, 1), (state == UNKNOWN, 2), else_=3),
                case((Incident.id.is_(None), 1), else_=0), Unit.path, Endpoint.id)
    if sort == "silent":
        return (case((EndpointStatus.heard_at.is_(None), 0), else_=1), EndpointStatus.heard_at, Unit.path,
                Endpoint.id)
    return (Unit.path, Endpoint.id)


def _rows(event: Event, session: EventSession, where, *, limit: int | None = None, offset: int = 0,
          sort: str = "code") -> list[dict]:
    """Endpoints with their facts, the number of units they host and their open incident: one query."""
    columns = [getattr(EndpointStatus, c) for c in _STATUS_COLUMNS]
    hosted = (select(func.count()).select_from(HostedUnit).where(HostedUnit.endpoint_id == Endpoint.id)
              .correlate(Endpoint).scalar_subquery())
    stmt = _status_join(select(Endpoint.id, Endpoint.name, Endpoint.protocol, Endpoint.dial, Unit.code, Unit.name,
                               Unit.tier, Unit.path, hosted, Incident.id, Incident.cause, Incident.layer,
                               Incident.opened_at, Incident.detail, EndpointStatus.id, *columns)
                        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id), session)
    # At most one open incident per endpoint and session (its open_key is unique).
    stmt = stmt.outerjoin(Incident, and_(Incident.endpoint_id == Endpoint.id, Incident.session_id == session.id,
                                         Incident.resolved_at.is_(None)))
    stmt = stmt.where(Endpoint.event_id == event.id, *where).order_by(*_order(sort))
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    out = []
    for (eid, name, protocol, dial, code, unit_name, tier, path, n_hosted, incident_id, cause, layer, opened_at,
         detail, status_id, *values) in db.session.execute(stmt):
        status = SimpleNamespace(**dict(zip(_STATUS_COLUMNS, values))) if status_id is not None else None
        incident = (SimpleNamespace(id=incident_id, cause=cause, layer=layer, opened_at=opened_at, detail=detail,
                                    endpoint_id=eid) if incident_id is not None else None)
        out.append({"id": eid, "name": name, "protocol": protocol, "dial": dial, "unit_code": code, "unit": unit_name,
                    "tier": tier, "depth": path.strip("/").count("/"), "state": status.state if status else UNKNOWN,
                    "status": status, "hosted": n_hosted or 0, "incident": incident, "province": province_code(path)})
    return out


def unit_view(event: Event, unit: Unit, session: EventSession, filter_: str | None = None) -> list[dict]:
    """Every endpoint of `unit`'s subtree with its facts, in tree order; `filter_` one of FILTERS
    (applied in SQL). For the API and the reports: a page uses `unit_page`."""
    where = [Unit.path.startswith(unit.path)]
    if filter_:
        where.append(_filter_clause(event, session, filter_))
    return _rows(event, session, where)


def apply_filter(rows: list[dict], filter_: str | None) -> list[dict]:
    """`unit_view` rows narrowed to one of FILTERS (None: all), in Python."""
    if not filter_:
        return rows
    keep = {
        "failed": lambda r: r["state"] in (FAILED, DEGRADED),
        "unknown": lambda r: r["state"] == UNKNOWN,
        "not_confirmed": lambda r: r["status"] is None or r["status"].confirmed_at is None,
        "confirmed_unreachable": lambda r: r["state"] == FAILED and r["status"] is not None
        and r["status"].confirmed_at is not None,
        "hosting": lambda r: bool(r["hosted"]),
        "incident": lambda r: r["incident"] is not None,
    }[filter_]
    return [r for r in rows if keep(r)]


def summary(event: Event, unit: Unit, session: EventSession) -> dict:
    """Counts over a unit's subtree, per state and for every filter: two grouped queries."""
    state = func.coalesce(EndpointStatus.state, UNKNOWN)
    hosting = Endpoint.id.in_(select(HostedUnit.endpoint_id).where(HostedUnit.event_id == event.id))
    incident = Endpoint.id.in_(select(Incident.endpoint_id).where(Incident.session_id == session.id,
                                                                   Incident.resolved_at.is_(None)))
    stmt = _status_join(select(state, func.count(), func.count(EndpointStatus.confirmed_at),
                               func.sum(case((hosting, 1), else_=0)), func.sum(case((incident, 1), else_=0)))
                        .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id), session)
    counts, confirmed, confirmed_unreachable, hosts, incidents, n = _counts(), 0, 0, 0, 0, 0
    for st, count, conf, host, inc in db.session.execute(
            stmt.where(Endpoint.event_id == event.id, Unit.path.startswith(unit.path)).group_by(state)):
        counts[st] += count
        n += count
        confirmed += conf
        confirmed_unreachable += conf if st == FAILED else 0
        hosts += int(host or 0)
        incidents += int(inc or 0)
    out = {"endpoints": n, "counts": counts, "confirmed": confirmed, "confirmed_unreachable": confirmed_unreachable,
           "hosting": hosts, "incidents": incidents}
    out["ready"] = round(counts[CONNECTED] / n, 4) if n else 0.0
    out["reachable"] = round((counts[CONNECTED] + counts[DEGRADED]) / n, 4) if n else 0.0
    out["by_filter"] = {"": n, "failed": counts[FAILED] + counts[DEGRADED], "unknown": counts[UNKNOWN],
                        "not_confirmed": n - confirmed, "confirmed_unreachable": confirmed_unreachable,
                        "hosting": hosts, "incident": incidents}
    return out


@dataclass
class UnitPage:
    rows: list[dict]  # endpoints shown as rows (the unit's own, each child's own, or the filtered ones)
    groups: list[dict]  # grouped mode: each child unit with its own endpoint and its subtree's counts
    total: int  # rows matching (filtered or flat mode), for the pager
    page: int
    per_page: int
    grouped: bool

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def unit_page(event: Event, unit: Unit, session: EventSession, filter_: str = "", page: int = 1,
              per_page: int | None = None, sort: str = "code") -> UnitPage:
    """What a unit's page lists. Filtered: the matching endpoints of the subtree, a page at a time.
    Unfiltered, a unit whose children have children (the country, a province of 2024) is grouped:
    its own endpoint, then each child with its own endpoint and the counts of its subtree (a
    district's communes collapsed: Hà Nội's page is 30 rows, not 600). Otherwise (a district, a
    province of 2025) its endpoints, a page at a time. `sort` (SORTS) orders the rows, or the groups
    (by their subtree's share reachable, or its longest silence)."""
    page = max(1, page)
    per_page = per_page or PER_PAGE
    if not filter_ and _has_grandchildren(unit):
        own = _rows(event, session, [Endpoint.unit_id == unit.id])
        groups = _groups(event, session, unit)
        if sort in ("worst", "silent"):  # groups without any endpoint last
            groups.sort(key=_group_order[sort])
        return UnitPage(own, groups, len(groups), 1, max(1, len(groups)), True)
    where = [Unit.path.startswith(unit.path)]
    if filter_:
        where.append(_filter_clause(event, session, filter_))
    total = db.session.scalar(_status_join(select(func.count()).select_from(Endpoint)
                                           .join(Unit, Endpoint.unit_id == Unit.id), session)
                              .where(Endpoint.event_id == event.id, *where))
    rows = _rows(event, session, where, limit=per_page, offset=(page - 1) * per_page, sort=sort)
    return UnitPage(rows, [], total, page, per_page, False)


def _has_grandchildren(unit: Unit) -> bool:
    return has_grandchildren(unit.id)


def _group_share(g: dict) -> float:
    """The share reachable of a group: its own endpoint and those below it."""
    own = g["endpoint"]
    n = g["below"]["endpoints"] + (1 if own else 0)
    up = g["below"]["counts"][CONNECTED] + g["below"]["counts"][DEGRADED] + (
        1 if own and own["state"] in (CONNECTED, DEGRADED) else 0)
    return up / n if n else 1.0


_group_order = {
    "worst": lambda g: (not g["below"]["endpoints"] and g["endpoint"] is None, _group_share(g),
                        _WORST.get(g["endpoint"]["state"] if g["endpoint"] else UNKNOWN, 2)),
    "silent": lambda g: (not g["below"]["endpoints"] and g["endpoint"] is None, -g["never_heard"],
                         g["oldest_heard_at"] or _EPOCH),
}


def has_grandchildren(unit_id: int) -> bool:
    """Whether a unit's page is grouped by child unit (its children have children): one query."""
    child = Unit.__table__.alias("child")
    grandchild = Unit.__table__.alias("grandchild")
    return db.session.scalar(select(grandchild.c.id).select_from(child.join(grandchild, grandchild.c.parent_id ==
                                                                              child.c.id))
                             .where(child.c.parent_id == unit_id).limit(1)) is not None


def _groups(event: Event, session: EventSession, unit: Unit) -> list[dict]:
    """Each child unit of `unit`: its own endpoint (a row, or None) and its descendants' counts."""
    children = list(db.session.execute(select(Unit.id, Unit.code, Unit.name, Unit.tier, Unit.path)
                                       .where(Unit.parent_id == unit.id).order_by(Unit.path)))
    width = db.session.scalar(select(func.max(func.length(Unit.path))).where(Unit.parent_id == unit.id)) or 0
    key = func.substr(Unit.path, literal_column("1"), literal_column(str(width)))
    state = func.coalesce(EndpointStatus.state, UNKNOWN)
    deep = func.length(Unit.path) > literal_column(str(width))
    counts: dict[str, dict] = {}
    heard_by: dict[str, list] = {}
    for prefix, st, is_deep, n, confirmed, heard, oldest_heard in db.session.execute(
            _status_join(select(key, state, deep, func.count(), func.count(EndpointStatus.confirmed_at),
                                func.count(EndpointStatus.heard_at), func.min(EndpointStatus.heard_at))
                         .select_from(Endpoint).join(Unit, Endpoint.unit_id == Unit.id), session)
            .where(Endpoint.event_id == event.id, Unit.path.startswith(unit.path), func.length(Unit.path) >= width)
            .group_by(key, state, deep)):
        silence = heard_by.setdefault(prefix, [0, None])  # the group's own endpoint and those below
        silence[0] += n - heard
        if oldest_heard is not None and (silence[1] is None or oldest_heard < silence[1]):
            silence[1] = oldest_heard
        if not is_deep:
            continue
        c = counts.setdefault(prefix, {"endpoints": 0, "counts": _counts(), "confirmed": 0})
        c["endpoints"] += n
        c["counts"][st] += n
        c["confirmed"] += confirmed
    own = {r["unit_code"]: r for r in _rows(event, session, [Unit.parent_id == unit.id])}
    groups = []
    for uid, code, name, tier, path in children:
        sub = counts.get(path, {"endpoints": 0, "counts": _counts(), "confirmed": 0})
        n = sub["endpoints"]
        never, oldest_heard = heard_by.get(path, (0, None))
        groups.append({"code": code, "name": name, "tier": tier, "endpoint": own.get(code), "below": sub,
                       "never_heard": never, "oldest_heard_at": oldest_heard,
                       "below_reachable": round((sub["counts"][CONNECTED] + sub["counts"][DEGRADED]) / n, 4) if n
                       else 0.0})
    return groups


# --- one endpoint ----------------------------------------------------------------------------------------

def timeline(endpoint_id: int, session_id: int, limit: int = 200) -> list[StatusEvent]:
    return list(db.session.scalars(select(StatusEvent).where(StatusEvent.endpoint_id == endpoint_id,
                                                             StatusEvent.session_id == session_id)
                                   .order_by(StatusEvent.id.desc()).limit(limit)))


def status_of(endpoint_id: int, session_id: int) -> EndpointStatus | None:
    return db.session.scalar(select(EndpointStatus).where(EndpointStatus.endpoint_id == endpoint_id,
                                                          EndpointStatus.session_id == session_id))


def open_incident_of(endpoint_id: int, session_id: int) -> Incident | None:
    return db.session.scalar(select(Incident).where(Incident.open_key == f"{endpoint_id}:{session_id}"))


# --- incidents ------------------------------------------------------------------------------------------

def endpoint_paths(event: Event, endpoint_ids: list[int]) -> dict[int, str]:
    """The unit path of each of `endpoint_ids` that is an endpoint of `event` (the others are left
    out): whether a batch of checks is all of the event, and in a coordinator's scope."""
    ids = sorted(set(endpoint_ids))
    found: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        found.update(dict(db.session.execute(select(Endpoint.id, Unit.path).join(Unit, Endpoint.unit_id == Unit.id)
                                             .where(Endpoint.id.in_(ids[i:i + 500]),
                                                    Endpoint.event_id == event.id)).all()))
    return found


def open_incident_count(session: EventSession, endpoint_ids: list[int]) -> int:
    """How many of these endpoints (at most 1,000) have an incident open in `session`."""
    return db.session.scalar(select(func.count()).select_from(Incident).where(
        Incident.session_id == session.id, Incident.resolved_at.is_(None), Incident.endpoint_id.in_(endpoint_ids[:1000])))


# --- freshness ------------------------------------------------------------------------------------------

def freshness(fp: versions.Fingerprint, now: datetime | None = None) -> dict:
    """How fresh the reachability shown is: the last sweep, the scheduler's last heartbeat, and
    `stale` when, during a session not yet over, the scheduler has been silent for more than three
    heartbeats, or the last sweep finished more than two probe intervals ago inside the window
    where sweeps are due."""
    now = now or utcnow()
    config = current_app.config
    beat = timedelta(seconds=config["SCHEDULER_HEARTBEAT_SECONDS"])
    interval = timedelta(seconds=config["PROBE_INTERVAL_SECONDS"])
    window_start = fp.starts_at - timedelta(seconds=config["PROBE_WINDOW_BEFORE_SECONDS"])
    live = now <= fp.ends_at
    scheduler_silent = fp.scheduler_seen_at is None or now - fp.scheduler_seen_at > 3 * beat
    in_window = window_start <= now <= fp.ends_at
    if fp.sweep_finished_at is not None:
        sweep_old = now - fp.sweep_finished_at > 2 * interval
    else:
        sweep_old = now - window_start > 2 * interval
    stale = live and (scheduler_silent or (in_window and sweep_old))
    return {"last_sweep_started_at": fp.sweep_started_at, "last_sweep_finished_at": fp.sweep_finished_at,
            "sweep_seconds": fp.sweep_seconds, "probed": fp.sweep_probed, "scheduler_seen_at": fp.scheduler_seen_at,
            "stale": bool(stale), "scheduler_silent": bool(live and scheduler_silent),
            "sweep_overdue": bool(live and in_window and sweep_old)}
