"""JSON API v1. The OpenAPI document at /api/v1/openapi.json is generated from these
blueprints and schemas by flask-smorest (apispec), never written by hand.

This module holds what every resource module builds on: `Blueprint` (which documents the error
envelope and answers a service's `coordinator.problems.Invalid` with it), `Api`, `MAX_ID`. The
resource modules (`units`, `events`, …) import it; `coordinator.api.setup.init_api` imports them
and registers their blueprints (the app factory calls it).
"""
from __future__ import annotations

from functools import wraps
from http import HTTPStatus

import marshmallow as ma
from flask import g, render_template, request
from flask_babel import gettext as _
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from coordinator.fields import INTEGER_MAX
from coordinator.problems import Invalid
from coordinator.web.errors import ERROR_CODES, error_body  # the one error envelope; re-exported here

API_PREFIX = "/api/v1"
# The largest id (and page, offset) the API takes: the id columns are `Integer`. A larger number in a
# path is answered 404 (no such route), in a body 422, in a query string 400, never a database error.
MAX_ID = INTEGER_MAX


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={
        "description": "what went wrong, for a program: " + ", ".join(f"{s} `{c}`" for s, c in ERROR_CODES.items())
                       + ", 403 `no_scope` (the account has no unit in the event's structure), 413 `too_large`, "
                         "503 `unavailable`", "example": "invalid"})
    message = ma.fields.String(required=True, metadata={"description": "what went wrong, for a person"})
    details = ma.fields.Raw(required=True, metadata={
        "anyOf": [{"type": "object"}, {"type": "array", "items": {}}],
        "description": "the particulars, `{}` when there are none: the invalid fields (`{location: {field: [messages]}}` "
                       "from the schema; `[{field, row, message}]` from the rules, `[{row, column, message}]` from a "
                       "spreadsheet), a conflict's current state, a limit"})


class ErrorSchema(ma.Schema):
    """The one error envelope of every API response with a status of 400 or more (error_body)."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


# What each error status means in this API: the component responses every operation refers to.
ERROR_RESPONSES = {
    400: "the request cannot be read: a malformed query string, JSON body or If-Match header, or (a browser "
         "using its session cookie) a write without the page's CSRF token in `X-CSRFToken`",
    401: "no credentials, or credentials that name nobody (an unknown or revoked token, an ended session): sign "
         "in, or send `Authorization: Bearer <token>`",
    403: "your role may not do this, or the unit is outside your scope (`no_scope`: your account has no unit in "
         "the event's structure)",
    404: "no such resource, or not in your scope",
    409: "the resource's state does not allow it",
    412: "If-Match names a version the resource is no longer at",
    413: "the request body is larger than the server accepts (`details.max_bytes`)",
    422: "the request is well formed but invalid: `details` names each field",
    503: "the database is unavailable or busy for the moment: nothing was saved unless `details.saved`; "
         "try again after `Retry-After` seconds",
}
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"description": '`Bearer realm="api"`', "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}},
}
# Every operation: the request may name nobody (401), ask for more than the role or scope allows
# (403), or find the database unavailable (503).
_ALWAYS = (401, 403, 503)
_WRITES = ("post", "put", "patch", "delete")


def _error_response(status: int) -> str:
    """The component response of an error status (its name, as flask-smorest names them)."""
    return HTTPStatus(status).name


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint, documenting the error envelope: an `alt_response` of an error
    status without a schema of its own has `ErrorSchema`, and every operation lists the error
    statuses it can answer (401, 403, 503 always; 400 for a write or an operation with query or
    header parameters; 404 with path parameters; 413 for POST, PUT, PATCH; 422 with arguments), each
    referring to its component response."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_error_doc)
        # A service's refusal is answered here, the same for every resource: views catch no Invalid.
        self.register_error_handler(Invalid, invalid_response)

    def alt_response(self, status_code, response=None, *, schema=None, **kwargs):
        if response is None and schema is None and int(status_code) >= 400:
            schema = ErrorSchema
        return super().alt_response(status_code, response, schema=schema, **kwargs)

    @staticmethod
    def _prepare_error_doc(doc, doc_info, *, method, **kwargs):
        responses = doc.setdefault("responses", {})
        statuses = set(_ALWAYS)
        arguments = doc_info.get("arguments", {}).get("parameters", [])
        locations = {p.get("in") for p in arguments if isinstance(p, dict)}  # the body's was moved to requestBody
        if method in _WRITES or locations & {"query", "headers"}:
            statuses.add(400)
        if method in ("post", "put", "patch"):
            statuses.add(413)
        if doc.get("requestBody") or arguments:
            statuses.add(422)
        if doc_info.get("_has_path_params"):
            statuses.add(404)
        for status in sorted(statuses):
            if not any(str(k) == str(status) for k in responses):
                responses[status] = _error_response(status)
        return doc

    def register_views_in_doc(self, api, app, spec, *, name, parameters):
        # Which operations have path parameters is known from the URL rules only here.
        for endpoint, endpoint_doc in self._docs.items():
            rule = next(app.url_map.iter_rules(".".join((name, endpoint))), None)
            if rule is not None and rule.arguments:
                for method_doc in endpoint_doc.values():
                    if isinstance(method_doc, dict):
                        method_doc["_has_path_params"] = True
        super().register_views_in_doc(api, app, spec, name=name, parameters=parameters)


class Api(SmorestApi):
    """flask-smorest, with our error shape `{"error": {"code", "message", "details"}}`,
    and only for /api/ paths: pages keep their HTML error pages. The OpenAPI document says so:
    `ERROR_SCHEMA` is the envelope, for the default response and every error status."""

    ERROR_SCHEMA = ErrorSchema

    def _register_responses(self):
        super()._register_responses()
        for status, description in ERROR_RESPONSES.items():  # our words (and headers) for the statuses we answer
            response = {"description": description, "schema": self.ERROR_SCHEMA}
            if status in _ERROR_HEADERS:
                response["headers"] = _ERROR_HEADERS[status]
            prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(_error_response(status), response, lazy=True)

    def handle_http_exception(self, error: HTTPException):
        if not request.path.startswith("/api/"):
            return _html_error(error)
        data = getattr(error, "data", None) or {}
        details = data.get("errors") or data.get("messages") or {}
        status = error.code or 500
        if status == 422 and isinstance(details, dict) and set(details) == {"query"}:  # a malformed query string is a bad request
            status = 400
        message = data.get("message") or error.description
        headers = data.get("headers") or {}
        if status == 401:
            headers = {**headers, "WWW-Authenticate": 'Bearer realm="api"'}
        if status == 405 and getattr(error, "valid_methods", None):  # RFC 9110: a 405 lists what the URL allows
            headers = {**headers, "Allow": ", ".join(error.valid_methods)}
        return error_body(status, message, details), status, headers


def _html_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error  # redirects and the like pass through untouched
    messages = {
        400: _("The request could not be understood. Go back, reload the page and try again."),
        403: _("You do not have permission to see or change this."),
        404: _("This page does not exist or has been removed."),
        405: _("This action is not available here."),
        413: _("The file is too large."),
        429: _("Too many attempts. Please wait a minute and try again."),
    }
    message = messages.get(error.code, _("Something went wrong on our side. Please try again later."))
    return render_template("errors/error.html", code=error.code, message=message), error.code


api = Api()


# --- a service's refusal: coordinator.problems.Invalid ----------------------------------------------

# What a 422 says when the view names no words of its own (`refusal`).
DEFAULT_REFUSAL = "nothing was saved: see details"


def refusal(message: str):
    """The words of the view's 422 when its service refuses (`Invalid`), e.g. "the endpoint was not
    saved: see details"; `{count}` in them is the number of problems. Put it right above the `def`."""
    def decorate(view):
        @wraps(view)
        def refusing(*args, **kwargs):
            g.api_refusal = message
            return view(*args, **kwargs)
        return refusing
    return decorate


def invalid_response(exc: Invalid):
    """The one answer to `Invalid` on every API blueprint: 422 with every problem in `details` and the
    view's words (`refusal`); 403 when a right is missing (`Invalid.forbidden`), its message the
    problems' own. Nothing was changed: the service refused before writing."""
    details = exc.details()
    if exc.forbidden:
        return error_body(403, "; ".join(d["message"] for d in details), details), 403
    message = g.get("api_refusal", DEFAULT_REFUSAL).format(count=len(details))
    return error_body(422, message, details), 422
