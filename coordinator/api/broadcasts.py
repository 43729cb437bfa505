"""Broadcast SMS: one text to a filtered audience of an event's contacts (a dry run says what it
would send), a broadcast's progress per outbox status, and Stop. Organizers and operators send
nationally, a coordinator within its province (a filter naming another province's unit: 403)."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from coordinator.api import MAX_ID, Blueprint, refusal
from coordinator.auth.permissions import require
from coordinator.broadcasts import services
from coordinator.broadcasts import texts
from coordinator.endpoints.models import CONTACT_ROLES
from coordinator.endpoints.phones import national
from coordinator.events.lookup import event_or_404
from coordinator.outbox.models import FAILED, PENDING, SENDING, SENT, SUPERSEDED
from coordinator.status.rule import STATES
from coordinator.timeutil import iso_local
from coordinator.units.models import TIERS

blp = Blueprint("api_broadcasts", __name__, description="Broadcast SMS to a filtered audience of an event's contacts")

PERMISSION = services.PERMISSION
UNREACHABLE_LISTED = 1000  # contacts listed in an answer (the count is always whole)


class FilterSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    unit = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=16), metadata={
        "description": "a unit code: its whole subtree (a coordinator: within its province, else 403); "
                       "null: everywhere the sender may send"})
    tier = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(TIERS))
    states = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(STATES)), load_default=list,
                            validate=ma.validate.Length(max=len(STATES)), metadata={
                                "description": "the endpoint's current state in the session; empty: any"})
    confirmed = ma.fields.Boolean(load_default=None, allow_none=True, metadata={
        "description": "readiness confirmed by a contact (true) or not (false); null: either"})
    roles = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(CONTACT_ROLES)), load_default=list,
                           validate=ma.validate.Length(max=len(CONTACT_ROLES)), metadata={
                               "description": "the contacts' roles; empty: technical"})


class BroadcastInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    session = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=32), metadata={
        "description": "session kind; null: the one under way, else the next"})
    filter = ma.fields.Nested(FilterSchema, load_default=dict)
    template = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=texts.MAX_TEMPLATE_CHARS),
                                metadata={"description": "the text, with placeholders "
                                          + " ".join("{%s}" % p for p in texts.PLACEHOLDERS)
                                          + " ({{ and }} for a brace); an unknown placeholder, or more than "
                                          f"{texts.MAX_SEGMENTS} SMS segments once filled, is refused (422)"})
    strip_diacritics = ma.fields.Boolean(load_default=False, metadata={
        "description": "send without Vietnamese diacritics (GSM-7: 160 characters per segment instead of 70)"})
    dry_run = ma.fields.Boolean(load_default=False, metadata={
        "description": "true: the same answer, nothing queued (200)"})


class UnreachableSchema(ma.Schema):
    name = ma.fields.String()
    phone = ma.fields.Function(lambda u: national(u.phone) if u.phone else "")
    role = ma.fields.String()
    endpoint = ma.fields.String()
    unit_code = ma.fields.String()
    reason = ma.fields.String(metadata={"enum": ["fixed_line", "foreign_number", "opted_out"]})


class CreatedSchema(ma.Schema):
    id = ma.fields.Integer(allow_none=True, metadata={"description": "null for a dry run"})
    status = ma.fields.String(metadata={"enum": ["dry_run", "sending"]})
    recipients = ma.fields.Integer(metadata={"description": "mobile numbers, one SMS each"})
    unreachable = ma.fields.Integer(metadata={"description": "contacts no SMS can reach (fixed lines, foreign "
                                                             "numbers, opted out)"})
    segments_total = ma.fields.Integer(metadata={"description": "the segments of every SMS, added up"})
    encoding = ma.fields.String(metadata={"enum": ["GSM-7", "UCS-2"], "description": "UCS-2 when any SMS is"})
    segments = ma.fields.Integer(metadata={"description": "the most segments any one SMS takes"})
    characters = ma.fields.Integer(metadata={"description": "the longest SMS"})
    sample = ma.fields.String(metadata={"description": "the first recipient's text"})
    unreachable_contacts = ma.fields.List(ma.fields.Nested(UnreachableSchema), metadata={
        "description": f"who cannot be reached, to call instead (at most {UNREACHABLE_LISTED})"})


class CountsSchema(ma.Schema):
    pending = ma.fields.Integer()
    sending = ma.fields.Integer()
    sent = ma.fields.Integer()
    failed = ma.fields.Integer()
    superseded = ma.fields.Integer(metadata={"description": "dropped when the broadcast was stopped"})


class BroadcastSchema(ma.Schema):
    id = ma.fields.Integer()
    event = ma.fields.Function(lambda b: b.event.slug)
    session = ma.fields.Function(lambda b: b.session.kind)
    status = ma.fields.Function(lambda b: b.state, metadata={
        "enum": ["sending", "done", "stopped"], "description": "sending while SMS wait or are in flight"})
    counts = ma.fields.Function(lambda b: b.counts, metadata={"description": "its SMS per outbox status"})
    recipients = ma.fields.Integer()
    unreachable = ma.fields.Integer()
    segments_total = ma.fields.Integer()
    dropped = ma.fields.Integer(metadata={"description": "SMS not sent because it was stopped"})
    filter = ma.fields.Dict()
    template = ma.fields.String()
    strip_diacritics = ma.fields.Boolean()
    created_by = ma.fields.String(attribute="created_by_label")
    created_at = ma.fields.Function(lambda b: iso_local(b.created_at, b.event.timezone),
                                    metadata={"format": "date-time"})
    stopped_at = ma.fields.Function(lambda b: iso_local(b.stopped_at, b.event.timezone) if b.stopped_at else None,
                                    metadata={"format": "date-time"})
    stopped_by = ma.fields.String(attribute="stopped_by_label")


def _created(p: services.Preview, broadcast=None) -> dict:
    return {"id": broadcast.id if broadcast else None, "status": "sending" if broadcast else "dry_run",
            "recipients": broadcast.recipients if broadcast else len(p.recipients),
            "unreachable": len(p.audience.unreachable), "segments_total": p.segments_total,
            "encoding": p.encoding, "segments": p.segments, "characters": p.characters, "sample": p.sample,
            "unreachable_contacts": p.audience.unreachable[:UNREACHABLE_LISTED]}


@blp.route("/events/<slug>/broadcasts")
class EventBroadcasts(MethodView):
    decorators = [require(PERMISSION)]

    @blp.arguments(BroadcastInput)
    @blp.response(201, CreatedSchema)
    @blp.alt_response(200, schema=CreatedSchema, description="dry run: the same figures, nothing queued")
    @blp.alt_response(422, description="refused, nothing queued: an empty audience, an unknown placeholder, a text "
                                       "over 10 segments, an unknown session or unit (details name each)")
    @refusal("the broadcast was refused, nothing was queued: see details")
    def post(self, data, slug):
        """Send an SMS to the contacts the filter chooses (one per mobile number, through the outbox
        with the key `broadcast:<id>:<phone>`), or with `dry_run` say what it would send"""
        event = event_or_404(slug)
        if data.pop("dry_run"):
            return _created(services.preview(event, data, current_user)), 200
        p = services.preview(event, data, current_user)
        return _created(p, services.send_prepared(p, current_user)), 201


def _broadcast(broadcast_id: int):
    b = services.get(broadcast_id, current_user)
    if b is None:
        abort(404, message=f"no broadcast {broadcast_id}")
    return b


def _with_progress(b):
    b.counts = services.progress(b)
    b.state = services.state_of(b, b.counts)
    return b


@blp.route(f"/broadcasts/<int(max={MAX_ID}):broadcast_id>")
class BroadcastById(MethodView):
    decorators = [require(PERMISSION)]

    @blp.response(200, BroadcastSchema)
    def get(self, broadcast_id):
        """A broadcast and its SMS per outbox status"""
        return _with_progress(_broadcast(broadcast_id))


@blp.route(f"/broadcasts/<int(max={MAX_ID}):broadcast_id>/stop")
class BroadcastStop(MethodView):
    decorators = [require(PERMISSION)]

    @blp.response(200, BroadcastSchema)
    @blp.alt_response(409, description="the broadcast has finished: nothing left to stop")
    def post(self, broadcast_id):
        """Stop a broadcast: its SMS not sent yet are dropped (those in flight go out); stopping it
        again changes nothing"""
        b = _broadcast(broadcast_id)
        try:
            services.stop(b, current_user)
        except services.NotStoppable as exc:
            abort(409, message=str(exc))
        return _with_progress(b)
