"""The incident list page, its live part and downloads, and the buttons that work an incident
(acknowledge, resolve with a reason, note, reassign) on it and on the endpoint's page. Filters and
pages in SQL (no cap, no "and 2,255 more"), the same filters as GET /api/v1/events/<slug>/incidents.

The list's rows (and the endpoint page's incident block) are a live part: the page's script
(`static/status.js`) asks for it with If-None-Match every DASHBOARD_POLL_SECONDS and puts it in
place when it changed (someone acknowledged an incident: the owner appears on every screen).
Its ETag is the province's status counters (every step of an incident moves them) with the
filters and the viewer; it holds the viewer's own forms (their CSRF token, their rights), so it
is rendered for each viewer and never shared through the cache."""
from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from flask import Response, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from coordinator.auth.models import COORDINATOR
from coordinator.auth.permissions import can, scope_path
from coordinator.events.labels import TIER_LABELS
from coordinator.events.lookup import event_or_404
from coordinator.extensions import db
from coordinator.problems import Invalid
from coordinator.spreadsheets.safe import write_csv, write_xlsx
from coordinator.status import services as status
from coordinator.status.incident_list import user_label
from coordinator.status.labels import CAUSE_LABELS, INCIDENT_STATE_LABELS, LAYER_LABELS, label
from coordinator.status.models import INCIDENT_STATES
from coordinator.timeutil import format_local, to_local, utcnow
from coordinator.units.models import ROOT_CODE, Unit, province_code
from coordinator.web.downloads import named
from coordinator.web.views import safe_next

PER_PAGE = 50
EXPORT_LIMIT = 100_000
TIERS = ("central", "province", "district", "commune")
STATE_CHOICES = ("", *INCIDENT_STATES, "all")  # "": not resolved (open or acknowledged)


def state_choice(args) -> str:
    """The list's state filter as its select shows it; the older `open=` still understood."""
    state = (args.get("state") or "").lower()
    if state in STATE_CHOICES:
        if state:
            return state
    legacy = (args.get("open") or "").lower()
    return {"false": "resolved", "0": "resolved", "all": "all"}.get(legacy, "")


def filters_from(args) -> dict:
    """The list's filters from a query string; unknown values are ignored."""
    choice = state_choice(args)
    open_ = {"": True, "resolved": False}.get(choice)
    state = choice if choice in ("open", "acknowledged") else None
    tier = args.get("tier") if args.get("tier") in TIERS else None
    cause = args.get("cause") if args.get("cause") in CAUSE_LABELS else None
    province = (args.get("province") or "").strip() or None
    return {"province": province, "tier": tier, "cause": cause, "open_": open_, "state": state}


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def _session(event):
    kind = request.args.get("session")
    session = event.session(kind) if kind else status.current_session(event)
    if session is None:
        abort(404)
    return session


def _provinces(event) -> list[tuple[str, str]]:
    scope = scope_path(current_user, event.unit_structure)
    rows = db.session.execute(select(Unit.code, Unit.name, Unit.path).where(
        Unit.structure == event.unit_structure, Unit.tier == "province").order_by(Unit.code)).all()
    return [(c, n) for c, n, p in rows if scope is None or p.startswith(scope) or scope.startswith(p)]


def _poll_seconds() -> float:
    return float(current_app.config.get("DASHBOARD_POLL_SECONDS", 5))


def _list_args() -> dict:
    return {k: v for k, v in request.args.items() if k not in ("page",)}


def _fingerprint(event, session, province: str | None):
    """The status counters the list depends on: one province's (its filter, or a coordinator's
    own), else every province's."""
    if province is None and current_user.role == COORDINATOR:
        province = province_code(scope_path(current_user, event.unit_structure) or "/")
    fp = status.fingerprint(event.slug, session.kind, province or ROOT_CODE)
    if fp is None:
        abort(404)
    return fp


def _tag(fp, *parts) -> str:
    return fp.tag(*parts, getattr(current_user, "id", 0), current_user.role, get_locale() or "vi")


def workable(event, items: list[dict]) -> dict[int, list[tuple[int, str]]]:
    """For each incident the viewer may work: whom it may be given to (id, name). One query."""
    people = None
    out = {}
    for item in items:
        unit = SimpleNamespace(structure=event.unit_structure, path=item["unit_path"])
        if item["state"] == "resolved" or not can(current_user, "status.check", unit):
            continue
        if people is None:
            people = status.workers()
        out[item["id"]] = [(u.id, user_label(u.display_name, u.email)) for u in status.candidates(unit, people)]
    return out


def _list_context(event, session) -> dict:
    filters = filters_from(request.args)
    number = _page_number()
    items, total = status.list_incidents(event, session, scope=scope_path(current_user, event.unit_structure),
                                         page=number, per_page=PER_PAGE, **filters)
    return {"items": items, "total": total, "page": number, "pages": max(1, -(-total // PER_PAGE)),
            "filters": filters, "choice": state_choice(request.args), "now": utcnow(),
            "args": _list_args(), "workable": workable(event, items),
            "back": url_for("status.incidents", slug=event.slug, **request.args)}


def page(slug: str):
    event = event_or_404(slug)
    session = _session(event)
    filters = filters_from(request.args)
    fp = _fingerprint(event, session, filters["province"])
    number = _page_number()
    etag = _tag(fp, filters["province"] or "-", state_choice(request.args), filters["tier"] or "",
                filters["cause"] or "", number)
    args = {k: v for k, v in request.args.items() if k != "page"}
    live = {"url": url_for("status.incidents_live", slug=slug, **{**args, "session": session.kind},
                           **({"page": number} if number > 1 else {})),
            "etag": f'W/"{etag}"', "poll": _poll_seconds(), "at": to_local(utcnow(), event.timezone).strftime("%H:%M:%S")}
    context = _list_context(event, session)
    return render_template("status/incidents.html", event=event, session=session, provinces=_provinces(event),
                           tiers=TIERS, state_choices=STATE_CHOICES, live=live, **context)


def live(slug: str):
    """The list's rows alone, for the page's script: 304 while nothing it shows changed."""
    event = event_or_404(slug)
    session = _session(event)
    filters = filters_from(request.args)
    fp = _fingerprint(event, session, filters["province"])
    etag = _tag(fp, filters["province"] or "-", state_choice(request.args), filters["tier"] or "",
                filters["cause"] or "", _page_number())
    if request.if_none_match.contains_weak(etag):
        response = make_response("", 304)
    else:
        response = make_response(render_template("status/_incidents.html", event=event, session=session,
                                                 **_list_context(event, session)))
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "no-cache, private"
    response.headers["X-Status-Fragment"] = "1"
    return response


# --- an endpoint's incident block ------------------------------------------------------------------

def block_context(event, endpoint, session) -> dict:
    """What the endpoint page's incident block shows: its current incident (open or acknowledged)
    with owner and notes, and whom the viewer may give it to."""
    current = status.open_incident_of(endpoint.id, session.id)
    item = status.incident_item(event, session, current.id) if current is not None else None
    return {"item": item, "workable": workable(event, [item]) if item else {},
            "back": url_for("status.endpoint", slug=event.slug, endpoint_id=endpoint.id, session=session.kind)}


def endpoint_tag(event, endpoint, session) -> str:
    fp = status.fingerprint(event.slug, session.kind, province_code(endpoint.unit.path))
    if fp is None:
        abort(404)
    return _tag(fp, "endpoint", endpoint.id)


def endpoint_live(event, endpoint, session):
    etag = endpoint_tag(event, endpoint, session)
    if request.if_none_match.contains_weak(etag):
        response = make_response("", 304)
    else:
        response = make_response(render_template("status/_incident_block.html", event=event, session=session,
                                                 endpoint=endpoint, **block_context(event, endpoint, session)))
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "no-cache, private"
    response.headers["X-Status-Fragment"] = "1"
    return response


# --- working an incident from the pages --------------------------------------------------------------

def act(slug: str, incident_id: int, action: str):
    """A button of the list or of the endpoint page: acknowledge, resolve, note, assign. Back to
    the page it came from, saying what happened (or why not: someone else owns it)."""
    event = event_or_404(slug)
    incident = status.get_incident(incident_id)
    if incident is None or incident.event_id != event.id:
        abort(404)
    if not status.may_work(current_user, incident):
        abort(403)
    back = safe_next(request.form.get("next")) or url_for("status.incidents", slug=slug)
    try:
        if action == "ack":
            status.acknowledge(incident, current_user)
            flash(_("Incident acknowledged: it is yours."), "success")
        elif action == "resolve":
            status.resolve(incident, current_user, request.form.get("reason", ""))
            flash(_("Incident resolved."), "success")
        elif action == "notes":
            status.add_note(incident, current_user, request.form.get("text", ""))
            flash(_("Note saved."), "success")
        elif action == "assign":
            try:
                user_id = int(request.form.get("user_id", ""))
            except ValueError:
                user_id = 0
            status.assign(incident, current_user, user_id)
            flash(_("Incident reassigned."), "success")
        else:
            abort(404)
    except status.IncidentConflict as exc:
        flash(exc.msg.localized(), "error")
    except Invalid as exc:
        flash("; ".join(p.localized() for p in exc.problems), "error")
    return redirect(back)


# --- downloads ---------------------------------------------------------------------------------------

HEADERS = ("STT", "Mã tỉnh", "Tỉnh, thành phố", "Mã đơn vị", "Đơn vị", "Cấp", "Điểm cầu", "Nguyên nhân", "Lớp lỗi",
           "Mã lỗi", "Mở lúc", "Đóng lúc", "Thời gian (phút)", "SMS đã gửi", "Trạng thái", "Người xử lý",
           "Nhận lúc", "Lý do đóng")
WIDTHS = (6, 8, 24, 10, 28, 11, 32, 18, 22, 8, 17, 17, 12, 10, 14, 24, 17, 32)


def export(slug: str, fmt: str):
    if fmt not in ("xlsx", "csv"):
        abort(404)
    event = event_or_404(slug)
    session = _session(event)
    items, _count = status.list_incidents(event, session, scope=scope_path(current_user, event.unit_structure), page=1,
                                          per_page=EXPORT_LIMIT, with_notes=False, **filters_from(request.args))
    now = utcnow()
    tz = event.timezone
    rows = [[i, it["province_code"], it["province"], it["unit_code"], it["unit"],
             label(TIER_LABELS, it["tier"]), it["endpoint"], label(CAUSE_LABELS, it["cause"]),
             label(LAYER_LABELS, it["layer"]), it["code"], format_local(it["opened_at"], tz),
             format_local(it["resolved_at"], tz) if it["resolved_at"] else "",
             round(_minutes(it["opened_at"], it["resolved_at"] or now), 1), it["notified"],
             label(INCIDENT_STATE_LABELS, it["state"]), it["owner"]["name"] if it["owner"] else "",
             format_local(it["acknowledged_at"], tz) if it["acknowledged_at"] else "",
             it["resolution_reason"] if it["resolution"] == "by_hand" else ""]
            for i, it in enumerate(items, start=1)]
    name = f"Sự cố - {session.kind} - {event.slug}.{fmt}"
    if fmt == "csv":
        body, mimetype = write_csv(HEADERS, rows), "text/csv; charset=utf-8"
    else:
        body = write_xlsx(HEADERS, rows, sheet_title="Sự cố", widths=WIDTHS)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return named(Response(body, mimetype=mimetype), name)


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60
