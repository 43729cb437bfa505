"""The operations room: finding an endpoint (by its unit's name or code, its room, its dial address, a
contact's name or phone as officials write it) and what changed (new failures, recoveries,
confirmations). A coordinator searches and reads only its province (its subtree)."""
from __future__ import annotations

import marshmallow as ma
from flask import url_for
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from coordinator.api import Blueprint
from coordinator.api.status import SESSION_KIND, SessionRef, session_for
from coordinator.auth.permissions import require, scope_path
from coordinator.events.lookup import event_or_404
from coordinator.status import services as status
from coordinator.status.labels import LAYER_LABELS, MATCH_LABELS, STATE_LABELS, label
from coordinator.status.models import CONFIRMATION_CHANNELS, DECIDING_SOURCES, PROBE_LAYERS, STATES
from coordinator.timeutil import iso_local
from coordinator.units.models import TIERS
from coordinator.units.services import get_unit

blp = Blueprint("api_ops", __name__, description="The operations room: search, what changed")


class SearchQuery(ma.Schema):
    q = ma.fields.String(required=True, validate=ma.validate.Length(max=status.SEARCH_MAX_Q), metadata={
        "description": "a unit's name (with or without diacritics) or code, a room's name or address, a dial "
                       "address, a contact's name, or a phone as written (\"0913 123 456\", \"0913.123.456\", "
                       "\"+84913123456\", or a piece of one); empty: nothing found"})
    session = ma.fields.String(metadata=SESSION_KIND)
    limit = ma.fields.Integer(load_default=status.SEARCH_LIMIT,
                              validate=ma.validate.Range(min=1, max=status.SEARCH_MAX_LIMIT))


class SearchItem(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "the endpoint's id"})
    unit_code = ma.fields.String()
    unit_name = ma.fields.String()
    state = ma.fields.String(metadata={"enum": list(STATES), "description": "the state shown in the session"})
    state_text = ma.fields.String(metadata={"description": "the same, in the user's language"})
    name = ma.fields.String(metadata={"description": "the endpoint's (room's) name"})
    dial = ma.fields.String()
    tier = ma.fields.String(metadata={"enum": list(TIERS)})
    province_code = ma.fields.String()
    incident = ma.fields.Boolean(metadata={"description": "an incident is open in the session"})
    heard_at = ma.fields.String(allow_none=True, metadata={
        "description": "when it was last heard from by any source (a probe it answered, an operator who saw it, a "
                       "confirmation); null: never in this session"})
    match = ma.fields.String(metadata={"enum": list(status.MATCHES), "description": "what the search found it by"})
    match_text = ma.fields.String(metadata={"description": "the same, in the user's language"})
    matched = ma.fields.String(metadata={"description": "the contact, number, dial address or hosted unit that "
                                                        "matched, when one did"})
    page = ma.fields.String(metadata={"description": "the endpoint's status page (a path)"})


class SearchResults(ma.Schema):
    session = ma.fields.Nested(SessionRef)
    q = ma.fields.String()
    items = ma.fields.List(ma.fields.Nested(SearchItem), metadata={"description": "best first"})
    more = ma.fields.Boolean(metadata={"description": "more endpoints matched than `limit`"})


@blp.route("/events/<slug>/search")
class EventSearch(MethodView):
    decorators = [require("status.view")]

    @blp.arguments(SearchQuery, location="query")
    @blp.response(200, SearchResults)
    def get(self, query, slug):
        """Find endpoints by a unit's name or code, a room, a dial address, a contact's name or phone,
        best first (a unit's code or a whole phone number, then a unit's name, a room, a contact),
        with their state in the session. A coordinator finds only its province's."""
        event = event_or_404(slug)
        session = session_for(event, query.get("session"))
        found = status.find_endpoints(event, query["q"], session=session,
                                      scope=scope_path(current_user, event.unit_structure), limit=query["limit"])
        items = [{"id": h.id, "unit_code": h.unit_code, "unit_name": h.unit_name, "state": h.state,
                  "state_text": label(STATE_LABELS, h.state), "name": h.name,
                  "dial": h.dial, "tier": h.tier, "province_code": h.province_code, "incident": h.incident,
                  "heard_at": iso_local(h.heard_at, event.timezone), "match": h.match,
                  "match_text": label(MATCH_LABELS, h.match), "matched": h.matched,
                  "page": url_for("status.endpoint", slug=slug, endpoint_id=h.id, session=session.kind)}
                 for h in found.items]
        return {"session": session, "q": found.q, "items": items, "more": found.more}


class FeedQuery(ma.Schema):
    session = ma.fields.String(metadata=SESSION_KIND)
    unit = ma.fields.String(metadata={"description": "a unit code: what changed in its subtree (default: the "
                                                     "whole country; a coordinator's own unit)"})


class FeedItem(ma.Schema):
    endpoint_id = ma.fields.Integer()
    endpoint = ma.fields.String(metadata={"description": "the endpoint's name"})
    unit_code = ma.fields.String()
    unit = ma.fields.String(metadata={"description": "the unit's name"})
    tier = ma.fields.String(metadata={"enum": list(TIERS)})
    state = ma.fields.String(metadata={"enum": list(STATES), "description": "the state shown now"})
    at = ma.fields.Function(lambda i: iso_local(i["at"], i["tz"]), metadata={
        "description": "when it happened: failed or connected again since, confirmed at"})
    heard_at = ma.fields.Function(lambda i: iso_local(i["heard_at"], i["tz"]), allow_none=True)
    source = ma.fields.String(metadata={"enum": ["", *DECIDING_SOURCES], "description": "what decides the state"})
    layer = ma.fields.String(metadata={"enum": ["", *PROBE_LAYERS], "description": "failures: the probe's layer"})
    layer_text = ma.fields.Function(lambda i: label(LAYER_LABELS, i.get("layer")) if i.get("layer") else "")
    code = ma.fields.Integer(allow_none=True, metadata={"description": "failures: the probe's SIP or HTTP code"})
    note = ma.fields.String(metadata={"description": "failures: the operator's note"})
    incident = ma.fields.Boolean(metadata={"description": "failures: an incident is open"})
    via = ma.fields.String(metadata={"enum": ["", *CONFIRMATION_CHANNELS], "description": "confirmations: how"})


class NewestIncidents(ma.Schema):
    ids = ma.fields.List(ma.fields.Integer(), metadata={"description": "the newest open incidents' ids, newest first"})
    newest = ma.fields.Integer(metadata={"description": "the newest open incident's id (0: none)"})


class Feed(ma.Schema):
    session = ma.fields.Nested(SessionRef)
    unit = ma.fields.Dict(allow_none=True, metadata={"description": "the unit asked for (code, name, tier)"})
    failures = ma.fields.List(ma.fields.Nested(FeedItem), metadata={
        "description": "failed or degraded now, newest first"})
    recoveries = ma.fields.List(ma.fields.Nested(FeedItem), metadata={
        "description": "connected again after a failure in the session, newest first"})
    confirmations = ma.fields.List(ma.fields.Nested(FeedItem), metadata={
        "description": "readiness confirmed by a contact, newest first"})
    incidents = ma.fields.Nested(NewestIncidents)


@blp.route("/events/<slug>/feed")
class EventFeed(MethodView):
    decorators = [require("status.view")]

    @blp.arguments(FeedQuery, location="query")
    @blp.response(200, Feed)
    def get(self, query, slug):
        """What changed in the session: the newest failures, recoveries and confirmations (a few of
        each), in the country or a unit's subtree; a coordinator's within its province."""
        event = event_or_404(slug)
        session = session_for(event, query.get("session"))
        scope = scope_path(current_user, event.unit_structure)
        code = query.get("unit")
        unit = None
        if code:
            unit = get_unit(event.unit_structure, code)
            if unit is None or (scope is not None and not unit.path.startswith(scope)):
                abort(404, message=f"no unit {code!r} in your scope")
        elif scope is not None:
            unit = get_unit(event.unit_structure, scope.strip("/").split("/")[-1])
            if unit is None:
                abort(404, message="no unit in your scope")
        body = status.changes(event, session, unit)
        for kind in ("failures", "recoveries", "confirmations"):
            for item in body[kind]:
                item["tz"] = event.timezone
                item["source"] = item["source"] or ""
        body.update(session=session, unit={"code": unit.code, "name": unit.name, "tier": unit.tier} if unit else None)
        return body
