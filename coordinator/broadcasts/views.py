"""The broadcast pages: the composer (filters, a live preview of the recipients, encoding and cost,
a confirmation step before anything is queued), a broadcast's progress with its Stop button, and
the JSON the pages' scripts ask for. Thin: `broadcasts.services` decides everything."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectChoice

from coordinator.auth.permissions import require, scope_path
from coordinator.auth.scopes import scope_unit
from coordinator.broadcasts import services
from coordinator.broadcasts.forms import BroadcastForm
from coordinator.broadcasts.texts import MAX_SEGMENTS, PLACEHOLDERS
from coordinator.endpoints.forms import ROLE_LABELS
from coordinator.endpoints.phones import national
from coordinator.events.labels import SESSION_LABELS, TIER_LABELS
from coordinator.events.lookup import event_or_404
from coordinator.problems import Invalid
from coordinator.reminders.labels import UNREACHABLE_LABELS
from coordinator.status import services as status
from coordinator.status.labels import STATE_LABELS
from coordinator.timeutil import format_local
from coordinator.units.models import Unit
from coordinator.extensions import db

bp = Blueprint("broadcasts", __name__)
BROADCAST_STATES = {"sending": _l("Sending"), "done": _l("Finished"), "stopped": _l("Stopped")}
PERMISSION = services.PERMISSION
UNREACHABLE_SHOWN = 200  # rows of the unreachable list on the page (the count is always whole)


@bp.context_processor
def _labels():
    return {"STATE_LABELS": STATE_LABELS, "TIER_LABELS": TIER_LABELS, "ROLE_LABELS": ROLE_LABELS,
            "UNREACHABLE_LABELS": UNREACHABLE_LABELS, "national_phone": national,
            "state_words": {k: str(v) for k, v in BROADCAST_STATES.items()}}


def _session_choices(event):
    return [SelectChoice(s.kind, s.title or str(SESSION_LABELS.get(s.kind, s.kind))) for s in event.sessions]


def _units(event) -> list[Unit]:
    """The units offered in the unit field's list: the provinces (a coordinator: its own unit)."""
    if scope_path(current_user, event.unit_structure) is not None:
        own = scope_unit(current_user, event.unit_structure)
        return [own] if own is not None else []
    return list(db.session.scalars(db.select(Unit).where(Unit.structure == event.unit_structure,
                                                         Unit.tier == "province").order_by(Unit.code)))


def _form(event) -> BroadcastForm:
    if request.method == "POST":
        form = BroadcastForm()
    else:  # a link from a dashboard may choose the audience: ?unit=56&states=failed&session=main
        args = request.args
        data = {k: args.get(k) for k in ("session", "unit", "tier", "confirmed", "template") if args.get(k)}
        for k in ("states", "roles"):
            if args.getlist(k):
                data[k] = args.getlist(k)
        form = BroadcastForm(formdata=None, data=data or None)
        if not form.unit.data:
            own = scope_path(current_user, event.unit_structure)
            unit = scope_unit(current_user, event.unit_structure) if own else None
            form.unit.data = unit.code if unit is not None else ""
    form.session.choices = _session_choices(event)
    if not form.session.data:
        current = status.current_session(event)
        form.session.data = current.kind if current else ""
    return form


def _cost(p) -> dict:
    return {"encoding": p.encoding, "characters": p.characters, "segments": p.segments,
            "plain_segments": p.plain_segments, "saves": p.saves}


def preview_json(p) -> dict:
    """The composer's live preview: counts, cost, the sample text, the unreachable, the problems."""
    return {"recipients": len(p.recipients), "unreachable": len(p.audience.unreachable),
            "contacts": p.audience.contacts, "segments_total": p.segments_total, "sample": p.sample,
            **_cost(p), "problems": [{"field": pr.field, "message": pr.localized()} for pr in p.problems],
            "unreachable_list": [{"name": u.name, "phone": national(u.phone) if u.phone else "",
                                  "endpoint": u.endpoint, "reason": str(UNREACHABLE_LABELS.get(u.reason, u.reason))}
                                 for u in p.audience.unreachable[:UNREACHABLE_SHOWN]]}


@bp.route("/events/<slug>/broadcasts", methods=["GET", "POST"])
@require(PERMISSION)
def compose(slug: str):
    """The composer. Posting it with "review" shows what would be sent and asks to confirm;
    posting the confirmation sends (refused with the reasons, nothing queued, when it cannot go)."""
    event = event_or_404(slug)
    form = _form(event)
    preview, changed = None, False
    if form.validate_on_submit():
        preview = services.prepare(event, form.values(), current_user)
        # Confirmed as reviewed: the same number of recipients as the page showed (the states
        # move during a session; a different audience is shown again, not sent).
        expected = request.form.get("expected", "")
        changed = bool(request.form.get("confirm")) and expected != str(len(preview.recipients))
        if request.form.get("confirm") and not preview.problems and not changed:
            try:
                b = services.send(event, form.values(), current_user)
            except Invalid as exc:
                preview.problems = exc.problems
            else:
                flash(_("The broadcast was queued: %(n)s SMS.", n=b.recipients), "success")
                return redirect(url_for("broadcasts.show", slug=slug, broadcast_id=b.id))
    recent = services.recent(event, current_user)
    return render_template("broadcasts/compose.html", event=event, form=form, preview=preview, changed=changed,
                           units=_units(event), recent=recent, states={b.id: services.state_of(b) for b in recent},
                           placeholders=" ".join("{%s}" % name for name in PLACEHOLDERS), max_segments=MAX_SEGMENTS,
                           unreachable_shown=UNREACHABLE_SHOWN)


@bp.post("/events/<slug>/broadcasts/preview")
@require(PERMISSION)
def preview(slug: str):
    """The live preview (the composer's script posts the form here as the operator types)."""
    event = event_or_404(slug)
    form = _form(event)
    form.validate()  # the preview shows whatever can be shown
    return jsonify(preview_json(services.prepare(event, form.values(), current_user)))


def _broadcast_or_404(event, broadcast_id: int):
    b = services.get(broadcast_id, current_user)
    if b is None or b.event_id != event.id:
        abort(404)
    return b


def progress_json(b) -> dict:
    counts = services.progress(b)
    return {"id": b.id, "status": services.state_of(b, counts), "counts": counts, "recipients": b.recipients,
            "dropped": b.dropped}


@bp.get("/events/<slug>/broadcasts/<int:broadcast_id>")
@require(PERMISSION)
def show(slug: str, broadcast_id: int):
    event = event_or_404(slug)
    b = _broadcast_or_404(event, broadcast_id)
    return render_template("broadcasts/show.html", event=event, b=b, progress=progress_json(b),
                           created=format_local(b.created_at, event.timezone),
                           stopped=format_local(b.stopped_at, event.timezone))


@bp.get("/events/<slug>/broadcasts/<int:broadcast_id>/progress")
@require(PERMISSION)
def progress(slug: str, broadcast_id: int):
    event = event_or_404(slug)
    return jsonify(progress_json(_broadcast_or_404(event, broadcast_id)))


@bp.post("/events/<slug>/broadcasts/<int:broadcast_id>/stop")
@require(PERMISSION)
def stop(slug: str, broadcast_id: int):
    event = event_or_404(slug)
    b = _broadcast_or_404(event, broadcast_id)
    try:
        dropped = services.stop(b, current_user)
    except services.NotStoppable:
        flash(_("The broadcast had already finished: nothing was left to stop."), "info")
    else:
        flash(_("The broadcast was stopped: %(n)s SMS not sent.", n=dropped), "success")
    return redirect(url_for("broadcasts.show", slug=slug, broadcast_id=b.id))
