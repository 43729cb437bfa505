from __future__ import annotations

from flask import (Blueprint, current_app, flash, redirect, render_template, request, session, url_for)
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import login_required, login_user, logout_user

from coordinator.audit import services as audit
from coordinator.auth import links, services
from coordinator.auth.forms import ForgotPasswordForm, LoginForm, SetPasswordForm
from coordinator.auth.user_views import bp as users_bp
from coordinator.extensions import db, limiter
from coordinator.timeutil import utcnow
from coordinator.web.views import safe_next

bp = Blueprint("auth", __name__)
bp.register_blueprint(users_bp)  # the users pages: /users/…, endpoints auth.users.*


@bp.context_processor
def link_lifetime():
    # Also seen by the nested users pages.
    return {"LINK_HOURS": int(links.LIFETIME.total_seconds() // 3600)}


def _login_key() -> str:
    """Attempts are counted per address and per email tried, so one office behind a shared
    address is not locked out by a colleague's typos on another account."""
    return f"{get_remote_address()}|{(request.form.get('email') or '').strip().lower()}"


def _sign_in(user, remember: bool = False) -> None:
    lang = session.get("lang")
    session.clear()  # a fresh session on login: no fixation
    if lang:
        session["lang"] = lang
    login_user(user, remember=remember)  # stores "<id>:<epoch>" (User.get_id)
    audit.record("user.login", "user", user.id, actor=user)
    db.session.commit()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_login_key, methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("Wrong email or password."))
        else:
            _sign_in(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")) or url_for("events.list_events"))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_login_key, methods=["POST"])
def forgot_password():
    """The same answer whether or not the address has an account: nobody learns which exist."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        links.request_reset(form.email.data)
        flash(_("If an account uses %(email)s, a link to choose a new password has been sent to it. The link "
                "works once, for %(hours)s hours.", email=services.normalise_email(form.email.data),
                hours=int(links.LIFETIME.total_seconds() // 3600)), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form), 200 if not form.errors else 400


def _private(response):
    # The token is in the address: never sent on as a Referer, never kept by a cache.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _unusable(state: str):
    status = 404 if state == links.UNKNOWN else 410
    return _private(current_app.make_response((render_template("auth/link_unusable.html", state=state), status)))


@bp.route("/password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    """The set-password link: GET shows the form (a link previewer changes nothing), POST uses it."""
    state, row = links.lookup(token)
    if state != links.VALID:
        return _unusable(state)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = links.use(token, form.password.data)
        except links.LinkUnusable as exc:
            return _unusable(exc.state)
        except services.UserError as exc:
            form.password.errors.append(str(exc))
        else:
            user.last_login_at = utcnow()
            _sign_in(user)
            flash(_("Your password has been set. You are signed in."), "success")
            return redirect(url_for("events.list_events"))
    page = render_template("auth/set_password.html", form=form, user=row.user, purpose=row.purpose,
                           expires_at=row.expires_at)
    return _private(current_app.make_response((page, 200 if not form.errors else 400)))
