"""Endpoints (điểm cầu) and their contacts. Scope: a coordinator sees and changes only its
unit's subtree; anything else is 404 (reading) or 403 (writing to a named unit)."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from coordinator.web.lookup import event_or_404
from coordinator.auth.permissions import authorize, require
from coordinator.deadlines.services import RegistrationClosed
from coordinator.endpoints import services
from coordinator.endpoints.models import CONTACT_ROLES, PROTOCOLS
from coordinator.timeutil import iso_local

blp = Blueprint("api_endpoints", __name__, description="Endpoints (điểm cầu) and their contacts")


class ContactSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True)
    position = ma.fields.String(load_default="")
    phone = ma.fields.String(required=True, metadata={"description": "any common Vietnamese spelling in; E.164 out"})
    phone_type = ma.fields.String(dump_only=True, metadata={"enum": ["mobile", "fixed"]})
    email = ma.fields.String(load_default="")
    role = ma.fields.String(load_default="attendee", metadata={"enum": list(CONTACT_ROLES)})
    focal = ma.fields.Boolean(load_default=False, metadata={
        "description": "one of the province's focal contacts: gets the province's incident digests"})


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
    expected_attendance = ma.fields.Integer(load_default=None, allow_none=True)
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
    expected_attendance = ma.fields.Integer(allow_none=True)
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
    tier = ma.fields.String(metadata={"enum": ["central", "province", "district", "commune"]})
    page = ma.fields.Integer(validate=ma.validate.Range(min=1), metadata={
        "description": "one page of `per_page` (default 100) instead of every endpoint"})
    per_page = ma.fields.Integer(validate=ma.validate.Range(min=1, max=1000))




def _problems(exc: services.EndpointInvalid):
    abort(422, message="the endpoint was not saved: see details",
          errors=[{"field": p.field, "message": p.localized()} for p in exc.problems])


def _save(event, unit, data, endpoint=None):
    values = services.clean_endpoint(data)
    try:
        return services.save_endpoint(event, unit, values, actor=current_user, endpoint=endpoint)
    except services.EndpointInvalid as exc:
        _problems(exc)
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
    @blp.response(201, EndpointSchema)
    @blp.alt_response(409, description="the unit already has an endpoint, or registration is closed")
    @blp.alt_response(422, description="invalid fields; details: [{field, message}]")
    def post(self, data, slug):
        """Register a unit's endpoint and its contacts"""
        authorize("registration.manage")
        event = event_or_404(slug)
        try:
            unit = services.resolve_unit(event, data["unit_code"], current_user)
        except services.EndpointInvalid as exc:
            _problems(exc)
        except services.ScopeError:
            abort(403, message=f"unit {data['unit_code']} is outside your scope")
        existing = services.endpoint_of_unit(event, unit)
        if existing is not None:
            abort(409, message=f"unit {unit.code} already has endpoint {existing.id}: PATCH /api/v1/endpoints/{existing.id}")
        return _save(event, unit, data)


@blp.route("/endpoints/<int:endpoint_id>")
class EndpointById(MethodView):
    decorators = [require("registration.view")]

    def _get(self, endpoint_id):
        endpoint = services.get_endpoint(endpoint_id, current_user)
        if endpoint is None:
            abort(404, message=f"no endpoint {endpoint_id}")
        return endpoint

    @blp.response(200, EndpointSchema)
    def get(self, endpoint_id):
        """One endpoint with its contacts and hosted units"""
        return self._get(endpoint_id)

    @blp.arguments(EndpointPatch)
    @blp.response(200, EndpointSchema)
    def patch(self, data, endpoint_id):
        """Change some fields; `contacts` and `hosted_unit_codes`, when given, replace the lists"""
        authorize("registration.manage")
        endpoint = self._get(endpoint_id)
        return _save(endpoint.event, endpoint.unit, {**services.as_input(endpoint), **data}, endpoint)

    @blp.response(204)
    def delete(self, endpoint_id):
        """Remove an endpoint, its contacts and the units it hosts"""
        authorize("registration.manage")
        endpoint = self._get(endpoint_id)
        try:
            services.delete_endpoint(endpoint.event, endpoint, actor=current_user)
        except services.ScopeError:
            abort(403, message="outside your scope")
        except RegistrationClosed as exc:
            abort(409, message=exc.msg.localized())
