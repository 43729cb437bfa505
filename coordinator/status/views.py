"""The connection-status dashboard (national, province, endpoint, wall screen).

Thin: `status.services` computes everything (the national roll-up in two queries, a unit's
endpoints in three), whatever the number of endpoints. The changing part of the national and unit
pages is also served alone (`/status/live`) with an ETag built from `status.version()`: the page's
script asks every DASHBOARD_POLL_SECONDS with If-None-Match and gets a 304 (no roll-up computed)
until something changes.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, SelectChoice, TextAreaField
from wtforms.validators import InputRequired, Length

from coordinator.auth.models import COORDINATOR
from coordinator.auth.permissions import can, require
from coordinator.endpoints import services as endpoints
from coordinator.endpoints.forms import PROTOCOL_LABELS, ROLE_LABELS
from coordinator.endpoints.phones import national
from coordinator.events.labels import SESSION_LABELS, TIER_LABELS
from coordinator.status import services as status
from coordinator.status.models import STATES
from coordinator.timeutil import to_local, utcnow
from coordinator.units.services import get_unit
from coordinator.web.lookup import event_or_404

bp = Blueprint("status", __name__)

STATE_LABELS = {
    "connected": _l("Connected"),
    "degraded": _l("Degraded"),
    "failed": _l("Connection failed"),
    "unknown": _l("Not checked"),
}
SOURCE_LABELS = {
    "operator": _l("Operator check"),
    "self": _l("Contact confirmed (link)"),
    "sms": _l("Contact confirmed (SMS)"),
    "probe": _l("Automatic probe"),
}
FILTER_LABELS = {
    "": _l("All"),
    "failed": _l("Failed or degraded"),
    "unknown": _l("Not checked"),
    "not_confirmed": _l("Not confirmed"),
    "hosting": _l("Hosting communes"),
    "incident": _l("Open incidents"),
}
LAYER_LABELS = {
    "ok": _l("answered"),
    "dns": _l("name not found (DNS)"),
    "timeout": _l("no answer (timeout)"),
    "refused": _l("connection refused"),
    "sip_error": _l("SIP error"),
    "http_error": _l("HTTP error"),
    "tls": _l("TLS error"),
    "network": _l("network error"),
    "unsupported": _l("cannot be probed"),
}
ROW_LIMIT = 1000  # rows of a unit's table; a filter or a province's page shows the others

CAUSE_LABELS = {"operator": _l("reported failed"), "probe": _l("probes failed")}


@bp.context_processor
def _labels():
    return {"STATE_LABELS": STATE_LABELS, "SOURCE_LABELS": SOURCE_LABELS, "FILTER_LABELS": FILTER_LABELS,
            "LAYER_LABELS": LAYER_LABELS, "CAUSE_LABELS": CAUSE_LABELS, "TIER_LABELS": TIER_LABELS,
            "SESSION_LABELS": SESSION_LABELS, "PROTOCOL_LABELS": PROTOCOL_LABELS, "ROLE_LABELS": ROLE_LABELS,
            "STATES": STATES, "national_phone": national}


class CheckForm(FlaskForm):
    """An operator's check of one endpoint (by phone, or watching the bridge)."""

    session = HiddenField()
    state = SelectField(_l("Connection"), choices=[SelectChoice(k, v) for k, v in STATE_LABELS.items()],
                        default="connected", validators=[InputRequired()])
    audio = BooleanField(_l("Audio OK"))
    video = BooleanField(_l("Video OK"))
    content = BooleanField(_l("Shared content (slides) seen"))
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)], render_kw={"rows": 2, "maxlength": 2000})


# --- lookups ------------------------------------------------------------------------------------------

def _session(event, kind: str | None):
    """The session asked for (?session=<kind>), else the one operators are watching; 404 when none."""
    if kind:
        session = event.session(kind)
        if session is None:
            abort(404, f"event {event.slug!r} has no session {kind!r}")
        return session
    session = status.current_session(event)
    if session is None:
        abort(404, "the event has no session")
    return session


def _unit_or_404(event, code: str):
    """The unit, if the user may watch it (a coordinator: its own subtree); 404 otherwise."""
    unit = get_unit(event.unit_structure, code)
    if unit is None or not can(current_user, "status.view", unit):
        abort(404)
    return unit


def _endpoint_or_404(event, endpoint_id: int, permission: str = "status.view"):
    endpoint = endpoints.get_endpoint(endpoint_id, current_user)
    if endpoint is None or endpoint.event_id != event.id or not can(current_user, permission, endpoint.unit):
        abort(404)
    return endpoint


def _filter(value: str | None) -> str:
    return value if value in status.FILTERS else ""


def _wall() -> bool:
    return request.args.get("wall") in ("1", "true", "yes")


def _etag(event, session, unit_code: str, filter_: str, wall: bool) -> str:
    """What the live fragment's content depends on: the data (`status.version`) and the query."""
    return f"{status.version(event, session)}.{unit_code or '-'}.{filter_ or '-'}.{int(wall)}.{get_locale() or 'vi'}"


def _poll_seconds() -> float:
    return float(current_app.config.get("DASHBOARD_POLL_SECONDS", 5))


# --- what the pages show ------------------------------------------------------------------------------

def _incident(incident, endpoint: str, unit_code: str, unit: str) -> dict:
    return {"endpoint_id": incident.endpoint_id, "endpoint": endpoint, "unit_code": unit_code, "unit": unit,
            "opened_at": incident.opened_at, "cause": incident.cause, "detail": incident.detail}


def _national(event, session) -> dict:
    report = status.rollup(event, session)
    incidents = [_incident(i["incident"], i["endpoint"], i["unit_code"], i["unit"])
                 for i in status.open_incidents(event, session)]
    return {"report": report, "incidents": incidents}


def _summary(rows: list[dict]) -> dict:
    """Counts over a unit's endpoints (all of them, whatever the filter): per state, confirmed,
    hosting communes, open incidents, share ready."""
    counts = {s: 0 for s in STATES}
    confirmed = hosting = incidents = 0
    for r in rows:
        counts[r["state"]] += 1
        confirmed += bool(r["status"] is not None and r["status"].confirmed_at is not None)
        hosting += bool(r["hosted"])
        incidents += r["incident"] is not None
    n = len(rows)
    return {"endpoints": n, "counts": counts, "confirmed": confirmed, "hosting": hosting, "incidents": incidents,
            "ready": round(counts["connected"] / n, 4) if n else 0.0,
            "by_filter": {"": n, "failed": counts["failed"] + counts["degraded"], "unknown": counts["unknown"],
                          "not_confirmed": n - confirmed, "hosting": hosting, "incident": incidents}}


def _unit_data(event, unit, session, filter_: str) -> dict:
    """A unit's rows (filtered), counts over all its endpoints, its open incidents. The centre's
    subtree is the whole country: unfiltered, it lists the central and the provinces' own endpoints
    (a province's page has the rest); and no page lists more than ROW_LIMIT rows."""
    everything = status.unit_view(event, unit, session)
    rows = status.apply_filter(everything, filter_)
    base = unit.path.strip("/").count("/")
    top_only = unit.tier == "central" and not filter_
    if top_only:
        rows = [r for r in rows if r["depth"] <= base + 1]
    return {"rows": rows[:ROW_LIMIT], "matched": len(rows), "top_only": top_only,
            "summary": _summary(everything), "base_depth": base,
            "incidents": sorted((_incident(r["incident"], r["name"], r["unit_code"], r["unit"])
                                 for r in everything if r["incident"] is not None),
                                key=lambda i: i["opened_at"], reverse=True)}


def _live_attrs(event, session, etag: str, unit_code: str = "", filter_: str = "", wall: bool = False) -> dict:
    return {"url": url_for("status.live", slug=event.slug, session=session.kind, unit=unit_code or None,
                           filter=filter_ or None, wall=1 if wall else None),
            "etag": f'W/"{etag}"', "poll": _poll_seconds(),
            "at": to_local(utcnow(), event.timezone).strftime("%H:%M:%S")}


# --- pages ----------------------------------------------------------------------------------------------

@bp.get("/events/<slug>/status")
@require("status.view")
def dashboard(slug: str):
    """The national picture: totals, open incidents, one tile per province. A coordinator sees its
    own province's view instead."""
    event = event_or_404(slug)
    wall = _wall()
    if current_user.role == COORDINATOR:
        if current_user.unit is None:
            abort(404)
        return redirect(url_for("status.unit", slug=slug, code=current_user.unit.code,
                                session=request.args.get("session") or None, wall=1 if wall else None))
    session = _session(event, request.args.get("session"))
    etag = _etag(event, session, "", "", wall)
    return render_template("status/dashboard.html", event=event, session=session, wall=wall,
                           live=_live_attrs(event, session, etag, wall=wall), **_national(event, session))


@bp.get("/events/<slug>/status/live")
@require("status.view")
def live(slug: str):
    """The changing part of the national or a unit's page, for the page's script: 304 while
    `status.version` (and the query) are unchanged, without computing the roll-up."""
    event = event_or_404(slug)
    session = _session(event, request.args.get("session"))
    code = request.args.get("unit") or ""
    filter_ = _filter(request.args.get("filter"))
    wall = _wall()
    unit = _unit_or_404(event, code) if code else None
    if unit is None and current_user.role == COORDINATOR:
        abort(404)  # the national picture is not a coordinator's
    etag = _etag(event, session, code, filter_, wall)
    if request.if_none_match.contains_weak(etag):
        response = make_response("", 304)
    else:
        if unit is None:
            html = render_template("status/_national.html", event=event, session=session, wall=wall,
                                   **_national(event, session))
        else:
            html = render_template("status/_unit.html", event=event, session=session, unit=unit, filter_=filter_,
                                   wall=wall, **_unit_data(event, unit, session, filter_))
        response = make_response(html)
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "no-cache, private"
    response.headers["X-Status-Fragment"] = "1"
    return response


@bp.get("/events/<slug>/status/<code>")
@require("status.view")
def unit(slug: str, code: str):
    """A province (or any unit): its subtree's endpoints in tree order, filters, counts."""
    event = event_or_404(slug)
    unit_ = _unit_or_404(event, code)
    session = _session(event, request.args.get("session"))
    filter_ = _filter(request.args.get("filter"))
    wall = _wall()
    etag = _etag(event, session, code, filter_, wall)
    ancestors, parent = [], unit_.parent
    while parent is not None:  # at most three: district, province, centre
        ancestors.insert(0, parent)
        parent = parent.parent
    return render_template("status/province.html", event=event, session=session, unit=unit_, ancestors=ancestors,
                           filter_=filter_, wall=wall, live=_live_attrs(event, session, etag, code, filter_, wall),
                           **_unit_data(event, unit_, session, filter_))


@bp.get("/events/<slug>/status/endpoints/<int:endpoint_id>")
@require("status.view")
def endpoint(slug: str, endpoint_id: int):
    """One endpoint: its current state, last probe and check, contacts to call, timeline, incident,
    and the operator's check form."""
    event = event_or_404(slug)
    endpoint_ = _endpoint_or_404(event, endpoint_id)
    session = _session(event, request.args.get("session"))
    form = CheckForm(data={"session": session.kind, "state": "connected"})
    return _endpoint_page(event, endpoint_, session, form)


def _endpoint_page(event, endpoint_, session, form, code: int = 200):
    events = status.timeline(endpoint_.id, session.id)
    contacts = {f"contact:{c.id}": c.name for c in endpoint_.contacts}
    return render_template("status/endpoint.html", event=event, endpoint=endpoint_, session=session, form=form,
                           current=status.status_of(endpoint_.id, session.id), events=events, contacts=contacts,
                           incident=status.open_incident_of(endpoint_.id, session.id)), code


@bp.post("/events/<slug>/status/endpoints/<int:endpoint_id>/check")
@require("status.check")
def check(slug: str, endpoint_id: int):
    event = event_or_404(slug)
    endpoint_ = _endpoint_or_404(event, endpoint_id, "status.check")
    form = CheckForm()
    session = _session(event, form.session.data)
    if not form.validate_on_submit():
        flash(_("The check was not recorded: see the form below."), "error")
        return _endpoint_page(event, endpoint_, session, form, 400)
    state = form.state.data
    status.record(endpoint_, session, "operator", state, audio=bool(form.audio.data), video=bool(form.video.data),
                  content=bool(form.content.data), note=form.note.data or "", actor=current_user)
    message = _("Check recorded: %(state)s.", state=STATE_LABELS[state])
    if status.open_incident_of(endpoint_.id, session.id) is not None and state == "failed":
        message += " " + _("An incident is open: its technical contacts are notified by SMS once.")
    flash(message, "success")
    return redirect(url_for("status.endpoint", slug=slug, endpoint_id=endpoint_id, session=session.kind))


@bp.post("/events/<slug>/status/endpoints/<int:endpoint_id>/probe")
@require("probes.run")
def probe(slug: str, endpoint_id: int):
    """Probe this endpoint now (a few seconds at most: PROBE_TIMEOUT_SECONDS)."""
    from coordinator.probes import services as probes

    event = event_or_404(slug)
    endpoint_ = _endpoint_or_404(event, endpoint_id, "probes.run")
    session = _session(event, request.form.get("session"))
    summary = probes.sweep(event, session=session, endpoint_ids=[endpoint_.id])
    current = status.status_of(endpoint_.id, session.id)
    if summary.probed == 0 or current is None or current.probed_at is None:
        flash(_("Nothing to probe: the endpoint has no dial address that can be probed."), "warning")
    else:
        parts = [str(STATE_LABELS.get(current.probe_state, current.probe_state)),
                 str(LAYER_LABELS.get(current.probe_layer, current.probe_layer))]
        if current.probe_code:
            parts.append(str(current.probe_code))
        if current.probe_rtt_ms is not None:
            parts.append(f"{current.probe_rtt_ms:.0f} ms")
        flash(_("Probe result: %(result)s.", result=", ".join(parts)),
              "success" if current.probe_state == "connected" else "warning")
    return redirect(url_for("status.endpoint", slug=slug, endpoint_id=endpoint_id, session=session.kind))
