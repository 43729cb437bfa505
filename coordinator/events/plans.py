"""Event plans: the declarative description of an event, from a TOML file in `schedules/` or
from the organizer's form. Both go through `parse_plan()`, so a rule is checked in one place.

Times in a plan are wall-clock times in the event's time zone (TOML local date-times);
an explicit offset is accepted too and converted.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from coordinator.events.models import DEADLINE_KINDS, REMINDER_AUDIENCES, REMINDER_CHANNELS, SESSION_KINDS
from coordinator.timeutil import is_valid_timezone

# The tiers each administrative structure has, top-down.
STRUCTURE_TIERS = {
    "2024": ("central", "province", "district", "commune"),
    "2025": ("central", "province", "commune"),
}
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganizerSpec(_Strict):
    name: str = Field(min_length=1, max_length=255)
    office: str = Field(default="", max_length=255)
    email: str = Field(default="", max_length=255)
    phone: str = Field(default="", max_length=32)


class TierSpec(_Strict):
    tier: str
    chair: str = ""
    attendees: str = ""
    may_attend_at_parent: bool = False


class SessionSpec(_Strict):
    kind: str
    title: str = Field(default="", max_length=500)
    starts_at: datetime
    ends_at: datetime
    location: str = ""


class DeadlineSpec(_Strict):
    kind: str
    tier: str
    title: str = Field(default="", max_length=500)
    description: str = ""
    due_at: datetime


class ReminderSpec(_Strict):
    anchor: str
    # ISO 8601 duration, negative for "before": "-P3D", "-PT1H".
    offset: timedelta
    channel: str
    audience: str
    template: str = Field(min_length=1)


class PlanSpec(_Strict):
    slug: str
    title: str = Field(min_length=1, max_length=500)
    legal_reference: str = ""
    description: str = ""
    timezone: str = "Asia/Ho_Chi_Minh"
    unit_structure: str = "2024"
    organizer: OrganizerSpec
    tiers: list[TierSpec] = Field(min_length=1)
    sessions: list[SessionSpec] = Field(min_length=1)
    deadlines: list[DeadlineSpec] = []
    reminders: list[ReminderSpec] = []

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG_RE.match(v):
            raise ValueError("must be 3–64 characters of a-z, 0-9 and '-', e.g. 'nd49-2024'")
        return v


@dataclass(frozen=True)
class PlanError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PlanInvalid(Exception):
    def __init__(self, errors: list[PlanError], source: str = ""):
        self.errors = errors
        self.source = source
        super().__init__("\n".join(f"{source}: {e}" if source else str(e) for e in errors))


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


def parse_plan(data: dict[str, Any]) -> PlanSpec:
    """Validate a plan; raises PlanInvalid listing every error with its key path."""
    try:
        plan = PlanSpec.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            errors.append(PlanError(_path(err["loc"]), msg))
        raise PlanInvalid(errors) from None
    errors = _semantic_errors(plan)
    if errors:
        raise PlanInvalid(errors)
    tz = plan.timezone
    for s in plan.sessions:
        s.starts_at, s.ends_at = _naive_local(s.starts_at, tz), _naive_local(s.ends_at, tz)
    for d in plan.deadlines:
        d.due_at = _naive_local(d.due_at, tz)
    return plan


def _semantic_errors(plan: PlanSpec) -> list[PlanError]:
    errors: list[PlanError] = []
    add = lambda path, msg: errors.append(PlanError(path, msg))  # noqa: E731

    if not is_valid_timezone(plan.timezone):
        add("timezone", f"unknown time zone {plan.timezone!r} (use an IANA name such as 'Asia/Ho_Chi_Minh')")
    known_tiers = STRUCTURE_TIERS.get(plan.unit_structure)
    if known_tiers is None:
        add("unit_structure", f"unknown structure {plan.unit_structure!r}; known: {', '.join(STRUCTURE_TIERS)}")
        known_tiers = ()

    seen_tiers: list[str] = []
    for i, t in enumerate(plan.tiers):
        if known_tiers and t.tier not in known_tiers:
            add(f"tiers[{i}].tier", f"unknown tier {t.tier!r} for structure {plan.unit_structure}; known: {', '.join(known_tiers)}")
            continue
        if t.tier in seen_tiers:
            add(f"tiers[{i}].tier", f"tier {t.tier!r} is listed twice")
            continue
        if seen_tiers and known_tiers.index(t.tier) < known_tiers.index(seen_tiers[-1]):
            add(f"tiers[{i}].tier", f"tiers must be listed top-down ({' → '.join(known_tiers)})")
        if t.may_attend_at_parent and not seen_tiers:
            add(f"tiers[{i}].may_attend_at_parent", "the top tier has no parent tier to attend at")
        seen_tiers.append(t.tier)

    kinds: set[str] = set()
    for i, s in enumerate(plan.sessions):
        if s.kind not in SESSION_KINDS:
            add(f"sessions[{i}].kind", f"unknown session kind {s.kind!r}; known: {', '.join(SESSION_KINDS)}")
        elif s.kind in kinds:
            add(f"sessions[{i}].kind", f"session kind {s.kind!r} is listed twice")
        kinds.add(s.kind)
        if (s.starts_at.tzinfo is None) != (s.ends_at.tzinfo is None):
            add(f"sessions[{i}].ends_at", "give both times with an offset, or both without")
        elif s.ends_at <= s.starts_at:
            add(f"sessions[{i}].ends_at", "the end must be after the start")

    deadline_keys: set[tuple[str, str]] = set()
    for i, d in enumerate(plan.deadlines):
        if d.kind not in DEADLINE_KINDS:
            add(f"deadlines[{i}].kind", f"unknown deadline kind {d.kind!r}; known: {', '.join(DEADLINE_KINDS)}")
        if d.tier not in seen_tiers:
            add(f"deadlines[{i}].tier", f"tier {d.tier!r} is not one of the event's tiers ({', '.join(seen_tiers)})")
        if (d.kind, d.tier) in deadline_keys:
            add(f"deadlines[{i}]", f"deadline {d.kind!r} for tier {d.tier!r} is listed twice")
        deadline_keys.add((d.kind, d.tier))

    deadline_kinds = {k for k, _ in deadline_keys}
    reminder_keys: set[tuple] = set()
    for i, r in enumerate(plan.reminders):
        kind, _, name = r.anchor.partition(":")
        if kind == "session":
            if name not in kinds:
                add(f"reminders[{i}].anchor", f"no session of kind {name!r} in this plan")
        elif kind == "deadline":
            if name not in deadline_kinds:
                add(f"reminders[{i}].anchor", f"no deadline of kind {name!r} in this plan")
        else:
            add(f"reminders[{i}].anchor", "must be 'session:<kind>' or 'deadline:<kind>'")
        if r.channel not in REMINDER_CHANNELS:
            add(f"reminders[{i}].channel", f"unknown channel {r.channel!r}; known: {', '.join(REMINDER_CHANNELS)}")
        if r.audience not in REMINDER_AUDIENCES:
            add(f"reminders[{i}].audience", f"unknown audience {r.audience!r}; known: {', '.join(REMINDER_AUDIENCES)}")
        elif r.audience == "units_missing_deadline" and kind != "deadline":
            add(f"reminders[{i}].audience", "'units_missing_deadline' needs a deadline anchor")
        key = (r.anchor, r.offset, r.channel, r.audience)
        if key in reminder_keys:
            add(f"reminders[{i}]", "the same reminder is listed twice")
        reminder_keys.add(key)
    return errors


def read_plan_file(path: str | Path) -> PlanSpec:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanInvalid([PlanError("", "file not found")], str(path)) from None
    except UnicodeDecodeError as exc:
        raise PlanInvalid([PlanError("", f"not UTF-8 text: {exc}")], str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanInvalid([PlanError("", f"TOML syntax error: {exc}")], str(path)) from None
    try:
        return parse_plan(data)
    except PlanInvalid as exc:
        raise PlanInvalid(exc.errors, str(path)) from None


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
