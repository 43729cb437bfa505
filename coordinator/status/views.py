"""The connection-status pages: national, a unit's, an endpoint's, the incident list, the wall screen.

Thin: `status.services` computes everything in a few grouped queries. The page of an endpoint
shows parts that higher packages contribute (`web.parts`): its history ("endpoint_history", from
`history`); its "Probe now" button posts to `probes.views`. The changing part of the
national and unit pages is also served alone (`/status/live`): the page's script asks every
DASHBOARD_POLL_SECONDS with If-None-Match. The ETag is answered from `versions.fingerprint` (two
small queries) before the event is loaded; it moves only when what the fragment shows moves (a
national tile's counts, a province's rows, the last sweep, staleness). A fragment is rendered once
per ETag and kept in the shared cache for every worker; responses are gzipped.
"""
from __future__ import annotations

from flask import (Blueprint, Response, abort, current_app, flash, make_response, redirect, render_template, request,
                   url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from coordinator.auth.models import COORDINATOR
from coordinator.auth.permissions import can, require, scope_path
from coordinator.auth.scopes import require_scope, scope_unit
from coordinator.endpoints import services as endpoints
from coordinator.endpoints.forms import PROTOCOL_LABELS, ROLE_LABELS
from coordinator.endpoints.phones import national
from coordinator.events.labels import SESSION_LABELS, TIER_LABELS
from coordinator.extensions import cache
from coordinator.status import feed, incident_views, services as status
from coordinator.status.labels import (CAUSE_LABELS, ESCALATION_LABELS, FILTER_LABELS, FLAG_CHOICES,
                                       INCIDENT_CHOICE_LABELS, INCIDENT_STATE_LABELS, LAYER_LABELS, REACHABILITY_LABELS,
                                       SORT_LABELS, SOURCE_LABELS, STATE_LABELS)
from coordinator.status.models import STATES
from coordinator.timeutil import to_local, utcnow
from coordinator.units.models import ROOT_CODE, province_code
from coordinator.units.services import get_unit
from coordinator.events.lookup import event_or_404
from coordinator.web.downloads import named

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

bp = Blueprint("status", __name__)

INCIDENT_BOX = 10  # newest open incidents on a dashboard; the incident list has the rest


@bp.context_processor
def _labels():
    return {"STATE_LABELS": STATE_LABELS, "SOURCE_LABELS": SOURCE_LABELS, "FILTER_LABELS": FILTER_LABELS,
            "LAYER_LABELS": LAYER_LABELS, "CAUSE_LABELS": CAUSE_LABELS, "TIER_LABELS": TIER_LABELS,
            "SESSION_LABELS": SESSION_LABELS, "PROTOCOL_LABELS": PROTOCOL_LABELS, "ROLE_LABELS": ROLE_LABELS,
            "REACHABILITY_LABELS": REACHABILITY_LABELS, "SORT_LABELS": SORT_LABELS, "STATES": STATES,
            "INCIDENT_STATE_LABELS": INCIDENT_STATE_LABELS, "INCIDENT_CHOICE_LABELS": INCIDENT_CHOICE_LABELS,
            "ESCALATION_LABELS": ESCALATION_LABELS,
            "national_phone": national, "reachability": status.reachability}


def _flag_field(label):
    return RadioField(label, choices=[SelectChoice(k, v) for k, v in FLAG_CHOICES], default="",
                      validators=[Optional()])


class CheckForm(FlaskForm):
    """An operator's check of one endpoint (by phone, or watching the bridge). Nothing is assumed:
    the verdict must be chosen, and audio, video and shared content are each yes, no or not checked."""

    session = HiddenField()
    state = SelectField(_l("Connection"), choices=[SelectChoice("", "—")] + [
        SelectChoice(k, STATE_LABELS[k]) for k in ("connected", "degraded", "failed")],
        default="", validators=[InputRequired()])
    audio = _flag_field(_l("Audio"))
    video = _flag_field(_l("Video"))
    content = _flag_field(_l("Shared content (slides)"))
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)], render_kw={"rows": 2, "maxlength": 2000})

    def validate_state(self, field):
        if field.data not in ("connected", "degraded", "failed"):
            raise ValidationError(_("Choose what you observed."))


def _flag(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


# --- lookups ------------------------------------------------------------------------------------------

def session_or_404(event, kind: str | None):
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


def endpoint_or_404(event, endpoint_id: int, permission: str = "status.view"):
    endpoint = endpoints.get_endpoint(endpoint_id, current_user)
    if endpoint is None or endpoint.event_id != event.id or not can(current_user, permission, endpoint.unit):
        abort(404)
    return endpoint


def _filter(value: str | None) -> str:
    return value if value in status.FILTERS else ""


def _wall() -> bool:
    return request.args.get("wall") in ("1", "true", "yes")


def _sort(wall: bool) -> str:
    value = request.args.get("sort")
    return value if value in status.SORTS else ("worst" if wall else "code")


def _unit_sort() -> str:
    """A unit's rows: tree order unless asked otherwise (worst first, longest silent first)."""
    value = request.args.get("sort")
    return value if value in status.SORTS else "code"


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def _poll_seconds() -> float:
    return float(current_app.config.get("DASHBOARD_POLL_SECONDS", 5))


def _release_holds() -> None:
    """Operators' holds that ended give way to the probes before anything is shown (the scheduler
    does it too; here it costs one index lookup when none has ended)."""
    if status.has_expired_holds():
        status.expire_holds()


# --- what the pages show ------------------------------------------------------------------------------

def _national(event, session, sort: str, fp, wall: bool = False) -> dict:
    return {"report": status.rollup(event, session, sort=sort), "sort": sort,
            "incidents": status.open_incidents(event, session, limit=INCIDENT_BOX),
            "freshness": status.freshness(fp), "help_rule": True,
            "feed": {"incidents": feed.newest_incidents(event, session)} if wall else feed.changes(event, session)}


def _unit_data(event, unit, session, filter_: str, page: int, fp, sort: str = "code", wall: bool = False) -> dict:
    """A unit's counts (all its endpoints, whatever the filter), its rows (a page, or grouped by
    child unit, in the order asked), its newest open incidents, what changed, freshness."""
    province = None if unit.tier == "central" else province_code(unit.path)
    return {"summary": status.summary(event, unit, session), "view": status.unit_page(event, unit, session, filter_,
                                                                                     page, sort=sort),
            "sort": sort, "feed": {"incidents": feed.newest_incidents(event, session, unit)} if wall
            else feed.changes(event, session, unit),
            "incidents": status.open_incidents(event, session, province=province, limit=INCIDENT_BOX)
            if province else status.open_incidents(event, session, limit=INCIDENT_BOX),
            "freshness": status.freshness(fp), "base_depth": unit.path.strip("/").count("/")}



def _live_attrs(event, session, etag: str, **args) -> dict:
    return {"url": url_for("status.live", slug=event.slug, session=session.kind,
                           **{k: v for k, v in args.items() if v}),
            "etag": f'W/"{etag}"', "poll": _poll_seconds(),
            "at": to_local(utcnow(), event.timezone).strftime("%H:%M:%S")}


def _fingerprint_or_404(slug: str, kind: str | None, province: str | None, grouped: bool = False):
    """What the page shows depends on; operators' holds that ended are first given back to the
    probes (the scheduler does it too; here only when one has ended, which the same query says)."""
    fp = status.fingerprint(slug, kind, province, grouped=grouped)
    if fp is not None and fp.holds_due:
        status.expire_holds()
        fp = status.fingerprint(slug, kind, province, grouped=grouped)
    if fp is None:
        abort(404)
    return fp


def _tag(fp, *parts) -> str:
    return fp.tag(int(status.freshness(fp)["stale"]), *parts, get_locale() or "vi")


# --- pages ----------------------------------------------------------------------------------------------

@bp.get("/events/<slug>/status")
@require("status.view")
def dashboard(slug: str):
    """The national picture: totals, freshness, the newest incidents, one tile per province. A
    coordinator sees its own province's view instead."""
    event = event_or_404(slug)
    wall = _wall()
    if current_user.role == COORDINATOR:
        own = scope_unit(current_user, event.unit_structure)
        if own is None:
            require_scope(current_user, event.unit_structure)  # says which unit is missing, whom to ask
        return redirect(url_for("status.unit", slug=slug, code=own.code,
                                session=request.args.get("session") or None, wall=1 if wall else None))
    session = session_or_404(event, request.args.get("session"))
    sort = _sort(wall)
    fp = _fingerprint_or_404(slug, session.kind, None)
    etag = _tag(fp, "-", "", int(wall), sort, 1)
    return render_template("status/dashboard.html", event=event, session=session, wall=wall,
                           live=_live_attrs(event, session, etag, wall=1 if wall else None,
                                            sort=sort if sort != ("worst" if wall else "code") else None),
                           **_national(event, session, sort, fp, wall))


@bp.get("/events/<slug>/status/live")
@require("status.view")
def live(slug: str):
    """The changing part of the national or a unit's page, for the page's script: 304 while the
    fingerprint (and the query) are unchanged, decided before the event is loaded."""
    code = request.args.get("unit") or ""
    filter_ = _filter(request.args.get("filter"))
    wall = _wall()
    sort = _sort(wall) if not code else _unit_sort()
    page = _page()
    scope = scope_path(current_user, status.structure_of(slug)) if current_user.role == COORDINATOR else None
    province, grouped = None, False
    if code:
        found = status.unit_path(slug, code)
        if found is None or (scope is not None and not found[0].startswith(scope)):
            abort(404)
        province = ROOT_CODE if found[0].count("/") <= 2 else province_code(found[0])
        grouped = not filter_ and found[1]
    elif current_user.role == COORDINATOR:
        abort(404)  # the national picture is not a coordinator's
    fp = _fingerprint_or_404(slug, request.args.get("session"), province, grouped)
    etag = _tag(fp, code or "-", filter_, int(wall), sort, page)
    if request.if_none_match.contains_weak(etag):
        response = make_response("", 304)
    else:
        key = f"status-fragment:{slug}:{etag}"
        html = cache.get(key)
        if html is None:
            html = _render_fragment(slug, fp, code, filter_, wall, sort, page)
            cache.set(key, html)
        response = make_response(html)
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "no-cache, private"
    response.headers["X-Status-Fragment"] = "1"
    return response


def _render_fragment(slug, fp, code, filter_, wall, sort, page) -> str:
    event = event_or_404(slug)
    session = session_or_404(event, fp.session_kind)
    if not code:
        return render_template("status/_national.html", event=event, session=session, wall=wall,
                               **_national(event, session, sort, fp, wall))
    unit = _unit_or_404(event, code)
    return render_template("status/_unit.html", event=event, session=session, unit=unit, filter_=filter_,
                           wall=wall, **_unit_data(event, unit, session, filter_, page, fp, sort, wall))


@bp.get("/events/<slug>/status/incidents")
@require("status.view")
def incidents(slug: str):
    """Every incident of a session, newest first, filtered and paginated on the server, with
    downloads (.xlsx, .csv) of what the filters select."""
    return incident_views.page(slug)


@bp.get("/events/<slug>/status/incidents.<fmt>")
@require("status.view")
def incidents_export(slug: str, fmt: str):
    return incident_views.export(slug, fmt)


@bp.get("/events/<slug>/status/incidents/live")
@require("status.view")
def incidents_live(slug: str):
    """The incident list's rows alone, for the page's script (304 while unchanged)."""
    return incident_views.live(slug)


@bp.post("/events/<slug>/status/incidents/<int:incident_id>/<any(ack, resolve, notes, assign):action>")
@require("status.check")
def incident_action(slug: str, incident_id: int, action: str):
    """Acknowledge, resolve (with a reason), note or reassign an incident from a page."""
    return incident_views.act(slug, incident_id, action)


@bp.get("/events/<slug>/status/<code>/snapshot.xlsx")
@require("status.view")
def snapshot(slug: str, code: str):
    """Every endpoint of the unit's subtree as it is now, as .xlsx."""
    event = event_or_404(slug)
    unit_ = _unit_or_404(event, code)
    session = session_or_404(event, request.args.get("session"))
    _release_holds()
    now = utcnow()
    return named(Response(status.snapshot_xlsx(event, unit_, session, now), mimetype=XLSX),
                 status.snapshot_filename(event, unit_, now))


@bp.get("/events/<slug>/status/<code>")
@require("status.view")
def unit(slug: str, code: str):
    """A unit: its counts, its endpoints (grouped by child unit, or filtered a page at a time)."""
    event = event_or_404(slug)
    unit_ = _unit_or_404(event, code)
    session = session_or_404(event, request.args.get("session"))
    filter_ = _filter(request.args.get("filter"))
    wall = _wall()
    page = _page()
    province = ROOT_CODE if unit_.tier == "central" else province_code(unit_.path)
    fp = _fingerprint_or_404(slug, session.kind, province, not filter_ and status.has_grandchildren(unit_.id))
    sort = _unit_sort()
    etag = _tag(fp, code, filter_, int(wall), sort, page)
    ancestors, parent = [], unit_.parent
    while parent is not None:  # at most three: district, province, centre
        ancestors.insert(0, parent)
        parent = parent.parent
    return render_template("status/province.html", event=event, session=session, unit=unit_, ancestors=ancestors,
                           filter_=filter_, wall=wall,
                           live=_live_attrs(event, session, etag, unit=code, filter=filter_ or None,
                                            wall=1 if wall else None, page=page if page > 1 else None,
                                            sort=sort if sort != "code" else None),
                           **_unit_data(event, unit_, session, filter_, page, fp, sort, wall))


@bp.get("/events/<slug>/status/endpoints/<int:endpoint_id>")
@require("status.view")
def endpoint(slug: str, endpoint_id: int):
    """One endpoint: its three facts, the state they give, contacts to call, timeline, incident,
    and the operator's check form."""
    event = event_or_404(slug)
    endpoint_ = endpoint_or_404(event, endpoint_id)
    _release_holds()
    session = session_or_404(event, request.args.get("session"))
    form = CheckForm(data={"session": session.kind})
    return _endpoint_page(event, endpoint_, session, form)


def _endpoint_page(event, endpoint_, session, form, code: int = 200):
    # The timeline: what was said of the endpoint, and the notes on its incidents, newest first.
    events = sorted(status.timeline(endpoint_.id, session.id) + status.endpoint_notes(endpoint_.id, session.id),
                    key=lambda e: e.created_at, reverse=True)
    contacts = {f"contact:{c.id}": c.name for c in endpoint_.contacts}
    etag = incident_views.endpoint_tag(event, endpoint_, session)
    live = {"url": url_for("status.endpoint_incident", slug=event.slug, endpoint_id=endpoint_.id,
                           session=session.kind), "etag": f'W/"{etag}"', "poll": _poll_seconds(),
            "at": to_local(utcnow(), event.timezone).strftime("%H:%M:%S")}
    return render_template("status/endpoint.html", event=event, endpoint=endpoint_, session=session, form=form,
                           current=status.status_of(endpoint_.id, session.id), events=events, contacts=contacts,
                           incident=status.open_incident_of(endpoint_.id, session.id), live=live,
                           hold_minutes=round(current_app.config["STATUS_HUMAN_HOLD_SECONDS"] / 60),
                           **incident_views.block_context(event, endpoint_, session)), code


@bp.get("/events/<slug>/status/endpoints/<int:endpoint_id>/incident")
@require("status.view")
def endpoint_incident(slug: str, endpoint_id: int):
    """The endpoint page's incident block alone, for the page's script (304 while unchanged)."""
    event = event_or_404(slug)
    endpoint_ = endpoint_or_404(event, endpoint_id)
    session = session_or_404(event, request.args.get("session"))
    return incident_views.endpoint_live(event, endpoint_, session)


@bp.post("/events/<slug>/status/endpoints/<int:endpoint_id>/check")
@require("status.check")
def check(slug: str, endpoint_id: int):
    event = event_or_404(slug)
    endpoint_ = endpoint_or_404(event, endpoint_id, "status.check")
    form = CheckForm()
    session = session_or_404(event, form.session.data)
    if not form.validate_on_submit():
        flash(_("The check was not recorded: see the form below."), "error")
        return _endpoint_page(event, endpoint_, session, form, 400)
    state = form.state.data
    status.record(endpoint_, session, "operator", state, audio=_flag(form.audio.data), video=_flag(form.video.data),
                  content=_flag(form.content.data), note=form.note.data or "", actor=current_user)
    message = _("Check recorded: %(state)s.", state=STATE_LABELS[state])
    if status.open_incident_of(endpoint_.id, session.id) is not None and state == "failed":
        message += " " + _("An incident is open: its technical contacts are notified by SMS once.")
    flash(message, "success")
    return redirect(url_for("status.endpoint", slug=slug, endpoint_id=endpoint_id, session=session.kind))
