"""Display names of the reminder vocabulary, translated when shown."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

AUDIENCE_LABELS = {
    "chairs": _l("Chairs of the endpoints"),
    "technical": _l("Technical contacts"),
    "all_contacts": _l("All contacts"),
    "units_missing_deadline": _l("Units that have not met the deadline"),
}
CHANNEL_LABELS = {"sms": _l("SMS"), "email": _l("Email")}
STATE_LABELS = {
    "scheduled": _l("Scheduled"),
    "due": _l("Due now"),
    "sent": _l("Sent"),
    "skipped": _l("Skipped"),
    "paused": _l("Paused"),
    "draft": _l("Waits for publication"),
    "closed": _l("Event closed"),
    "no_anchor": _l("Its session or deadline is gone"),
}
UNREACHABLE_LABELS = {
    "fixed_line": _l("fixed line: cannot receive SMS"),
    "foreign_number": _l("foreign number: the Vietnamese SMS sender cannot reach it"),
    "no_email": _l("no email address"),
    "opted_out": _l("opted out of SMS"),
    "no_contact": _l("no contact registered"),
}
UNITS = (("days", 86400), ("hours", 3600), ("minutes", 60))


def split_offset(seconds: int) -> tuple[int, str, str]:
    """(amount, unit, direction) for the form: -86400 -> (1, "days", "before")."""
    direction = "after" if seconds > 0 else "before"
    seconds = abs(seconds)
    for unit, size in UNITS:
        if seconds % size == 0 and seconds:
            return seconds // size, unit, direction
    return 0, "minutes", direction


def offset_label(seconds: int) -> str:
    amount, unit, direction = split_offset(seconds)
    if amount == 0:
        return _("at the time")
    words = {"days": _("%(n)s d", n=amount), "hours": _("%(n)s h", n=amount), "minutes": _("%(n)s min", n=amount)}[unit]
    return _("%(span)s before", span=words) if direction == "before" else _("%(span)s after", span=words)


def reason_label(reason: str) -> str:
    if reason == "anchor_passed":
        return _("Not sent: its session or deadline had already begun when it could go out (was the scheduler stopped?)")
    if reason.startswith("overtaken"):
        return _("Not sent: a later reminder to the same people was due at the same time and went out instead")
    return reason
