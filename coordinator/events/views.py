"""Organizer pages: list, create, edit, view, publish, cancel. Thin: services do the work.

What the pages show of the invitations and the outbox comes from page parts those packages
register (`coordinator.web.parts`): "invitation_counts", "event_messages_stalled"."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from coordinator.auth.permissions import require
from coordinator.events import services
from coordinator.events.defaults import default_reminders
from coordinator.events.forms import EventForm, files_text
from coordinator.events.labels import DEADLINE_LABELS, SESSION_LABELS, STATUS_LABELS, TIER_LABELS
from coordinator.events.lookup import event_or_404
from coordinator.events.plans import parse_plan
from coordinator.problems import Invalid
from coordinator.web.parts import part

bp = Blueprint("events", __name__, url_prefix="/events")
DEFAULT_DOSSIER = [{"label": "Hồ sơ", "types": ["pdf", "jpg", "jpeg", "png", "doc", "docx"]}]


@bp.context_processor
def labels():
    return {"TIER_LABELS": TIER_LABELS, "SESSION_LABELS": SESSION_LABELS,
            "DEADLINE_LABELS": DEADLINE_LABELS, "STATUS_LABELS": STATUS_LABELS}


@bp.get("/")
@require("events.view")
def list_events():
    return render_template("events/list.html", events=services.list_events())


@bp.get("/<slug>")
@require("events.view")
def show(slug: str):
    # Who sees the messages sees when they are stuck: the page part "event_messages_stalled".
    return render_template("events/show.html", event=event_or_404(slug))


def _form_data(event) -> dict:
    plan = services.plan_of(event)
    return {
        "slug": plan.slug, "title": plan.title, "short_title": plan.short_title, "legal_reference": plan.legal_reference,
        "description": plan.description, "timezone": plan.timezone, "unit_structure": plan.unit_structure,
        "organizer_name": plan.organizer.name, "organizer_office": plan.organizer.office,
        "organizer_email": plan.organizer.email, "organizer_phone": plan.organizer.phone,
        "duty_phones": "\n".join(plan.duty_phones),
        "tiers": [t.__dict__ for t in plan.tiers],
        "sessions": [s.__dict__ for s in plan.sessions],
        "deadlines": [{**d.__dict__, "files": files_text([f.__dict__ for f in d.required_files])}
                      for d in plan.deadlines],
    }


def _reminder_dicts(event) -> list[dict]:
    # Reminder rules are edited on their own page; the event form keeps them as they are.
    return [{"anchor": r.anchor, "offset": timedelta(seconds=r.offset_seconds), "channel": r.channel, "audience": r.audience,
             "template": r.template, "strip_diacritics": r.strip_diacritics, "active": r.active}
            for r in event.reminder_rules] if event else []


def _save(form: EventForm, event=None):
    """Validate the form as a plan and apply it; on errors, put them on the form and return None.

    The plan rules run even when some fields failed to parse, so that the official sees every
    problem at once; a field keeps only its first kind of error.
    """
    if not form.is_submitted():
        return None
    if event is not None:
        form.slug.data = event.slug
    fields_ok = form.validate()
    data, index = form.to_plan_data(_reminder_dicts(event))
    if event is None and not form.errors:  # a new event starts with the sensible reminder plan
        data["reminders"] = default_reminders([s["kind"] for s in data["sessions"]],
                                              [d["kind"] for d in data["deadlines"]])
    # A document request's files: as typed on the form (one per line), or else kept as they were,
    # or one dossier.
    files = {(d.kind, d.tier): d.required_files for d in event.deadlines} if event is not None else {}
    for d in data["deadlines"]:
        if "required_files" not in d:
            d["required_files"] = files.get((d["kind"], d["tier"])) or (DEFAULT_DOSSIER if d["kind"] == "documents" else [])
    try:
        plan = parse_plan(data)
    except Invalid as exc:
        for message in form.attach_errors(exc.problems, index):
            flash(message, "error")
        return None
    if not fields_ok:
        return None
    if event is not None and event.status != "draft" and request.form.get("confirmed") != "1":
        # A published event: say first what the change will send, and let the organizer confirm.
        try:
            preview = services.preview_plan(plan, expected_slug=event.slug)
        except Invalid as exc:
            for message in form.attach_errors(exc.problems, index):
                flash(message, "error")
            return None
        if preview.messages:
            return preview
    try:
        return services.apply_plan(plan, expected_slug=event.slug if event else None).event
    except Invalid as exc:
        for message in form.attach_errors(exc.problems, index):
            flash(message, "error")
        return None


@bp.route("/new", methods=["GET", "POST"])
@require("events.manage")
def create():
    form = EventForm()
    if request.method == "GET":
        form.timezone.data = current_app.config["DEFAULT_TIMEZONE"]
        form.tiers[0].form.tier.data = "central"
    event = _save(form) if request.method == "POST" else None
    if event is not None:
        flash(_("Event created."), "success")
        return redirect(url_for("events.show", slug=event.slug))
    invalid = request.method == "POST"
    return render_template("events/form.html", form=form, event=None, invalid=invalid), 400 if invalid else 200


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@require("events.manage")
def edit(slug: str):
    event = event_or_404(slug)
    form = EventForm() if request.method == "POST" else EventForm(data=_form_data(event))
    saved = _save(form, event) if request.method == "POST" else None
    if isinstance(saved, services.Consequences):  # confirm first: the same form, sent again with confirmed=1
        return render_template("events/confirm.html", event=event, action="edit", preview=saved, units_missing=None,
                               fields=[(k, v) for k, v in request.form.items(multi=True) if k != "confirmed"])
    if saved is not None:
        flash(_("Changes saved."), "success")
        return redirect(url_for("events.show", slug=slug))
    invalid = request.method == "POST"
    return render_template("events/form.html", form=form, event=event, invalid=invalid), 400 if invalid else 200


def _pending_invitations(event) -> int:
    return sum(row["counts"]["pending"] for row in part("invitation_counts", event))


@bp.get("/<slug>/publish")
@require("events.manage")
def confirm_publish(slug: str):
    """What publishing will do, before it is done: invitations per session, addresses, reminders
    and the first one's time; the organizer confirms."""
    event = event_or_404(slug)
    try:
        preview = services.preview_publish(event)
    except services.UnitsMissing as exc:
        return render_template("events/confirm.html", event=event, action="publish", preview=None,
                               units_missing=exc.structure), 409
    except services.EventStateError:
        flash(_("This event cannot be published in its current state."), "error")
        return redirect(url_for("events.show", slug=slug))
    return render_template("events/confirm.html", event=event, action="publish", preview=preview,
                           units_missing=None)


@bp.post("/<slug>/publish")
@require("events.manage")
def publish(slug: str):
    event = event_or_404(slug)
    try:
        services.publish(event)
        flash(_("Event published: %(n)s invitations are being sent (one per contact with an email address and session).",
                n=_pending_invitations(event)), "success")
    except services.UnitsMissing as exc:
        flash(_("This event cannot be published: no units of the %(structure)s structure are loaded. An "
                "administrator runs `flask --app app units load --structure %(structure)s`.",
                structure=exc.structure), "error")
    except services.EventStateError:
        flash(_("This event cannot be published in its current state."), "error")
    return redirect(url_for("events.show", slug=slug))


@bp.get("/<slug>/cancel")
@require("events.manage")
def confirm_cancel(slug: str):
    """Cancelling asks for the reason, which everyone invited will read."""
    event = event_or_404(slug)
    return render_template("events/confirm.html", event=event, action="cancel", preview=None, units_missing=None,
                           sent=_sent_invitations(event))


def _sent_invitations(event) -> int:
    return sum(row["counts"]["current"] + row["counts"]["pending"] for row in part("invitation_counts", event))


@bp.post("/<slug>/cancel")
@require("events.manage")
def cancel(slug: str):
    event = event_or_404(slug)
    try:
        services.cancel(event, reason=request.form.get("reason", ""))
        flash(_("Event cancelled: %(n)s cancellations are being sent.", n=_pending_invitations(event)), "success")
    except Invalid:
        flash(_("Give the reason for the cancellation: it is sent to everyone invited."), "error")
        return render_template("events/confirm.html", event=event, action="cancel", preview=None,
                               units_missing=None, sent=_sent_invitations(event), reason_missing=True), 422
    except services.EventStateError:
        flash(_("This event cannot be cancelled in its current state."), "error")
    return redirect(url_for("events.show", slug=slug))
