"""The API on the app (`init_api`, called by the app factory): the OpenAPI document, every resource
blueprint under /api/v1, CSRF for browsers calling the API, the envelope of a 500."""
from __future__ import annotations

from flask import Flask, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf

from coordinator.api import API_PREFIX, api, endpoints, error_body, events, imports, registration, reminders, status
from coordinator.api import broadcasts, incidents, ops, units, users
from coordinator.extensions import csrf

# Each resource blueprint and its URL prefix.
BLUEPRINTS = (
    (units.blp, f"{API_PREFIX}/units"),
    (events.blp, f"{API_PREFIX}/events"),
    (endpoints.blp, API_PREFIX),
    (imports.blp, f"{API_PREFIX}/events"),
    (registration.blp, f"{API_PREFIX}/events"),
    (reminders.blp, f"{API_PREFIX}/events"),
    (status.blp, API_PREFIX),
    (ops.blp, API_PREFIX),
    (incidents.blp, API_PREFIX),
    (users.blp, f"{API_PREFIX}/users"),
    (broadcasts.blp, API_PREFIX),
)


def _api_csrf(app: Flask, blueprints) -> None:
    """CSRF for the API: bearer-token clients are not browsers and need none; a browser calling
    the API with its session cookie must send the page's token in an `X-CSRFToken` header. A write
    that names nobody (no bearer token, no session or remember cookie of a signed-in person) is
    answered 401 first: there is no session to forge, and the client needs to know it must
    authenticate, not that it lacks a CSRF token."""
    for blp in blueprints:
        csrf.exempt(blp)  # Flask-WTF's form check: the header check below replaces it

    @app.before_request
    def _check_api_csrf():
        if not request.path.startswith(API_PREFIX + "/") or request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return None
        if not current_user.is_authenticated:
            # The same 401 as the views' (auth.setup's unauthorized handler: the envelope, WWW-Authenticate).
            app.login_manager.unauthorized()
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except (CSRFError, Exception) as exc:  # ValidationError from wtforms: missing or wrong token
            return error_body(400, f"CSRF check failed: {exc}; send the page's token as X-CSRFToken, "
                                   "or authenticate with a bearer token"), 400
        return None


def init_api(app: Flask) -> None:
    api.init_app(app, spec_kwargs={
        "info": {"description": "Coordination of nationwide tiered videoconferences. "
                                "Authenticate with a session cookie or `Authorization: Bearer <token>` "
                                "(`flask --app app users token EMAIL`)."},
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    for blp, prefix in BLUEPRINTS:
        api.register_blueprint(blp, url_prefix=prefix)
    _api_csrf(app, [blp for blp, _ in BLUEPRINTS])

    @app.errorhandler(500)
    def _internal(error):
        if request.path.startswith("/api/"):
            return error_body(500, "internal server error"), 500
        return error
