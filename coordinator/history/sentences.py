"""An audit entry as a sentence in the reader's language: who did what to which thing, with the
details that matter ("Nguyễn Văn A đã hủy hội nghị “…” — lý do: …").

`describe(entry)` renders one entry; `describe_all(entries)` a page of them with the names looked
up once for the page (`names.Names.load`: a constant number of queries). Every action recorded
today has its sentence (see `RENDERERS`); any other action, or an entry whose details are not what
its renderer expects, gets a generic sentence naming the action and its details: rendering never
raises. Sentences are plain text (pages escape them).
"""
from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from datetime import datetime
from typing import Any, Callable, Iterable

from flask import current_app, has_request_context
from flask_babel import force_locale, format_decimal, format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from coordinator.audit.actions import action_label
from coordinator.history.names import EventName, Names, as_int, details_of
from coordinator.endpoints.phones import national
from coordinator.events.labels import DEADLINE_LABELS, SESSION_LABELS, TIER_LABELS
from coordinator.reminders.labels import AUDIENCE_LABELS, CHANNEL_LABELS, offset_label
from coordinator.status.labels import LAYER_LABELS
from coordinator.text import fold
from coordinator.timeutil import format_local

log = logging.getLogger(__name__)

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

class _Render:
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


# --- one renderer per action -----------------------------------------------------------------------------

def _event_create(r: _Render) -> str:
    return _("%(who)s created the event %(event)s", who=r.who, event=r.event)


def _event_change(change: Any) -> str:
    change = str(change)
    if change in EVENT_FIELDS:
        return str(EVENT_FIELDS[change])
    what, _sep, rest = change.partition(":")
    tier = TIER_LABELS.get(rest, rest)
    if what in ("session", "session-added", "session-removed"):
        session = session_label(rest)
        return {"session": _("session %(session)s", session=session),
                "session-added": _("session %(session)s added", session=session),
                "session-removed": _("session %(session)s removed", session=session)}[what]
    if what in ("deadline", "deadline-removed"):
        kind, _sep, tier_code = rest.partition(":")
        deadline = deadline_label(kind, tier_code)
        return (_("deadline %(deadline)s", deadline=deadline) if what == "deadline"
                else _("deadline %(deadline)s removed", deadline=deadline))
    if what in ("reminder", "reminder-added", "reminder-removed"):
        anchor = anchor_label(rest)
        return {"reminder": _("reminder for %(anchor)s", anchor=anchor),
                "reminder-added": _("reminder for %(anchor)s added", anchor=anchor),
                "reminder-removed": _("reminder for %(anchor)s removed", anchor=anchor)}[what]
    if what == "tier":
        return _("tier %(tier)s", tier=tier)
    if what == "tier-removed":
        return _("tier %(tier)s removed", tier=tier)
    return change


def _event_update(r: _Render) -> str:
    changes = r.d.get("changes")
    changes = changes if isinstance(changes, list) else []
    words = [_event_change(c) for c in changes[:MAX_CHANGES]]
    if len(changes) > MAX_CHANGES:
        words.append(_("%(n)s more", n=number(len(changes) - MAX_CHANGES)))
    if not words:
        return _("%(who)s changed the event %(event)s", who=r.who, event=r.event)
    return _("%(who)s changed the event %(event)s: %(changes)s", who=r.who, event=r.event, changes=", ".join(words))


def _event_publish(r: _Render) -> str:
    return with_extras(_("%(who)s published the event %(event)s", who=r.who, event=r.event), [
        _("invitations queued: %(n)s", n=number(r.d["invitations"])) if "invitations" in r.d else None])


def _event_cancel(r: _Render) -> str:
    reason = clip(r.d.get("reason") or "")
    if reason:
        sentence = _("%(who)s cancelled the event %(event)s — reason: %(reason)s", who=r.who, event=r.event, reason=reason)
    else:
        sentence = _("%(who)s cancelled the event %(event)s (no reason given)", who=r.who, event=r.event)
    return with_extras(sentence, [
        _("calendar cancellations: %(n)s", n=number(r.d["cancellations"])) if r.d.get("cancellations") else None,
        _("contacts told by SMS: %(n)s", n=number(r.d["cancellation_sms"])) if r.d.get("cancellation_sms") else None],
        inside=not reason)


def _event_finish(r: _Render) -> str:
    return _("%(who)s marked the event %(event)s as finished", who=r.who, event=r.event)


def _session_move(r: _Render) -> str:
    before, after = r.d.get("before"), r.d.get("after")
    changes = field_changes(before, after, {},
                            lambda key, v: r.when(v) if key in ("starts_at", "ends_at") else (clip(v) if v else "—"))
    return _("%(who)s moved %(session)s of the event %(event)s: %(changes)s", who=r.who,
             session=r.session(r.d.get("session")), event=r.event, changes=changes or "—")


def _session_confirm(r: _Render) -> str:
    return _("%(who)s confirmed %(endpoints)s ready for %(session)s of the event %(event)s", who=r.who,
             endpoints=r.endpoints(r.d.get("endpoints")), session=r.session(r.d.get("session")), event=r.event)


def _endpoint_changes(r: _Render) -> str:
    return field_changes(r.d.get("before"), r.d.get("after"), {})


def _endpoint_create(r: _Render) -> str:
    return _("%(who)s registered %(endpoint)s for the event %(event)s", who=r.who,
             endpoint=r.endpoint(unit_code=r.d.get("unit")), event=r.event)


def _endpoint_update(r: _Render) -> str:
    changes = _endpoint_changes(r)
    if changes:  # when the endpoints service records before/after
        return _("%(who)s updated %(endpoint)s for the event %(event)s: %(changes)s", who=r.who,
                 endpoint=r.endpoint(unit_code=r.d.get("unit")), event=r.event, changes=changes)
    return _("%(who)s updated %(endpoint)s for the event %(event)s", who=r.who,
             endpoint=r.endpoint(unit_code=r.d.get("unit")), event=r.event)


def _endpoint_delete(r: _Render) -> str:
    return with_extras(_("%(who)s removed %(endpoint)s from the event %(event)s", who=r.who,
                         endpoint=r.endpoint(unit_code=r.d.get("unit")), event=r.event), [
        _("contacts removed: %(n)s", n=number(r.d["contacts"])) if isinstance(r.d.get("contacts"), int) else None])


def _endpoints_import(r: _Render) -> str:
    def counts(key):
        value = r.d.get(key)
        value = value if isinstance(value, dict) else {}
        return [number(value.get(k, 0)) for k in ("created", "updated", "unchanged")]

    (ec, eu, en), (cc, cu, cn) = counts("endpoints"), counts("contacts")
    filename = r.d.get("filename")
    return _("%(who)s imported %(file)s into the event %(event)s: endpoints %(e_created)s created, %(e_updated)s "
             "updated, %(e_unchanged)s unchanged; contacts %(c_created)s created, %(c_updated)s updated, "
             "%(c_unchanged)s unchanged", who=r.who, file=quoted(filename) if filename else _("a spreadsheet"),
             event=r.event, e_created=ec, e_updated=eu, e_unchanged=en, c_created=cc, c_updated=cu, c_unchanged=cn)


def _copy_registrations(r: _Render) -> str:
    return _("%(who)s copied the registrations of %(source)s into the event %(event)s: %(copied)s endpoints "
             "(%(contacts)s contacts) copied, %(review)s listed for review", who=r.who,
             source=quoted(r.d.get("source") or "?"), event=r.event, copied=number(r.d.get("copied", 0)),
             contacts=number(r.d.get("contacts", 0)), review=number(r.d.get("review", 0)))


def _incident_open(r: _Render) -> str:
    layer = r.d.get("layer")
    return with_extras(_("%(who)s reported %(endpoint)s failed during %(session)s: incident #%(incident)s opened",
                         who=r.who, endpoint=r.endpoint(), session=r.session(r.d.get("session")),
                         incident=r.d.get("incident", "?")), [
        str(LAYER_LABELS.get(layer, layer)) if layer else None,
        clip(r.d["detail"]) if r.d.get("detail") else None,
        _("technical contacts texted: %(n)s", n=number(r.d.get("notified", 0)))])


def _incident_digest(r: _Render) -> str:
    scope = r.d.get("scope")
    place = _("Whole country") if scope == "national" else r.unit(scope)
    return _("%(who)s sent the incident digest of %(place)s for %(session)s of the event %(event)s: %(incidents)s "
             "incidents, %(recipients)s recipients", who=r.who, place=place, session=r.session(r.d.get("session")),
             event=r.event, incidents=number(r.d.get("incidents", 0)), recipients=number(r.d.get("recipients", 0)))


def _rule_extras(values: dict) -> list[str | None]:
    return [
        _("text: %(text)s", text=quoted(values["template"])) if values.get("template") else None,
        _("without diacritics") if values.get("strip_diacritics") else None,
        _("paused") if values.get("active") is False else None,
    ]


def _reminder_create(r: _Render) -> str:
    return with_extras(_("%(who)s added the reminder %(rule)s to the event %(event)s", who=r.who,
                         rule=r.rule(r.d), event=r.event), _rule_extras(r.d))


def _reminder_update(r: _Render) -> str:
    before, after = r.d.get("before"), r.d.get("after")

    def value(key, v):
        if key == "offset_seconds":
            return offset(v)
        if key == "anchor":
            return anchor_label(v)
        if key == "channel":
            return str(CHANNEL_LABELS.get(v, v))
        if key == "audience":
            return str(AUDIENCE_LABELS.get(v, v))
        if key in ("active", "strip_diacritics"):
            return yes_no(v)
        return quoted(v) if v else "—"

    current = {**before, **after} if isinstance(before, dict) and isinstance(after, dict) else None
    rule = r.rule(current) if current and "anchor" in current else r.rule()
    return _("%(who)s changed the reminder %(rule)s of the event %(event)s: %(changes)s", who=r.who, rule=rule,
             event=r.event, changes=field_changes(before, after, RULE_FIELDS, value) or "—")


def _reminder_delete(r: _Render) -> str:
    return _("%(who)s deleted the reminder %(rule)s of the event %(event)s", who=r.who, rule=r.rule(r.d),
             event=r.event)


def _reminder_skip(r: _Render) -> str:
    reason = str(r.d.get("reason") or "")
    if reason == "anchor_passed":
        words = _("its session or deadline had already begun")
    elif reason.startswith("overtaken"):
        words = _("a later reminder to the same people went out instead")
    else:
        words = clip(reason) or "—"
    return _("%(who)s skipped the reminder %(rule)s of the event %(event)s: %(reason)s", who=r.who, rule=r.rule(),
             event=r.event, reason=words)


def _reminder_fire(r: _Render) -> str:
    return with_extras(_("%(who)s sent the reminder %(rule)s of the event %(event)s: %(n)s messages queued",
                         who=r.who, rule=r.rule(), event=r.event, n=number(r.d.get("queued", 0))), [
        _("unreachable: %(n)s", n=number(r.d["unreachable"])) if r.d.get("unreachable") else None])


def _deadline_close(r: _Render) -> str:
    return _("%(who)s closed registration for %(deadline)s of the event %(event)s", who=r.who,
             deadline=r.deadline(r.d.get("kind"), r.d.get("tier")), event=r.event)


def _deadline_reopen(r: _Render) -> str:
    return _("%(who)s reopened registration for %(deadline)s of the event %(event)s", who=r.who,
             deadline=r.deadline(r.d.get("kind"), r.d.get("tier")), event=r.event)


def _document_words(r: _Render) -> dict:
    return {"who": r.who, "file": quoted(r.d.get("filename") or "?"), "unit": r.unit(r.d.get("unit")),
            "deadline": r.deadline(deadline_id=r.d.get("deadline")), "event": r.event}


def _document_upload(r: _Render) -> str:
    return with_extras(_("%(who)s uploaded %(file)s for %(unit)s (%(deadline)s, event %(event)s)",
                         **_document_words(r)), [size(r.d["size"]) if "size" in r.d else None,
                                                 _("late") if r.d.get("late") else None], inside=True)


def _document_replace(r: _Render) -> str:
    return with_extras(_("%(who)s replaced a file of %(unit)s with %(file)s (%(deadline)s, event %(event)s)",
                         **_document_words(r)), [size(r.d["size"]) if "size" in r.d else None,
                                                 _("late") if r.d.get("late") else None], inside=True)


def _document_delete(r: _Render) -> str:
    return _("%(who)s deleted %(file)s of %(unit)s (%(deadline)s, event %(event)s)", **_document_words(r))


def _document_contact(r: _Render) -> str:
    return _("%(who)s named %(name)s (%(phone)s) focal contact of %(unit)s for %(deadline)s (event %(event)s)",
             who=r.who, name=clip(r.d.get("name") or "?"), phone=phone(r.d.get("phone") or "?"),
             unit=r.unit(r.d.get("unit")), deadline=r.deadline(deadline_id=r.e.object_id), event=r.event)


def _user_named(r: _Render) -> str:
    user = r.names.users.get(as_int(r.e.object_id))
    email = (user.email if user else None) or r.d.get("email") or f"#{r.e.object_id}"
    if user is not None and user.display_name and user.display_name != email:
        return f"{user.display_name} <{email}>"
    return str(email)


def _role(role: Any) -> str:
    return str(ROLE_NAMES.get(role, role or "?"))


def _user_create(r: _Render) -> str:
    user = r.names.users.get(as_int(r.e.object_id))
    role = _role(r.d.get("role"))
    code = r.d.get("unit")
    if code:
        unit = (f"{user.unit_name} ({code})" if user is not None and user.unit_code == code and user.unit_name
                else r.unit(code, r.d.get("structure")))
        sentence = _("%(who)s created the account %(user)s: %(role)s of %(unit)s", who=r.who, user=_user_named(r),
                     role=role, unit=unit)
    else:
        sentence = _("%(who)s created the account %(user)s: %(role)s", who=r.who, user=_user_named(r), role=role)
    return with_extras(sentence, [_("disabled") if r.d.get("active") is False else None])


def _user_update(r: _Render) -> str:
    """changes: {"name" | "role" | "unit": [before, after]}, a unit as "structure:code"."""
    changes = r.d.get("changes")
    changes = changes if isinstance(changes, dict) else {}

    def value(key, v):
        if v in (None, ""):
            return "—"
        if key == "role":
            return _role(v)
        if key == "unit" and isinstance(v, str):
            structure, _sep, code = v.rpartition(":")
            return r.unit(code, structure or None)
        return clip(v)

    pairs = {k: v for k, v in changes.items() if isinstance(v, list) and len(v) == 2}
    words = field_changes({k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}, USER_FIELDS, value)
    return _("%(who)s changed the account %(user)s: %(changes)s", who=r.who, user=_user_named(r), changes=words or "—")


def _user_disable(r: _Render) -> str:
    return with_extras(_("%(who)s disabled the account %(user)s", who=r.who, user=_user_named(r)), [
        _("API tokens revoked: %(n)s", n=number(r.d["tokens_revoked"])) if isinstance(r.d.get("tokens_revoked"), int) else None,
        _("signed out everywhere") if r.d.get("sessions") == "revoked" else None])


def _user_enable(r: _Render) -> str:
    return _("%(who)s enabled the account %(user)s", who=r.who, user=_user_named(r))


def _user_import(r: _Render) -> str:
    filename = r.d.get("filename")
    return _("%(who)s imported accounts from %(file)s: %(created)s created, %(updated)s updated, %(unchanged)s "
             "unchanged", who=r.who, file=quoted(filename) if filename else _("a spreadsheet"),
             created=number(r.d.get("created", 0)), updated=number(r.d.get("updated", 0)),
             unchanged=number(r.d.get("unchanged", 0)))


def _user_password_link(r: _Render) -> str:
    if r.d.get("purpose") == "reset":
        sentence = _("%(who)s issued %(user)s a link to reset the password", who=r.who, user=_user_named(r))
    else:
        sentence = _("%(who)s issued %(user)s a link to choose a password", who=r.who, user=_user_named(r))
    mailed = r.d.get("mailed")
    return with_extras(sentence, [
        _("sent by email") if mailed is True else _("not mailed") if mailed is False else None,
        _("valid until %(time)s", time=r.when(r.d["expires_at"])) if r.d.get("expires_at") else None])


def _user_password_set(r: _Render) -> str:
    if r.e.actor_id is not None and str(r.e.actor_id) == r.e.object_id:
        sentence = _("%(who)s set their own password", who=r.who)
    else:
        sentence = _("%(who)s set the password of %(user)s", who=r.who, user=_user_named(r))
    via = str(r.d.get("via") or "")
    return with_extras(sentence, [_("by the emailed link") if via.startswith("link") else None])


def _user_login(r: _Render) -> str:
    return _("%(who)s signed in", who=r.who)


def _user_sessions_revoke(r: _Render) -> str:
    if r.e.actor_id is not None and str(r.e.actor_id) == r.e.object_id:
        sentence = _("%(who)s signed out on every device", who=r.who)
    else:
        sentence = _("%(who)s ended every session of %(user)s", who=r.who, user=_user_named(r))
    count = r.d.get("sessions")
    return with_extras(sentence, [_("sessions ended: %(n)s", n=number(count)) if isinstance(count, int) else None])


def _token_issue(r: _Render) -> str:
    return _("%(who)s issued the API token %(name)s for %(user)s", who=r.who, name=quoted(r.d.get("name") or ""),
             user=_user_named(r))


def _own_number(r: _Render) -> bool:
    return r.e.actor_id is None and bool(r.e.object_id) and r.e.actor_label == r.e.object_id


def _sms_opt_out(r: _Render) -> str:
    number_ = phone(r.e.object_id)
    if _own_number(r):
        sentence = _("%(phone)s replied STOP: no more SMS to this number", phone=number_)
    else:
        source = r.d.get("source")
        sentence = _("%(who)s stopped SMS to %(phone)s (%(source)s)", who=r.who, phone=number_,
                     source=OPT_OUT_SOURCES.get(source, source or "?"))
    return with_extras(sentence, [_("note: %(note)s", note=clip(r.d["note"])) if r.d.get("note") else None],
                       inside=not _own_number(r))


def _sms_opt_in(r: _Render) -> str:
    number_ = phone(r.e.object_id)
    if _own_number(r):
        return _("%(phone)s replied START: SMS allowed again", phone=number_)
    return _("%(who)s allowed SMS to %(phone)s again", who=r.who, phone=number_)


def _units_load(r: _Render) -> str:
    return _("%(who)s loaded the administrative units of %(structure)s: %(inserted)s added, %(updated)s updated",
             who=r.who, structure=r.e.object_id or "?", inserted=number(r.d.get("inserted", 0)),
             updated=number(r.d.get("updated", 0)))


def _generic(r: _Render) -> str:
    """An action without a sentence of its own: the action, its object and its details."""
    details = "; ".join(f"{k}: {raw(v)}" for k, v in list(r.d.items())[:10])
    thing = f"{r.e.object_type or '?'} {r.e.object_id or ''}".strip()
    return with_extras(_("%(who)s: %(action)s on %(object)s", who=r.who, action=action_label(r.e.action or "?"),
                         object=thing), [details])


RENDERERS: dict[str, Callable[[_Render], str]] = {
    "event.create": _event_create,
    "event.update": _event_update,
    "event.publish": _event_publish,
    "event.cancel": _event_cancel,
    "event.finish": _event_finish,
    "session.move": _session_move,
    "session.confirm": _session_confirm,
    "endpoint.create": _endpoint_create,
    "endpoint.update": _endpoint_update,
    "endpoint.delete": _endpoint_delete,
    "endpoints.import": _endpoints_import,
    "event.copy_registrations": _copy_registrations,
    "incident.open": _incident_open,
    "incident.digest": _incident_digest,
    "reminder.create": _reminder_create,
    "reminder.update": _reminder_update,
    "reminder.delete": _reminder_delete,
    "reminder.skip": _reminder_skip,
    "reminder.fire": _reminder_fire,
    "deadline.close": _deadline_close,
    "deadline.reopen": _deadline_reopen,
    "document.upload": _document_upload,
    "document.replace": _document_replace,
    "document.delete": _document_delete,
    "document.contact": _document_contact,
    "user.create": _user_create,
    "user.update": _user_update,
    "user.disable": _user_disable,
    "user.enable": _user_enable,
    "user.import": _user_import,
    "user.password_link": _user_password_link,
    "user.password_set": _user_password_set,
    "user.login": _user_login,
    "user.sessions_revoke": _user_sessions_revoke,
    "token.issue": _token_issue,
    "sms.opt_out": _sms_opt_out,
    "sms.opt_in": _sms_opt_in,
    "units.load": _units_load,
}


# --- entry points ------------------------------------------------------------------------------------------

def _locale(locale: str | None):
    """Render in `locale` (or the request's language); outside a request, in `locale` or Vietnamese."""
    if locale is None and has_request_context():
        return nullcontext()
    request_ctx = nullcontext() if has_request_context() else current_app.test_request_context()

    class _Both:
        def __enter__(self):
            request_ctx.__enter__()
            self.forced = force_locale(locale or current_app.config.get("BABEL_DEFAULT_LOCALE", "vi"))
            self.forced.__enter__()

        def __exit__(self, *exc):
            self.forced.__exit__(*exc)
            return request_ctx.__exit__(*exc)

    return _Both()


def _sentence(entry, names: Names) -> str:
    try:
        render = _Render(entry, names)
        sentence = RENDERERS.get(entry.action, _generic)(render)
        return sentence if render.who_as_recorded and sentence.startswith(render.who) else capitalised(sentence)
    except Exception:  # details not as this action's renderer expects (an old entry, a hand-made one)
        log.warning("audit entry %s (%s): no sentence, shown generically", getattr(entry, "id", None),
                    getattr(entry, "action", None), exc_info=True)
    try:
        render = _Render(entry, names)
        sentence = _generic(render)
        return sentence if render.who_as_recorded and sentence.startswith(render.who) else capitalised(sentence)
    except Exception:
        return f"{getattr(entry, 'actor_label', '?')}: {getattr(entry, 'action', '?')} {getattr(entry, 'object_type', '')} " \
               f"{getattr(entry, 'object_id', '') or ''} {raw(details_of(entry))}".strip()


def describe_all(entries: Iterable, *, locale: str | None = None, names: Names | None = None) -> list[str]:
    """The entries as sentences, in `locale` (default: the request's language, or Vietnamese outside
    a request); the names they mention are looked up once for all of them."""
    entries = list(entries)
    names = names if names is not None else Names.load(entries)
    with _locale(locale):
        return [_sentence(e, names) for e in entries]


def describe(entry, *, locale: str | None = None, names: Names | None = None) -> str:
    """One entry as a sentence (see `describe_all`)."""
    return describe_all([entry], locale=locale, names=names)[0]
