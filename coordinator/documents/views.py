"""Document request pages: coordinators upload their units' files and name a focal contact;
the organizer follows who is complete, late or missing and downloads everything as one ZIP.

A unit or file outside the user's scope answers 404, like one that does not exist.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from coordinator.web.downloads import named
from coordinator.events.lookup import event_or_404
from coordinator.auth.permissions import can, require
from coordinator.documents import files, services
from coordinator.documents.archive import zip_for
from coordinator.documents.models import DocumentFile
from coordinator.events.labels import TIER_LABELS
from coordinator.events.models import Deadline
from coordinator.extensions import db
from coordinator.problems import Invalid
from coordinator.units.models import Unit
from coordinator.units.services import get_unit
from coordinator.web.views import safe_next

bp = Blueprint("documents", __name__, url_prefix="/events/<slug>/documents")

STATE_LABELS = {
    "complete": _l("Complete"),
    "late": _l("Complete, late"),
    "partial": _l("Incomplete"),
    "missing": _l("Nothing sent"),
}


@bp.context_processor
def helpers():
    return {"filesize": filesize, "TIER_LABELS": TIER_LABELS, "STATE_LABELS": STATE_LABELS,
            "allowed_types": services.allowed_types}


def filesize(n: int | None) -> str:
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{format_decimal(n / 1024, format='#,##0')} KB"
    return f"{format_decimal(n / (1024 * 1024), format='#,##0.0')} MB"


# --- lookups (404 for anything missing or out of scope) -------------------------------------------


def _deadline(event, deadline_id: int) -> Deadline:
    deadline = db.session.get(Deadline, deadline_id)
    if deadline is None or deadline.event_id != event.id or deadline.kind != "documents":
        abort(404)
    return deadline


def _unit(event, deadline: Deadline, code: str) -> Unit:
    unit = get_unit(event.unit_structure, code)
    if unit is None or unit.tier != deadline.tier or not can(current_user, "documents.submit", unit):
        abort(404)
    return unit


def _within(event, deadline: Deadline) -> Unit | None:
    """The organizer's filter "only the units below province X" (`?within=56`)."""
    code = (request.args.get("within") or "").strip()
    if not code:
        return None
    unit = get_unit(event.unit_structure, code)
    if unit is None:
        abort(404)
    return unit


# --- pages ---------------------------------------------------------------------------------------

@bp.get("/")
@require("documents.submit")
def index(slug: str):
    event = event_or_404(slug)
    requests = [d for d in event.deadlines if d.kind == "documents"]
    return render_template("documents/index.html", event=event, requests=requests,
                           window=services.window)


@bp.get("/<int:deadline_id>")
@require("documents.submit")
def show(slug: str, deadline_id: int):
    """The organizer's overview, or the coordinator's page with every unit of its scope."""
    event = event_or_404(slug)
    deadline = _deadline(event, deadline_id)
    if can(current_user, "documents.collect"):
        return _overview(event, deadline)
    return _submission_page(event, deadline, services.unit_statuses(deadline, current_user), view="all")


@bp.get("/<int:deadline_id>/units/<code>")
@require("documents.submit")
def unit_page(slug: str, deadline_id: int, code: str):
    event = event_or_404(slug)
    deadline = _deadline(event, deadline_id)
    unit = _unit(event, deadline, code)
    return _submission_page(event, deadline, _statuses_of(deadline, unit), view="unit")


def _statuses_of(deadline: Deadline, unit: Unit) -> list[services.UnitStatus]:
    return [s for s in services.unit_statuses(deadline, current_user, within=unit) if s.unit.id == unit.id]


def _submission_page(event, deadline: Deadline, statuses, *, view: str, errors: dict | None = None,
                     contact_input: dict | None = None, status: int = 200):
    return render_template("documents/submit.html", event=event, deadline=deadline, statuses=statuses,
                           view=view, state=services.window(deadline), errors=errors or {},
                           contact_input=contact_input or {},
                           max_mb=files.megabytes(files.max_bytes())), status


def _overview(event, deadline: Deadline):
    within = _within(event, deadline)
    statuses = services.unit_statuses(deadline, current_user, within)
    counts = {state: sum(1 for s in statuses if s.state == state) for state in ("complete", "late", "partial", "missing")}
    provinces = []
    if deadline.tier not in ("central", "province"):
        provinces = list(db.session.scalars(db.select(Unit).where(
            Unit.structure == event.unit_structure, Unit.tier == "province").order_by(Unit.code)))
    return render_template("documents/overview.html", event=event, deadline=deadline, statuses=statuses,
                           counts=counts, within=within, provinces=provinces, state=services.window(deadline))


# --- writes --------------------------------------------------------------------------------------

def _after_write(event, deadline: Deadline, unit: Unit):
    target = safe_next(request.form.get("next"))
    allowed = (url_for("documents.show", slug=event.slug, deadline_id=deadline.id),
               url_for("documents.unit_page", slug=event.slug, deadline_id=deadline.id, code=unit.code))
    if target and target.split("#")[0] in allowed:
        return redirect(target)
    return redirect(allowed[1])


def _rerender(event, deadline: Deadline, unit: Unit, errors: dict, contact_input: dict | None = None):
    """The page the form came from, with the errors next to the control that failed (400)."""
    if request.form.get("view") == "all" and not can(current_user, "documents.collect"):
        statuses, view = services.unit_statuses(deadline, current_user), "all"
    else:
        statuses, view = _statuses_of(deadline, unit), "unit"
    return _submission_page(event, deadline, statuses, view=view, errors=errors,
                            contact_input=contact_input, status=400)


@bp.post("/<int:deadline_id>/units/<code>/upload")
@require("documents.submit")
def upload(slug: str, deadline_id: int, code: str):
    event = event_or_404(slug)
    deadline = _deadline(event, deadline_id)
    unit = _unit(event, deadline, code)
    slot = request.form.get("slot", "")
    replaces = None
    if request.form.get("replaces"):
        replaces = services.get_file(request.form.get("replaces", type=int) or 0, current_user)
        if replaces is None or replaces.unit_id != unit.id or replaces.deadline_id != deadline.id:
            abort(404)
    storage = request.files.get("file")
    key = (unit.id, f"replace-{replaces.id}" if replaces else slot)
    if storage is None or not storage.filename:
        return _rerender(event, deadline, unit, {key: [_("Choose a file to upload.")]})
    try:
        record = services.upload(deadline, unit, slot, storage.filename, storage.stream, current_user,
                                 replaces=replaces)
    except services.ScopeError:
        abort(404)
    except Invalid as exc:
        return _rerender(event, deadline, unit, {key: [p.localized() for p in exc.problems]})
    flash(_("%(name)s uploaded for %(unit)s.", name=record.filename, unit=unit.name), "success")
    return _after_write(event, deadline, unit)


@bp.post("/<int:deadline_id>/units/<code>/contact")
@require("documents.submit")
def contact(slug: str, deadline_id: int, code: str):
    event = event_or_404(slug)
    deadline = _deadline(event, deadline_id)
    unit = _unit(event, deadline, code)
    name, phone = request.form.get("contact_name", ""), request.form.get("contact_phone", "")
    try:
        services.set_contact(deadline, unit, name, phone, current_user)
    except services.ScopeError:
        abort(404)
    except Invalid as exc:
        errors: dict = {}
        for p in exc.problems:
            errors.setdefault((unit.id, p.field or "contact_phone"), []).append(p.localized())
        return _rerender(event, deadline, unit, errors, {unit.id: {"contact_name": name, "contact_phone": phone}})
    flash(_("Focal contact saved for %(unit)s.", unit=unit.name), "success")
    return _after_write(event, deadline, unit)


@bp.post("/file/<int:file_id>/delete")
@require("documents.submit")
def delete(slug: str, file_id: int):
    event = event_or_404(slug)
    file = _file(event, file_id)
    deadline, unit, name = _deadline(event, file.deadline_id), file.unit, file.filename
    try:
        services.delete(file, current_user)
    except services.ScopeError:
        abort(404)
    except Invalid as exc:
        return _rerender(event, deadline, unit, {(unit.id, f"file-{file_id}"): [p.localized() for p in exc.problems]})
    flash(_("%(name)s deleted.", name=name), "success")
    return _after_write(event, deadline, unit)


# --- downloads -----------------------------------------------------------------------------------

def _file(event, file_id: int) -> DocumentFile:
    file = services.get_file(file_id, current_user)
    if file is None:
        abort(404)
    deadline = db.session.get(Deadline, file.deadline_id)
    if deadline is None or deadline.event_id != event.id:
        abort(404)
    return file


@bp.get("/file/<int:file_id>")
@require("documents.submit")
def download(slug: str, file_id: int):
    event = event_or_404(slug)
    file = _file(event, file_id)
    path = files.file_path(file.storage_key)
    if not path.is_file():
        abort(404)
    # download_name keeps the Vietnamese name (Werkzeug adds filename*=UTF-8''...).
    return named(send_file(path, mimetype=file.content_type, as_attachment=True, download_name=file.filename,
                           max_age=0, etag=file.sha256, conditional=True), file.filename)


@bp.get("/<int:deadline_id>/archive.zip")
@require("documents.collect")
def archive(slug: str, deadline_id: int):
    event = event_or_404(slug)
    deadline = _deadline(event, deadline_id)
    within = _within(event, deadline)
    data = zip_for(deadline, current_user, within)
    title = files.clean_folder_name(deadline.title or "Hồ sơ")[:100]
    suffix = f" - {within.code}" if within is not None else ""
    name = f"{title} - {event.slug}{suffix}.zip"
    return named(send_file(data, mimetype="application/zip", as_attachment=True, download_name=name, max_age=0), name)
