"""Finding an endpoint from the dashboards: by its unit's name (with or without diacritics) or
code, its room's name or address, its dial address, a contact's name, or a contact's phone as
officials write it ("0913 123 456", "0913.123.456", "+84913123456"), with the one search rule
(`coordinator.search.Matcher`).

SQLite and PostgreSQL share no accent-folding function, so the texts are folded in Python: once
per event and version of its registration, into an index kept by each worker process
(`_index`; about 0.4 s to build nationally), then searched in memory. Whether the index is
current is one primary-key lookup: the event's registration counter (`RegistryVersion`, moved by
every endpoint created, edited or deleted, its contacts and hosted units included).

Results are ranked: the unit's code, a contact's whole number or the whole dial address (or its
host) first, then the unit's name, then the room (name, address, a piece of the dial address), then
a contact's name, a unit attending there, a piece of a phone number; within a rank, higher tiers
first (a province before its communes), then tree order. Each kind of text of every endpoint is
kept in one string, so the endpoints that contain a word are found by `str.find` (in C), rank by
rank, and the search stops as soon as `limit` results and one more are known: a broad word
("phong") costs no more than a precise one. At most `limit` (MAX_LIMIT) are returned, with their
state in the session and whether an incident is open; `more` says that others matched.
"""
from __future__ import annotations

import heapq
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select

from coordinator.endpoints.models import Contact, Endpoint, HostedUnit, RegistryVersion
from coordinator.endpoints.phones import national
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.search import Matcher, national_digits, words_of
from coordinator.status.models import EndpointStatus, Incident
from coordinator.status.rule import UNKNOWN
from coordinator.text import fold
from coordinator.units.models import Unit, province_code

MAX_Q = 100  # characters of a search (longer: refused by the API, cut by the page)
LIMIT = 10  # results by default
MAX_LIMIT = 50
KEPT_EVENTS = 4  # indexes each process keeps (the events being watched)

# What matched (a result's `match`), by rank.
CODE, WHOLE_PHONE, DIAL, UNIT, ROOM, DIAL_PART, CONTACT, HOSTED, PHONE = (
    "code", "whole_phone", "dial", "unit", "room", "dial_part", "contact", "hosted", "phone")
RANKS = {CODE: 0, WHOLE_PHONE: 0, DIAL: 0, UNIT: 1, ROOM: 2, DIAL_PART: 2, CONTACT: 3, HOSTED: 3, PHONE: 3}
MATCHES = tuple(RANKS)


class _Entry:
    """One endpoint as the index keeps it: what a result shows and its texts, folded once."""

    __slots__ = ("id", "name", "dial", "unit_code", "unit_name", "tier", "path", "code_folded", "unit_words",
                 "name_words", "address_words", "dial_folded", "contacts", "hosted")

    def __init__(self, eid, name, address, dial, code, unit_name, search_name, tier, path):
        self.id, self.name, self.dial = eid, name, dial
        self.unit_code, self.unit_name, self.tier, self.path = code, unit_name, tier, path
        self.code_folded = code.lower()
        self.unit_words = words_of(search_name or fold(unit_name))
        self.name_words, self.address_words = words_of(fold(name or "")), words_of(fold(address or ""))
        self.dial_folded = fold(dial or "")
        self.contacts: list[tuple[str, list[str], str]] = []  # (name, its folded words, E.164)
        self.hosted: list[tuple[str, str, list[str]]] = []  # (code, name, its folded words)


class _Texts:
    """One kind of text of every entry, in one string (entries apart by NUL, which no cleaned text
    holds): the entries that contain a piece, in the index's order, each once, found by str.find."""

    def __init__(self, parts: list[str]):
        self.starts, at = [], 0
        for part in parts:
            self.starts.append(at)
            at += len(part) + 1
        self.text = "\x00".join(parts)

    def containing(self, piece: str) -> Iterator[int]:
        text, starts, find = self.text, self.starts, self.text.find
        last = len(starts) - 1
        at = find(piece)
        while at >= 0:
            i = bisect_right(starts, at) - 1
            yield i
            if i == last:
                return
            at = find(piece, starts[i + 1])


@dataclass
class _Index:
    key: tuple
    entries: list[_Entry]  # higher tiers first, then tree order
    by_code: dict[str, int] = field(default_factory=dict)
    by_phone: dict[str, list[int]] = field(default_factory=dict)  # national digits -> entries
    units: _Texts | None = None
    rooms: _Texts | None = None
    dials: _Texts | None = None
    people: _Texts | None = None  # contacts' names, hosted units' codes and names
    digits: _Texts | None = None

    def finish(self) -> _Index:
        for i, e in enumerate(self.entries):
            self.by_code.setdefault(e.code_folded, i)
            for _name, _words, e164 in e.contacts:
                self.by_phone.setdefault(national_digits(e164 or ""), []).append(i)
        self.units = _Texts([" ".join(e.unit_words) for e in self.entries])
        self.rooms = _Texts([" ".join(e.name_words) + "\n" + " ".join(e.address_words) for e in self.entries])
        self.dials = _Texts([e.dial_folded for e in self.entries])
        self.people = _Texts(["\n".join([" ".join(w) for _n, w, _p in e.contacts]
                                        + [f"{c.lower()} {' '.join(w)}" for c, _n, w in e.hosted])
                              for e in self.entries])
        self.digits = _Texts(["|".join(national_digits(p or "") for _n, _w, p in e.contacts) for e in self.entries])
        return self


@dataclass
class Hit:
    id: int
    name: str
    dial: str
    unit_code: str
    unit_name: str
    tier: str
    province_code: str
    match: str  # what matched (MATCHES)
    matched: str = ""  # the contact's name or number, the dial address, the unit attending there
    state: str = UNKNOWN
    incident: bool = False
    heard_at: object = None
    changed_at: object = None


@dataclass
class Results:
    q: str
    items: list[Hit] = field(default_factory=list)
    more: bool = False  # others matched beyond `limit`


_lock = threading.Lock()
_indexes: OrderedDict[int, _Index] = OrderedDict()


def _key(event: Event) -> tuple:
    """What the index of `event` depends on: one primary-key lookup."""
    version = db.session.scalar(select(RegistryVersion.version).where(RegistryVersion.event_id == event.id))
    return event.id, event.created_at, event.unit_structure, version


def _build(event: Event, key: tuple) -> _Index:
    by_id: dict[int, _Entry] = {}
    for row in db.session.execute(
            select(Endpoint.id, Endpoint.name, Endpoint.address, Endpoint.dial, Unit.code, Unit.name,
                   Unit.search_name, Unit.tier, Unit.path)
            .join(Unit, Endpoint.unit_id == Unit.id).where(Endpoint.event_id == event.id)):
        by_id[row[0]] = _Entry(*row)
    for eid, name, phone in db.session.execute(
            select(Contact.endpoint_id, Contact.name, Contact.phone).join(Endpoint, Contact.endpoint_id == Endpoint.id)
            .where(Endpoint.event_id == event.id).order_by(Contact.id)):
        by_id[eid].contacts.append((name, words_of(fold(name or "")), phone))
    for eid, code, name, search_name in db.session.execute(
            select(HostedUnit.endpoint_id, Unit.code, Unit.name, Unit.search_name)
            .join(Unit, HostedUnit.unit_id == Unit.id).where(HostedUnit.event_id == event.id)):
        if eid in by_id:
            by_id[eid].hosted.append((code, name, words_of(search_name or fold(name))))
    entries = sorted(by_id.values(), key=lambda e: (e.path.count("/"), e.path))
    return _Index(key, entries).finish()


def _index(event: Event) -> _Index:
    """The event's index, built again when its registration changed since."""
    key = _key(event)
    with _lock:
        found = _indexes.get(event.id)
        if found is not None and found.key == key:
            _indexes.move_to_end(event.id)
            return found
    built = _build(event, key)
    with _lock:
        _indexes[event.id] = built
        _indexes.move_to_end(event.id)
        while len(_indexes) > KEPT_EVENTS:
            _indexes.popitem(last=False)
    return built


def _merged(*sources: Iterator[int]) -> Iterator[int]:
    """Entries of several sources, in the index's order, each once."""
    last = -1
    for i in heapq.merge(*sources):
        if i != last:
            yield i
            last = i


def _rarest(texts: _Texts, words: list[str]) -> Iterator[int]:
    """The entries of `texts` holding the word of the search found least often there (counted in C):
    a broad word next to a precise one costs nothing."""
    if not words:
        return iter(())
    word = words[0] if len(words) == 1 else min(words, key=texts.text.count)
    return texts.containing(word)


def _ranks(ix: _Index, m: Matcher, q_code: str):
    """For each rank, best first: the entries that may match (in the index's order) and the test
    giving what matched, or None."""
    entries, words, digits = ix.entries, m.words, m.digits

    def contact_named(e):
        return next((f"{n} {national(p)}" for n, w, p in e.contacts if m.words_in(w)), None)

    def whole_phone(e):
        return next((f"{n} {national(p)}" for n, _w, p in e.contacts if m.whole_phone(p)), None)

    def first(i):
        e = entries[i]
        if e.code_folded == q_code:
            return CODE, ""
        if digits and (found := whole_phone(e)):
            return WHOLE_PHONE, found
        if m.whole_address(e.dial_folded):
            return DIAL, e.dial
        return None

    def second(i):
        return (UNIT, "") if m.words_in(entries[i].unit_words) else None

    def third(i):
        e = entries[i]
        if words and (m.words_in(e.name_words) or m.words_in(e.address_words)):
            return ROOM, ""
        if m.address(e.dial_folded):
            return DIAL_PART, e.dial
        return None

    def fourth(i):
        e = entries[i]
        if words and (found := contact_named(e)):
            return CONTACT, found
        if words:
            for code, name, w in e.hosted:
                if m.words_in(w) or code.lower() == q_code:
                    return HOSTED, f"{code} {name}"
        if digits:
            for n, _w, p in e.contacts:
                if m.phone(p):
                    return PHONE, f"{n} {national(p)}"
        return None

    exact = sorted({ix.by_code[q_code]} if q_code in ix.by_code else set())
    if digits and len(digits) >= 9:
        exact = sorted(set(exact) | set(ix.by_phone.get(digits, ())) | set(ix.by_phone.get("0" + digits, ())))
    yield _merged(iter(exact), ix.dials.containing(m.piece) if m.piece else iter(())), first
    yield _rarest(ix.units, words), second
    yield _merged(_rarest(ix.rooms, words), ix.dials.containing(m.piece) if m.piece else iter(())), third
    yield _merged(_rarest(ix.people, words), ix.digits.containing(digits) if digits else iter(())), fourth


def search(event: Event, q: str, *, session: EventSession | None = None, scope: str | None = None,
           limit: int = LIMIT) -> Results:
    """The endpoints of `event` that `q` finds (at most `limit`, best first), within `scope` (a
    coordinator's subtree path; None: the whole country), with their state in `session`."""
    q = (q or "")[:MAX_Q]
    limit = max(1, min(limit, MAX_LIMIT))
    m = Matcher(q)
    results = Results(q)
    if not m and not m.digits:
        return results
    ix = _index(event)
    taken: set[int] = set()
    kept: list[tuple[_Entry, str, str]] = []
    for candidates, test in _ranks(ix, m, q.strip().lower()):
        for i in candidates:
            if len(kept) > limit:
                break
            if i in taken:
                continue
            e = ix.entries[i]
            if scope is not None and not e.path.startswith(scope):
                continue
            found = test(i)
            if found is not None:
                taken.add(i)
                kept.append((e, *found))
        if len(kept) > limit:
            break
    results.more = len(kept) > limit
    results.items = [Hit(e.id, e.name, e.dial, e.unit_code, e.unit_name, e.tier, province_code(e.path), what, matched)
                     for e, what, matched in kept[:limit]]
    if session is not None and results.items:
        _with_state(results.items, session)
    return results


def _with_state(items: list[Hit], session: EventSession) -> None:
    """Each hit's state in the session and whether an incident is open: two small queries."""
    ids = [h.id for h in items]
    states = {eid: (state, heard, changed) for eid, state, heard, changed in db.session.execute(
        select(EndpointStatus.endpoint_id, EndpointStatus.state, EndpointStatus.heard_at, EndpointStatus.changed_at)
        .where(EndpointStatus.session_id == session.id, EndpointStatus.endpoint_id.in_(ids)))}
    open_ = set(db.session.scalars(select(Incident.endpoint_id).where(
        Incident.open_key.in_([f"{eid}:{session.id}" for eid in ids]))))
    for h in items:
        h.state, h.heard_at, h.changed_at = states.get(h.id, (UNKNOWN, None, None))
        h.incident = h.id in open_


def forget() -> None:
    """Drop every index (the next search builds it again)."""
    with _lock:
        _indexes.clear()
