"""Event plans: the declarative description of an event, from a TOML file in `schedules/` or
from the organizer's form. Both go through `parse_plan()`, so a rule is checked in one place.

Times in a plan are wall-clock times in the event's time zone (TOML local date-times);
an explicit offset is accepted too and converted.
"""
from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from flask import current_app, has_app_context
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from coordinator.events.models import (DEADLINE_KINDS, REMINDER_AUDIENCES, REMINDER_CHANNELS, SESSION_KINDS, Deadline,
                                       Event, EventSession, ReminderRule, TierRole)
from coordinator.events import reminder_texts
from coordinator.fields import TextRule, clean_text, max_length_of, rule
from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem
from coordinator.timeutil import is_valid_timezone

# The tiers each administrative structure has, top-down.
STRUCTURE_TIERS = {
    "2024": ("central", "province", "district", "commune"),
    "2025": ("central", "province", "commune"),
}
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
SLUG_MESSAGE = N_("Use 3–64 characters: a-z, 0-9 and '-', e.g. nd49-2024.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _clean_text(cls, value: Any, info) -> Any:
        """Every text of a plan through the rules of every free text (coordinator.fields: NFC, no
        control or bidi characters, the length of the column it is stored in)."""
        if not isinstance(value, str):
            return value
        text, problem = clean_text(value, TEXT_RULES.get((cls.__name__, info.field_name), TextRule()))
        if problem is not None:
            raise PydanticCustomError("text_field", "{detail}", {
                "detail": problem.template % problem.params, "template": problem.template, "params": problem.params})
        return text


class OrganizerSpec(_Strict):
    name: str = Field(min_length=1)  # lengths: TEXT_RULES, from the columns
    office: str = ""
    email: str = ""
    phone: str = ""


class TierSpec(_Strict):
    tier: str
    chair: str = ""
    attendees: str = ""
    may_attend_at_parent: bool = False


_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
DATE_WITHOUT_TIME = N_("a date without a time: write the time too (e.g. 2024-06-28T08:30:00)")
# A session longer than this is a typing mistake in its end (28/07 for 28/06), not a videoconference.
MAX_SESSION = timedelta(hours=24)


def _with_time(value: Any) -> Any:
    """Refuse a date without a time (TOML `2024-06-28`, or the text "2024-06-28"): pydantic would
    read it as midnight, and a session or deadline would silently fall at 00:00."""
    if (isinstance(value, date) and not isinstance(value, datetime)) or (isinstance(value, str) and _DATE_ONLY.match(value)):
        raise PydanticCustomError("date_without_time", DATE_WITHOUT_TIME)
    return value


class SessionSpec(_Strict):
    kind: str
    title: str = ""
    starts_at: datetime
    ends_at: datetime
    location: str = ""

    _times_with_a_time = field_validator("starts_at", "ends_at", mode="before")(_with_time)


# File types a document request may ask for (by extension); checked against the bytes on upload.
DOCUMENT_TYPES = ("pdf", "jpg", "jpeg", "png", "doc", "docx", "xls", "xlsx", "odt", "zip")


class RequiredFileSpec(_Strict):
    label: str = Field(min_length=1, max_length=255)
    types: list[str] = Field(min_length=1)


class DeadlineSpec(_Strict):
    kind: str
    tier: str
    title: str = ""
    description: str = ""
    due_at: datetime
    # Only for kind "documents": the files each unit must upload.
    required_files: list[RequiredFileSpec] = []

    _due_with_a_time = field_validator("due_at", mode="before")(_with_time)


class ReminderSpec(_Strict):
    anchor: str
    # ISO 8601 duration, negative for "before": "-P3D", "-PT1H".
    offset: timedelta
    channel: str
    audience: str
    template: str = Field(min_length=1)
    # Send without Vietnamese diacritics (GSM-7, 160 characters per segment instead of 70).
    strip_diacritics: bool = False
    active: bool = True


MAX_DUTY_PHONES = 20


class PlanSpec(_Strict):
    slug: str
    title: str = Field(min_length=1)
    # What {event} says in an SMS reminder; the title when empty.
    short_title: str = ""
    legal_reference: str = ""
    description: str = ""
    timezone: str = "Asia/Ho_Chi_Minh"
    unit_structure: str = "2024"
    organizer: OrganizerSpec
    tiers: list[TierSpec] = Field(min_length=1)
    sessions: list[SessionSpec] = Field(min_length=1)
    deadlines: list[DeadlineSpec] = []
    reminders: list[ReminderSpec] = []
    # The duty officers' mobiles: an incident nobody acknowledged in time, past its province's
    # focal contacts, is texted to them (stored as E.164).
    duty_phones: list[str] = []

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG_RE.match(v):
            raise ValueError(SLUG_MESSAGE)
        return v


# How each text of a plan is cleaned: the column it is stored in (its length), one line or several.
TEXT_RULES: dict[tuple[str, str], TextRule] = {
    ("PlanSpec", "slug"): rule(Event.slug), ("PlanSpec", "title"): rule(Event.title),
    ("PlanSpec", "short_title"): rule(Event.short_title),
    ("PlanSpec", "legal_reference"): rule(Event.legal_reference, multiline=True),
    ("PlanSpec", "description"): rule(Event.description, multiline=True),
    ("PlanSpec", "timezone"): rule(Event.timezone), ("PlanSpec", "unit_structure"): rule(Event.unit_structure),
    ("OrganizerSpec", "name"): rule(Event.organizer_name), ("OrganizerSpec", "office"): rule(Event.organizer_office),
    ("OrganizerSpec", "email"): rule(Event.organizer_email), ("OrganizerSpec", "phone"): rule(Event.organizer_phone),
    ("TierSpec", "chair"): rule(TierRole.chair, multiline=True),
    ("TierSpec", "attendees"): rule(TierRole.attendees, multiline=True),
    ("SessionSpec", "title"): rule(EventSession.title), ("SessionSpec", "location"): rule(EventSession.location),
    ("DeadlineSpec", "title"): rule(Deadline.title), ("DeadlineSpec", "description"): rule(Deadline.description, multiline=True),
    ("ReminderSpec", "template"): rule(ReminderRule.template, multiline=True),
}


# How a duty phone is read: (text) -> (E.164, None) or (None, why not). `events` sits below
# `endpoints` and cannot parse phones itself: the reader is registered by a higher package
# (`status.handlers`: `endpoints.phones` behind it). Without one, duty phones are kept as typed.
_duty_phone_reader: Callable[[str], tuple[str | None, Message | None]] | None = None


def register_duty_phone_reader(reader: Callable[[str], tuple[str | None, Message | None]]) -> None:
    """Registering the same reader twice is a no-op; another one is a ValueError."""
    global _duty_phone_reader
    if _duty_phone_reader is not None and _duty_phone_reader is not reader:
        raise ValueError("a duty phone reader is registered already")
    _duty_phone_reader = reader


def read_duty_phones(values: list[str]) -> tuple[list[str], list[Problem]]:
    """The duty phones of a plan, each cleaned like any text and read by the registered reader:
    (the phones to store, without repeats; the problems, each at `duty_phones[i]`)."""
    phones: list[str] = []
    problems: list[Problem] = []
    if len(values) > MAX_DUTY_PHONES:
        problems.append(plan_problem("duty_phones", N_("at most %(n)s duty phones"), {"n": MAX_DUTY_PHONES}))
    for i, raw in enumerate(values):
        text, problem = clean_text(raw, TextRule(max_length_of(Event.organizer_phone)))
        if problem is None and _duty_phone_reader is not None:
            text, problem = _duty_phone_reader(text)
        if problem is not None:
            problems.append(Problem(f"duty_phones[{i}]", problem))
        elif text and text not in phones:
            phones.append(text)
    return phones, problems


def plan_problem(path: str, template: str, params: dict[str, Any] | None = None) -> Problem:
    """One problem of a plan: its key path ("sessions[1].ends_at"; "" for the whole file) is the
    Problem's field, the English message template is translated where it is shown."""
    return Problem(path, Message(template, params or {}))


def clean_plan_text(value: Any, path: str, text_rule: TextRule) -> str:
    """One text changed outside a plan (a session's place, a cancellation's reason) under the same
    rules; raises Invalid naming `path`."""
    text, problem = clean_text(value, text_rule)
    if problem is not None:
        raise Invalid(Problem(path, problem))
    return text


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _naive_local(value: datetime, tz: str) -> datetime:
    """Plans keep wall-clock times of the event's zone; an explicit offset is converted to it."""
    from zoneinfo import ZoneInfo

    if value.tzinfo is not None:
        return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    return value


# Pydantic's messages for the errors a person commonly makes, in our words (and translatable).
_PYDANTIC_MESSAGES = {
    "extra_forbidden": N_("unknown key"),
    "missing": N_("required"),
    "string_too_short": N_("required"),
    "too_short": N_("at least one is required"),
    "datetime_type": N_("not a date and time (write 2024-06-28T08:30:00)"),
    "datetime_parsing": N_("not a date and time (write 2024-06-28T08:30:00)"),
    "datetime_from_date_parsing": N_("not a date and time (write 2024-06-28T08:30:00)"),
    "date_without_time": DATE_WITHOUT_TIME,
    "time_delta_parsing": N_("not a duration (write an ISO 8601 duration such as -P1D or -PT1H)"),
    "time_delta_type": N_("not a duration (write an ISO 8601 duration such as -P1D or -PT1H)"),
}


def _from_pydantic(err: dict) -> Problem:
    if err["type"] == "value_error" and SLUG_MESSAGE in err["msg"]:
        return plan_problem(_path(err["loc"]), N_(SLUG_MESSAGE))
    if err["type"] == "text_field":  # coordinator.fields' own message, translatable
        return plan_problem(_path(err["loc"]), err["ctx"]["template"], err["ctx"]["params"])
    if err["type"] == "string_too_long":
        return plan_problem(_path(err["loc"]), N_("at most %(max)s characters"), {"max": err["ctx"]["max_length"]})
    template = _PYDANTIC_MESSAGES.get(err["type"])
    if template is None:  # rarer type errors: pydantic's own (English) words, escaped for %-formatting
        return plan_problem(_path(err["loc"]), "%(detail)s", {"detail": err["msg"]})
    return plan_problem(_path(err["loc"]), template)


def parse_plan(data: dict[str, Any]) -> PlanSpec:
    """Validate a plan; raises Invalid listing every problem with its key path (the field)."""
    if "timezone" not in data and has_app_context():
        data = {**data, "timezone": current_app.config["DEFAULT_TIMEZONE"]}
    try:
        plan = PlanSpec.model_validate(data)
    except ValidationError as exc:
        raise Invalid([_from_pydantic(err) for err in exc.errors()]) from None
    problems = _semantic_errors(plan)
    plan.duty_phones, phone_problems = read_duty_phones(plan.duty_phones)
    problems += phone_problems
    if problems:
        raise Invalid(problems)
    tz = plan.timezone
    for s in plan.sessions:
        s.starts_at, s.ends_at = _naive_local(s.starts_at, tz), _naive_local(s.ends_at, tz)
    for d in plan.deadlines:
        d.due_at = _naive_local(d.due_at, tz)
    return plan


SESSION_TOO_LONG = N_("a session lasts at most 24 hours, and this one lasts %(hours)s hours: check the date of its end")


def _elapsed(starts_at: datetime, ends_at: datetime, tz: str) -> timedelta:
    """Real time between two plan times (wall-clock in `tz` unless they carry an offset)."""
    from datetime import timezone
    from zoneinfo import ZoneInfo

    if starts_at.tzinfo is None and is_valid_timezone(tz):
        starts_at, ends_at = starts_at.replace(tzinfo=ZoneInfo(tz)), ends_at.replace(tzinfo=ZoneInfo(tz))
    if starts_at.tzinfo is not None:  # same-zone subtraction would ignore a DST change: compare in UTC
        starts_at, ends_at = starts_at.astimezone(timezone.utc), ends_at.astimezone(timezone.utc)
    return ends_at - starts_at


def session_hours(length: timedelta) -> str:
    return f"{length.total_seconds() / 3600:.1f}".removesuffix(".0")


def _semantic_errors(plan: PlanSpec) -> list[Problem]:
    errors: list[Problem] = []

    def add(path: str, template: str, **params: Any) -> None:
        errors.append(plan_problem(path, template, params))

    if not is_valid_timezone(plan.timezone):
        add("timezone", N_("unknown time zone '%(zone)s' (use an IANA name such as 'Asia/Ho_Chi_Minh')"),
            zone=plan.timezone)
    known_tiers = STRUCTURE_TIERS.get(plan.unit_structure)
    if known_tiers is None:
        add("unit_structure", N_("unknown structure '%(structure)s'; known: %(known)s"),
            structure=plan.unit_structure, known=", ".join(STRUCTURE_TIERS))
        known_tiers = ()

    seen_tiers: list[str] = []
    for i, t in enumerate(plan.tiers):
        if known_tiers and t.tier not in known_tiers:
            add(f"tiers[{i}].tier", N_("unknown tier '%(tier)s' for structure %(structure)s; known: %(known)s"),
                tier=t.tier, structure=plan.unit_structure, known=", ".join(known_tiers))
            continue
        if t.tier in seen_tiers:
            add(f"tiers[{i}].tier", N_("tier '%(tier)s' is listed twice"), tier=t.tier)
            continue
        if seen_tiers and known_tiers.index(t.tier) < known_tiers.index(seen_tiers[-1]):
            add(f"tiers[{i}].tier", N_("tiers must be listed top-down (%(order)s)"), order=" → ".join(known_tiers))
        if t.may_attend_at_parent and not seen_tiers:
            add(f"tiers[{i}].may_attend_at_parent", N_("the top tier has no parent tier to attend at"))
        seen_tiers.append(t.tier)

    kinds: set[str] = set()
    for i, s in enumerate(plan.sessions):
        if s.kind not in SESSION_KINDS:
            add(f"sessions[{i}].kind", N_("unknown session kind '%(kind)s'; known: %(known)s"),
                kind=s.kind, known=", ".join(SESSION_KINDS))
        elif s.kind in kinds:
            add(f"sessions[{i}].kind", N_("session kind '%(kind)s' is listed twice"), kind=s.kind)
        kinds.add(s.kind)
        if (s.starts_at.tzinfo is None) != (s.ends_at.tzinfo is None):
            add(f"sessions[{i}].ends_at", N_("give both times with an offset, or both without"))
        elif s.ends_at <= s.starts_at:
            add(f"sessions[{i}].ends_at", N_("the end must be after the start"))
        elif (length := _elapsed(s.starts_at, s.ends_at, plan.timezone)) > MAX_SESSION:
            add(f"sessions[{i}].ends_at", SESSION_TOO_LONG, hours=session_hours(length))

    deadline_keys: set[tuple[str, str]] = set()
    for i, d in enumerate(plan.deadlines):
        if d.kind not in DEADLINE_KINDS:
            add(f"deadlines[{i}].kind", N_("unknown deadline kind '%(kind)s'; known: %(known)s"),
                kind=d.kind, known=", ".join(DEADLINE_KINDS))
        if d.tier not in seen_tiers:
            add(f"deadlines[{i}].tier", N_("tier '%(tier)s' is not one of the event's tiers (%(tiers)s)"),
                tier=d.tier, tiers=", ".join(seen_tiers))
        if d.required_files and d.kind != "documents":
            add(f"deadlines[{i}].required_files", N_("only a 'documents' deadline asks for files"))
        if d.kind == "documents" and not d.required_files:
            add(f"deadlines[{i}].required_files", N_("a 'documents' deadline must say which files it asks for"))
        for j, spec in enumerate(d.required_files):
            for k, t in enumerate(spec.types):
                if t.lower() not in DOCUMENT_TYPES:
                    add(f"deadlines[{i}].required_files[{j}].types[{k}]",
                        N_("unknown file type '%(type)s'; known: %(known)s"), type=t, known=", ".join(DOCUMENT_TYPES))
        if (d.kind, d.tier) in deadline_keys:
            add(f"deadlines[{i}]", N_("deadline '%(kind)s' for tier '%(tier)s' is listed twice"), kind=d.kind, tier=d.tier)
        deadline_keys.add((d.kind, d.tier))

    deadline_kinds = {k for k, _ in deadline_keys}
    reminder_keys: set[tuple] = set()
    for i, r in enumerate(plan.reminders):
        kind, _, name = r.anchor.partition(":")
        if kind == "session":
            if name not in kinds:
                add(f"reminders[{i}].anchor", N_("no session of kind '%(kind)s' in this plan"), kind=name)
        elif kind == "deadline":
            if name not in deadline_kinds:
                add(f"reminders[{i}].anchor", N_("no deadline of kind '%(kind)s' in this plan"), kind=name)
        else:
            add(f"reminders[{i}].anchor", N_("must be 'session:<kind>' or 'deadline:<kind>'"))
        if r.channel not in REMINDER_CHANNELS:
            add(f"reminders[{i}].channel", N_("unknown channel '%(channel)s'; known: %(known)s"),
                channel=r.channel, known=", ".join(REMINDER_CHANNELS))
        if r.audience not in REMINDER_AUDIENCES:
            add(f"reminders[{i}].audience", N_("unknown audience '%(audience)s'; known: %(known)s"),
                audience=r.audience, known=", ".join(REMINDER_AUDIENCES))
        elif r.audience == "units_missing_deadline" and kind != "deadline":
            add(f"reminders[{i}].audience", N_("'units_missing_deadline' needs a deadline anchor"))
        problem = reminder_texts.check(r.template, kind)
        if problem is not None:
            add(f"reminders[{i}].template", problem.template, **problem.params)
        key = (r.anchor, r.offset, r.channel, r.audience)
        if key in reminder_keys:
            add(f"reminders[{i}]", N_("the same reminder is listed twice"))
        reminder_keys.add(key)
    return errors


def read_plan_file(path: str | Path) -> PlanSpec:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Invalid(plan_problem("", N_("file not found")), str(path)) from None
    except UnicodeDecodeError as exc:
        raise Invalid(plan_problem("", N_("not UTF-8 text: %(detail)s"), {"detail": str(exc)}), str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise Invalid(plan_problem("", N_("TOML syntax error: %(detail)s"), {"detail": str(exc)}), str(path)) from None
    try:
        return parse_plan(data)
    except Invalid as exc:
        raise Invalid(exc.problems, str(path)) from None


def shift_plan(plan: PlanSpec, first_day: date) -> PlanSpec:
    """Move every date so that the first session falls on `first_day`, keeping times of day
    and the gaps between dates (wall-clock, in the event's zone)."""
    first = min(s.starts_at for s in plan.sessions)
    delta = timedelta(days=(first_day - first.date()).days)
    shifted = plan.model_copy(deep=True)
    for s in shifted.sessions:
        s.starts_at += delta
        s.ends_at += delta
    for d in shifted.deadlines:
        d.due_at += delta
    return shifted
