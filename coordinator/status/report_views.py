"""Readiness (after the test) and attendance (after the session) reports: page and .xlsx.

The pages print on A4 landscape (their own print stylesheet: no navigation, a header with the
event, the session and when the report was made). Thin: `coordinator.status.readiness` and
`coordinator.status.attendance` do the work, `report_sheets` writes the .xlsx.
A coordinator sees its own subtree only.
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user

from coordinator.auth.permissions import require
from coordinator.auth.scopes import scope_unit
from coordinator.events.labels import SESSION_LABELS, TIER_LABELS
from coordinator.status import attendance as attendance_report
from coordinator.status import readiness as readiness_report
from coordinator.status import report_scope, report_sheets
from coordinator.events.lookup import event_or_404

bp = Blueprint("status_reports", __name__)


@bp.context_processor
def labels():
    return {"TIER_LABELS": TIER_LABELS, "SESSION_LABELS": SESSION_LABELS, "STATE_LABELS": report_scope.STATE_LABELS}


def _session_or_404(event, default: str):
    session = report_scope.session_for(event, request.args.get("session") or None, default)
    if session is None:
        abort(404, "no such session")
    return session


def _xlsx(data: bytes, names: tuple[str, str]) -> Response:
    """An attachment named in Vietnamese, with an ASCII fallback for old clients (RFC 6266)."""
    name, ascii_name = names
    response = Response(data, mimetype=report_sheets.XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = (f'attachment; filename="{ascii_name}"; '
                                               f"filename*=UTF-8''{quote(name, safe='')}")
    response.headers["Cache-Control"] = "private, no-store"  # names and phone numbers of people
    return response


def _readiness(slug: str):
    """(event, session, its readiness report as the user may see it); 404 without either."""
    event = event_or_404(slug)
    session = _session_or_404(event, report_scope.READINESS_SESSION)
    return event, session, readiness_report.readiness(event, session, current_user)


def _attendance(slug: str):
    """(event, session, its attendance report as the user may see it); 404 without either."""
    event = event_or_404(slug)
    session = _session_or_404(event, report_scope.ATTENDANCE_SESSION)
    return event, session, attendance_report.attendance(event, session, current_user)


@bp.get("/events/<slug>/reports/readiness")
@require("status.view")
def readiness(slug: str):
    event, session, report = _readiness(slug)
    return render_template("status_reports/readiness.html", event=event, session=session, report=report,
                           view="status_reports.readiness")


@bp.get("/events/<slug>/reports/readiness.xlsx")
@require("status.view")
def readiness_xlsx(slug: str):
    event, session, report = _readiness(slug)
    return _xlsx(report_sheets.readiness_xlsx(report), report_sheets.filename(report_sheets.READINESS_TITLE, event, session, "xlsx"))


@bp.get("/events/<slug>/reports/attendance")
@require("status.view")
def attendance(slug: str):
    event, session, report = _attendance(slug)
    province = request.args.get("province") or ""
    only = request.args.get("only") if request.args.get("only") in ("absent", "confirmed_never") else ""
    own = scope_unit(current_user, event.unit_structure) if current_user.role == "coordinator" else None
    if own is not None and not province:
        province = own.path.strip("/").split("/")[1] if own.tier != "central" else ""
    listed = (attendance_report.attendance_endpoints(event, session, current_user, province=province or None, only=only or None)
              if province or only == "confirmed_never" else None)
    return render_template("status_reports/attendance.html", event=event, session=session, report=report,
                           view="status_reports.attendance", listed=listed, province=province, only=only)


@bp.get("/events/<slug>/reports/attendance.xlsx")
@require("status.view")
def attendance_xlsx(slug: str):
    event, session, report = _attendance(slug)
    endpoints = attendance_report.attendance_endpoints(event, session, current_user)
    return _xlsx(report_sheets.attendance_xlsx(report, endpoints),
                 report_sheets.filename(report_sheets.ATTENDANCE_TITLE, event, session, "xlsx"))
