from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import login_required, login_user, logout_user

from coordinator.audit import services as audit
from coordinator.auth import services
from coordinator.auth.forms import LoginForm
from coordinator.extensions import db, limiter
from coordinator.web.views import safe_next

bp = Blueprint("auth", __name__)


def _login_key() -> str:
    """Attempts are counted per address and per email tried, so one office behind a shared
    address is not locked out by a colleague's typos on another account."""
    return f"{get_remote_address()}|{(request.form.get('email') or '').strip().lower()}"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_login_key, methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("Wrong email or password."))
        else:
            lang = session.get("lang")
            session.clear()  # a fresh session on login: no fixation
            if lang:
                session["lang"] = lang
            login_user(user, remember=form.remember.data)
            audit.record("user.login", "user", user.id, actor=user)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")) or url_for("events.list_events"))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))
