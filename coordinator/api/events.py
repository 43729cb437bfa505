from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from coordinator.auth.permissions import require
from coordinator.events import services
from coordinator.timeutil import iso_local

blp = Blueprint("api_events", __name__, description="Events, their sessions, deadlines and tiers")


def _in_event_zone(attr: str):
    """ISO 8601 with the event's own offset, e.g. 2024-06-28T08:30:00+07:00."""
    return ma.fields.Function(lambda obj: iso_local(getattr(obj, attr), obj.event.timezone),
                              metadata={"format": "date-time"})


class SessionSchema(ma.Schema):
    kind = ma.fields.String(metadata={"enum": ["connectivity_test", "rehearsal", "main"]})
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
    status = ma.fields.String(metadata={"enum": ["draft", "published", "finished", "cancelled"]})
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
        event = services.get_event(slug)
        if event is None:
            abort(404, message=f"no event {slug!r}")
        return event
