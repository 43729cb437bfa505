"""Reminder texts: `{placeholder}` templates, checked when saved (a plan file or the organizer's
form: `events.plans`; a rule's page or the API: `reminders.rules`) and filled when a reminder fires
(`reminders.services`). Here, below both, because events checks them and may not import reminders.

The placeholders a rule may use depend on its anchor: a session reminder names the session, its
local time, the recipient's endpoint and a one-tap confirmation link; a deadline reminder names
the deadline, its due time, the unit and the page where it registers.
"""
from __future__ import annotations

from string import Formatter

from coordinator.messages import N_, Message

SESSION_PLACEHOLDERS = ("event", "session", "local_time", "endpoint", "confirm_url")
DEADLINE_PLACEHOLDERS = ("event", "deadline", "local_time", "unit", "register_url")
# The longest a template may be: ten UCS-2 segments; a longer SMS is almost always a mistake.
MAX_TEMPLATE_CHARS = 670


def placeholders_for(anchor_kind: str) -> tuple[str, ...]:
    return SESSION_PLACEHOLDERS if anchor_kind == "session" else DEADLINE_PLACEHOLDERS


def check(template: str, anchor_kind: str) -> Message | None:
    """Why `template` cannot be used for a reminder anchored to a `anchor_kind`, or None."""
    return check_template(template, placeholders_for(anchor_kind), MAX_TEMPLATE_CHARS,
                          N_("unknown placeholder {%(name)s}; this reminder can use: %(allowed)s"))


def check_template(template: str, allowed: tuple[str, ...], max_chars: int, unknown: str) -> Message | None:
    """Why `template` cannot be filled with the placeholders `allowed`, or None: empty, longer than
    `max_chars`, a brace not closed, or a placeholder not allowed (`unknown`: the message naming
    it, with %(name)s and %(allowed)s). Reminders and broadcasts write their texts the same way."""
    if not template.strip():
        return Message(N_("the text is empty"))
    if len(template) > max_chars:
        return Message(N_("the text is %(n)s characters long; at most %(max)s"), {"n": len(template), "max": max_chars})
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in Formatter().parse(template) if name is not None]
    except ValueError:
        return Message(N_("a '{' or '}' is not closed; write placeholders as {event}, and {{ or }} for a brace"))
    for name, spec, conv in fields:
        if name not in allowed or spec or conv:
            return Message(unknown, {"name": name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else ""),
                                     "allowed": ", ".join("{%s}" % a for a in allowed)})
    return None


def fill(template: str, values: dict[str, str]) -> str:
    """The text with its placeholders replaced (the template was checked when saved)."""
    return template.format_map(_Values(values))


class _Values(dict):
    def __missing__(self, key: str) -> str:  # a rule saved before a placeholder was retired
        return ""
