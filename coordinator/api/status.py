"""Connection status: the national roll-up, a unit's endpoints, and check-ins from scripts and
other systems. A coordinator sees only its province (other units: 404)."""
from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from coordinator.api import MAX_ID, Blueprint
from coordinator.auth.models import COORDINATOR
from coordinator.auth.permissions import can, require, scope_path
from coordinator.endpoints import services as endpoints
from coordinator.events.models import SESSION_KINDS
from coordinator.extensions import db
from coordinator.status import services as status
from coordinator.status.labels import CAUSE_LABELS, LAYER_LABELS, label
from coordinator.status.models import (CONFIRMATION_CHANNELS, ESCALATION_LEVELS, INCIDENT_CAUSES, INCIDENT_STATES,
                                       PROBE_LAYERS, RESOLUTIONS, STATES)
from coordinator.status.rule import REACHABILITY
from coordinator.timeutil import iso_local, utcnow
from coordinator.units.models import TIERS
from coordinator.units.services import get_unit
from coordinator.events.lookup import event_or_404

blp = Blueprint("api_status", __name__, description="Connection status during the test and the session")


SESSION_KIND = {"enum": ["", *SESSION_KINDS], "description": "session kind (404 when the event has none); "
                                                                "empty or absent: the one under way, else the next"}


class StateCounts(ma.Schema):
    connected = ma.fields.Integer()
    degraded = ma.fields.Integer()
    failed = ma.fields.Integer()
    unknown = ma.fields.Integer()


class Tile(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    endpoints = ma.fields.Integer()
    counts = ma.fields.Nested(StateCounts, metadata={"description": "endpoints per state shown (see the rule)"})
    confirmed = ma.fields.Integer(metadata={"description": "endpoints whose contact confirmed readiness"})
    confirmed_unreachable = ma.fields.Integer(metadata={
        "description": "confirmed by their contact but shown failed: the first calls to make"})
    ready = ma.fields.Float(metadata={"description": "share connected, 0 to 1"})
    reachable = ma.fields.Float(metadata={"description": "share connected or degraded, 0 to 1 (the tile's colour)"})
    mood = ma.fields.String(metadata={"enum": ["green", "amber", "red", "empty"],
                                      "description": "colour from `reachable` and STATUS_GREEN_SHARE / STATUS_AMBER_SHARE"})
    incidents = ma.fields.Integer(metadata={"description": "open incidents"})
    oldest_probe_at = ma.fields.Function(lambda t: t["oldest_probe_at"].isoformat() if t.get("oldest_probe_at") else None,
                                         metadata={"description": "the oldest last probe among its endpoints (UTC)"})


class Freshness(ma.Schema):
    last_sweep_started_at = ma.fields.DateTime(allow_none=True)
    last_sweep_finished_at = ma.fields.DateTime(allow_none=True)
    sweep_seconds = ma.fields.Float(allow_none=True)
    probed = ma.fields.Integer()
    scheduler_seen_at = ma.fields.DateTime(allow_none=True)
    stale = ma.fields.Boolean(metadata={"description": "the scheduler silent for 3 heartbeats, or the last sweep "
                                                       "older than 2 probe intervals during a session's window"})


class SessionRef(ma.Schema):
    kind = ma.fields.String()
    title = ma.fields.String()
    starts_at = ma.fields.Function(lambda s: iso_local(s.starts_at, s.event.timezone))
    ends_at = ma.fields.Function(lambda s: iso_local(s.ends_at, s.event.timezone))


class Probe(ma.Schema):
    at = ma.fields.Function(lambda s: iso_local(s.probed_at, s.session_tz) if s.probed_at else None)
    state = ma.fields.String(attribute="probe_state")
    layer = ma.fields.String(attribute="probe_layer", metadata={
        "enum": list(PROBE_LAYERS), "description": "where the probe stopped: ok (it answered), or what failed"})
    code = ma.fields.Integer(attribute="probe_code", allow_none=True)
    rtt_ms = ma.fields.Float(attribute="probe_rtt_ms", allow_none=True)
    target = ma.fields.String(attribute="probe_target")
    failures_in_a_row = ma.fields.Integer(attribute="probe_failures")


class Check(ma.Schema):
    at = ma.fields.Function(lambda s: iso_local(s.checked_at, s.session_tz) if s.checked_at else None)
    state = ma.fields.String(attribute="check_state")
    audio = ma.fields.Boolean(allow_none=True)
    video = ma.fields.Boolean(allow_none=True)
    content = ma.fields.Boolean(allow_none=True)
    note = ma.fields.String()


_PROBE, _CHECK = Probe(), Check()  # built once: a schema per row costs more than the row


class Observation(Check):
    by = ma.fields.String(attribute="checked_by")


class Readiness(ma.Schema):
    at = ma.fields.Function(lambda s: iso_local(s.confirmed_at, s.session_tz) if s.confirmed_at else None)
    via = ma.fields.String(attribute="confirmed_via", metadata={"enum": list(CONFIRMATION_CHANNELS)})


_OBSERVATION, _READINESS = Observation(), Readiness()


class UnitEndpoint(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    unit_code = ma.fields.String()
    unit = ma.fields.String()
    tier = ma.fields.String()
    protocol = ma.fields.String()
    state = ma.fields.String(metadata={"enum": list(STATES)})
    confirmed = ma.fields.Function(lambda r: bool(r["status"] and r["status"].confirmed_at))
    hosted_units = ma.fields.Integer(attribute="hosted")
    incident = ma.fields.Function(lambda r: bool(r["incident"]))
    last_probe = ma.fields.Function(lambda r: _PROBE.dump(r["status"]) if r["status"] and r["status"].probed_at else None)
    last_check = ma.fields.Function(lambda r: _CHECK.dump(r["status"]) if r["status"] and r["status"].checked_at else None)
    source = ma.fields.Function(lambda r: r["status"].source if r["status"] else "", metadata={
        "description": "which fact decided the state: operator, probe, or empty"})
    hold_until = ma.fields.Function(lambda r: iso_local(r["status"].hold_until, r["status"].session_tz)
                                    if r["status"] and r["status"].hold_until else None)
    reachability = ma.fields.Function(lambda r: status.reachability(r["status"].probe_state if r["status"] else ""),
                                      metadata={"enum": list(REACHABILITY.values())})
    observation = ma.fields.Function(lambda r: _OBSERVATION.dump(r["status"]) if r["status"] and r["status"].checked_at
                                     else None)
    readiness = ma.fields.Function(lambda r: _READINESS.dump(r["status"]) if r["status"] and r["status"].confirmed_at
                                   else None)
    confirmed_unreachable = ma.fields.Function(lambda r: bool(r["status"] and r["status"].confirmed_at
                                                              and r["state"] == "failed"))
    heard_at = ma.fields.Function(lambda r: iso_local(r["status"].heard_at, r["status"].session_tz)
                                  if r["status"] and r["status"].heard_at else None, metadata={
        "description": "when it was last heard from by any source (a probe it answered, an operator who saw or heard "
                       "it, a confirmation); null: never in this session"})


class StatusReport(ma.Schema):
    session = ma.fields.Nested(SessionRef)
    total = ma.fields.Nested(Tile, allow_none=True, metadata={"description": "null for a coordinator"})
    provinces = ma.fields.List(ma.fields.Nested(Tile), metadata={"description": "national roll-up (no unit given)"})
    freshness = ma.fields.Nested(Freshness)
    unit = ma.fields.Dict(metadata={"description": "the unit asked for (code, name, tier)"})
    endpoints = ma.fields.List(ma.fields.Nested(UnitEndpoint), metadata={"description": "with ?unit=: its subtree"})


class StatusQuery(ma.Schema):
    unit = ma.fields.String(metadata={"description": "a unit code: that unit's endpoints and their subtree's"})
    session = ma.fields.String(metadata=SESSION_KIND)
    filter = ma.fields.String(validate=ma.validate.OneOf(status.FILTERS))
    sort = ma.fields.String(validate=ma.validate.OneOf(status.SORTS), metadata={
        "description": "the national tiles: worst: least reachable first; silent: most endpoints never heard from first"})


def session_for(event, kind: str | None):
    if kind:
        session = event.session(kind)
        if session is None:
            abort(404, message=f"event {event.slug!r} has no session {kind!r}")
        return session
    session = status.current_session(event)
    if session is None:
        abort(404, message="the event has no session")
    return session


def _with_tz(rows, tz):
    for r in rows:
        if r["status"] is not None:
            r["status"].session_tz = tz
    return rows


@blp.route("/events/<slug>/status")
class EventStatus(MethodView):
    decorators = [require("status.view")]

    @blp.arguments(StatusQuery, location="query")
    @blp.response(200, StatusReport)
    @blp.alt_response(304, description="unchanged since the ETag given in If-None-Match")
    def get(self, query, slug):
        """National roll-up (per province: endpoints per state shown, confirmed, confirmed but
        unreachable, shares ready and reachable, open incidents, oldest probe; freshness), or with
        `unit` that unit's endpoints with their three facts. Answers 304 to an unchanged If-None-Match."""
        scope = None
        if current_user.role == COORDINATOR:  # limited to its unit in the event's structure
            scope = scope_path(current_user, event_or_404(slug).unit_structure)
        unit = None
        if query.get("unit"):
            event = event_or_404(slug)
            unit = get_unit(event.unit_structure, query["unit"])
            if unit is None or (scope is not None and not unit.path.startswith(scope)):
                abort(404, message=f"no unit {query['unit']!r} in your scope")
        province = None if unit is None else ("TW" if unit.tier == "central" else unit.path.strip("/").split("/")[1])
        fp = status.fingerprint(slug, query.get("session"), province)
        if fp is not None and fp.holds_due:  # operators' holds that ended go back to the probes first
            status.expire_holds()
            fp = status.fingerprint(slug, query.get("session"), province)
        if fp is None:
            event = event_or_404(slug)
            session_for(event, query.get("session"))
            abort(404, message="the event has no session")
        fresh = status.freshness(fp)
        seen = fresh["scheduler_seen_at"].timestamp() if fresh["scheduler_seen_at"] else 0
        tag = fp.tag(int(fresh["stale"]), f"{seen:.0f}", query.get("unit", ""), query.get("filter", ""),
                     query.get("sort", ""), scope or "")
        etag = f'W/"{tag}"'
        if request.if_none_match.contains_weak(tag):
            return "", 304, {"ETag": etag}
        event = event_or_404(slug)
        session = session_for(event, fp.session_kind)
        if unit is not None:
            rows = _with_tz(status.unit_view(event, unit, session, query.get("filter")), event.timezone)
            body = {"session": session, "unit": {"code": unit.code, "name": unit.name, "tier": unit.tier},
                    "endpoints": rows, "freshness": fresh}
        else:
            report = status.rollup(event, session, sort=query.get("sort") or "code")
            provinces = report["provinces"]
            if scope is not None:  # a coordinator: its province only
                provinces = [t for t in provinces if scope.startswith(f"/TW/{t['code']}/")]
            body = {"session": session, "total": report["total"] if scope is None else None, "provinces": provinces,
                    "freshness": fresh}
        return body, 200, {"ETag": etag, "Cache-Control": "no-cache"}


class CheckInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    state = ma.fields.String(required=True, validate=ma.validate.OneOf(STATES))
    audio = ma.fields.Boolean(load_default=None, allow_none=True)
    video = ma.fields.Boolean(load_default=None, allow_none=True)
    content = ma.fields.Boolean(load_default=None, allow_none=True, metadata={"description": "shared content seen"})
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    session = ma.fields.String(load_default=None, metadata=SESSION_KIND)


class CheckResult(ma.Schema):
    id = ma.fields.Integer()
    endpoint_id = ma.fields.Integer()
    session = ma.fields.Function(lambda e: e["session_kind"] if isinstance(e, dict) else e.session_kind)
    source = ma.fields.String()
    state = ma.fields.String()
    audio = ma.fields.Boolean(allow_none=True)
    video = ma.fields.Boolean(allow_none=True)
    content = ma.fields.Boolean(allow_none=True)
    note = ma.fields.String()
    created_at = ma.fields.DateTime()
    incident_open = ma.fields.Boolean()


@blp.route(f"/endpoints/<int(max={MAX_ID}):endpoint_id>/checks")
class EndpointChecks(MethodView):
    decorators = [require("status.check")]

    @blp.arguments(CheckInput)
    @blp.response(201, CheckResult)
    @blp.alt_response(404, description="no such endpoint in your scope")
    def post(self, data, endpoint_id):
        """Record a check of one endpoint (connected? audio, video, shared content? a note): appended
        to its status timeline; `failed` during a session's window opens an incident and texts its
        technical contacts once."""
        endpoint = endpoints.get_endpoint(endpoint_id, current_user)
        if endpoint is None or not can(current_user, "status.check", endpoint.unit):
            abort(404, message=f"no endpoint {endpoint_id}")
        session = session_for(endpoint.event, data["session"])
        event = status.record(endpoint, session, "operator", data["state"], audio=data["audio"], video=data["video"],
                              content=data["content"], note=data["note"], actor=current_user, commit=False)
        # Serialised before the commit: nothing needs loading again afterwards.
        body = {**{k: getattr(event, k) for k in ("id", "endpoint_id", "source", "state", "audio", "video", "content",
                                                  "note", "created_at")},
                "session_kind": session.kind,
                "incident_open": status.open_incident_of(endpoint.id, session.id) is not None}
        db.session.commit()
        return body


class BatchItem(CheckInput):
    endpoint_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    session = ma.fields.String(dump_only=True)


class BatchInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    session = ma.fields.String(load_default=None, metadata={
        **SESSION_KIND, "description": "session kind for every check; default the one under way, else the next"})
    checks = ma.fields.List(ma.fields.Nested(BatchItem), required=True,
                            validate=ma.validate.Length(min=1, max=1000))


class BatchResult(ma.Schema):
    recorded = ma.fields.Integer()
    session = ma.fields.String()
    incidents_open = ma.fields.Integer(metadata={"description": "open incidents among these endpoints"})


@blp.route("/events/<slug>/checks")
class EventChecks(MethodView):
    decorators = [require("status.check")]

    @blp.arguments(BatchInput)
    @blp.response(201, BatchResult)
    @blp.alt_response(404, description="an endpoint is not of this event or not in your scope: nothing recorded")
    def post(self, data, slug):
        """Record up to 1,000 checks at once (a province's or a monitoring system's report), all or
        none, each as POST /endpoints/<id>/checks would."""
        event = event_or_404(slug)
        session = session_for(event, data["session"])
        ids = sorted({c["endpoint_id"] for c in data["checks"]})
        scope = scope_path(current_user, event.unit_structure)
        found = status.endpoint_paths(event, ids)
        outside = [i for i in ids if i not in found or (scope is not None and not found[i].startswith(scope))]
        if outside:
            abort(404, message=f"no endpoint {outside[0]} in this event and your scope; nothing was recorded")
        try:
            status.record_many(event, session, data["checks"], actor=current_user)
        except status.StatusError as exc:
            abort(404, message=f"{exc}; nothing was recorded")
        return {"recorded": len(data["checks"]), "session": session.kind,
                "incidents_open": status.open_incident_count(session, ids)}


# --- incidents ---------------------------------------------------------------------------------------

class IncidentQuery(ma.Schema):
    session = ma.fields.String(metadata=SESSION_KIND)
    province = ma.fields.String(metadata={"description": "a province code"})
    tier = ma.fields.String(validate=ma.validate.OneOf(TIERS))
    cause = ma.fields.String(validate=ma.validate.OneOf(INCIDENT_CAUSES))
    open = ma.fields.String(load_default=None, validate=ma.validate.OneOf(("true", "false", "all")), metadata={
        "description": "true: not resolved (open or acknowledged; the default without `state`); false: resolved "
                       "only; all"})
    state = ma.fields.String(validate=ma.validate.OneOf(INCIDENT_STATES), metadata={
        "description": "open (nobody acknowledged it), acknowledged (it has an owner) or resolved; given, `open` "
                       "applies only when given too"})
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_ID))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=1000))


class Person(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String(metadata={"description": "the account's name, else its email"})
    email = ma.fields.String()


class Note(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.Function(lambda n: iso_local(n["at"], n["tz"]))
    by = ma.fields.String(metadata={"description": "who wrote it (name or email)"})
    author_id = ma.fields.Integer(allow_none=True)
    text = ma.fields.String()


class ResolutionSchema(ma.Schema):
    how = ma.fields.String(metadata={"enum": list(RESOLUTIONS), "description": "recovered: the endpoint was "
                                     "connected again; by_hand: someone resolved it, with `reason`"})
    reason = ma.fields.String()
    by = ma.fields.Nested(Person, allow_none=True)


def _local(key):
    return ma.fields.Function(lambda i: iso_local(i[key], i["tz"]) if i.get(key) else None)


def prepared(item: dict, tz: str, now) -> dict:
    """An item of `status.list_incidents` ready for IncidentItem: the event's zone and the time
    (ages), its notes' zone, its resolution as one object."""
    item["tz"], item["now"] = tz, now
    for note in item.get("notes") or []:
        note["tz"] = tz
    item["resolution_out"] = ({"how": item["resolution"], "reason": item["resolution_reason"],
                               "by": item["resolved_by"]} if item["resolution"] else None)
    return item


class IncidentItem(ma.Schema):
    id = ma.fields.Integer()
    endpoint_id = ma.fields.Integer()
    endpoint = ma.fields.Function(lambda i: {"id": i["endpoint_id"], "name": i["endpoint"]})
    unit_code = ma.fields.String()
    unit = ma.fields.Function(lambda i: {"code": i["unit_code"], "name": i["unit"]})
    province_code = ma.fields.String()
    province = ma.fields.Function(lambda i: {"code": i["province_code"], "name": i["province"]})
    tier = ma.fields.String()
    state = ma.fields.String(metadata={"enum": list(INCIDENT_STATES), "description":
                                       "open: nobody on it yet; acknowledged: `owner` works it; resolved"})
    owner = ma.fields.Nested(Person, allow_none=True, metadata={"description": "who works it (null while open)"})
    cause = ma.fields.String(metadata={"enum": list(INCIDENT_CAUSES)})
    cause_text = ma.fields.Function(lambda i: label(CAUSE_LABELS, i["cause"]), metadata={
        "description": "the cause in the user's language"})
    layer = ma.fields.String(metadata={"description": "the probe's failing layer (empty for an operator's report)"})
    layer_text = ma.fields.Function(lambda i: label(LAYER_LABELS, i["layer"]) if i["layer"] else "")
    code = ma.fields.Integer(allow_none=True, metadata={"description": "SIP or HTTP code"})
    detail = ma.fields.String()
    opened_at = ma.fields.Function(lambda i: iso_local(i["opened_at"], i["tz"]))
    resolved_at = ma.fields.Function(lambda i: iso_local(i["resolved_at"], i["tz"]) if i["resolved_at"] else None)
    age_seconds = ma.fields.Function(lambda i: round(((i["resolved_at"] or i["now"]) - i["opened_at"]).total_seconds()))
    notified = ma.fields.Integer(metadata={"description": "SMS queued for this incident to the endpoint's people"})
    acknowledged_at = _local("acknowledged_at")
    resolution = ma.fields.Nested(ResolutionSchema, attribute="resolution_out", allow_none=True,
                                  metadata={"description": "how it was resolved (null while it is not)"})
    escalated_at = _local("escalated_at")
    escalation = ma.fields.String(metadata={
        "enum": ["", *ESCALATION_LEVELS], "description": "nobody acknowledged it within INCIDENT_ACK_SECONDS: "
        "escalated to the province's focal contacts, the event's duty phones, or nobody (empty: not escalated)"})
    notes = ma.fields.List(ma.fields.Nested(Note), metadata={"description": "oldest first"})


class IncidentPage(ma.Schema):
    session = ma.fields.Nested(SessionRef)
    items = ma.fields.List(ma.fields.Nested(IncidentItem))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


@blp.route("/events/<slug>/incidents")
class EventIncidents(MethodView):
    decorators = [require("status.view")]

    @blp.arguments(IncidentQuery, location="query")
    @blp.response(200, IncidentPage)
    def get(self, query, slug):
        """The session's incidents, newest first, filtered and paginated on the server (a
        coordinator: its province's only), each with its state (open, acknowledged, resolved), owner,
        resolution, escalation and notes; `state` filters by it. Worked with POST
        /incidents/<id>/ack, /assign, /resolve, /notes."""
        event = event_or_404(slug)
        session = session_for(event, query.get("session"))
        open_ = {"true": True, "false": False, "all": None, None: None if query.get("state") else True}[query["open"]]
        items, total = status.list_incidents(event, session, scope=scope_path(current_user, event.unit_structure),
                                             province=query.get("province"), tier=query.get("tier"),
                                             cause=query.get("cause"), open_=open_, state=query.get("state"),
                                             page=query["page"], per_page=query["per_page"])
        now = utcnow()
        items = [prepared(item, event.timezone, now) for item in items]
        return {"session": session, "items": items, "total": total, "page": query["page"],
                "per_page": query["per_page"]}
