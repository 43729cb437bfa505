"""Registration progress per province: what the organizer's progress page shows, as JSON."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from coordinator.api import Blueprint
from coordinator.auth.permissions import require
from coordinator.events.lookup import event_or_404
from coordinator.events.models import DEADLINE_KINDS
from coordinator.reports import services
from coordinator.timeutil import iso_local
from coordinator.units.models import TIERS

blp = Blueprint("api_registration", __name__, description="Registration progress per province")


class TierProgressSchema(ma.Schema):
    total = ma.fields.Integer(metadata={"description": "units of this tier (in the province)"})
    registered = ma.fields.Integer(metadata={"description": "units with an endpoint of their own"})
    hosted = ma.fields.Integer(metadata={"description": "units attending at their parent's endpoint"})
    missing = ma.fields.Integer(metadata={"description": "units with neither"})


class DeadlineProgressSchema(ma.Schema):
    kind = ma.fields.String(metadata={"enum": list(DEADLINE_KINDS)})
    tier = ma.fields.String()
    title = ma.fields.String()
    due_at = ma.fields.Function(lambda dc: iso_local(dc.due_at, dc.deadline.event.timezone),
                                metadata={"format": "date-time", "description": "in the event's zone"})
    closed = ma.fields.Boolean(metadata={"description": "the organizer has closed registration"})
    status = ma.fields.String(allow_none=True, metadata={
        "enum": list(services.DEADLINE_STATUSES),
        "description": "for a deadline of the line's own tier (a province's, the central unit's): "
                       "on_time, late or missing; null when the counts describe lower units"})
    total = ma.fields.Integer(metadata={"description": "units of the deadline's tier concerned"})
    on_time = ma.fields.Integer()
    late = ma.fields.Integer()
    missing = ma.fields.Integer()


class _Counts(ma.Schema):
    tiers = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(TierProgressSchema),
                           metadata={"description": "per tier of the event below the line's unit, and its own"})
    contacts = ma.fields.Integer()
    technical_contacts = ma.fields.Integer(metadata={"description": "focal contacts (role technical)"})
    mobile_contacts = ma.fields.Integer(metadata={"description": "contacts with a mobile number (can get SMS)"})
    deadlines = ma.fields.List(ma.fields.Nested(DeadlineProgressSchema))


class ProvinceProgressSchema(_Counts):
    code = ma.fields.String()
    name = ma.fields.String()
    tier = ma.fields.String(metadata={"enum": list(TIERS[:2])})


class RegistrationTotalsSchema(_Counts):
    pass


class RegistrationProgressSchema(ma.Schema):
    event = ma.fields.String(metadata={"description": "the event's slug"})
    central = ma.fields.Nested(ProvinceProgressSchema, allow_none=True,
                               metadata={"description": "the central unit (TW), when the event has the central tier"})
    provinces = ma.fields.List(ma.fields.Nested(ProvinceProgressSchema))
    totals = ma.fields.Nested(RegistrationTotalsSchema)
    units_loaded = ma.fields.Boolean(metadata={
        "description": "false when the event's structure has no units loaded: nothing is done, nothing can be "
                       "registered yet (`flask --app app units load --structure …`)"})


@blp.route("/<slug>/registration")
class RegistrationProgress(MethodView):
    decorators = [require("registration.oversee")]

    @blp.response(200, RegistrationProgressSchema)
    def get(self, slug):
        """Registration progress per province: endpoints per tier, contacts, deadlines (organizers, operators)"""
        event = event_or_404(slug)
        progress = services.province_progress(event)
        return {"event": event.slug, "central": progress.central, "provinces": progress.provinces,
                "totals": progress.totals, "units_loaded": progress.units_loaded}
