"""The outbox page: every message, its status and last error; the .eml files of the file backend."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request, send_file

from coordinator.auth.permissions import require
from coordinator.events.services import list_events
from coordinator.extensions import db
from coordinator.outbox import services as outbox
from coordinator.outbox.labels import CHANNEL_LABELS, DELIVERY_LABELS, DOUBT_LABELS, MESSAGE_STATUS_LABELS
from coordinator.outbox.models import CHANNELS, STATUSES, OutboxMessage

bp = Blueprint("outbox", __name__, url_prefix="/outbox")
PAGE_SIZE = 100


def _eml_path(message: OutboxMessage) -> Path | None:
    if message.channel != "email" or not message.provider_ref.endswith(".eml"):
        return None
    path = Path(current_app.config["MAIL_FILE_DIR"]) / Path(message.provider_ref).name
    return path if path.is_file() else None


@bp.get("/")
@require("messages.view")
def index():
    events = list_events()
    slug = request.args.get("event") or None
    event = next((e for e in events if e.slug == slug), None)
    channel = request.args.get("channel") if request.args.get("channel") in CHANNELS else None
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    page = max(1, request.args.get("page", 1, type=int))
    q = request.args.get("q", "")[:100].strip()
    messages, total = outbox.list_messages(event_id=event.id if event else None, channel=channel, status=status,
                                           limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, q=q)
    counts = outbox.status_counts(event.id if event else None, channel)
    doubts = outbox.doubt_counts(event.id if event else None, channel)
    return render_template("outbox/index.html", messages=messages, total=total, counts=counts, events=events,
                           doubts=doubts, DOUBT_LABELS=DOUBT_LABELS,
                           event=event, channel=channel, status=status, q=q, page=page, pages=max(1, -(-total // PAGE_SIZE)),
                           eml_path=_eml_path, CHANNELS=CHANNELS, STATUSES=STATUSES,
                           MESSAGE_STATUS_LABELS=MESSAGE_STATUS_LABELS, CHANNEL_LABELS=CHANNEL_LABELS,
                           DELIVERY_LABELS=DELIVERY_LABELS)


@bp.get("/<int:message_id>.eml")
@require("messages.view")
def eml(message_id: int):
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    path = _eml_path(message) or abort(404)
    return send_file(path, mimetype="message/rfc822", as_attachment=True, download_name=f"{message.id:08d}.eml")
