"""Incidents worked by a team: acknowledge (one of two people at once wins; the other is told who
owns it), reassign, resolve by hand with a reason, notes. The list is GET
/api/v1/events/<slug>/incidents (`api.status`). A coordinator works only its province's incidents
(403 otherwise). Thin: `status.lifecycle` decides, checks and commits."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from coordinator.api import MAX_ID, Blueprint, refusal
from coordinator.api.status import IncidentItem, Person, prepared
from coordinator.auth.permissions import require
from coordinator.status import services as status
from coordinator.status.incident_list import user_label
from coordinator.status.lifecycle import NOTE_MAX, REASON_MAX
from coordinator.timeutil import utcnow

blp = Blueprint("api_incidents", __name__, description="Incidents worked by a team: acknowledge, reassign, resolve, "
                                                       "notes")

INCIDENT_PATH = f"/incidents/<int(max={MAX_ID}):incident_id>"


class IncidentConflictDetails(ma.Schema):
    state = ma.fields.String(metadata={"description": "the incident's state now"})
    owner = ma.fields.Nested(Person, allow_none=True, metadata={"description": "who owns it now"})


class IncidentConflictBody(ma.Schema):
    code = ma.fields.String(required=True, metadata={"example": "conflict"})
    message = ma.fields.String(required=True)
    details = ma.fields.Nested(IncidentConflictDetails, required=True)


class IncidentConflictError(ma.Schema):
    error = ma.fields.Nested(IncidentConflictBody, required=True)


class ResolveInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    reason = ma.fields.String(required=True, validate=ma.validate.Length(max=REASON_MAX), metadata={
        "description": "what was done, or why it no longer matters (required)"})


class NoteInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    text = ma.fields.String(required=True, validate=ma.validate.Length(max=NOTE_MAX))


class AssignInput(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    user_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID), metadata={
        "description": "an active operator, organizer or administrator, or a coordinator of the incident's province"})


def _incident_or_404(incident_id: int):
    incident = status.get_incident(incident_id)
    if incident is None:
        abort(404, message=f"no incident {incident_id}")
    if not status.may_work(current_user, incident):  # 403, not 404: the brief's rule for other provinces
        abort(403, message=f"incident {incident_id} is outside your scope: only its province's coordinators, the "
                           "operators and the organizers may work it")
    return incident


def _body(incident_id: int) -> dict:
    event, item = status.item_of(incident_id)
    return prepared(item, event.timezone, utcnow())


def _conflict(exc: status.IncidentConflict):
    owner = exc.owner
    abort(409, message=exc.msg.localized(), errors={
        "state": exc.incident.state,
        "owner": None if owner is None else {"id": owner.id, "name": user_label(owner.display_name, owner.email),
                                             "email": owner.email}})


@blp.route(INCIDENT_PATH)
class IncidentResource(MethodView):
    decorators = [require("status.view")]

    @blp.response(200, IncidentItem)
    @blp.alt_response(404, description="no such incident")
    def get(self, incident_id):
        """One incident: its state, owner, resolution, escalation and notes (a coordinator: its
        province's only)."""
        incident = status.get_incident(incident_id)
        if incident is None:
            abort(404, message=f"no incident {incident_id}")
        if not status.may_work(current_user, incident):
            abort(403, message=f"incident {incident_id} is outside your scope")
        return _body(incident_id)


@blp.route(f"{INCIDENT_PATH}/ack")
class IncidentAck(MethodView):
    decorators = [require("status.check")]

    @blp.response(200, IncidentItem)
    @blp.alt_response(404, description="no such incident")
    @blp.alt_response(409, schema=IncidentConflictError, description="someone else acknowledged it first (`details.owner`), "
                                                             "or it is resolved")
    def post(self, incident_id):
        """Acknowledge the incident: you own it from now on, and it is not escalated any further. Of
        two people acknowledging at once one wins; the other gets 409 naming the owner.
        Acknowledging your own incident again changes nothing."""
        incident = _incident_or_404(incident_id)
        try:
            status.acknowledge(incident, current_user)
        except status.IncidentConflict as exc:
            _conflict(exc)
        return _body(incident_id)


@blp.route(f"{INCIDENT_PATH}/assign")
class IncidentAssign(MethodView):
    decorators = [require("status.check")]

    @blp.arguments(AssignInput)
    @blp.response(200, IncidentItem)
    @blp.alt_response(404, description="no such incident")
    @blp.alt_response(409, schema=IncidentConflictError, description="it is resolved")
    @refusal("the incident was not reassigned: see details")
    def post(self, data, incident_id):
        """Give the incident to someone else (an operator, an organizer, or a coordinator of its
        province), who becomes its owner; one nobody had acknowledged is acknowledged by this."""
        incident = _incident_or_404(incident_id)
        try:
            status.assign(incident, current_user, data["user_id"])
        except status.IncidentConflict as exc:
            _conflict(exc)
        return _body(incident_id)


@blp.route(f"{INCIDENT_PATH}/resolve")
class IncidentResolve(MethodView):
    decorators = [require("status.check")]

    @blp.arguments(ResolveInput)
    @blp.response(200, IncidentItem)
    @blp.alt_response(404, description="no such incident")
    @blp.alt_response(409, schema=IncidentConflictError, description="it is resolved already")
    @refusal("the incident was not resolved: see details")
    def post(self, data, incident_id):
        """Resolve the incident by hand, saying why. The endpoint's probes failing on do not open it
        again; a new failure after it was seen otherwise does."""
        incident = _incident_or_404(incident_id)
        try:
            status.resolve(incident, current_user, data["reason"])
        except status.IncidentConflict as exc:
            _conflict(exc)
        return _body(incident_id)


@blp.route(f"{INCIDENT_PATH}/notes")
class IncidentNotes(MethodView):
    decorators = [require("status.check")]

    @blp.arguments(NoteInput)
    @blp.response(201, IncidentItem)
    @blp.alt_response(404, description="no such incident")
    @refusal("the note was not saved: see details")
    def post(self, data, incident_id):
        """Write a note on the incident (who and when are recorded): what was tried, whom was called.
        Answers the incident with every note."""
        incident = _incident_or_404(incident_id)
        status.add_note(incident, current_user, data["text"])
        return _body(incident_id)
