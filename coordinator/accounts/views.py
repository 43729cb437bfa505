"""The pages of accounts that are not signing in: the forgotten-password form, the set-password
link (/password/<token>), and the users pages (/users, `user_views`, nested here: endpoints
accounts.users.*)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from coordinator.accounts import links
from coordinator.accounts.user_views import bp as users_bp
from coordinator.auth import services
from coordinator.auth.forms import ForgotPasswordForm, SetPasswordForm
from coordinator.auth.views import account_key, address_key, setting, sign_in
from coordinator.extensions import limiter
from coordinator.timeutil import utcnow

bp = Blueprint("accounts", __name__)
bp.register_blueprint(users_bp)  # the users pages: /users/…, endpoints accounts.users.*


@bp.context_processor
def link_lifetime():
    # Also seen by the nested users pages.
    return {"LINK_HOURS": int(links.LIFETIME.total_seconds() // 3600)}


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(setting("LOGIN_RATE_LIMIT"), key_func=account_key, methods=["POST"])
@limiter.limit(setting("LOGIN_RATE_LIMIT_PER_ADDRESS"), key_func=address_key, methods=["POST"])
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
            sign_in(user)
            flash(_("Your password has been set. You are signed in."), "success")
            return redirect(url_for("events.list_events"))
    page = render_template("auth/set_password.html", form=form, user=row.user, purpose=row.purpose,
                           expires_at=row.expires_at)
    return _private(current_app.make_response((page, 200 if not form.errors else 400)))
