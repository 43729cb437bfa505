"""The organizer's registration pages: progress per province, closing and reopening deadlines,
and the compiled focal-contact list as .xlsx / .csv. Thin: reports.services does the work."""
from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from coordinator.web.downloads import named
from coordinator.events.lookup import event_or_404
from coordinator.auth.permissions import require
from coordinator.deadlines import services as deadlines
from coordinator.events.labels import DEADLINE_LABELS, TIER_LABELS
from coordinator.reports import services

bp = Blueprint("reports", __name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.context_processor
def labels():
    return {"TIER_LABELS": TIER_LABELS, "DEADLINE_LABELS": DEADLINE_LABELS,
            "DEADLINE_STATUS_LABELS": {services.ON_TIME: _("on time"), services.LATE: _("late"),
                                       services.MISSING: _("not done")}}




@bp.get("/events/<slug>/progress")
@require("registration.oversee")
def progress(slug: str):
    event = event_or_404(slug)
    progress = services.province_progress(event)
    tiers = event.tiers
    # "15 attend at the district": the tier whose endpoints a tier's units may attend at.
    parent_tier = {tier: tiers[i - 1] for i, tier in enumerate(tiers) if i > 0}
    missing = {d.id: services.provinces_missing(event, d, progress) for d in event.deadlines}
    filters = services.ProgressFilters(q=request.args.get("q", "")[:100],
                                       behind=request.args.get("behind") in ("1", "on", "true"))
    return render_template("reports/progress.html", event=event, progress=progress, parent_tier=parent_tier,
                           missing=missing, filters=filters, lines=services.filter_lines(progress, filters),
                           units_loaded=progress.units_loaded)


def _deadline_or_404(event, deadline_id: int):
    deadline = next((d for d in event.deadlines if d.id == deadline_id), None)
    if deadline is None:
        abort(404)
    return deadline


def _deadline_label(deadline) -> str:
    return deadline.title or str(DEADLINE_LABELS.get(deadline.kind, deadline.kind))


@bp.post("/events/<slug>/deadlines/<int:deadline_id>/close")
@require("deadlines.manage")
def close_deadline(slug: str, deadline_id: int):
    event = event_or_404(slug)
    deadline = deadlines.set_closed(_deadline_or_404(event, deadline_id), True, actor=current_user)
    flash(_("Registration closed for “%(deadline)s”: nothing more is accepted until you reopen it.",
            deadline=_deadline_label(deadline)), "success")
    return redirect(url_for("reports.progress", slug=slug, _anchor=f"deadline-{deadline.id}"))


@bp.post("/events/<slug>/deadlines/<int:deadline_id>/reopen")
@require("deadlines.manage")
def reopen_deadline(slug: str, deadline_id: int):
    event = event_or_404(slug)
    deadline = deadlines.set_closed(_deadline_or_404(event, deadline_id), False, actor=current_user)
    flash(_("Registration reopened for “%(deadline)s”: after the due time, deliveries are accepted and marked late.",
            deadline=_deadline_label(deadline)), "success")
    return redirect(url_for("reports.progress", slug=slug, _anchor=f"deadline-{deadline.id}"))


@bp.get("/events/<slug>/focal-contacts.<any(xlsx, csv):extension>")
@require("registration.view")
def focal_contacts(slug: str, extension: str):
    """The compiled focal-contact list; a coordinator gets its own subtree only."""
    event = event_or_404(slug)
    contacts = services.focal_contacts(event, current_user)
    if extension == "xlsx":
        data, mimetype = services.focal_contacts_xlsx(contacts), XLSX_MIMETYPE
    else:
        data, mimetype = services.focal_contacts_csv(contacts), "text/csv; charset=utf-8"
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                         download_name=services.focal_contacts_filename(event, extension))
    response.headers["Cache-Control"] = "private, no-store"  # names and phone numbers of people
    return named(response, services.focal_contacts_filename(event, extension))
