"""iCalendar objects (RFC 5545) for invitations (iTIP, RFC 5546) and subscription feeds.

Built with `icalendar`; every TZID used has its VTIMEZONE; times are written in the event's own
zone (clients convert), DTSTAMP in UTC and fresh on every send.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Timezone, vCalAddress
from icalendar import Event as VEvent

from coordinator.invitations.models import CANCEL, REQUEST

PRODID = "-//Dieu phoi hoi nghi truc tuyen//coordinator//VI"
ALARM_BEFORE = timedelta(minutes=30)


@lru_cache(maxsize=32)
def _vtimezone(tz: str) -> bytes:
    """The VTIMEZONE of `tz` as bytes, built once per zone from zoneinfo (the costly part of a calendar)."""
    return Timezone.from_tzid(tz).to_ical()


def _new_calendar(**kwargs) -> Calendar:
    cal = Calendar.new(prodid=PRODID, **kwargs)
    cal.pop("UID", None)  # RFC 7986's calendar UID means nothing to mail clients; keep the classic shape
    return cal


def _attach_timezone(cal: Calendar, tz: str) -> None:
    # Before the VEVENTs that use it: some clients read the file in one pass.
    cal.subcomponents.insert(0, Calendar.from_ical(_vtimezone(tz)))


def _organizer(payload: dict) -> vCalAddress:
    return vCalAddress.new(payload["organizer_email"], cn=payload["organizer_name"] or None)


def invitation(payload: dict, *, stamp: datetime) -> bytes:
    """The calendar of one invitation (METHOD:REQUEST) or cancellation (METHOD:CANCEL), addressed
    to the organizer and one attendee only."""
    tz = payload["tz"]
    zone = ZoneInfo(tz)
    method = payload["method"]
    cal = _new_calendar(method=method)
    role = "CHAIR" if payload["attendee_role"] == "chair" else "REQ-PARTICIPANT"
    attendee = vCalAddress.new(payload["attendee_email"], cn=payload["attendee_name"] or None, role=role,
                               partstat="NEEDS-ACTION", rsvp=False, cutype="INDIVIDUAL")
    event = VEvent.new(
        uid=payload["uid"],
        sequence=payload["sequence"],
        stamp=stamp,
        start=datetime.fromisoformat(payload["starts_at"]).astimezone(zone),
        end=datetime.fromisoformat(payload["ends_at"]).astimezone(zone),
        summary=payload["summary"],
        location=payload["location"] or None,
        description=payload["description"] or None,
        organizer=_organizer(payload),
        attendees=[attendee],
        status="CANCELLED" if method == CANCEL else "CONFIRMED",
        transparency="OPAQUE",
    )
    if payload.get("url"):
        event.add("url", payload["url"])
    if method == REQUEST:
        event.add_component(Alarm.new_display(description=payload["summary"], trigger=-ALARM_BEFORE))
    cal.add_component(event)
    _attach_timezone(cal, tz)
    return cal.to_ical()


def feed(name: str, items: list[dict], *, tz: str, stamp: datetime) -> bytes:
    """A subscription feed (no METHOD: calendar apps poll it): one VEVENT per item, with the
    same UID as the invitations so that the two do not show as two meetings."""
    zone = ZoneInfo(tz)
    cal = _new_calendar(name=name)
    cal.add("x-wr-timezone", tz)
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    for item in items:
        event = VEvent.new(
            uid=item["uid"], sequence=item["sequence"], stamp=stamp,
            start=item["starts_at"].astimezone(zone), end=item["ends_at"].astimezone(zone),
            summary=item["summary"], location=item["location"] or None,
            description=item["description"] or None,
            status="CANCELLED" if item.get("cancelled") else "CONFIRMED",
        )
        if item.get("url"):
            event.add("url", item["url"])
        if not item.get("cancelled"):
            event.add_component(Alarm.new_display(description=item["summary"], trigger=-ALARM_BEFORE))
        cal.add_component(event)
    if items:
        _attach_timezone(cal, tz)
    return cal.to_ical()
