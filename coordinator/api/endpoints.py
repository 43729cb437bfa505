"""Endpoints (điểm cầu) and their contacts. Scope: a coordinator sees and changes only its
unit's subtree; anything else is 404 (reading) or 403 (writing to a named unit)."""
from __future__ import annotations

import re

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from coordinator.api import MAX_ID, Blueprint, refusal
from coordinator.auth.permissions import authorize, require
from coordinator.endpoints import services
from coordinator.endpoints.models import CONTACT_ROLES, PHONE_TYPES, PROTOCOLS
from coordinator.endpoints.phones import foreign_note, is_foreign
from coordinator.events.lookup import event_or_404
from coordinator.events.windows import RegistrationClosed
from coordinator.fields import INTEGER_MAX
from coordinator.timeutil import iso_local
from coordinator.units.models import TIERS

blp = Blueprint("api_endpoints", __name__, description="Endpoints (điểm cầu) and their contacts")


class ContactSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True)
    position = ma.fields.String(load_default="")
    phone = ma.fields.String(required=True, metadata={"description": "any common Vietnamese spelling in; E.164 out"})
    phone_type = ma.fields.String(dump_only=True, metadata={
        "enum": list(PHONE_TYPES),
        "description": "foreign: not a Vietnamese number; kept, but the Vietnamese SMS sender cannot reach it"})
    sms_reachable = ma.fields.Function(lambda c: c.phone_type == "mobile" and not is_foreign(c.phone),
                                       dump_only=True, metadata={"description": "reminders and incident SMS reach it"})
    phone_warning = ma.fields.Function(lambda c: note.localized() if (note := foreign_note(c.phone)) else None,
                                       dump_only=True, metadata={"description": "why SMS skip this number, if they do"})
    email = ma.fields.String(load_default="")
    role = ma.fields.String(load_default="attendee", metadata={"enum": list(CONTACT_ROLES)})
    focal = ma.fields.Boolean(load_default=False, metadata={
        "description": "one of the province's focal contacts: gets the province's incident digests"})


# Checked by the rule shared with the form and the import (services.clean_endpoint), which answers
# 422 with [{field, message}]: documented here, not validated twice.
ATTENDANCE = {"minimum": 0, "maximum": INTEGER_MAX, "description": "people expected in the room"}


class EndpointInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    unit_code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    address = ma.fields.String(load_default="")
    protocol = ma.fields.String(load_default="other", metadata={"enum": list(PROTOCOLS)})
    dial = ma.fields.String(load_default="", metadata={"description": "SIP URI, H.323 address or IP, or https link"})
    upstream_bridge = ma.fields.String(load_default="")
    provider = ma.fields.String(load_default="")
    expected_attendance = ma.fields.Integer(load_default=None, allow_none=True, metadata=ATTENDANCE)
    hosted_unit_codes = ma.fields.List(ma.fields.String(), load_default=list)
    contacts = ma.fields.List(ma.fields.Nested(ContactSchema), load_default=list)


class EndpointPatch(EndpointInput):
    class Meta:
        unknown = ma.RAISE
        partial = True

    unit_code = ma.fields.String(dump_only=True)
    name = ma.fields.String()
    address = ma.fields.String()
    protocol = ma.fields.String(metadata={"enum": list(PROTOCOLS)})
    dial = ma.fields.String()
    upstream_bridge = ma.fields.String()
    provider = ma.fields.String()
    expected_attendance = ma.fields.Integer(allow_none=True, metadata=ATTENDANCE)
    hosted_unit_codes = ma.fields.List(ma.fields.String())
    contacts = ma.fields.List(ma.fields.Nested(ContactSchema))


class EndpointSchema(ma.Schema):
    id = ma.fields.Integer()
    event = ma.fields.Function(lambda e: e.event.slug)
    unit_code = ma.fields.Function(lambda e: e.unit.code)
    unit_name = ma.fields.Function(lambda e: e.unit.name)
    tier = ma.fields.Function(lambda e: e.unit.tier)
    name = ma.fields.String()
    address = ma.fields.String()
    protocol = ma.fields.String()
    dial = ma.fields.String()
    upstream_bridge = ma.fields.String()
    provider = ma.fields.String()
    expected_attendance = ma.fields.Integer(allow_none=True)
    hosted_unit_codes = ma.fields.Function(lambda e: [h.unit.code for h in e.hosted])
    contacts = ma.fields.List(ma.fields.Nested(ContactSchema))
    updated_at = ma.fields.Function(lambda e: iso_local(e.updated_at, "UTC"))
    version = ma.fields.Integer(metadata={
        "description": "moved by every change to the endpoint, its contacts or hosted units; the ETag is "
                       "`\"<version>\"`: send it back as If-Match so that a change made meanwhile is not overwritten"})


class EndpointList(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(EndpointSchema))
    total = ma.fields.Integer(metadata={"description": "endpoints that pass the filters, on every page"})
    page = ma.fields.Integer(metadata={"description": "only when the request asked for a page"})
    per_page = ma.fields.Integer(metadata={"description": "only when the request asked for a page"})


class EndpointQuery(ma.Schema):
    unit_code = ma.fields.String(metadata={"description": "only this unit's endpoint"})
    q = ma.fields.String(validate=ma.validate.Length(max=100), metadata={
        "description": "search without diacritics: unit name or code, room name or address, contact name or "
                       "phone (`ba dinh` finds Ba Đình, `0913 123` finds +84913123…)"})
    tier = ma.fields.String(metadata={"enum": list(TIERS)})
    page = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID), metadata={
        "description": "one page of `per_page` (default 100) instead of every endpoint"})
    per_page = ma.fields.Integer(validate=ma.validate.Range(min=1, max=1000))




_STRONG = r'"\d+(?::[A-Za-z0-9-]+)?"'


class IfMatchHeader(ma.Schema):
    # The pattern documents what _if_match accepts (anything else is its 400, not a 422).
    if_match = ma.fields.String(data_key="If-Match", metadata={
        "pattern": rf"^\s*(?:\*|{_STRONG}(?:\s*,\s*{_STRONG})*)\s*$",
        "description": "the ETag of the endpoint you read (`\"3\"`; with the `:gzip` that a gzipped response "
                       "adds, or not; several, comma-separated, or `*`). Answered 412 when the endpoint changed "
                       "since. Without it the change is applied to the endpoint as it is (the last writer wins, "
                       "one at a time)."})


class ConflictDetailsSchema(ma.Schema):
    current = ma.fields.Nested(EndpointSchema, allow_none=True, metadata={
        "description": "the endpoint as it is now, with its `version` (null: removed meanwhile)"})
    expected = ma.fields.List(ma.fields.Integer(), metadata={"description": "the versions your If-Match named"})


class ConflictErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"example": "precondition_failed"})
    message = ma.fields.String()
    details = ma.fields.Nested(ConflictDetailsSchema)


class ConflictErrorSchema(ma.Schema):
    error = ma.fields.Nested(ConflictErrorBodySchema)


ETAG_HEADER = {"ETag": {"description": "`\"<version>\"` of the endpoint (`\"<version>:gzip\"` when the response "
                                      "is gzipped): the value for If-Match", "schema": {"type": "string"}}}
_ETAG = re.compile(r'^(W/)?"(\d+)(?::[A-Za-z0-9-]+)?"$')


def _etag(endpoint) -> dict[str, str]:
    return {"ETag": f'"{endpoint.version}"'}


def _if_match(value: str | None) -> frozenset[int] | None:
    """The versions an If-Match header accepts; None without one, or for `*` (any)."""
    if value is None:
        return None
    if value.strip() == "*":
        return None
    versions = set()
    for part in value.split(","):
        m = _ETAG.match(part.strip())
        if m is None:
            abort(400, message=f"If-Match {value!r} is not an ETag of this API: send the ETag of "
                               'GET /api/v1/endpoints/{id} as it came, quoted, e.g. If-Match: "3"')
        if m.group(1):
            abort(400, message=f"If-Match {value!r} is a weak ETag, which never matches (RFC 9110): send the "
                               f'strong one, e.g. If-Match: "{m.group(2)}"')
        versions.add(int(m.group(2)))
    return frozenset(versions)


def _conflict(exc: services.EndpointConflict):
    current = exc.reload()
    if current is None:
        abort(412, message="someone else removed this endpoint meanwhile: nothing was changed",
              errors={"current": None, "expected": exc.expected})
    abort(412, message=f"someone else changed this endpoint meanwhile: it is at version {current.version}, "
                       f"not {', '.join(map(str, exc.expected))}; nothing was changed. details.current is their "
                       f'version: apply your change to it and send it again with If-Match: "{current.version}"',
          errors={"current": EndpointSchema().dump(current), "expected": exc.expected}, headers=_etag(current))


NOT_SAVED = "the endpoint was not saved: see details"


def _save(event, unit, data, endpoint=None):
    values = services.clean_endpoint(data)
    try:
        saved = services.save_endpoint(event, unit, values, actor=current_user, endpoint=endpoint)
        return saved, 201, _etag(saved)
    except services.EndpointConflict as exc:  # registered by someone else a moment ago
        abort(409, message=f"unit {unit.code} already has endpoint {exc.current.id}: "
                           f"PATCH /api/v1/endpoints/{exc.current.id}")
    except services.ScopeError:
        abort(403, message=f"unit {unit.code} is outside your scope")
    except RegistrationClosed as exc:
        abort(409, message=exc.msg.localized())


@blp.route("/events/<slug>/endpoints")
class EventEndpoints(MethodView):
    decorators = [require("registration.view")]

    @blp.arguments(EndpointQuery, location="query", as_kwargs=True)
    @blp.response(200, EndpointList)
    def get(self, slug, unit_code=None, q=None, tier=None, page=None, per_page=None):
        """The event's endpoints you may see, with their contacts (E.164 phones), ordered by unit code;
        searched with `q`, filtered by `tier`, one page at a time with `page` / `per_page`"""
        ids = services.endpoint_ids(event_or_404(slug), current_user, unit_code=unit_code, q=q, tier=tier)
        if page is None and per_page is None:
            return {"items": services.load_endpoints(ids), "total": len(ids)}
        page, per_page = page or 1, per_page or 100
        return {"items": services.load_endpoints(ids[(page - 1) * per_page: page * per_page]), "total": len(ids),
                "page": page, "per_page": per_page}

    @blp.arguments(EndpointInput)
    @blp.response(201, EndpointSchema, headers=ETAG_HEADER)
    @blp.alt_response(409, description="the unit already has an endpoint, or registration is closed")
    @blp.alt_response(422, description="invalid fields; details: [{field, row, message}]")
    @refusal(NOT_SAVED)
    def post(self, data, slug):
        """Register a unit's endpoint and its contacts"""
        authorize("registration.manage")
        event = event_or_404(slug)
        try:
            unit = services.resolve_unit(event, data["unit_code"], current_user)
        except services.ScopeError:
            abort(403, message=f"unit {data['unit_code']} is outside your scope")
        existing = services.endpoint_of_unit(event, unit)
        if existing is not None:
            abort(409, message=f"unit {unit.code} already has endpoint {existing.id}: PATCH /api/v1/endpoints/{existing.id}")
        return _save(event, unit, data)


@blp.route(f"/endpoints/<int(max={MAX_ID}):endpoint_id>")
class EndpointById(MethodView):
    decorators = [require("registration.view")]

    def _get(self, endpoint_id):
        endpoint = services.get_endpoint(endpoint_id, current_user)
        if endpoint is None:
            abort(404, message=f"no endpoint {endpoint_id}")
        return endpoint

    @blp.response(200, EndpointSchema, headers=ETAG_HEADER)
    def get(self, endpoint_id):
        """One endpoint with its contacts and hosted units; its ETag is its version"""
        endpoint = self._get(endpoint_id)
        return endpoint, 200, _etag(endpoint)

    @blp.arguments(EndpointPatch)
    @blp.arguments(IfMatchHeader, location="headers", as_kwargs=True)
    @blp.response(200, EndpointSchema, headers=ETAG_HEADER)
    @blp.alt_response(400, description="If-Match is not an ETag of this API")
    @blp.alt_response(409, description="registration is closed")
    @blp.alt_response(412, schema=ConflictErrorSchema, headers=ETAG_HEADER,
                      description="If-Match names a version the endpoint is no longer at: nothing changed; "
                                  "`error.details.current` is the endpoint as it is now")
    @blp.alt_response(422, description="invalid fields; details: [{field, row, message}]")
    @refusal(NOT_SAVED)
    def patch(self, data, endpoint_id, if_match=None):
        """Change some fields; `contacts` and `hosted_unit_codes`, when given, replace the lists

        One change at a time per endpoint, applied to the endpoint as it is then: concurrent PATCHes
        never merge their lists. With If-Match (the ETag of your GET) a change made by someone else
        in between is answered 412 instead of being overwritten."""
        authorize("registration.manage")
        expected = _if_match(if_match)
        endpoint = self._get(endpoint_id)
        try:
            saved = services.update_endpoint(endpoint, data, actor=current_user, expected_version=expected)
        except services.EndpointConflict as exc:
            _conflict(exc)
        except services.EndpointGone:
            abort(404, message=f"no endpoint {endpoint_id}: removed meanwhile")
        except services.ScopeError:
            abort(403, message=f"unit {endpoint.unit.code} is outside your scope")
        except RegistrationClosed as exc:
            abort(409, message=exc.msg.localized())
        return saved, 200, _etag(saved)

    @blp.arguments(IfMatchHeader, location="headers", as_kwargs=True)
    @blp.response(204)
    @blp.alt_response(400, description="If-Match is not an ETag of this API")
    @blp.alt_response(412, schema=ConflictErrorSchema, headers=ETAG_HEADER,
                      description="If-Match names a version the endpoint is no longer at: nothing removed")
    def delete(self, endpoint_id, if_match=None):
        """Remove an endpoint, its contacts and the units it hosts (If-Match: only at that version)"""
        authorize("registration.manage")
        expected = _if_match(if_match)
        endpoint = self._get(endpoint_id)
        try:
            services.delete_endpoint(endpoint.event, endpoint, actor=current_user, expected_version=expected)
        except services.EndpointConflict as exc:
            _conflict(exc)
        except services.ScopeError:
            abort(403, message="outside your scope")
        except RegistrationClosed as exc:
            abort(409, message=exc.msg.localized())
