"""The words an audit sentence is made of (`history.sentences` puts them together): who acted when
no user did, the names of fields, roles and sources, `Render` (one entry being put into words,
with the page's names: who, the event, a unit, an endpoint, a deadline, a reminder rule, a time),
and the small formatters (a quoted and clipped text, a number, a phone, an offset, a size, the
changes between two versions of a row).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Iterable

from flask import current_app
from flask_babel import format_decimal, format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from coordinator.endpoints.phones import national
from coordinator.events.labels import DEADLINE_LABELS, SESSION_LABELS, TIER_LABELS
from coordinator.history.names import EventName, Names, as_int, details_of
from coordinator.reminders.labels import AUDIENCE_LABELS, CHANNEL_LABELS, offset_label
from coordinator.text import fold
from coordinator.timeutil import format_local

MAX_LISTED = 3  # endpoints named in one sentence; the rest are counted
MAX_CHANGES = 8  # fields of an event change named in one sentence
MAX_TEXT = 120  # characters of free text (reasons, reminder texts, notes) quoted in a sentence

# Who acted, when it was no user: the labels the code records.
SYSTEM_ACTORS = {
    "cli": _l("the command line on the server"),
    "scheduler": _l("the scheduler"),
    "probe": _l("the automatic probes"),
    "operator": _l("an operator"),
    "escalation": _l("the incident escalation"),
    "web": _l("the web service"),
    "link": _l("a contact (by the link in a reminder)"),
    "sms": _l("a contact (by SMS)"),
    "provider": _l("the SMS provider"),
    "organizer": _l("an organizer"),
}
ROLE_NAMES = {
    "admin": _l("administrator"),
    "organizer": _l("organizer"),
    "coordinator": _l("coordinator"),
    "operator": _l("operator"),
}
OPT_OUT_SOURCES = {"sms": _l("replied STOP"), "provider": _l("provider: unsubscribed"), "organizer": _l("organizer")}
EVENT_FIELDS = {
    "title": _l("title"),
    "short_title": _l("short title"),
    "legal_reference": _l("legal reference"),
    "description": _l("description"),
    "timezone": _l("time zone"),
    "unit_structure": _l("administrative structure"),
    "organizer_name": _l("organizer's name"),
    "organizer_office": _l("organizer's office"),
    "organizer_email": _l("organizer's email"),
    "organizer_phone": _l("organizer's phone"),
    "duty_phones": _l("duty phones"),
}
USER_FIELDS = {"name": _l("name"), "role": _l("role"), "unit": _l("unit")}
RULE_FIELDS = {
    "anchor": _l("anchor"),
    "offset_seconds": _l("when"),
    "channel": _l("channel"),
    "audience": _l("recipients"),
    "template": _l("text"),
    "strip_diacritics": _l("without diacritics"),
    "active": _l("active"),
}
# Fields another service may record as before/after (an endpoint's, a contact's): shown by name.
OTHER_FIELDS = {
    "name": _l("name"),
    "address": _l("address"),
    "protocol": _l("protocol"),
    "dial": _l("dial address"),
    "upstream_bridge": _l("upstream bridge"),
    "provider": _l("provider"),
    "expected_attendance": _l("expected attendance"),
    "contacts": _l("contacts"),
    "hosted_unit_codes": _l("units attending here"),
    "starts_at": _l("start"),
    "ends_at": _l("end"),
    "location": _l("place"),
}


# --- the words for things ---------------------------------------------------------------------------

class Render:
    """One entry being put into words, with the page's names."""

    def __init__(self, entry, names: Names):
        self.e = entry
        self.names = names
        self.d = details_of(entry)
        self.event_row: EventName | None = names.event_of(entry)

    # who

    @property
    def who(self) -> str:
        e = self.e
        if e.actor_id is not None and (user := self.names.users.get(e.actor_id)) is not None:
            return user.display_name or user.email
        label = e.actor_label or ""
        if label in SYSTEM_ACTORS:
            return str(SYSTEM_ACTORS[label])
        if label.startswith("+") and label[1:].isdigit():
            return phone(label)
        return label or "?"

    @property
    def who_as_recorded(self) -> bool:
        """The actor is named by what was recorded (an email, a number), not by words: a sentence
        starting with it keeps its case."""
        e = self.e
        return (e.actor_id is None or e.actor_id not in self.names.users) and (e.actor_label or "") not in SYSTEM_ACTORS

    # things

    @property
    def tz(self) -> str:
        return self.event_row.timezone if self.event_row else current_app.config["DEFAULT_TIMEZONE"]

    @property
    def structure(self) -> str | None:
        return self.event_row.structure if self.event_row else None

    @property
    def event(self) -> str:
        if self.event_row is not None:
            return quoted(self.event_row.short_title or self.event_row.title)
        slug = self.d.get("event") if isinstance(self.d.get("event"), str) else None
        if slug is None and self.e.object_type == "event" and not as_int(self.e.object_id):
            slug = self.e.object_id
        return quoted(slug or "?")

    def unit(self, code: Any, structure: Any = None) -> str:
        code = str(code) if code not in (None, "") else ""
        name = self.names.unit_name(code, structure if isinstance(structure, str) else self.structure)
        if name is None:
            return code or "?"
        return f"{name} ({code})"

    def endpoint(self, endpoint_id: Any = None, unit_code: Any = None) -> str:
        number = as_int(self.e.object_id if endpoint_id is None else endpoint_id)
        row = self.names.endpoints.get(number)
        if row is not None:
            if row.unit_name and fold_in(row.unit_name, row.name):
                return _("the endpoint %(name)s", name=quoted(row.name))
            return _("the endpoint %(name)s of %(unit)s", name=quoted(row.name), unit=f"{row.unit_name} ({row.unit_code})")
        unit_code = unit_code or self.names.removed_endpoints.get(number, (None, None))[1]
        if unit_code:
            return _("the endpoint of %(unit)s", unit=self.unit(unit_code))
        return _("endpoint #%(id)s", id=number if number is not None else "?")

    def endpoints(self, ids: Any) -> str:
        ids = [i for i in map(as_int, ids if isinstance(ids, list) else []) if i is not None]
        if not ids:
            return _("their endpoints")
        shown = ", ".join(self.endpoint(i) for i in ids[:MAX_LISTED])
        if len(ids) > MAX_LISTED:
            return _("%(names)s and %(n)s more", names=shown, n=number(len(ids) - MAX_LISTED))
        return shown

    def session(self, kind: Any) -> str:
        return session_label(kind)

    def deadline(self, kind: Any = None, tier: Any = None, deadline_id: Any = None) -> str:
        row = self.names.deadlines.get(as_int(deadline_id if deadline_id is not None else self.e.object_id))
        kind = kind or (row.kind if row else None)
        tier = tier or (row.tier if row else None)
        if kind is None:
            return _("deadline #%(id)s", id=deadline_id or self.e.object_id or "?")
        return deadline_label(kind, tier)

    def rule(self, values: dict | None = None) -> str:
        """A reminder rule: its channel, audience, offset and anchor ("SMS to Technical contacts,
        1 d before Main session"), from the row if it still exists, else from the entry."""
        row = self.names.rules.get(as_int(self.e.object_id))
        values = values if isinstance(values, dict) and "anchor" in values else None
        if values is None and row is not None:
            values = row._asdict()
        if values is None:
            return _("reminder #%(id)s", id=self.e.object_id or "?")
        return _("%(channel)s to %(audience)s, %(offset)s %(anchor)s",
                 channel=CHANNEL_LABELS.get(values.get("channel"), values.get("channel") or "?"),
                 audience=AUDIENCE_LABELS.get(values.get("audience"), values.get("audience") or "?"),
                 offset=offset(values.get("offset_seconds")), anchor=anchor_label(values.get("anchor")))

    def when(self, value: Any) -> str:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, datetime) and value.tzinfo is not None:
            return format_local(value, self.tz)
        return str(value) if value not in (None, "") else "—"


# --- small formatters --------------------------------------------------------------------------------

def session_label(kind: Any) -> str:
    return str(SESSION_LABELS.get(kind, kind or "?"))


def deadline_label(kind: Any, tier: Any = None) -> str:
    """"Endpoints registered – Province"."""
    words = str(DEADLINE_LABELS.get(kind, kind))
    return f"{words} – {TIER_LABELS.get(tier, tier)}" if tier else words


def anchor_label(anchor: Any) -> str:
    """A reminder's anchor ("session:main", "deadline:endpoints") in words."""
    kind, _sep, name = str(anchor or "").partition(":")
    if kind == "session":
        return session_label(name)
    if kind == "deadline":
        return _("Deadline: %(name)s", name=DEADLINE_LABELS.get(name, name))
    return str(anchor or "?")


def quoted(text: Any) -> str:
    return f"“{clip(text)}”"


def clip(text: Any, size: int = MAX_TEXT) -> str:
    text = " ".join(str(text if text is not None else "").split())
    return text if len(text) <= size else text[:size - 1].rstrip() + "…"


def fold_in(needle: str, haystack: str) -> bool:
    return fold(needle) in fold(haystack)


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value if value is not None else 0)
    return format_number(value)


def phone(e164: Any) -> str:
    try:
        return national(str(e164))
    except Exception:  # not a number phonenumbers reads: as recorded
        return str(e164)


def offset(seconds: Any) -> str:
    return offset_label(seconds) if isinstance(seconds, int) and not isinstance(seconds, bool) else "?"


def size(value: Any) -> str:
    if not isinstance(value, int):
        return "?"
    if value < 1000:
        return f"{value} B"
    if value < 1_000_000:
        return f"{format_decimal(round(value / 1000), '#,##0')} kB"
    return f"{format_decimal(value / 1_000_000, '#,##0.0')} MB"


def yes_no(value: Any) -> str:
    return _("Yes") if value else _("No")


def raw(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return clip(json.dumps(value, ensure_ascii=False, default=str), 200)
    return clip(value, 200)


def with_extras(sentence: str, extras: Iterable[str | None], *, inside: bool = False) -> str:
    """The sentence and its details in brackets: "… (invitations queued: 12)". `inside`: the
    sentence ends with brackets of its own, which then take the details ("… (organizer; note: …)")."""
    extras = [x for x in extras if x]
    if not extras:
        return sentence
    if inside and sentence.endswith(")"):
        return f"{sentence[:-1]}; {'; '.join(extras)})"
    return f"{sentence} ({'; '.join(extras)})"


def capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def field_changes(before: Any, after: Any, labels: dict, value: Callable[[str, Any], str] | None = None) -> str:
    """'when: 1 d before → 2 h before; active: Yes → No', for the fields that differ (in the order
    recorded; "—" for a field one side lacks)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return ""
    shown = value or (lambda _key, v: raw(v) if v not in (None, "") else "—")
    parts = []
    for key in dict.fromkeys([*after, *before]):
        if before.get(key) == after.get(key):
            continue
        parts.append(_("%(field)s: %(before)s → %(after)s", field=labels.get(key, OTHER_FIELDS.get(key, key)),
                       before=shown(key, before.get(key)), after=shown(key, after.get(key))))
    return "; ".join(parts)
