"""Wires Flask-Login: users from the session cookie, or from an `Authorization: Bearer` token."""
from __future__ import annotations

from flask import Flask, g, redirect, request, url_for
from flask_login import LoginManager

from coordinator.extensions import db


def init_auth(app: Flask, login_manager: LoginManager) -> None:
    from coordinator.auth.models import User
    from coordinator.auth.services import user_for_token

    login_manager.init_app(app)
    # "basic": a changed IP or browser marks the session non-fresh instead of ending it, so an
    # official on a mobile connection that changes address is not signed out mid-form.
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str):
        # An explicit bearer token speaks for the request, whatever session cookie comes along.
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return None
        return db.session.get(User, int(user_id))

    @login_manager.request_loader
    def load_user_from_bearer(req):
        header = req.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            user = user_for_token(token.strip())
            if user is not None:
                g.auth_by_token = True
            return user
        return None

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import abort

        if request.path.startswith("/api/"):
            abort(401, "authentication required: sign in, or send 'Authorization: Bearer <token>'")
        return redirect(url_for("auth.login", next=request.full_path))
