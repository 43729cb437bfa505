"""What invitations shows on other packages' pages (`coordinator.web.parts`), which are below it
and do not import it: on the endpoint form, the unit's secret calendar feed; on the event's pages,
the invitation counts per session and the warning that the event's messages are not going out.
Registered at app start (`connect`, from `coordinator.wiring`)."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user
from markupsafe import Markup

from coordinator.auth.permissions import can
from coordinator.events.models import Event
from coordinator.invitations import feed_links
from coordinator.invitations import services as invitations
from coordinator.outbox.labels import CHANNEL_LABELS
from coordinator.outbox.waiting import stalled
from coordinator.units.models import Unit
from coordinator.web import parts


def unit_feed(event: Event, unit: Unit) -> dict[str, str] | None:
    """The unit's calendar feed as `{"ics": URL, "webcal": the same as a subscription}`, or None
    while the event's calendar is not listed (a draft)."""
    if not feed_links.is_listed(event):
        return None
    url = feed_links.unit_feed_url(event, unit)
    return {"ics": url, "webcal": feed_links.webcal(url)}


def messages_stalled(event: Event) -> Markup:
    """The event page's warning that its messages are not going out, for those who see the messages
    (it names the provider's errors). Stop-gap: it is about the whole outbox, not only invitations,
    so it belongs to `coordinator.outbox`; here until the outbox registers it."""
    stuck = stalled(event.id) if can(current_user, "messages.view") else []
    return Markup(render_template("events/_outbox_stalled.html", event=event, stalled=stuck,
                                  CHANNEL_LABELS=CHANNEL_LABELS))


def connect() -> None:
    """Register this package's page parts (idempotent)."""
    parts.register("unit_feed", unit_feed)
    parts.register("invitation_counts", invitations.counts)  # per session: current, pending, failed, withdrawn
    parts.register("event_messages_stalled", messages_stalled)
