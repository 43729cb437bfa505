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


_FOLD = 74  # content octets per physical line; with the leading space of a continuation, 75 (RFC 5545 §3.1)
_ESCAPES = (0x5C, 0x5E)  # "\\" and "^": never end a line on an escape's first character (icalendar #1501)


def _fold(line: str) -> bytes:
    """RFC 5545 folding, as icalendar does it, on bytes: never inside a UTF-8 sequence, never
    right after an escape character. icalendar's own folder encodes every character on its own,
    which made it the largest cost of a national send-out."""
    data = line.encode("utf-8")
    if len(data) <= _FOLD:
        return data
    chunks, start = [], 0
    while len(data) - start > _FOLD:
        end = start + _FOLD
        while data[end] & 0xC0 == 0x80:  # `end` must start a character
            end -= 1
        if data[end - 1] in _ESCAPES and end - 1 > start:
            end -= 1
        chunks.append(data[start:end])
        start = end
    chunks.append(data[start:])
    return b"\r\n ".join(chunks)


def to_ical(component) -> bytes:
    """`component.to_ical()`, with the fast folder."""
    return b"\r\n".join(_fold(line) for line in component.content_lines() if line) + b"\r\n"


def _new_calendar(**kwargs) -> Calendar:
    cal = Calendar.new(prodid=PRODID, **kwargs)
    cal.pop("UID", None)  # RFC 7986's calendar UID means nothing to mail clients; keep the classic shape
    return cal


def _with_timezone(ical: bytes, tz: str) -> bytes:
    """Insert the zone's VTIMEZONE before the first VEVENT (some clients read the file in one
    pass): spliced in as the cached bytes, instead of rebuilding it for every message."""
    head, sep, rest = ical.partition(b"BEGIN:VEVENT\r\n")
    return head + _vtimezone(tz) + sep + rest


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
    return _with_timezone(to_ical(cal), tz)


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
    return _with_timezone(to_ical(cal), tz) if items else cal.to_ical()
