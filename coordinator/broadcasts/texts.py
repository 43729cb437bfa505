"""A broadcast's text: `{placeholder}` templates written as the reminder templates are
(`events.reminder_texts`: the same braces, `{{` and `}}` for a brace, the same filling), with the
placeholders a broadcast about one session can fill, and at most `MAX_SEGMENTS` segments once
filled for any recipient."""
from __future__ import annotations

from string import Formatter

from coordinator.events import reminder_texts
from coordinator.messages import N_, Message

# {event}: the event's short title; {session}: the session's title; {local_time}: when it starts,
# in the event's zone; {endpoint} and {unit}: the recipient's endpoint(s) and unit(s); {confirm_url}:
# the recipient's one-tap readiness link for the session (the reminders' link).
PLACEHOLDERS = ("event", "session", "local_time", "endpoint", "unit", "confirm_url")
# Longer than ten segments is refused: a broadcast to thousands pays for every one of them.
MAX_SEGMENTS = 10
# The longest template worth filling: ten GSM-7 segments of 153 characters (longer can only be
# more than ten segments once filled).
MAX_TEMPLATE_CHARS = MAX_SEGMENTS * 153


def check(template: str) -> Message | None:
    """Why `template` cannot be a broadcast's text, or None (the placeholders filled may still
    make it longer than MAX_SEGMENTS: `services` checks the texts themselves)."""
    return reminder_texts.check_template(template, PLACEHOLDERS, MAX_TEMPLATE_CHARS,
                                         N_("unknown placeholder {%(name)s}; a broadcast can use: %(allowed)s"))


def used(template: str) -> set[str]:
    """The placeholders a (checked) template uses."""
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def fill(template: str, values: dict[str, str]) -> str:
    """The text one recipient gets, on one line (as the reminders' texts)."""
    return " ".join(reminder_texts.fill(template, values).split())


def too_long(segments: int) -> Message:
    return Message(N_("the text takes %(n)s SMS segments for some recipients; at most %(max)s"),
                   {"n": segments, "max": MAX_SEGMENTS})
