"""What waits in an event's outbox, as the invitations and messages resources report it (the same
facts as the invitations page and the event page's warning; `coordinator.outbox.waiting`)."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app

from coordinator.outbox.models import CHANNELS
from coordinator.outbox.waiting import EXPLANATIONS, Explained, waiting
from coordinator.timeutil import iso_local

_KINDS = ["", *EXPLANATIONS, "other"]


def _error_fields() -> dict:
    return {
        "last_error": ma.fields.String(metadata={"description": "the provider's words, from the latest failed attempt"}),
        "last_error_kind": ma.fields.String(metadata={"enum": _KINDS}),
        "last_error_explained": ma.fields.String(metadata={"description": "what the kind means, in the reader's language"}),
        "next_attempt_at": ma.fields.String(allow_none=True, metadata={
            "format": "date-time", "description": "the earliest next attempt, with the event's offset"}),
    }


RetryingSchema = ma.Schema.from_dict({
    "count": ma.fields.Integer(metadata={"description": "pending after at least one failed attempt"}),
    **_error_fields()}, name="RetryingSchema")

WaitingSchema = ma.Schema.from_dict({
    "channel": ma.fields.String(metadata={"enum": list(CHANNELS)}),
    "waiting": ma.fields.Integer(metadata={"description": "messages not sent yet (pending or being sent)"}),
    "retrying": ma.fields.Integer(metadata={"description": "of them, pending after at least one failed attempt"}),
    "since": ma.fields.String(metadata={"format": "date-time", "description": "when the oldest of them was queued"}),
    "minutes": ma.fields.Integer(metadata={"description": "how long the oldest has waited"}),
    "stalled": ma.fields.Boolean(metadata={
        "description": "the oldest has waited longer than OUTBOX_STALL_WARNING_MINUTES (the event page warns)"}),
    **_error_fields()}, name="WaitingSchema")


def _error(reason: str, explained: Explained) -> dict:
    return {"last_error": reason, "last_error_kind": explained.kind, "last_error_explained": explained.explanation}


def retrying_facts(retry, tz: str) -> dict:
    """An `invitations.services.Retrying` as the API gives it."""
    return {"count": retry.count, **_error(retry.last_error, retry.error),
            "next_attempt_at": iso_local(retry.next_attempt_at, tz)}


def waiting_facts(event) -> dict:
    """The `waiting` list (per channel) and the threshold of the warning."""
    return {"waiting": [{"channel": w.channel, "waiting": w.count, "retrying": w.retrying,
                         "since": iso_local(w.since, event.timezone), "minutes": w.minutes, "stalled": w.stalled,
                         **_error(w.last_error, w.error), "next_attempt_at": iso_local(w.next_attempt_at, event.timezone)}
                        for w in waiting(event.id)],
            "stall_warning_minutes": float(current_app.config.get("OUTBOX_STALL_WARNING_MINUTES", 10))}
