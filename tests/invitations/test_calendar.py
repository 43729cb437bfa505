"""The iCalendar serialisation shortcuts give exactly what icalendar itself writes."""
from __future__ import annotations

import random
from datetime import datetime, timezone

from icalendar import Calendar, Event

from coordinator.invitations.calendar import to_ical

ALPHABET = list("abc xyz,;:\\^\"Đđệươưỹẫàá–€😀") + ["\n"]


def test_the_fast_folder_writes_what_icalendar_writes():
    rng = random.Random(49)
    for _ in range(300):
        cal = Calendar()
        event = Event()
        for prop in ("SUMMARY", "LOCATION", "DESCRIPTION"):
            event.add(prop, "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 400))))
        event.add("DTSTART", datetime(2024, 6, 28, 1, 30, tzinfo=timezone.utc))
        event.add("UID", f"{rng.random()}@test")
        cal.add_component(event)
        assert to_ical(cal) == cal.to_ical()
    # and every physical line is at most 75 octets
    assert max(len(line) for line in to_ical(cal).split(b"\r\n")) <= 75
