"""Spreadsheet pages: upload endpoints and contacts, download the template and the export.
Thin: coordinator.imports.endpoints_io does the work."""
from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from coordinator.auth.permissions import can, require, scope_path
from coordinator.auth.scopes import scope_unit
from coordinator.events.labels import TIER_LABELS
from coordinator.events.lookup import event_or_404
from coordinator.events.windows import OPEN, registration_window
from coordinator.imports import endpoints_io
from coordinator.problems import Invalid
from coordinator.units.services import get_unit
from coordinator.web.downloads import named

bp = Blueprint("spreadsheets", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"  # Werkzeug adds "; charset=utf-8" to text/* itself (given here, it came twice)
# What each column holds, shown beside the file's own (Vietnamese) headers.
COLUMN_HELP = {
    "unit_code": _l("Statistics-office code of the unit: TW for central, 2 digits for a province (56), 3 for a "
                    "district (568), 5 for a commune (22333). Keep the leading zeros."),
    "unit_name": _l("Name of the unit, for reading the file: not saved (units are found by their code)."),
    "name": _l("Name of the conference room. Required."),
    "address": _l("Address of the room."),
    "protocol": _l("sip, h323, webrtc or other. Empty means other."),
    "dial": _l("SIP address (sip:room@10.0.0.5), H.323 address or alias, or an https:// link. May be empty."),
    "expected_attendance": _l("How many people are expected at the endpoint (a whole number). Optional."),
    "contact_name": _l("Full name of the person. Required when the row has a person."),
    "contact_position": _l("Position."),
    "contact_phone": _l("One number: mobile 0913 123 456 or landline with its post-2017 area code 0258 3563 535."),
    "contact_email": _l("Email address (optional)."),
    "contact_role": _l("Chủ trì (chair), Kỹ thuật (technical) or Tham dự (attendee). Empty means attendee."),
    "focal": _l("Có (or x) for one of the province's focal contacts, who receive its incident digests. "
                "Empty means no."),
}


def _user():
    return current_user._get_current_object()  # the audit log and scope checks want the real user


@bp.route("/events/<slug>/import", methods=["GET", "POST"])
@require("registration.manage")
def import_endpoints(slug: str):
    event = event_or_404(slug)
    if request.method == "GET":
        return _page(event)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(event, errors=[{"row": None, "column": None, "message": _("Choose a file to upload.")}]), 422
    try:
        rows = endpoints_io.read_rows(upload.filename, upload.read())
        result = endpoints_io.import_endpoints(event, _user(), rows, filename=upload.filename)
    except Invalid as exc:
        return _page(event, errors=endpoints_io.as_dicts(exc.problems), filename=upload.filename), 422
    flash(_("%(file)s imported: %(created)s created, %(updated)s updated, %(unchanged)s unchanged (endpoints: "
            "%(e_created)s new, %(e_updated)s changed; contacts: %(c_created)s new, %(c_updated)s changed).",
            file=upload.filename, created=result.created, updated=result.updated, unchanged=result.unchanged,
            e_created=result.endpoints.created, e_updated=result.endpoints.updated,
            c_created=result.contacts.created, c_updated=result.contacts.updated), "success")
    return redirect(url_for("spreadsheets.import_endpoints", slug=slug))


def _page(event, *, errors=None, filename=None):
    windows = [(tier, registration_window(event, tier)) for tier in event.tiers]
    columns = [(endpoints_io.column_letter(i), c) for i, c in enumerate(endpoints_io.COLUMNS)]
    return render_template("spreadsheets/import.html", event=event, columns=columns, help=COLUMN_HELP,
                           errors=errors, filename=filename, own_unit=_own_unit(event),
                           windows=[(t, w) for t, w in windows if w.state != OPEN], TIER_LABELS=TIER_LABELS)


def _own_unit(event):
    """A coordinator's unit in the event's structure (its template comes pre-filled), else None."""
    user = _user()
    if scope_path(user) is None:
        return None
    return scope_unit(user, event.unit_structure)


def _send(data: bytes, fmt: str, name: str):
    return named(send_file(io.BytesIO(data), mimetype=XLSX if fmt == "xlsx" else CSV, as_attachment=True,
                           download_name=f"{name}.{fmt}"), f"{name}.{fmt}")


@bp.get("/events/<slug>/endpoints/template.<fmt>")
@require("registration.view")
def template(slug: str, fmt: str):
    """The template; pre-filled with the units' codes and names of a coordinator's area, or of the
    unit `?unit=CODE` (any unit for an organizer, one of its area for a coordinator)."""
    event = event_or_404(slug)
    if fmt not in ("xlsx", "csv"):
        abort(404)
    code = (request.args.get("unit") or "").strip()
    if code:
        root = get_unit(event.unit_structure, code)
        if root is None or root.tier not in event.tiers or not can(_user(), "registration.view", root):
            abort(404)
    else:
        root = _own_unit(event)
    units = endpoints_io.template_units(event, root) if root is not None else None
    if fmt == "xlsx":
        data = endpoints_io.template_xlsx(event, units)
    else:
        data = endpoints_io.template_csv(units)
    suffix = f" - {root.code}" if root is not None else ""
    return _send(data, fmt, f"Mẫu danh sách điểm cầu - {event.slug}{suffix}")


@bp.get("/events/<slug>/endpoints/export.<fmt>")
@require("registration.view")
def export(slug: str, fmt: str):
    event = event_or_404(slug)
    if fmt not in ("xlsx", "csv"):
        abort(404)
    data = endpoints_io.export_endpoints(event, _user(), fmt)
    own = _own_unit(event)
    suffix = f" - {own.code}" if own is not None else ""
    return _send(data, fmt, f"Danh sách điểm cầu - {event.slug}{suffix}")
