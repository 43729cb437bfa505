"""The names of what a page of audit entries talks about, looked up in at most seven queries
whatever the number of entries (users, reminder rules, deadlines, endpoints, endpoints removed
since, events, units), each query skipped when nothing on the page needs it.

Entries name things by id, slug or code, as recorded. A thing deleted since is missing here and
the sentence falls back on what the entry itself says; for an endpoint, on what the log recorded
when it was registered or removed (its unit and event)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

from sqlalchemy import or_, select

from coordinator.audit.models import AuditEntry
from coordinator.auth.models import User
from coordinator.endpoints.models import Endpoint
from coordinator.events.models import Deadline, Event, ReminderRule
from coordinator.extensions import db
from coordinator.units.models import Unit

CHUNK = 500  # ids per IN (...)


class UserName(NamedTuple):
    id: int
    display_name: str
    email: str
    unit_code: str | None
    unit_name: str | None


class EventName(NamedTuple):
    id: int
    slug: str
    title: str
    short_title: str
    timezone: str
    structure: str


class EndpointName(NamedTuple):
    id: int
    name: str
    event_id: int
    unit_code: str
    unit_name: str


class RuleName(NamedTuple):
    id: int
    event_id: int
    anchor: str
    offset_seconds: int
    channel: str
    audience: str


class DeadlineName(NamedTuple):
    id: int
    event_id: int
    kind: str
    tier: str
    title: str


def details_of(entry) -> dict[str, Any]:
    details = getattr(entry, "details", None)
    return details if isinstance(details, dict) else {}


def as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class Names:
    users: dict[int, UserName] = field(default_factory=dict)
    events_by_slug: dict[str, EventName] = field(default_factory=dict)
    events_by_id: dict[int, EventName] = field(default_factory=dict)
    endpoints: dict[int, EndpointName] = field(default_factory=dict)
    rules: dict[int, RuleName] = field(default_factory=dict)
    deadlines: dict[int, DeadlineName] = field(default_factory=dict)
    units: dict[tuple[str, str], str] = field(default_factory=dict)  # (structure, code) -> name
    # endpoints removed since: id -> (event slug, unit code), as their registration or removal recorded
    removed_endpoints: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    queries: int = 0  # how many were run (the tests hold it constant)

    # --- what an entry is about ---------------------------------------------------------------

    def event_of(self, entry) -> EventName | None:
        details = details_of(entry)
        if entry.object_type == "event" and entry.object_id:
            found = self.events_by_slug.get(entry.object_id)
            if found is None and (number := as_int(entry.object_id)) is not None:
                found = self.events_by_id.get(number)  # endpoints.import records the event's id
            if found is not None:
                return found
        slug = _text(details.get("event"))
        if slug and slug in self.events_by_slug:
            return self.events_by_slug[slug]
        number = as_int(entry.object_id)
        owner = None
        if entry.object_type == "reminder_rule":
            owner = self.rules.get(number)
        elif entry.object_type == "deadline":
            owner = self.deadlines.get(number)
        elif entry.object_type == "endpoint":
            owner = self.endpoints.get(number)
            if owner is None and (recorded := self.removed_endpoints.get(number)) and recorded[0]:
                return self.events_by_slug.get(recorded[0])
        if owner is None and (deadline := self.deadlines.get(as_int(details.get("deadline")))) is not None:
            owner = deadline
        return self.events_by_id.get(owner.event_id) if owner is not None else None

    def unit_name(self, code: str | None, structure: str | None) -> str | None:
        if not code:
            return None
        if structure and (structure, code) in self.units:
            return self.units[(structure, code)]
        for (s, c), name in sorted(self.units.items()):
            if c == code:
                return name
        return None

    # --- loading --------------------------------------------------------------------------------

    @classmethod
    def load(cls, entries: Iterable) -> Names:
        entries = list(entries)
        names = cls()
        user_ids, rule_ids, deadline_ids, endpoint_ids, event_ids = set(), set(), set(), set(), set()
        slugs: set[str] = set()
        unit_codes: set[str] = set()
        for e in entries:
            details = details_of(e)
            number = as_int(e.object_id)
            if e.actor_id is not None:
                user_ids.add(e.actor_id)
            if e.object_type == "user" and number is not None:
                user_ids.add(number)
            elif e.object_type == "reminder_rule" and number is not None:
                rule_ids.add(number)
            elif e.object_type == "deadline" and number is not None:
                deadline_ids.add(number)
            elif e.object_type == "endpoint" and number is not None:
                endpoint_ids.add(number)
            elif e.object_type == "event" and e.object_id:
                slugs.add(e.object_id)
                if number is not None:
                    event_ids.add(number)
            if (slug := _text(details.get("event"))) is not None:
                slugs.add(slug)
            if (deadline := as_int(details.get("deadline"))) is not None:
                deadline_ids.add(deadline)
            listed = details.get("endpoints")
            if isinstance(listed, list):
                endpoint_ids.update(n for n in map(as_int, listed[:20]) if n is not None)
            for key in ("unit", "scope"):
                if (code := _text(details.get(key))) is not None and len(code) <= 16:
                    unit_codes.add(code)
            changes = details.get("changes")
            if isinstance(changes, dict) and isinstance(changes.get("unit"), list):  # user.update: "2024:56"
                unit_codes.update(str(v).partition(":")[2] for v in changes["unit"][:2] if isinstance(v, str))

        def chunks(ids):
            ids = sorted(ids)
            for i in range(0, len(ids), CHUNK):
                yield ids[i:i + CHUNK]

        def run(stmt_for, ids):
            rows = []
            if ids:
                names.queries += 1
                for part in chunks(ids):
                    rows += db.session.execute(stmt_for(part)).all()
            return rows

        for r in run(lambda ids: select(User.id, User.display_name, User.email, Unit.code, Unit.name)
                     .outerjoin(Unit, User.unit_id == Unit.id).where(User.id.in_(ids)), user_ids):
            names.users[r[0]] = UserName(*r)
        for r in run(lambda ids: select(ReminderRule.id, ReminderRule.event_id, ReminderRule.anchor,
                                        ReminderRule.offset_seconds, ReminderRule.channel, ReminderRule.audience)
                     .where(ReminderRule.id.in_(ids)), rule_ids):
            names.rules[r[0]] = RuleName(*r)
        for r in run(lambda ids: select(Deadline.id, Deadline.event_id, Deadline.kind, Deadline.tier, Deadline.title)
                     .where(Deadline.id.in_(ids)), deadline_ids):
            names.deadlines[r[0]] = DeadlineName(*r)
        for r in run(lambda ids: select(Endpoint.id, Endpoint.name, Endpoint.event_id, Unit.code, Unit.name)
                     .join(Unit, Endpoint.unit_id == Unit.id).where(Endpoint.id.in_(ids)), endpoint_ids):
            names.endpoints[r[0]] = EndpointName(*r)
        removed = sorted(endpoint_ids - set(names.endpoints))
        for object_id, details in run(lambda ids: select(AuditEntry.object_id, AuditEntry.details).where(
                AuditEntry.object_type == "endpoint", AuditEntry.action.in_(("endpoint.create", "endpoint.delete")),
                AuditEntry.object_id.in_([str(i) for i in ids])), removed):
            details = details if isinstance(details, dict) else {}
            slug, code = _text(details.get("event")), _text(details.get("unit"))
            names.removed_endpoints[int(object_id)] = (slug, code)
            if slug:
                slugs.add(slug)
            if code:
                unit_codes.add(code)

        event_ids |= {x.event_id for x in (*names.rules.values(), *names.deadlines.values(), *names.endpoints.values())}
        if slugs or event_ids:
            names.queries += 1
            columns = (Event.id, Event.slug, Event.title, Event.short_title, Event.timezone, Event.unit_structure)
            rows = db.session.execute(select(*columns).where(or_(
                Event.slug.in_(sorted(slugs)[:CHUNK * 4]), Event.id.in_(sorted(event_ids)[:CHUNK * 4])))).all()
            for r in rows:
                event = EventName(*r)
                names.events_by_slug[event.slug] = event
                names.events_by_id[event.id] = event

        if unit_codes:
            # Every structure's unit of that code (two at most): an entry's structure is its event's.
            stmt = select(Unit.structure, Unit.code, Unit.name).where(Unit.code.in_(sorted(unit_codes)[:CHUNK * 4]))
            names.queries += 1
            for structure, code, name in db.session.execute(stmt):
                names.units[(structure, code)] = name
        return names
