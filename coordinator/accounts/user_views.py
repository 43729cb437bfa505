"""The users pages (/users): list with search and filters, create, edit, send a set-password
link, import from a spreadsheet. Thin: `accounts.accounts` and `accounts.sheets` do the work."""
from __future__ import annotations

import io
from math import ceil

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from coordinator.accounts import accounts, links, sheets
from coordinator.auth.forms import AccountForm
from coordinator.auth.labels import ROLE_LABELS
from coordinator.auth.models import ROLES
from coordinator.auth.permissions import assignable_roles, can_manage_account, require
from coordinator.auth.scopes import scopes_of
from coordinator.auth.services import open_sessions
from coordinator.problems import Invalid
from coordinator.spreadsheets.problems import as_dicts
from coordinator.timeutil import format_local
from coordinator.web.downloads import named

bp = Blueprint("users", __name__, url_prefix="/users")
PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
LINK_HOURS = int(links.LIFETIME.total_seconds() // 3600)


@bp.context_processor
def labels():
    return {"ROLE_LABELS": ROLE_LABELS, "ROLES": ROLES}


def _actor():
    return current_user._get_current_object()  # the audit log wants the real user


def _zone() -> str:
    return getattr(current_user, "timezone", None) or current_app.config["DEFAULT_TIMEZONE"]


def _filters() -> dict:
    active = request.args.get("active", "")
    role = request.args.get("role", "")
    return {"q": request.args.get("q", "").strip(), "role": role if role in ROLES else "",
            "unit": request.args.get("unit", "").strip(), "active": active if active in ("1", "0") else ""}


def _put_errors(form: AccountForm, problems) -> None:
    for p in problems:
        field = getattr(form, p.field, None) or form.role
        field.errors = list(field.errors or []) + [p.localized()]


def _list_page(*, form: AccountForm | None = None, import_errors=None, filename=None, status: int = 200):
    filters = _filters()
    page = max(1, request.args.get("page", 1, type=int))
    users, total = accounts.list_accounts(
        q=filters["q"] or None, role=filters["role"] or None, unit=filters["unit"] or None,
        active={"1": True, "0": False}.get(filters["active"]), page=page, per_page=PAGE_SIZE)
    roles = assignable_roles(_actor())
    form = form or AccountForm(roles=roles, formdata=None, data={"role": roles[-1] if roles else ""})
    return render_template("users/index.html", users=users, total=total, page=page,
                           pages=max(1, ceil(total / PAGE_SIZE)), filters=filters, form=form, zone=_zone(),
                           manageable=lambda u: can_manage_account(_actor(), u), import_errors=import_errors,
                           filename=filename, columns=sheets.COLUMNS, file_roles=sheets.FILE_ROLES), status


@bp.get("/")
@require("users.manage")
def index():
    return _list_page()


@bp.post("/")
@require("users.manage")
def create():
    roles = assignable_roles(_actor())
    form = AccountForm(roles=roles)
    if not form.validate_on_submit():
        return _list_page(form=form, status=400)
    try:
        user, link = accounts.create_account(_actor(), email=form.email.data, role=form.role.data,
                                             name=form.name.data or "", unit_code=form.unit_code.data,
                                             structure=form.structure.data or None, via="page")
    except Invalid as exc:
        _put_errors(form, exc.problems)
        return _list_page(form=form, status=422)
    except accounts.AccountExists:
        form.email.errors = [_("An account with this email already exists.")]
        return _list_page(form=form, status=409)
    flash(_("Account %(email)s created. A link to choose the password has been sent to it (valid %(hours)s "
            "hours).", email=user.email, hours=LINK_HOURS), "success")
    return redirect(url_for("accounts.users.edit", user_id=user.id))


def _account_or_404(user_id: int):
    user = accounts.get_account(user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@require("users.manage")
def edit(user_id: int):
    user = _account_or_404(user_id)
    if not can_manage_account(_actor(), user):
        abort(403)
    roles = assignable_roles(_actor())
    data = {"name": user.display_name, "role": user.role, "unit_code": user.unit.code if user.unit else "",
            "structure": user.unit.structure if user.unit else "", "active": user.active}
    form = AccountForm(roles=roles, editing=True, data=data)
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                changes = accounts.update_account(_actor(), user, {
                    "name": form.name.data or "", "role": form.role.data, "unit_code": form.unit_code.data or "",
                    "structure": form.structure.data or "", "active": form.active.data}, via="page")
            except Invalid as exc:
                _put_errors(form, exc.problems)
                status = 422
            else:
                flash(_("Account saved.") if changes else _("Nothing changed."), "success" if changes else "info")
                return redirect(url_for("accounts.users.edit", user_id=user.id))
        else:
            status = 400
    return _edit_page(user, form, status)


def _edit_page(user, form: AccountForm, status: int = 200, scope_errors: dict | None = None):
    return render_template("users/edit.html", user=user, form=form, zone=_zone(),
                           scopes=scopes_of(user) if user.role == "coordinator" else [],
                           scope_errors=scope_errors or {}, open_sessions=len(open_sessions(user))), status


@bp.post("/<int:user_id>/scope")
@require("users.manage")
def set_scope(user_id: int):
    """The unit a coordinator manages in a structure other than its own unit's (empty: back to
    the official succession of units)."""
    user = _account_or_404(user_id)
    if not can_manage_account(_actor(), user):
        abort(403)
    structure = request.form.get("structure", "")
    try:
        changes = accounts.update_account(_actor(), user, {"scopes": {structure: request.form.get("unit_code", "")}},
                                          via="page")
    except Invalid as exc:
        data = {"name": user.display_name, "role": user.role, "unit_code": user.unit.code if user.unit else "",
                "structure": user.unit.structure if user.unit else "", "active": user.active}
        form = AccountForm(roles=assignable_roles(_actor()), editing=True, data=data)
        return _edit_page(user, form, 422, {structure: [p.localized() for p in exc.problems]})
    flash(_("Account saved.") if changes else _("Nothing changed."), "success" if changes else "info")
    return redirect(url_for("accounts.users.edit", user_id=user.id))


@bp.post("/<int:user_id>/sessions/revoke")
@require("users.manage")
def end_sessions(user_id: int):
    """Sign the account out of every browser (a lost phone, a departing official)."""
    user = _account_or_404(user_id)
    try:
        ended = accounts.end_sessions(_actor(), user, via="page")
    except Invalid:
        abort(403)
    flash(_("Sessions ended: %(n)s. %(email)s must sign in again in every browser.", n=ended, email=user.email),
          "success")
    return redirect(url_for("accounts.users.edit", user_id=user.id))


@bp.post("/<int:user_id>/link")
@require("users.manage")
def send_link(user_id: int):
    user = _account_or_404(user_id)
    try:
        link = accounts.send_link(_actor(), user, via="page")
    except Invalid as exc:
        if exc.forbidden:
            abort(403)
        flash(exc.problems[0].localized(), "error")
    else:
        flash(_("A link to choose a password has been sent to %(email)s; it works once, until %(until)s. Older "
                "links no longer work.", email=user.email,
                until=format_local(link.expires_at, _zone())),
              "success")
    return redirect(url_for("accounts.users.edit", user_id=user.id))


@bp.post("/import")
@require("users.manage")
def import_users():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _list_page(import_errors=[{"row": None, "column": None, "message": _("Choose a file to upload.")}],
                          status=422)
    try:
        rows = sheets.read_upload(upload.filename, upload.read())
        result = sheets.import_users(_actor(), rows, filename=upload.filename)
    except Invalid as exc:
        return _list_page(import_errors=as_dicts(exc.problems), filename=upload.filename, status=422)
    flash(_("%(file)s imported: %(created)s accounts created (each sent a link to choose its password), "
            "%(updated)s updated, %(unchanged)s unchanged.", file=upload.filename, created=result.created,
            updated=result.updated, unchanged=result.unchanged), "success")
    return redirect(url_for("accounts.users.index"))


@bp.get("/template.<fmt>")
@require("users.manage")
def template(fmt: str):
    if fmt not in ("xlsx", "csv"):
        abort(404)
    data = sheets.template_xlsx() if fmt == "xlsx" else sheets.template_csv()
    name = f"Mẫu danh sách tài khoản.{fmt}"
    return named(send_file(io.BytesIO(data), mimetype=XLSX if fmt == "xlsx" else CSV, as_attachment=True,
                           download_name=name), name)
