"""Invitation pages for organizers, and the calendar feeds (public and secret) calendar apps poll."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from coordinator.auth.permissions import require
from coordinator.endpoints.models import Contact, Endpoint
from coordinator.events.labels import SESSION_LABELS, STATUS_LABELS
from coordinator.extensions import db
from coordinator.invitations import feed_links, feeds
from coordinator.invitations import services as invitations
from coordinator.outbox import services as outbox
from coordinator.outbox.labels import CHANNEL_LABELS
from coordinator.outbox.models import FAILED
from coordinator.outbox.waiting import stalled
from coordinator.text import fold
from coordinator.units.services import get_unit
from coordinator.events.lookup import event_or_404

bp = Blueprint("invitations", __name__)


@bp.get("/events/<slug>/invitations")
@require("messages.view")
def index(slug: str):
    event = event_or_404(slug)
    failed, _total = outbox.list_messages(event_id=event.id, channel="email", status=FAILED, limit=200)
    return render_template("invitations/index.html", event=event, rows=invitations.counts(event),
                           retrying=invitations.retrying(event),
                           stalled=[w for w in stalled(event.id) if w.channel == "email"], CHANNEL_LABELS=CHANNEL_LABELS,
                           failed=failed, SESSION_LABELS=SESSION_LABELS, STATUS_LABELS=STATUS_LABELS,
                           public_feed=feed_links.public_feed_url(event), webcal=feed_links.webcal)


@bp.post("/events/<slug>/invitations/retry")
@require("messages.manage")
def retry(slug: str):
    event = event_or_404(slug)
    n = outbox.retry_failed(event.id, channel="email")
    db.session.commit()
    flash(_("%(n)s failed messages will be sent again.", n=n), "success")
    return redirect(url_for("invitations.index", slug=slug))


def _ics(body: bytes, name: str) -> Response:
    """A feed response: revalidated on every poll (ETag), named for browsers in Vietnamese with an
    ASCII fallback (RFC 6266)."""
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    filename = f"{name}.ics"
    ascii_name = "-".join(fold(name).split()) + ".ics"
    response.headers["Content-Disposition"] = (f'inline; filename="{ascii_name}"; '
                                               f"filename*=UTF-8''{quote(filename, safe='')}")
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/events/<slug>/calendar.ics")
def public_feed(slug: str):
    """The event's sessions for anyone (no personal data): a link for the ministry's website."""
    event = event_or_404(slug)
    if not feed_links.is_listed(event):
        abort(404)
    return _ics(feeds.public_feed(event), event.slug)


@bp.get("/calendar/<slug>/unit/<code>/<token>.ics")
def unit_feed(slug: str, code: str, token: str):
    event = event_or_404(slug)
    unit = get_unit(event.unit_structure, code)
    if unit is None or not feed_links.check_token(token, "unit", event.id, unit.id) or not feed_links.is_listed(event):
        abort(404)
    return _ics(feeds.unit_feed(event, unit), f"{event.slug} {unit.name}")


@bp.get("/calendar/<slug>/contact/<int:contact_id>/<token>.ics")
def contact_feed(slug: str, contact_id: int, token: str):
    event = event_or_404(slug)
    if not feed_links.check_token(token, "contact", event.id, contact_id) or not feed_links.is_listed(event):
        abort(404)
    contact = db.session.scalar(select(Contact).join(Endpoint).where(Contact.id == contact_id,
                                                                      Endpoint.event_id == event.id))
    if contact is None:
        abort(404)  # the person was removed: their calendar app drops the feed's sessions
    return _ics(feeds.contact_feed(event, contact), f"{event.slug} {contact.name}")
