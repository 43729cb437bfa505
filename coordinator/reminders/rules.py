"""Editing an event's reminder rules (the organizer's page and the API). Each change is checked
as a whole before anything is saved (a refusal: `coordinator.problems.Invalid`, a problem per
field), audited, and leaves no reminder queued for a version that is no longer current."""
from __future__ import annotations

from coordinator.audit import services as audit
from coordinator.events import reminder_texts as texts
from coordinator.events.models import REMINDER_ANCHORS, REMINDER_AUDIENCES, REMINDER_CHANNELS, Event, ReminderRule
from coordinator.extensions import db
from coordinator.fields import TextRule, clean_text
from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem
from coordinator.reminders import services

FIELDS = ("anchor", "offset_seconds", "channel", "audience", "template", "strip_diacritics", "active")
# Reminders more than 90 days before (or after) their anchor are almost certainly a typo.
MAX_OFFSET_SECONDS = 90 * 86400
# Every anchor a rule can have; an event offers those of its own sessions and deadlines (anchors_of).
ANCHORS = REMINDER_ANCHORS


def anchors_of(event: Event) -> list[str]:
    return [f"session:{s.kind}" for s in event.sessions] + sorted({f"deadline:{d.kind}" for d in event.deadlines})


def _check(event: Event, values: dict, rule: ReminderRule | None) -> None:
    errors: dict[str, Message] = {}
    anchor = values["anchor"]
    if anchor not in anchors_of(event):
        errors["anchor"] = Message(N_("'%(anchor)s' is not a session or deadline of this event; choose one of: %(known)s"),
                                   {"anchor": anchor, "known": ", ".join(anchors_of(event))})
    offset = values["offset_seconds"]
    if not isinstance(offset, int) or abs(offset) > MAX_OFFSET_SECONDS:
        errors["offset_seconds"] = Message(N_("the offset must be a whole number of seconds within 90 days of the anchor"))
    if values["channel"] not in REMINDER_CHANNELS:
        errors["channel"] = Message(N_("unknown channel '%(channel)s'; known: %(known)s"),
                                    {"channel": values["channel"], "known": ", ".join(REMINDER_CHANNELS)})
    if values["audience"] not in REMINDER_AUDIENCES:
        errors["audience"] = Message(N_("unknown audience '%(audience)s'; known: %(known)s"),
                                     {"audience": values["audience"], "known": ", ".join(REMINDER_AUDIENCES)})
    elif values["audience"] == "units_missing_deadline" and not anchor.startswith("deadline:"):
        errors["audience"] = Message(N_("'units_missing_deadline' needs a deadline anchor"))
    # The rules of every free text first (coordinator.fields: NFC, no control or bidi characters;
    # several lines allowed), then what a template must be.
    values["template"], problem = clean_text(values["template"], TextRule(multiline=True))
    problem = problem or texts.check(values["template"], anchor.partition(":")[0])
    if problem is not None:
        errors["template"] = problem
    key = (anchor, offset, values["channel"], values["audience"])
    if not errors and any((r.anchor, r.offset_seconds, r.channel, r.audience) == key
                          for r in event.reminder_rules if r is not rule):
        errors["offset_seconds"] = Message(N_("this event already has the same reminder (anchor, offset, channel and audience)"))
    if errors:
        raise Invalid([Problem(name, message) for name, message in errors.items()])


def _values(data: dict, rule: ReminderRule | None) -> dict:
    current = {f: getattr(rule, f) for f in FIELDS} if rule else {
        "anchor": "", "offset_seconds": 0, "channel": "sms", "audience": "technical", "template": "",
        "strip_diacritics": False, "active": True}
    values = {**current, **{k: v for k, v in data.items() if k in FIELDS and v is not None}}
    values["template"] = (values["template"] or "").strip()
    return values


def create_rule(event: Event, data: dict, *, actor=None) -> ReminderRule:
    values = _values(data, None)
    _check(event, values, None)
    rule = ReminderRule(event_id=event.id, **values)
    event.reminder_rules.append(rule)
    db.session.flush()
    audit.record("reminder.create", "reminder_rule", rule.id, actor=actor, event=event.slug, **_audit_values(values))
    db.session.commit()
    return rule


def update_rule(rule: ReminderRule, data: dict, *, actor=None) -> ReminderRule:
    event = rule.event
    values = _values(data, rule)
    _check(event, values, rule)
    before = {f: getattr(rule, f) for f in FIELDS}
    changed = {f: values[f] for f in FIELDS if values[f] != before[f]}
    if not changed:
        return rule
    for f, v in changed.items():
        setattr(rule, f, v)
    services.supersede_outdated(event)  # a paused rule or a new offset: what was queued for the old one stays unsent
    audit.record("reminder.update", "reminder_rule", rule.id, actor=actor, event=event.slug,
                 before={f: before[f] for f in changed}, after=_audit_values(changed))
    db.session.commit()
    return rule


def delete_rule(rule: ReminderRule, *, actor=None) -> None:
    event = rule.event
    audit.record("reminder.delete", "reminder_rule", rule.id, actor=actor, event=event.slug,
                 **_audit_values({f: getattr(rule, f) for f in FIELDS}))
    event.reminder_rules.remove(rule)
    db.session.flush()
    services.supersede_outdated(event)
    db.session.commit()


def _audit_values(values: dict) -> dict:
    return dict(values)
