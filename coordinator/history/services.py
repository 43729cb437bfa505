"""Reading the audit log back: filtered pages for /audit and an endpoint's history.

Reads are keyset-paginated on the id (newest first), so a page deep in a national log costs what
the first one does, and the sentences of a page are rendered with the names looked up once
(`sentences.describe_all`)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import String, and_, cast, exists, false, func, literal_column, or_, select, text

from coordinator.audit.models import AuditEntry
from coordinator.auth.models import User
from coordinator.endpoints.models import Endpoint
from coordinator.endpoints.phones import PhoneError, parse_phone
from coordinator.events.models import Deadline, Event, ReminderRule
from coordinator.extensions import db
from coordinator.history.sentences import describe_all
from coordinator.history.words import SYSTEM_ACTORS
from coordinator.messages import N_, Message
from coordinator.text import fold
from coordinator.units.models import Unit

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_UNITS = 50  # units a typed name may match
# The words before a unit's name (folded), so that "Khánh Hòa" finds "Tỉnh Khánh Hòa" and not "Xã Tân Khánh Hòa".
TIER_WORDS = ("tinh", "thanh pho", "huyen", "quan", "thi xa", "thi tran", "xa", "phuong", "dac khu")
ACTION_RE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


# --- filters ---------------------------------------------------------------------------------------------

@dataclass
class Filters:
    """What the reader asked for, as typed (kept in every link of the page)."""

    event: str = ""  # slug
    unit: str = ""  # a code, or a name typed with or without diacritics
    user: str = ""  # part of a name, an email, a label ("scheduler"), a phone number
    action: str = ""
    date_from: str = ""  # dd/mm/yyyy, in DEFAULT_TIMEZONE
    date_to: str = ""
    endpoint: int | None = None  # an endpoint's history (links from its pages)

    @classmethod
    def from_args(cls, args) -> Filters:
        def arg(name, size=200):
            return " ".join(str(args.get(name) or "").split())[:size]

        endpoint = args.get("endpoint")
        return cls(event=arg("event", 64), unit=arg("unit"), user=arg("user"), action=arg("action", 64),
                   date_from=arg("from", 10), date_to=arg("to", 10),
                   endpoint=int(endpoint) if str(endpoint or "").isdigit() and len(str(endpoint)) < 12 else None)

    def args(self) -> dict[str, Any]:
        """The query arguments that give these filters back (empty ones left out)."""
        out = {"event": self.event, "unit": self.unit, "user": self.user, "action": self.action,
               "from": self.date_from, "to": self.date_to, "endpoint": self.endpoint}
        return {k: v for k, v in out.items() if v not in ("", None)}

    def __bool__(self) -> bool:
        return bool(self.args())


@dataclass
class Resolved:
    """The filters turned into SQL conditions, with what the page says about them."""

    conditions: list = field(default_factory=list)
    problems: list[Message] = field(default_factory=list)  # a filter that could not be used
    event: Any = None  # the Event filtered on
    units: list = field(default_factory=list)  # the units the unit filter matched
    empty: bool = False  # a filter matched nothing: no query needed


def parse_date(text: str) -> datetime | None:
    """dd/mm/yyyy (also d/m/yyyy, dd-mm-yyyy, dd.mm.yyyy, and yyyy-mm-dd as date inputs send it)."""
    text = text.strip()
    for pattern in (r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", r"(\d{4})-(\d{1,2})-(\d{1,2})"):
        match = re.fullmatch(pattern, text)
        if match:
            a, b, c = map(int, match.groups())
            day, month, year = (a, b, c) if len(match.group(1)) <= 2 else (c, b, a)
            try:
                return datetime(year, month, day)
            except ValueError:
                return None
    return None


def _as_text(column):
    return cast(column, String)


DETAIL_KEYS = ("event", "unit", "scope")  # the details the filters read


def _detail(key: str):
    """`details.<key>` as text, written with the key as a constant (the exact expression an
    index on it has: `(details ->> 'event')` on PostgreSQL, `json_extract(details, '$.event')` on SQLite)."""
    assert key in DETAIL_KEYS
    if db.session.get_bind().dialect.name == "postgresql":
        return AuditEntry.details.op("->>", return_type=String)(literal_column(f"'{key}'"))
    return func.json_extract(AuditEntry.details, literal_column(f"'$.{key}'"), type_=String)


def _about_object(object_type: str, ids_query):
    """Entries whose object is one of the ids `ids_query` selects (ids compared as text), among
    those that do not name their event: an entry that does is found by that name, never by an id
    that may since belong to another event (SQLite reuses the id of a deleted last row)."""
    return and_(AuditEntry.object_type == object_type, AuditEntry.object_id.in_(ids_query),
                _detail("event").is_(None))


def _endpoints_recorded(*where):
    """The ids of the endpoints whose registration or removal the log recorded with `where` (on
    their details): the log remembers which unit and event an endpoint removed since was for."""
    return select(AuditEntry.object_id).where(
        AuditEntry.action.in_(("endpoint.create", "endpoint.delete")), AuditEntry.object_type == "endpoint", *where)


def _endpoint_condition(endpoint_id: int):
    """An endpoint's own entries, and the readiness confirmations that name it."""
    own = and_(AuditEntry.object_type == "endpoint", AuditEntry.object_id == str(endpoint_id))
    found = db.session.execute(select(Event.slug, Unit.code).join(Endpoint, Endpoint.event_id == Event.id)
                               .join(Unit, Endpoint.unit_id == Unit.id).where(Endpoint.id == endpoint_id)).first()
    if found is None:  # removed since: its own entries only
        return own
    slug, code = found
    # Entries that name an event and a unit must name this endpoint's: an id freed by a removal
    # can be given again (SQLite), and the new endpoint does not inherit another unit's past.
    own = and_(own, or_(_detail("event").is_(None), _detail("event") == slug),
               or_(_detail("unit").is_(None), _detail("unit") == code))
    return or_(own, and_(AuditEntry.object_type == "event", AuditEntry.object_id == slug,
                         _confirmations_naming([endpoint_id])))


def _confirmations_naming(endpoint_ids: list[int]):
    """Readiness confirmations whose `details.endpoints` lists one of these endpoints: jsonb
    containment on PostgreSQL, json_each on SQLite (neither fails on a malformed list)."""
    ids = sorted({int(i) for i in endpoint_ids})[:MAX_UNITS * 4]
    if not ids:
        return false()
    names = {f"e{n}": i for n, i in enumerate(ids)}
    if db.session.get_bind().dialect.name == "postgresql":
        test = text(" OR ".join(f"(CAST(audit_log.details AS jsonb) -> 'endpoints') @> CAST(:{k} AS jsonb)" for k in names))
        test = test.bindparams(**{k: str(i) for k, i in names.items()})
    else:
        test = text("EXISTS (SELECT 1 FROM json_each(audit_log.details, '$.endpoints') AS j WHERE j.value IN ("
                    + ", ".join(f":{k}" for k in names) + "))").bindparams(**names)
    return and_(AuditEntry.action == "session.confirm", test)


def resolve(filters: Filters) -> Resolved:
    """The SQL conditions of `filters`, each typed text matched without regard to diacritics or case.
    A constant number of queries: the event, the units and their endpoints, the users."""
    out = Resolved()
    where = out.conditions

    if filters.event:
        event = db.session.scalar(select(Event).where(Event.slug == filters.event))
        if event is None:
            out.problems.append(Message(N_("There is no event '%(slug)s'."), {"slug": filters.event}))
            out.empty = True
        else:
            out.event = event
            where.append(or_(
                and_(AuditEntry.object_type == "event", AuditEntry.object_id.in_([event.slug, str(event.id)])),
                _detail("event") == event.slug,
                _about_object("reminder_rule", select(_as_text(ReminderRule.id)).where(ReminderRule.event_id == event.id)),
                _about_object("deadline", select(_as_text(Deadline.id)).where(Deadline.event_id == event.id)),
                # incident.open names only its endpoint: one of the event's, or one removed since
                _about_object("endpoint", select(_as_text(Endpoint.id)).where(Endpoint.event_id == event.id)
                              .union(_endpoints_recorded(_detail("event") == event.slug))),
            ))

    if filters.unit:
        typed = filters.unit
        stmt = select(Unit.id, Unit.structure, Unit.code, Unit.name)
        if out.event is not None:
            stmt = stmt.where(Unit.structure == out.event.unit_structure)
        folded = fold(typed)
        # a name as written with or without its tier word: "khanh hoa", "Tỉnh Khánh Hòa", "xa khanh hoa"
        by_name = Unit.search_name.in_([folded] + [f"{word} {folded}" for word in TIER_WORDS])
        units = db.session.execute(stmt.where(or_(Unit.code == typed, by_name))
                                   .order_by(Unit.code != typed, func.length(Unit.path), Unit.path, Unit.structure.desc())
                                   .limit(MAX_UNITS + 1)).all()
        if any(u.code == typed for u in units):
            units = [u for u in units if u.code == typed]
        if not units:
            out.problems.append(Message(N_("No unit has the code or name '%(text)s'."), {"text": typed}))
            out.empty = True
        else:
            if len(units) > MAX_UNITS:
                out.problems.append(Message(N_("'%(text)s' names more than %(n)s units: only the first %(n)s are "
                                               "searched; type a code to be exact."), {"text": typed, "n": MAX_UNITS}))
                units = units[:MAX_UNITS]
            out.units = units
            codes = sorted({u.code for u in units})
            # The units' endpoints: those registered now, and those the log recorded (removed since).
            recorded = [_detail("unit").in_(codes)]
            live = select(_as_text(Endpoint.id)).where(Endpoint.unit_id.in_([u.id for u in units]))
            if out.event is not None:
                recorded.append(_detail("event") == out.event.slug)
                live = live.where(Endpoint.event_id == out.event.id)
            endpoint_ids = sorted({int(i) for i in db.session.scalars(live.union(_endpoints_recorded(*recorded)))
                                   if str(i).isdigit()})
            where.append(or_(
                _detail("unit").in_(codes),
                _about_object("endpoint", [str(i) for i in endpoint_ids]) if endpoint_ids else false(),
                _confirmations_naming(endpoint_ids),
                and_(AuditEntry.action == "incident.digest", _detail("scope").in_(codes)),
            ))

    if filters.user:
        where.append(_actor_condition(filters.user))

    if filters.action:
        if not ACTION_RE.match(filters.action):
            out.problems.append(Message(N_("'%(text)s' is not an action."), {"text": filters.action}))
            out.empty = True
        else:
            where.append(AuditEntry.action == filters.action)

    zone = ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])
    start = end = None
    for typed, is_start in ((filters.date_from, True), (filters.date_to, False)):
        if not typed:
            continue
        day = parse_date(typed)
        if day is None:
            out.problems.append(Message(N_("'%(text)s' is not a date: write it as dd/mm/yyyy."), {"text": typed}))
            continue
        local = day.replace(tzinfo=zone)
        if is_start:
            start = local
        else:
            end = local + timedelta(days=1)  # the whole of the last day
    if start and end and start >= end:
        out.problems.append(Message(N_("The first day is after the last day.")))
        out.empty = True
    if start:
        where.append(AuditEntry.at >= start)
    if end:
        where.append(AuditEntry.at < end)

    if filters.endpoint is not None:
        where.append(_endpoint_condition(filters.endpoint))
    return out


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _actor_condition(typed: str):
    """Who acted: users whose name or email holds `typed` (diacritics and case ignored), and the
    recorded labels that hold it: an email kept after its user was removed, "scheduler", a phone
    number (typed in any form), or the label's words in the reader's language ("bộ lập lịch")."""
    folded = fold(typed)
    lowered = typed.lower()
    ids = [uid for uid, name, email in db.session.execute(select(User.id, User.display_name, User.email))
           if folded in fold(name or "") or lowered in (email or "").lower()]
    labels = [key for key, words in SYSTEM_ACTORS.items() if folded in fold(str(words)) or folded == key]
    try:
        labels.append(parse_phone(typed).e164)
    except PhoneError:
        pass
    pattern = f"%{_like_escape(lowered)}%"
    return or_(AuditEntry.actor_id.in_(ids) if ids else false(),
               AuditEntry.actor_label.in_(labels) if labels else false(),
               func.lower(AuditEntry.actor_label).like(pattern, escape="\\"))


# --- pages -------------------------------------------------------------------------------------------------

@dataclass
class Line:
    """An entry as a page shows it: when, the sentence, and the entry itself (raw details)."""

    entry: AuditEntry
    sentence: str

    @property
    def at(self) -> datetime:
        return self.entry.at

    @property
    def raw(self) -> str:
        text = json.dumps(self.entry.details, ensure_ascii=False, default=str, sort_keys=True)
        return text if len(text) <= 2000 else text[:1999] + "…"


@dataclass
class Page:
    lines: list[Line]
    filters: Filters
    resolved: Resolved
    newer: int | None = None  # ?after=<id> gives the newer page
    older: int | None = None  # ?before=<id> gives the older page
    first: bool = True  # this is the newest page
    size: int = PAGE_SIZE


def page(filters: Filters, *, before: int | None = None, after: int | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of entries matching `filters`, newest first: those older than `before`, or the
    `size` oldest newer than `after`. A constant number of queries whatever `size`: the filters'
    own (at most one each), the page, one to know whether there is a page on the other side, and
    the names the sentences mention (`Names.load`)."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    resolved = resolve(filters)
    if resolved.empty:
        return Page([], filters, resolved, size=size)
    where = list(resolved.conditions)
    stmt = select(AuditEntry).where(*where)
    if after is not None:
        rows = list(db.session.scalars(stmt.where(AuditEntry.id > after).order_by(AuditEntry.id.asc()).limit(size + 1)))
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        has_older = bool(rows) and db.session.scalar(select(exists().where(*where, AuditEntry.id < rows[-1].id)))
    else:
        if before is not None:
            stmt = stmt.where(AuditEntry.id < before)
        rows = list(db.session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(size + 1)))
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = before is not None and db.session.scalar(
            select(exists().where(*where, AuditEntry.id >= (rows[0].id + 1 if rows else before))))
    sentences = describe_all(rows)
    return Page([Line(e, s) for e, s in zip(rows, sentences)], filters, resolved,
                newer=rows[0].id if rows and has_newer else None,
                older=rows[-1].id if rows and has_older else None,
                first=not has_newer and (after is None or bool(rows)), size=size)


def history_for_endpoint(endpoint_id: int, limit: int = 20) -> list[Line]:
    """What happened to an endpoint, newest first: its registration, edits and removal, the
    incidents opened on it and the readiness confirmations naming it; as sentences in the
    request's language. Two queries (the endpoint's event and unit, the entries) and the names'
    (`Names.load`: at most seven), whatever `limit`."""
    rows = list(db.session.scalars(select(AuditEntry).where(_endpoint_condition(endpoint_id))
                                   .order_by(AuditEntry.id.desc()).limit(limit)))
    return [Line(e, s) for e, s in zip(rows, describe_all(rows))]
