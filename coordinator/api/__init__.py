"""JSON API v1. The OpenAPI document at /api/v1/openapi.json is generated from these
blueprints and schemas by flask-smorest (apispec), never written by hand."""
from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api as SmorestApi
from werkzeug.exceptions import HTTPException


API_PREFIX = "/api/v1"

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
}


def error_body(status: int, message: str, details=None, code: str | None = None) -> dict:
    return {"error": {"code": code or ERROR_CODES.get(status, "error"), "message": message, "details": details or {}}}


class Api(SmorestApi):
    """flask-smorest, with our error shape `{"error": {"code", "message", "details"}}`,
    and only for /api/ paths: pages keep their HTML error pages."""

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
        return error_body(status, message, details), status, headers


def _html_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error  # redirects and the like pass through untouched
    from flask import render_template
    from flask_babel import gettext as _

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


def _api_csrf(app: Flask, blueprints) -> None:
    """CSRF for the API: bearer-token clients are not browsers and need none; a browser calling
    the API with its session cookie must send the page's token in an `X-CSRFToken` header."""
    from flask_wtf.csrf import CSRFError, validate_csrf

    from coordinator.extensions import csrf

    for blp in blueprints:
        csrf.exempt(blp)

    @app.before_request
    def _check_api_csrf():
        if not request.path.startswith(API_PREFIX + "/") or request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return None
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except (CSRFError, Exception) as exc:  # ValidationError from wtforms: missing or wrong token
            return error_body(400, f"CSRF check failed: {exc}; send the page's token as X-CSRFToken, "
                                   "or authenticate with a bearer token"), 400
        return None


def init_api(app: Flask) -> None:
    from coordinator.api import endpoints, events, imports, registration, reminders, status, units, users

    api.init_app(app, spec_kwargs={
        "info": {"description": "Coordination of nationwide tiered videoconferences. "
                                "Authenticate with a session cookie or `Authorization: Bearer <token>` "
                                "(`flask --app app users token EMAIL`)."},
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    api.register_blueprint(units.blp, url_prefix=f"{API_PREFIX}/units")
    api.register_blueprint(events.blp, url_prefix=f"{API_PREFIX}/events")
    api.register_blueprint(endpoints.blp, url_prefix=API_PREFIX)
    api.register_blueprint(imports.blp, url_prefix=f"{API_PREFIX}/events")
    api.register_blueprint(registration.blp, url_prefix=f"{API_PREFIX}/events")
    api.register_blueprint(reminders.blp, url_prefix=f"{API_PREFIX}/events")
    api.register_blueprint(status.blp, url_prefix=API_PREFIX)
    api.register_blueprint(users.blp, url_prefix=f"{API_PREFIX}/users")
    _api_csrf(app, [units.blp, events.blp, endpoints.blp, imports.blp, registration.blp, reminders.blp, status.blp])

    @app.errorhandler(500)
    def _internal(error):
        if request.path.startswith("/api/"):
            return error_body(500, "internal server error"), 500
        return error
