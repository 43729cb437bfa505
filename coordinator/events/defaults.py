"""What an event created from the organizer's form starts with: the reminder plan of
`schedules/default-reminders.toml` (deadline −3 and −1 days to the units that have not met it;
test −1 day and −1 hour to technical contacts; session −1 day and −1 hour to chairs and technical
contacts), for the anchors the event has. Editable afterwards like any rule."""
from __future__ import annotations

import tomllib
from pathlib import Path

DEFAULTS = Path(__file__).resolve().parent.parent.parent / "schedules" / "default-reminders.toml"


def default_reminders(session_kinds: list[str], deadline_kinds: list[str]) -> list[dict]:
    """Plan-file reminder items (dicts) for an event with these sessions and deadlines."""
    rules = tomllib.loads(DEFAULTS.read_text(encoding="utf-8")).get("reminders", [])
    out = []
    for rule in rules:
        kind, _, name = rule["anchor"].partition(":")
        if kind == "deadline" and name == "*":
            out += [{**rule, "anchor": f"deadline:{d}"} for d in dict.fromkeys(deadline_kinds)]
        elif (kind == "session" and name in session_kinds) or (kind == "deadline" and name in deadline_kinds):
            out.append(dict(rule))
    return out
