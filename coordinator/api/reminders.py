"""Reminder rules (CRUD) and an event's messages with their delivery state."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from coordinator.api import MAX_ID, Blueprint, refusal
from coordinator.api.waiting import WaitingSchema, waiting_facts
from coordinator.auth.permissions import require
from coordinator.events import reminder_texts as placeholders
from coordinator.events.lookup import event_or_404
from coordinator.events.models import REMINDER_ANCHORS, REMINDER_AUDIENCES, REMINDER_CHANNELS
from coordinator.outbox import services as outbox
from coordinator.outbox.models import CHANNELS, STATUSES
from coordinator.outbox.waiting import explain
from coordinator.reminders import rules as rule_service
from coordinator.reminders import services
from coordinator.sms.encoding import cost
from coordinator.timeutil import iso_local

blp = Blueprint("api_reminders", __name__, description="Reminder rules, and the messages an event has sent")


# What the rules check (reminders.rules, events.reminder_texts), documented rather than validated
# twice, so that their 422 ([{field, row, message}]) stays the one answer: the anchor must also be one of
# the event's sessions or deadlines, a placeholder one of its anchor's kind.
ANCHOR = {"enum": list(REMINDER_ANCHORS), "example": "session:main",
          "description": "session:<kind> or deadline:<kind>, of a session or deadline the event has"}
OFFSET = {"minimum": -rule_service.MAX_OFFSET_SECONDS, "maximum": rule_service.MAX_OFFSET_SECONDS, "example": -86400,
          "description": "from the anchor; negative = before (-86400: one day before); within 90 days"}
_PLACEHOLDER = "|".join(dict.fromkeys(placeholders.SESSION_PLACEHOLDERS + placeholders.DEADLINE_PLACEHOLDERS))
TEMPLATE = {
    "minLength": 1, "maxLength": placeholders.MAX_TEMPLATE_CHARS,
    # In an allOf of its own: schemathesis folds a sibling length into the pattern's repetition and
    # then cannot generate from it; the meaning is the same.
    "allOf": [{"pattern": r"^(?:[^{}]|\{\{|\}\}|\{(?:%s)\})*$" % _PLACEHOLDER}],
    "description": "text with placeholders: " + " ".join("{%s}" % p for p in placeholders.SESSION_PLACEHOLDERS)
                   + " for a session; " + " ".join("{%s}" % p for p in placeholders.DEADLINE_PLACEHOLDERS)
                   + " for a deadline; {{ and }} for a brace"}


class RuleSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    anchor = ma.fields.String(required=True, metadata=ANCHOR)
    offset_seconds = ma.fields.Integer(required=True, metadata=OFFSET)
    channel = ma.fields.String(required=True, validate=ma.validate.OneOf(REMINDER_CHANNELS))
    audience = ma.fields.String(required=True, validate=ma.validate.OneOf(REMINDER_AUDIENCES))
    template = ma.fields.String(required=True, metadata=TEMPLATE)
    strip_diacritics = ma.fields.Boolean(load_default=False, metadata={
        "description": "send without Vietnamese diacritics (GSM-7: 160 characters per segment instead of 70)"})
    active = ma.fields.Boolean(load_default=True)


class RulePatch(ma.Schema):
    """Only the fields given change."""

    anchor = ma.fields.String(metadata=ANCHOR)
    offset_seconds = ma.fields.Integer(metadata=OFFSET)
    channel = ma.fields.String(validate=ma.validate.OneOf(REMINDER_CHANNELS))
    audience = ma.fields.String(validate=ma.validate.OneOf(REMINDER_AUDIENCES))
    template = ma.fields.String(metadata=TEMPLATE)
    strip_diacritics = ma.fields.Boolean()
    active = ma.fields.Boolean()


class PlannedSchema(ma.Schema):
    rule = ma.fields.Nested(RuleSchema)
    fire_at = ma.fields.Method("_fire_at", metadata={"format": "date-time",
                                                     "description": "in the event's time zone"})
    state = ma.fields.String(metadata={"enum": ["scheduled", "due", "sent", "skipped", "paused", "draft", "closed",
                                                "no_anchor"]})
    anchor_version = ma.fields.String(attribute="version")
    queued = ma.fields.Function(lambda p: p.run.queued if p.run else None)
    unreachable = ma.fields.Function(lambda p: p.run.unreachable if p.run else None)
    reason = ma.fields.Function(lambda p: p.run.reason if p.run else "")
    sample = ma.fields.Function(lambda p: p.sample, metadata={"description": "the text with sample values"})
    cost = ma.fields.Function(lambda p: p.cost, metadata={"description": "of the sample SMS"})

    def _fire_at(self, p):
        return iso_local(p.fire_at, p.rule.event.timezone) if p.fire_at else None


class RuleList(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PlannedSchema))


def _planned(event, rule_id=None):
    out = []
    for p in services.plan(event):
        if rule_id is not None and p.rule.id != rule_id:
            continue
        p.sample, p.cost = "", None
        if p.anchor is not None:
            p.sample = services.render(p.rule, event, p.anchor, None)
            c = cost(p.sample)
            p.cost = {"encoding": c.encoding, "characters": c.characters, "segments": c.segments}
        out.append(p)
    return out


NOT_SAVED = "the reminder was not saved: see details"


@blp.route("/<slug>/reminders")
class Reminders(MethodView):
    @require("events.view")
    @blp.response(200, RuleList)
    def get(self, slug):
        """The event's reminder rules, in fire-time order, with when each fires (or fired) and a sample text"""
        return {"items": _planned(event_or_404(slug))}

    @require("events.manage")
    @blp.arguments(RuleSchema)
    @blp.response(201, PlannedSchema)
    @blp.alt_response(422, description="invalid: the details name each field")
    @refusal(NOT_SAVED)
    def post(self, data, slug):
        """Add a reminder rule"""
        event = event_or_404(slug)
        rule = rule_service.create_rule(event, data, actor=current_user)
        return _planned(event, rule.id)[0]


def _rule(slug, rule_id):
    event = event_or_404(slug)
    rule = next((r for r in event.reminder_rules if r.id == rule_id), None)
    if rule is None:
        abort(404, message=f"event {slug!r} has no reminder {rule_id}")
    return event, rule


@blp.route(f"/<slug>/reminders/<int(max={MAX_ID}):rule_id>")
class ReminderById(MethodView):
    @require("events.view")
    @blp.response(200, PlannedSchema)
    def get(self, slug, rule_id):
        """One reminder rule"""
        event, rule = _rule(slug, rule_id)
        return _planned(event, rule.id)[0]

    @require("events.manage")
    @blp.arguments(RulePatch)
    @blp.response(200, PlannedSchema)
    @blp.alt_response(422, description="invalid: the details name each field")
    @refusal(NOT_SAVED)
    def patch(self, data, slug, rule_id):
        """Change a reminder rule (a new offset or anchor time fires it again for the new time)"""
        event, rule = _rule(slug, rule_id)
        rule_service.update_rule(rule, data, actor=current_user)
        return _planned(event, rule.id)[0]

    @require("events.manage")
    @blp.response(204)
    def delete(self, slug, rule_id):
        """Delete a reminder rule (what it queued and has not sent is dropped)"""
        _, rule = _rule(slug, rule_id)
        rule_service.delete_rule(rule, actor=current_user)
        return ""


class MessageQuery(ma.Schema):
    channel = ma.fields.String(validate=ma.validate.OneOf(CHANNELS))
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, MAX_ID))


class MessageSchema(ma.Schema):
    id = ma.fields.Integer()
    key = ma.fields.String()
    channel = ma.fields.String()
    kind = ma.fields.String()
    recipient = ma.fields.String()
    body = ma.fields.Function(lambda m: m.payload.get("body") if m.channel == "sms" else m.payload.get("summary", ""))
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    attempts = ma.fields.Integer()
    last_error = ma.fields.String()
    provider_ref = ma.fields.String(metadata={"description": "the SMS's SID, the email's Message-ID"})
    delivery_status = ma.fields.String(metadata={"description": "from the provider's status callbacks"})
    delivery_error = ma.fields.String()
    created_at = ma.fields.DateTime()
    sent_at = ma.fields.DateTime(allow_none=True, metadata={"description": "null until sent"})
    next_attempt_at = ma.fields.Function(lambda m: m.next_attempt_at.isoformat() if m.status == "pending" else None,
                                         metadata={"format": "date-time", "description": "while pending"})
    last_error_kind = ma.fields.Function(lambda m: explain(m.last_error).kind)
    last_error_explained = ma.fields.Function(lambda m: explain(m.last_error).explanation)


class MessageList(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MessageSchema))
    total = ma.fields.Integer()
    counts = ma.fields.Dict(metadata={"description": "messages per status, for the same channel"})
    waiting = ma.fields.List(ma.fields.Nested(WaitingSchema), metadata={
        "description": "per channel, the event's messages not sent yet: since when, the latest error, the next attempt"})
    stall_warning_minutes = ma.fields.Float(metadata={"description": "OUTBOX_STALL_WARNING_MINUTES"})


@blp.route("/<slug>/messages")
class Messages(MethodView):
    decorators = [require("messages.view")]

    @blp.arguments(MessageQuery, location="query")
    @blp.response(200, MessageList)
    def get(self, query, slug):
        """The event's emails and SMS, newest first, with counts per status"""
        event = event_or_404(slug)
        items, total = outbox.list_messages(event_id=event.id, channel=query.get("channel"),
                                            status=query.get("status"), limit=query["limit"], offset=query["offset"])
        return {"items": items, "total": total, "counts": outbox.status_counts(event.id, query.get("channel")),
                **waiting_facts(event)}
