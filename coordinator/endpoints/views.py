"""The provincial coordinator's pages: the units of its subtree and their endpoints, and the
endpoint form. Organizers and operators see the same pages for any province."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from coordinator.web.lookup import event_or_404
from coordinator.auth.permissions import authorize, can, require, scope_path
from coordinator.deadlines.services import RegistrationClosed, registration_window
from coordinator.endpoints import services
from coordinator.endpoints.forms import PROTOCOL_LABELS, ROLE_LABELS, EndpointForm
from coordinator.endpoints.models import Endpoint, HostedUnit
from coordinator.endpoints.phones import national
from coordinator.events.labels import DEADLINE_LABELS, TIER_LABELS
from coordinator.extensions import db
from coordinator.invitations import feeds
from coordinator.units.models import Unit
from coordinator.units.services import get_unit

bp = Blueprint("endpoints", __name__, url_prefix="/events/<slug>")


@bp.context_processor
def labels():
    return {"TIER_LABELS": TIER_LABELS, "PROTOCOL_LABELS": PROTOCOL_LABELS, "ROLE_LABELS": ROLE_LABELS,
            "DEADLINE_LABELS": DEADLINE_LABELS, "national_phone": national, "current_app": current_app}




def _unit(event, code, permission="registration.view"):
    """The unit, or 404 when it does not exist or lies outside the user's scope."""
    unit = get_unit(event.unit_structure, code)
    if unit is None or unit.tier not in event.tiers or not can(current_user, permission, unit):
        abort(404)
    return unit


@bp.get("/registration")
@require("registration.view")
def overview(slug):
    """A coordinator lands on its own unit; others pick a province first."""
    event = event_or_404(slug)
    path = scope_path(current_user)
    code = request.args.get("unit")
    if path is not None and not code:
        code = current_user.unit.code
    if not code:
        provinces = db.session.scalars(select(Unit).where(Unit.structure == event.unit_structure,
                                                          Unit.tier == "province").order_by(Unit.code)).all()
        return render_template("endpoints/provinces.html", event=event, provinces=provinces)
    root = _unit(event, code)
    units = db.session.scalars(select(Unit).where(Unit.structure == event.unit_structure,
                                                  Unit.path.startswith(root.path),
                                                  Unit.tier.in_(event.tiers)).order_by(Unit.path)).all()
    ids = [u.id for u in units]
    endpoints = {e.unit_id: e for e in db.session.scalars(
        select(Endpoint).where(Endpoint.event_id == event.id, Endpoint.unit_id.in_(ids)))} if ids else {}
    hosts = {h.unit_id: h.endpoint for h in db.session.scalars(
        select(HostedUnit).where(HostedUnit.event_id == event.id, HostedUnit.unit_id.in_(ids)))} if ids else {}
    may_attend = {r.tier for r in event.tier_roles if r.may_attend_at_parent}
    windows = {tier: registration_window(event, tier) for tier in event.tiers}
    counts = {"registered": len(endpoints), "hosted": len(hosts), "total": len(units)}
    return render_template("endpoints/overview.html", event=event, root=root, units=units, endpoints=endpoints,
                           hosts=hosts, may_attend=may_attend, windows=windows, counts=counts)


@bp.route("/units/<code>/endpoint", methods=["GET", "POST"])
@require("registration.view")
def edit(slug, code):
    event = event_or_404(slug)
    unit = _unit(event, code)
    endpoint = services.endpoint_of_unit(event, unit)
    if request.method == "POST":
        authorize("registration.manage", unit)
    form = EndpointForm(obj=None) if request.method == "POST" else EndpointForm(data=_form_data(endpoint))
    candidates = services.may_host(event, unit, without_endpoint=True)
    form.hosted.choices = [(u.code, f"{u.code} – {u.name}") for u in candidates]
    window = registration_window(event, unit.tier)
    if request.method == "POST" and form.validate_on_submit():
        data, rows = form.to_input()
        values = services.clean_endpoint(data)
        try:
            saved = services.save_endpoint(event, unit, values, actor=current_user, endpoint=endpoint)
        except services.EndpointInvalid as exc:
            for message in form.attach(exc.problems, rows):
                flash(message, "error")
        except RegistrationClosed as exc:
            flash(exc.msg.localized(), "error")
        else:
            flash(_("Endpoint saved: %(name)s.", name=saved.name), "success")
            return redirect(url_for("endpoints.overview", slug=slug, unit=_province_code(unit)) + f"#u-{unit.code}")
    invalid = request.method == "POST"
    return render_template("endpoints/form.html", event=event,
                           unit_feed=feeds.unit_feed_url(event, unit) if feeds.is_listed(event) else None, webcal=feeds.webcal, unit=unit, endpoint=endpoint, form=form,
                           window=window, host=services.host_of_unit(event, unit),
                           may_manage=can(current_user, "registration.manage", unit),
                           invalid=invalid), 400 if invalid else 200


def _province_code(unit: Unit) -> str:
    parts = unit.path.strip("/").split("/")
    return parts[1] if len(parts) > 1 else unit.code


def _form_data(endpoint) -> dict:
    if endpoint is None:
        return {"contacts": [{"role": "chair"}, {"role": "technical"}]}
    data = services.as_input(endpoint)
    data["contacts"] = [{**c, "phone": national(c["phone"])} for c in data["contacts"]]
    data["hosted"] = data.pop("hosted_unit_codes")
    return data


@bp.post("/units/<code>/endpoint/delete")
@require("registration.manage")
def delete(slug, code):
    event = event_or_404(slug)
    unit = _unit(event, code, "registration.manage")
    endpoint = services.endpoint_of_unit(event, unit)
    if endpoint is not None:
        try:
            services.delete_endpoint(event, endpoint, actor=current_user)
            flash(_("Endpoint removed."), "success")
        except RegistrationClosed as exc:
            flash(exc.msg.localized(), "error")
    return redirect(url_for("endpoints.overview", slug=slug, unit=_province_code(unit)))


@bp.post("/units/<code>/attend-at-parent")
@require("registration.manage")
def attend_at_parent(slug, code):
    event = event_or_404(slug)
    unit = _unit(event, code, "registration.manage")
    try:
        if request.form.get("stop"):
            services.stop_attending(event, unit, actor=current_user)
        else:
            services.attend_at_parent(event, unit, actor=current_user)
    except services.EndpointInvalid as exc:
        for problem in exc.problems:
            flash(problem.localized(), "error")
    except RegistrationClosed as exc:
        flash(exc.msg.localized(), "error")
    return redirect(url_for("endpoints.overview", slug=slug, unit=_province_code(unit)) + f"#u-{unit.code}")
