"""Signing in and out, and where an account is signed in. (Choosing a password by an emailed
link, and the users pages, are `coordinator.accounts.views`.)"""
from __future__ import annotations

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for)
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from coordinator.audit import services as audit
from coordinator.auth import services
from coordinator.auth.forms import LoginForm
from coordinator.extensions import db, limiter
from coordinator.web.views import safe_next

bp = Blueprint("auth", __name__)


# Guessing passwords is slowed down two ways, each counting failures only (a wrong password; an
# official who signs in ten times a day is never held back): per account from any address (one
# account guessed from many machines) and per address across accounts (one password sprayed over
# many accounts; each try costs a scrypt). The forgotten-password form (accounts.views) counts
# every request the same two ways (each may send a mail). Counts live in RATELIMIT_STORAGE_URI,
# shared by the workers.


def account_key() -> str:
    return "account:" + services.normalise_email(request.form.get("email") or "")


def address_key() -> str:
    return "address:" + get_remote_address()


def _failed(response) -> bool:
    return bool(g.get("login_failed"))


def setting(name: str):
    return lambda: current_app.config[name]


def sign_in(user, remember: bool = False) -> None:
    """A fresh session for `user` (the language kept), recorded and audited; commits."""
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
@limiter.limit(setting("LOGIN_RATE_LIMIT"), key_func=account_key, methods=["POST"], deduct_when=_failed)
@limiter.limit(setting("LOGIN_RATE_LIMIT_PER_ADDRESS"), key_func=address_key, methods=["POST"], deduct_when=_failed)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            g.login_failed = True
            form.password.errors.append(_("Wrong email or password."))
        else:
            sign_in(user, remember=form.remember.data)
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
