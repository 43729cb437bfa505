"""Reminder pages: the event's plan with fire times, the composer with its SMS cost, and the
one-tap confirmation link (`/c/<token>`) contacts receive in their reminders."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user

from coordinator.auth.permissions import require
from coordinator.events import reminder_texts as texts
from coordinator.events.labels import DEADLINE_LABELS, SESSION_LABELS
from coordinator.events.lookup import event_or_404
from coordinator.events.models import ReminderRule
from coordinator.extensions import csrf, limiter
from coordinator.leases import leader
from coordinator.problems import Invalid
from coordinator.reminders import confirmations, labels, links
from coordinator.reminders import rules as rule_service
from coordinator.reminders import services
from coordinator.reminders.forms import ReminderForm
from coordinator.sms.encoding import cost, saves_segments, without_diacritics
from coordinator.timeutil import format_local, utcnow

bp = Blueprint("reminders", __name__)


@bp.context_processor
def _labels():
    return {"L": labels, "SESSION_LABELS": SESSION_LABELS}


def _anchor_choices(event):
    out = [(f"session:{s.kind}", s.title or str(SESSION_LABELS.get(s.kind, s.kind))) for s in event.sessions]
    for kind in dict.fromkeys(d.kind for d in event.deadlines):
        out.append((f"deadline:{kind}", _("Deadline: %(name)s", name=DEADLINE_LABELS.get(kind, kind))))
    return out


def scheduler_state():
    """What the pages say about the scheduler: active (and since when it was last heard), stale, or never seen."""
    lease = leader.status()
    if lease is None:
        return {"state": "missing"}
    now = utcnow()
    stale = lease.expires_at < now - timedelta(seconds=30)
    return {"state": "stale" if stale else "active", "holder": lease.holder, "heartbeat_at": lease.heartbeat_at}


@bp.get("/events/<slug>/reminders")
@require("events.view")
def index(slug: str):
    event = event_or_404(slug)
    planned = services.plan(event)
    samples = {}
    for p in planned:
        if p.anchor is not None:
            text = services.render(p.rule, event, p.anchor, None)
            samples[p.rule.id] = (text, cost(text))
    sessions = {s.id: s for s in event.sessions}
    return render_template("reminders/index.html", event=event, planned=planned, samples=samples,
                           confirmed={sessions[k]: v for k, v in confirmations.confirmations(event).items() if k in sessions},
                           scheduler=scheduler_state())


def _preview(event, values: dict) -> dict:
    """The composer's preview: the text as one recipient would get it, its cost, and the cost
    without diacritics."""
    rule = ReminderRule(**{**values, "id": 0})
    anchor_kind = values["anchor"].partition(":")[0]
    problem = texts.check(values["template"] or "", anchor_kind) if values["template"] else None
    anchor = services.anchor_of(rule, event)
    if anchor is None or problem is not None or not values["template"]:
        return {"error": problem.localized() if problem else "", "text": "", "cost": None, "plain": None}
    text = services.render(rule, event, anchor, None, strip=False)
    plain = without_diacritics(text)
    c, pc = cost(text), cost(plain)
    fire_at = services.fire_time(rule, anchor)
    return {"error": "", "text": plain if values["strip_diacritics"] else text,
            "cost": {"encoding": c.encoding, "characters": c.characters, "segments": c.segments,
                     "per_segment": c.per_segment, "remaining": c.remaining},
            "plain": {"text": plain, "encoding": pc.encoding, "characters": pc.characters, "segments": pc.segments,
                      "per_segment": pc.per_segment, "remaining": pc.remaining},
            "saves": saves_segments(text), "fire_at": format_local(fire_at, event.timezone),
            "passed": fire_at <= utcnow()}


def _form(event, rule=None) -> ReminderForm:
    form = ReminderForm(data=None if rule is None else {
        "anchor": rule.anchor, "channel": rule.channel, "audience": rule.audience, "template": rule.template,
        "strip_diacritics": rule.strip_diacritics, "active": rule.active,
        **dict(zip(("amount", "unit", "direction"), labels.split_offset(rule.offset_seconds)))})
    form.anchor.choices = _anchor_choices(event)
    return form


def _compose(event, rule=None):
    form = _form(event, rule)
    if form.validate_on_submit() and not request.form.get("preview"):
        try:
            if rule is None:
                rule = rule_service.create_rule(event, form.values(), actor=current_user)
                flash(_("The reminder was added."), "success")
            else:
                rule_service.update_rule(rule, form.values(), actor=current_user)
                flash(_("The reminder was saved."), "success")
            return redirect(url_for("reminders.index", slug=event.slug))
        except Invalid as exc:
            for problem in exc.problems:
                field = form["amount"] if problem.field == "offset_seconds" else form[problem.field]
                field.errors = list(field.errors or []) + [problem.localized()]
    if rule is None and not form.is_submitted():
        form.template.data = ""
    who = None
    if rule is not None:
        anchor = services.anchor_of(rule, event)
        if anchor is not None:
            who = services.audience(rule, event, anchor)
    return render_template("reminders/form.html", event=event, rule=rule, form=form,
                           preview=_preview(event, form.values()) if form.anchor.data else None,
                           audience_now=who)  # not `who`: base.html sets `who` (the signed-in name) first


@bp.route("/events/<slug>/reminders/new", methods=["GET", "POST"])
@require("events.manage")
def new(slug: str):
    return _compose(event_or_404(slug))


def _rule_or_404(event, rule_id):
    rule = next((r for r in event.reminder_rules if r.id == rule_id), None)
    if rule is None:
        abort(404)
    return rule


@bp.route("/events/<slug>/reminders/<int:rule_id>", methods=["GET", "POST"])
@require("events.manage")
def edit(slug: str, rule_id: int):
    event = event_or_404(slug)
    return _compose(event, _rule_or_404(event, rule_id))


@bp.post("/events/<slug>/reminders/<int:rule_id>/delete")
@require("events.manage")
def delete(slug: str, rule_id: int):
    event = event_or_404(slug)
    rule_service.delete_rule(_rule_or_404(event, rule_id), actor=current_user)
    flash(_("The reminder was deleted."), "success")
    return redirect(url_for("reminders.index", slug=slug))


@bp.post("/events/<slug>/reminders/preview")
@require("events.manage")
def preview(slug: str):
    """The composer's live preview (the page's script posts the form here as the organizer types)."""
    event = event_or_404(slug)
    form = _form(event)
    form.validate()  # the preview shows whatever can be shown; saving checks everything
    return jsonify(_preview(event, form.values()))


# --- the confirmation link -------------------------------------------------------------------------
#
# Hundreds of contacts can tap their links from one address at once (a carrier's NAT, a ministry's
# proxy), so the address is no key for genuine links: a link with a valid MAC is its own credential
# and is limited per link, under a high ceiling per address. Only links whose MAC is wrong count
# toward the strict per-address limit on guessing (shared by the page and the post), and a genuine
# link is never refused because someone behind the same address guessed.


def _genuine() -> bool:
    return links.parse((request.view_args or {}).get("token", "")) is not None


def _per_token() -> str:
    return "token:" + (request.view_args or {}).get("token", "").lower()


def _checkin_limits(view):
    config = lambda name: (lambda: current_app.config[name])  # noqa: E731 (read per request: tests and env)
    view = limiter.limit(config("CHECKIN_RATE_LIMIT_PER_TOKEN"), key_func=_per_token,
                         exempt_when=lambda: not _genuine())(view)
    view = limiter.limit(config("CHECKIN_RATE_LIMIT_PER_ADDRESS"), key_func=get_remote_address)(view)
    return limiter.shared_limit(config("CHECKIN_RATE_LIMIT_INVALID"), scope="checkin-guess",
                                key_func=get_remote_address, exempt_when=_genuine)(view)


@bp.get("/c/<token>")
@_checkin_limits
def confirm_page(token: str):
    """What the link in an SMS opens. The page confirms by itself (a script posts the form at
    once: one tap), but a link preview or a virus scanner fetching the URL confirms nothing."""
    parsed = links.parse(token)
    if parsed is None:
        return render_template("reminders/confirm.html", result=confirmations.ConfirmResult("not_found"), token=token), 404
    return render_template("reminders/confirm.html", result=None, token=token)


@bp.post("/c/<token>")
@csrf.exempt  # the token in the URL is the credential; nobody is signed in
@_checkin_limits
def confirm(token: str):
    result = confirmations.confirm_link(token)
    status = {"confirmed": 200, "already": 200, "expired": 410, "not_found": 404}[result.state]
    return render_template("reminders/confirm.html", result=result, token=token), status
