from __future__ import annotations

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for)
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from coordinator.audit import services as audit
from coordinator.auth import services
from coordinator.accounts import links
from coordinator.auth.forms import ForgotPasswordForm, LoginForm, SetPasswordForm
from coordinator.accounts.user_views import bp as users_bp
from coordinator.extensions import db, limiter
from coordinator.timeutil import utcnow
from coordinator.web.views import safe_next

bp = Blueprint("auth", __name__)
bp.register_blueprint(users_bp)  # the users pages: /users/…, endpoints auth.users.*


@bp.context_processor
def link_lifetime():
    # Also seen by the nested users pages.
    return {"LINK_HOURS": int(links.LIFETIME.total_seconds() // 3600)}


# Guessing passwords is slowed down two ways, each counting failures only (a wrong password; an
# official who signs in ten times a day is never held back): per account from any address (one
# account guessed from many machines) and per address across accounts (one password sprayed over
# many accounts; each try costs a scrypt). The forgotten-password form counts every request the
# same two ways (each may send a mail). Counts live in RATELIMIT_STORAGE_URI, shared by the workers.


def _account_key() -> str:
    return "account:" + services.normalise_email(request.form.get("email") or "")


def _address_key() -> str:
    return "address:" + get_remote_address()


def _failed(response) -> bool:
    return bool(g.get("login_failed"))


def _config(name: str):
    return lambda: current_app.config[name]


def _sign_in(user, remember: bool = False) -> None:
    lang = session.get("lang")
    session.clear()  # a fresh session on login: no fixation
    if lang:
        session["lang"] = lang
    services.open_session(user, remember=remember, address=get_remote_address() or "",
                          user_agent=request.user_agent.string or "")
    login_user(user, remember=remember)  # stores "<id>:<epoch>:<session id>" (User.get_id)
    audit.record("user.login", "user", user.id, actor=user)
    db.session.commit()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_config("LOGIN_RATE_LIMIT"), key_func=_account_key, methods=["POST"], deduct_when=_failed)
@limiter.limit(_config("LOGIN_RATE_LIMIT_PER_ADDRESS"), key_func=_address_key, methods=["POST"], deduct_when=_failed)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            g.login_failed = True
            form.password.errors.append(_("Wrong email or password."))
        else:
            _sign_in(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")) or url_for("events.list_events"))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
@login_required
def logout():
    """Ends this sign-in on the server too: a copy of its cookies signs nobody in afterwards."""
    if not g.get("auth_by_token"):
        services.end_session(current_user._get_current_object())
        db.session.commit()
    logout_user()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/account/sessions")
@login_required
def sessions():
    """Where the account is signed in, and "sign out everywhere"."""
    user = current_user._get_current_object()
    return render_template("auth/sessions.html", sessions=services.open_sessions(user),
                           this_session=services.session_row_id(user),
                           zone=current_app.config["DEFAULT_TIMEZONE"])


@bp.post("/account/sessions/end")
@login_required
def end_sessions():
    """Sign out everywhere: every browser of the account, this one included (a lost phone, a
    shared computer)."""
    user = current_user._get_current_object()
    ended = services.end_all_sessions(user)
    audit.record("user.sessions_revoke", "user", user.id, actor=user, via="self", sessions=ended)
    db.session.commit()
    logout_user()
    flash(_("You have been signed out on every device."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_config("LOGIN_RATE_LIMIT"), key_func=_account_key, methods=["POST"])
@limiter.limit(_config("LOGIN_RATE_LIMIT_PER_ADDRESS"), key_func=_address_key, methods=["POST"])
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
