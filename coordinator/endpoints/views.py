"""The provincial coordinator's pages: the units of its subtree and their endpoints, and the
endpoint form. Organizers and operators see the same pages for any province. Thin: the list is
`listing.py`, the reads `queries.py`, the writes `services.py`; what higher packages show here
(the endpoint's history, the unit's calendar feed) comes as page parts (`coordinator.web.parts`)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from coordinator.auth.permissions import authorize, can, require, scope_path
from coordinator.auth.scopes import require_scope, scope_unit
from coordinator.endpoints import copying, listing, queries, rules, services
from coordinator.endpoints.forms import PROTOCOL_LABELS, ROLE_LABELS, EndpointForm
from coordinator.endpoints.locking import EndpointConflict
from coordinator.endpoints.phones import foreign_note, national
from coordinator.events.labels import DEADLINE_LABELS, TIER_LABELS
from coordinator.events.lookup import event_or_404
from coordinator.events.services import list_events
from coordinator.events.windows import RegistrationClosed, registration_window
from coordinator.problems import Invalid
from coordinator.units.models import Unit
from coordinator.units.services import get_unit
from coordinator.web.views import safe_next

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
    path = scope_path(current_user, event.unit_structure)
    code = request.args.get("unit")
    if path is not None and not code:
        require_scope(current_user, event.unit_structure)  # no unit there: say which and whom to ask
        code = scope_unit(current_user, event.unit_structure).code
    if not code:
        return render_template("endpoints/provinces.html", event=event, provinces=queries.provinces(event))
    root = _unit(event, code)
    filters = listing_filters(request.args, event.tiers)
    result = listing.registration_list(event, root, filters)
    may_attend = {r.tier for r in event.tier_roles if r.may_attend_at_parent}
    windows = {tier: registration_window(event, tier) for tier in event.tiers}
    return render_template("endpoints/overview.html", event=event, root=root, listing=result, filters=filters,
                           may_attend=may_attend, windows=windows, counts=result.counts,
                           STATUS_LABELS=registration_status_labels())


def listing_filters(args, tiers) -> listing.Filters:
    """The registration list's search and filters from the query string; unknown values are ignored."""
    tier = args.get("tier", "")
    status = args.get("status", "")
    try:
        page = max(int(args.get("page", 1)), 1)
    except ValueError:
        page = 1
    return listing.Filters(q=args.get("q", "")[:100], tier=tier if tier in tiers else "",
                           status=status if status in listing.STATUSES else "",
                           late=args.get("late") in ("1", "on", "true"), district=args.get("district", "")[:16],
                           page=page, focus=args.get("focus", "")[:16])


def registration_status_labels() -> dict[str, str]:
    return {listing.REGISTERED: _("Registered"), listing.HOSTED: _("Attends at a parent endpoint"),
            listing.MISSING: _("Not registered")}


@bp.route("/units/<code>/endpoint", methods=["GET", "POST"])
@require("registration.view")
def edit(slug, code):
    event = event_or_404(slug)
    unit = _unit(event, code)
    endpoint = queries.endpoint_of_unit(event, unit)
    if request.method == "POST":
        authorize("registration.manage", unit)
    form = EndpointForm(obj=None) if request.method == "POST" else EndpointForm(data=_form_data(endpoint))
    candidates = queries.may_host(event, unit, without_endpoint=True)
    form.hosted.choices = [(u.code, f"{u.code} – {u.name}") for u in candidates]
    window = registration_window(event, unit.tier)
    # The version the form was filled from (0: none yet), sent back with it: a save is refused when
    # someone else saved since, and the page shows theirs. A form without it is treated as stale.
    version = _submitted_version() if request.method == "POST" else (endpoint.version if endpoint else 0)
    conflict = None
    if request.method == "POST" and form.validate_on_submit():
        data, rows = form.to_input()
        values = rules.clean_endpoint(data)
        expected = version if version is not None else (-1 if endpoint is not None else 0)
        try:
            saved = services.save_endpoint(event, unit, values, actor=current_user, endpoint=endpoint,
                                           expected_version=expected)
        except EndpointConflict as exc:
            # Nothing saved. Theirs is shown beside what was typed (kept in the form); saving again
            # now replaces theirs, knowingly.
            conflict, endpoint = exc, exc.reload()
            version = endpoint.version if endpoint is not None else 0
        except Invalid as exc:
            for message in form.attach(exc.problems, rows):
                flash(message, "error")
        except RegistrationClosed as exc:
            flash(exc.msg.localized(), "error")
        else:
            flash(_("Endpoint saved: %(name)s.", name=saved.name), "success")
            for contact in saved.contacts:  # kept, but say what it means before a reminder silently skips it
                note = foreign_note(contact.phone)
                if note is not None:
                    flash(note.localized(), "warning")
            return redirect(url_for("endpoints.overview", slug=slug, unit=_province_code(unit), focus=unit.code)
                            + f"#u-{unit.code}")
    invalid = request.method == "POST" and conflict is None
    return render_template("endpoints/form.html", event=event, unit=unit, endpoint=endpoint, form=form,
                           window=window, host=queries.host_of_unit(event, unit),
                           may_manage=can(current_user, "registration.manage", unit),
                           invalid=invalid, version=version, conflict=conflict), \
        409 if conflict else 400 if invalid else 200


def _submitted_version() -> int | None:
    """The hidden `version` of a posted form, or None when it is missing or not a version."""
    raw = request.form.get("version", "").strip()
    return int(raw) if raw.isdigit() else None


def _province_code(unit: Unit) -> str:
    """The unit whose list to go back to: the unit's province, or the user's own unit when the
    province lies outside its scope (a district coordinator)."""
    parts = unit.path.strip("/").split("/")
    code = parts[1] if len(parts) > 1 else unit.code
    province = get_unit(unit.structure, code)
    if province is not None and not can(current_user, "registration.view", province):
        own = scope_path(current_user, unit.structure)
        return next((c for c in reversed(parts) if own and f"/{c}/" in own), unit.code)
    return code


def _form_data(endpoint) -> dict:
    if endpoint is None:
        return {"contacts": [{"role": "chair"}, {"role": "technical"}]}
    data = queries.as_input(endpoint)
    data["contacts"] = [{**c, "phone": national(c["phone"])} for c in data["contacts"]]
    data["hosted"] = data.pop("hosted_unit_codes")
    return data


@bp.post("/units/<code>/endpoint/delete")
@require("registration.manage")
def delete(slug, code):
    event = event_or_404(slug)
    unit = _unit(event, code, "registration.manage")
    endpoint = queries.endpoint_of_unit(event, unit)
    if endpoint is not None:
        try:
            # The page's version when it sent one (a removal without it, from elsewhere, still works).
            services.delete_endpoint(event, endpoint, actor=current_user, expected_version=_submitted_version())
            flash(_("Endpoint removed."), "success")
        except EndpointConflict as exc:
            if exc.current is not None:
                flash(_("Someone else changed this endpoint after you opened the page, so it was not removed. "
                        "It is shown below as they saved it: check it before removing it."), "error")
                return redirect(url_for("endpoints.edit", slug=slug, code=unit.code))
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
    except Invalid as exc:
        for problem in exc.problems:
            flash(problem.localized(), "error")
    except RegistrationClosed as exc:
        flash(exc.msg.localized(), "error")
    back = safe_next(request.form.get("next"))
    return redirect((back or url_for("endpoints.overview", slug=slug, unit=_province_code(unit), focus=unit.code))
                    + f"#u-{unit.code}")


@bp.route("/registration/copy", methods=["GET", "POST"])
@require("events.manage")
def copy_registrations(slug):
    """Copy another event's registrations here: first what would be copied and what needs review
    (GET with `source`), then the copy (POST), and the list to review after it."""
    event = event_or_404(slug)
    sources = [e for e in list_events() if e.id != event.id]
    chosen = request.values.get("source") or ""
    source = next((e for e in sources if e.slug == chosen), None)
    plan, done, status = None, False, 200
    if chosen and source is None:
        status = 404
    elif source is not None:
        try:
            if request.method == "POST":
                plan, done = copying.copy_registrations(source, event, actor=current_user), True
                flash(_("%(n)s endpoints copied from %(source)s.", n=len(plan.copies), source=source.title), "success")
            else:
                plan = copying.plan_copy(source, event)
        except copying.CopyRefused as exc:
            flash(str(exc), "error")
            status = 409
    review = [r for r in plan.review if r.reason != copying.ALREADY_REGISTERED] if plan else []
    already = len(plan.review) - len(review) if plan else 0
    return render_template("endpoints/copy.html", event=event, sources=sources, source=source, plan=plan,
                           review=review, already=already, done=done), status
