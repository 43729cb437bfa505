"""Events: their sessions, deadlines and tiers; publishing, cancelling and moving a session (with a
dry run); invitations per session; copying another event's registrations."""
from __future__ import annotations

import marshmallow as ma
from flask import jsonify
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from coordinator.api import Blueprint, refusal
from coordinator.api.waiting import RetryingSchema, WaitingSchema, retrying_facts, waiting_facts
from coordinator.auth.permissions import require
from coordinator.endpoints import copying
from coordinator.events import services
from coordinator.events.lookup import event_or_404
from coordinator.events.models import SESSION_KINDS
from coordinator.events.models import STATUSES as EVENT_STATUSES
from coordinator.invitations.services import counts, retrying
from coordinator.outbox.services import status_counts
from coordinator.timeutil import from_local, iso_local

blp = Blueprint("api_events", __name__, description="Events, their sessions, deadlines and tiers")


def _in_event_zone(attr: str):
    """ISO 8601 with the event's own offset, e.g. 2024-06-28T08:30:00+07:00."""
    return ma.fields.Function(lambda obj: iso_local(getattr(obj, attr), obj.event.timezone),
                              metadata={"format": "date-time"})


class SessionSchema(ma.Schema):
    kind = ma.fields.String(metadata={"enum": list(SESSION_KINDS)})
    title = ma.fields.String()
    starts_at = _in_event_zone("starts_at")
    ends_at = _in_event_zone("ends_at")
    location = ma.fields.String()
    ical_uid = ma.fields.String()
    sequence = ma.fields.Integer()


class DeadlineSchema(ma.Schema):
    kind = ma.fields.String()
    tier = ma.fields.String()
    title = ma.fields.String()
    due_at = _in_event_zone("due_at")


class TierRoleSchema(ma.Schema):
    tier = ma.fields.String()
    chair = ma.fields.String()
    attendees = ma.fields.String()
    may_attend_at_parent = ma.fields.Boolean()


class EventSchema(ma.Schema):
    slug = ma.fields.String()
    title = ma.fields.String()
    legal_reference = ma.fields.String()
    timezone = ma.fields.String()
    unit_structure = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(EVENT_STATUSES)})
    organizer = ma.fields.Function(lambda e: {"name": e.organizer_name, "office": e.organizer_office,
                                              "email": e.organizer_email, "phone": e.organizer_phone})
    tiers = ma.fields.List(ma.fields.String())
    sessions = ma.fields.List(ma.fields.Nested(SessionSchema))
    deadlines = ma.fields.List(ma.fields.Nested(DeadlineSchema))
    tier_roles = ma.fields.List(ma.fields.Nested(TierRoleSchema))


class EventList(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(EventSchema))
    total = ma.fields.Integer()


@blp.route("")
class Events(MethodView):
    decorators = [require("events.view")]

    @blp.response(200, EventList)
    def get(self):
        """List events, newest first"""
        events = services.list_events()
        return {"items": events, "total": len(events)}


@blp.route("/<slug>")
class EventBySlug(MethodView):
    decorators = [require("events.view")]

    @blp.response(200, EventSchema)
    def get(self, slug):
        """One event with its sessions (times in the event's zone), deadlines and tier roles"""
        return event_or_404(slug)


class PublishResult(EventSchema):
    invitations = ma.fields.Dict(metadata={"description": "invitations queued, per session kind"})


class CancelInput(ma.Schema):
    reason = ma.fields.String(load_default="", metadata={
        "description": "required: kept in the audit log and written in the cancellation mail and SMS"})


class DryRunQuery(ma.Schema):
    dry_run = ma.fields.Boolean(load_default=False, metadata={
        "description": "say what would be sent, change nothing"})


class Consequences(ma.Schema):
    invitations = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "invitation emails per session kind"})
    recipients = ma.fields.Integer(metadata={"description": "distinct addresses written to"})
    updates = ma.fields.Integer(metadata={"description": "updated invitations (a session moved)"})
    cancellations = ma.fields.Integer()
    reminders = ma.fields.Integer(metadata={"description": "reminder rules still to fire"})
    first_reminder_at = ma.fields.Function(lambda c: iso_local(c["first_reminder_at"], c["tz"])
                                           if c["first_reminder_at"] else None)
    sender = ma.fields.String(metadata={"description": "publish: the From of the mail (the organizer's office)"})
    reply_to = ma.fields.String(allow_none=True, metadata={"description": "publish: where answers go"})


_CONSEQUENCES, _PUBLISH_RESULT, _SESSION = Consequences(), PublishResult(), SessionSchema()


def _consequences(result, event) -> dict:
    return _CONSEQUENCES.dump({**result.__dict__, "tz": event.timezone})


NOTHING_CHANGED = "nothing was changed: see details"


def _change_status(slug, change):
    """Publish or cancel: 409 when the event's status does not allow it (or its structure has no
    units loaded); the event with its invitation counts per session kind otherwise."""
    event = event_or_404(slug)
    try:
        change(event)
    except services.EventStateError as exc:
        abort(409, message=str(exc))
    event.invitations = {row["session"].kind: row["counts"] for row in counts(event)}
    return event


@blp.route("/<slug>/publish")
class Publish(MethodView):
    decorators = [require("events.manage")]

    @blp.arguments(DryRunQuery, location="query")
    @blp.response(200, {"anyOf": [PublishResult, Consequences]},
                  description="the event as published (PublishResult); with dry_run=true, what publishing would send "
                              "(Consequences)")
    @blp.alt_response(409, description="the event is cancelled or finished, or its structure has no units loaded")
    @refusal(NOTHING_CHANGED)
    def post(self, query, slug):
        """Publish a draft event: every contact with an email gets one invitation per session.
        Publishing a published event changes nothing. With `dry_run=true`: what publishing would
        send (`Consequences`: invitations per session kind, recipients, reminders, the first
        reminder's time), nothing changed."""
        if query["dry_run"]:
            event = event_or_404(slug)
            try:
                return jsonify(_consequences(services.preview_publish(event), event))
            except services.EventStateError as exc:
                abort(409, message=str(exc))
        return jsonify(_PUBLISH_RESULT.dump(_change_status(slug, lambda event: services.publish(event, actor=current_user))))


@blp.route("/<slug>/cancel")
class Cancel(MethodView):
    decorators = [require("events.manage")]

    @blp.arguments(CancelInput)
    @blp.response(200, PublishResult)
    @blp.alt_response(409, description="the event is finished")
    @blp.alt_response(422, description="no reason given: nothing changed")
    @refusal(NOTHING_CHANGED)
    def post(self, data, slug):
        """Cancel the event: every invitation sent is withdrawn (METHOD:CANCEL, STATUS:CANCELLED)."""
        return _change_status(slug, lambda event: services.cancel(event, actor=current_user, reason=data["reason"]))


class SessionPatch(ma.Schema):
    starts_at = ma.fields.DateTime(metadata={
        "description": "ISO 8601; without an offset it is read in the event's time zone"})
    ends_at = ma.fields.DateTime(metadata={"description": "ISO 8601, as starts_at"})
    location = ma.fields.String()


def _aware(value, tz):
    """A time given without an offset is a wall-clock time in the event's zone."""
    return value if value is None or value.tzinfo is not None else from_local(value, tz)


@blp.route("/<slug>/sessions/<kind>", parameters=[
    {"in": "path", "name": "kind", "required": True, "description": "the session's kind (404 when the event has none)",
     "schema": {"type": "string", "enum": list(SESSION_KINDS)}}])
class SessionByKind(MethodView):
    decorators = [require("events.manage")]

    @blp.arguments(SessionPatch)
    @blp.arguments(DryRunQuery, location="query")
    @blp.response(200, {"anyOf": [SessionSchema, Consequences]},
                  description="the session as moved (Session); with dry_run=true, how many updates moving it would "
                              "send (Consequences)")
    @blp.alt_response(404, description="no such event or session")
    @blp.alt_response(409, description="the event is cancelled or finished")
    @blp.alt_response(422, description="the end is not after the start")
    @refusal("the session was not changed: see details")
    def patch(self, data, query, slug, kind):
        """Move a session (time or place). A change raises its SEQUENCE and sends everyone
        concerned an updated invitation. With `dry_run=true`: how many updates it would send
        (`Consequences`), nothing changed."""
        event = event_or_404(slug)
        if event.session(kind) is None:
            abort(404, message=f"event {slug!r} has no session {kind!r}")
        try:
            if query["dry_run"]:
                return jsonify(_consequences(services.preview_move(
                    event, kind, starts_at=_aware(data.get("starts_at"), event.timezone),
                    ends_at=_aware(data.get("ends_at"), event.timezone), location=data.get("location")), event))
            return jsonify(_SESSION.dump(services.move_session(
                event, kind, starts_at=_aware(data.get("starts_at"), event.timezone),
                ends_at=_aware(data.get("ends_at"), event.timezone), location=data.get("location"), actor=current_user)))
        except services.EventStateError as exc:
            abort(409, message=str(exc))


class InvitationCounts(ma.Schema):
    current = ma.fields.Integer(metadata={"description": "the latest version reached the mail server"})
    pending = ma.fields.Integer(metadata={"description": "queued, or waiting for another attempt"})
    failed = ma.fields.Integer(metadata={"description": "every attempt failed, or the server refused for good"})
    withdrawn = ma.fields.Integer(metadata={"description": "a cancellation was sent"})


class SessionInvitations(ma.Schema):
    kind = ma.fields.Function(lambda row: row["session"].kind)
    ical_uid = ma.fields.Function(lambda row: row["session"].ical_uid)
    sequence = ma.fields.Function(lambda row: row["session"].sequence)
    counts = ma.fields.Nested(InvitationCounts)
    retrying = ma.fields.Nested(RetryingSchema, metadata={
        "description": "invitations pending after a failed attempt: the latest error, explained, and the next attempt"})


class InvitationReport(ma.Schema):
    status = ma.fields.String()
    sessions = ma.fields.List(ma.fields.Nested(SessionInvitations))
    outbox = ma.fields.Dict(metadata={"description": "the event's email messages per outbox status"})
    waiting = ma.fields.List(ma.fields.Nested(WaitingSchema), metadata={
        "description": "per channel, the event's messages not sent yet: since when, the latest error, the next attempt"})
    stall_warning_minutes = ma.fields.Float(metadata={"description": "OUTBOX_STALL_WARNING_MINUTES"})


@blp.route("/<slug>/invitations")
class Invitations(MethodView):
    decorators = [require("messages.view")]

    @blp.response(200, InvitationReport)
    def get(self, slug):
        """Invitations per session: current, pending, failed, withdrawn"""
        event = event_or_404(slug)
        retry = retrying(event)
        sessions = [{**row, "retrying": retrying_facts(retry[row["session"].id], event.timezone)} for row in counts(event)]
        return {"status": event.status, "sessions": sessions, "outbox": status_counts(event.id, "email"),
                **waiting_facts(event)}


class CopyInput(ma.Schema):
    source = ma.fields.String(required=True, metadata={"description": "slug of the event whose registrations to copy"})


class CopyReview(ma.Schema):
    unit_code = ma.fields.String()
    unit_name = ma.fields.String()
    endpoint = ma.fields.String()
    reason = ma.fields.String(metadata={"enum": ["no_successor", "divided", "merged", "tier_not_in_event"]})
    target_code = ma.fields.String(allow_none=True)
    candidates = ma.fields.List(ma.fields.String())
    message = ma.fields.String()


class CopyResult(ma.Schema):
    source = ma.fields.String()
    target = ma.fields.String()
    copied = ma.fields.Integer(metadata={"description": "endpoints copied (or, dry run, to be copied)"})
    contacts = ma.fields.Integer()
    review = ma.fields.List(ma.fields.Nested(CopyReview), metadata={
        "description": "endpoints not copied, each with why: for the organizer or the province to decide"})
    already_registered = ma.fields.Integer(metadata={"description": "left as they are in the target event"})
    hosted_not_carried = ma.fields.List(ma.fields.Dict())


@blp.route("/<slug>/copy-registrations")
class CopyRegistrations(MethodView):
    decorators = [require("events.manage")]

    @blp.arguments(CopyInput)
    @blp.arguments(DryRunQuery, location="query")
    @blp.response(200, CopyResult)
    @blp.alt_response(409, description="the same event, or a cancelled target")
    def post(self, data, query, slug):
        """Copy another event's endpoints and contacts into this one, following the succession of
        units when the structures differ (2024 -> 2025). Endpoints that cannot be carried over
        safely (no counterpart, divided, merged into a unit that already gets one) are listed in
        `review`, never dropped silently. Copying twice copies nothing more. With `dry_run=true`:
        the same answer, nothing changed."""
        target, source = event_or_404(slug), event_or_404(data["source"])
        try:
            plan = copying.plan_copy(source, target) if query["dry_run"] else \
                copying.copy_registrations(source, target, actor=current_user)
        except copying.CopyRefused as exc:
            abort(409, message=str(exc))
        return plan.as_dict()
