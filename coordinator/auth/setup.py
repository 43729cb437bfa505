"""Wires Flask-Login: users from the session cookie, or from an `Authorization: Bearer` token;
and the templates' `can(permission, unit=None)`: what the signed-in user may do."""
from __future__ import annotations

from flask import Flask, abort, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user

from coordinator.auth.permissions import can
from coordinator.auth.scopes import ScopeMissing, contacts_to_ask
from coordinator.auth.services import user_for_session, user_for_token


def init_auth(app: Flask, login_manager: LoginManager) -> None:
    login_manager.init_app(app)
    # "basic": a changed IP or browser marks the session non-fresh instead of ending it, so an
    # official on a mobile connection that changes address is not signed out mid-form.
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str):
        # An explicit bearer token speaks for the request, whatever session cookie comes along.
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return None
        # "<id>:<epoch>:<session id>": a cookie of a sign-in that was ended (signed out, or every
        # session ended: an older epoch) names nobody, and the request is anonymous.
        return user_for_session(user_id)

    @login_manager.request_loader
    def load_user_from_bearer(req):
        header = req.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            user = user_for_token(token.strip())
            if user is not None:
                g.auth_by_token = True
            return user
        return None

    @login_manager.unauthorized_handler
    def unauthorized():
        if request.path.startswith("/api/"):
            abort(401, "authentication required: sign in, or send 'Authorization: Bearer <token>'")
        return redirect(url_for("auth.login", next=request.full_path))

    @app.context_processor
    def permissions():
        return {"can": lambda permission, unit=None: can(current_user, permission, unit)}

    @app.errorhandler(ScopeMissing)
    def _no_scope(error: ScopeMissing):
        """Never a bare 404: which unit the account lacks in this structure, and whom to ask."""
        scope = error.scope
        ask = contacts_to_ask()
        if request.path.startswith("/api/"):
            own = scope.from_unit
            message = (f"your account has no unit in the {scope.structure} structure"
                       + (f": {own.name} ({own.code}, {own.structure}) has no single successor there" if own else "")
                       + "; ask an administrator or organizer to set your scope"
                       + (f" ({', '.join(u.email for u in ask)})" if ask else ""))
            return jsonify({"error": {"code": "no_scope", "message": message, "details": {
                "structure": scope.structure, "unit_code": own.code if own else None,
                "unit_structure": own.structure if own else None,
                "candidates": [u.code for u in scope.candidates], "ask": [u.email for u in ask]}}}), 403
        return render_template("auth/no_scope.html", scope=scope, ask=ask, title=_("No unit in this structure")), 403
