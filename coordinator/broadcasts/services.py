"""Broadcast SMS: one text to a filtered audience of an event's contacts ("not connected yet: join
now"), callable without a request (the API, the composer page and `flask broadcast` call these).

- `prepare` reads the request (session, filter, template) against the event and the sender's
  scope and says everything: the recipients (one per mobile number), the unreachable (fixed
  lines, foreign numbers, opted out), each recipient's text, its encoding and segments, the total
  cost in segments, and every problem found. It changes nothing.
- `preview` is `prepare` refused when there is a problem (`Invalid`); `send` queues the texts
  through the outbox in one transaction, audited (`broadcast.send`), or refuses and queues nothing:
  an empty audience, an unknown placeholder, a text over `texts.MAX_SEGMENTS` segments, a unit
  outside a coordinator's province (forbidden: 403).
- `stop` drops what is still queued (`broadcast.stop`); `progress` counts its messages per outbox
  status.

Each SMS is keyed `broadcast:<id>:<phone>` (the outbox never queues a key twice) and queued with
priority `PRIORITY`: after incident SMS (an outage's own fixers are texted first; a broadcast of
11,000 at the same priority would hold them back for minutes), before reminders and invitations
(a broadcast is about the session under way: "join now" is worth nothing an hour later). The
dispatcher sends it at SMS_RATE_PER_SECOND like every SMS.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from flask_babel import force_locale
from sqlalchemy import select

from coordinator.audit import services as audit
from coordinator.auth.models import COORDINATOR
from coordinator.auth.permissions import can, scope_path
from coordinator.broadcasts import texts
from coordinator.broadcasts.audience import ROOT_PATH, Audience, Filter, Recipient, select_audience
from coordinator.broadcasts.models import SENDING, STOPPED, Broadcast
from coordinator.events.labels import SESSION_LABELS
from coordinator.events.models import CANCELLED, DRAFT, Event, EventSession
from coordinator.extensions import db
from coordinator.fields import TextRule, clean_text, rule
from coordinator.messages import N_, Message
from coordinator.outbox import services as outbox
from coordinator.outbox.models import FAILED, PENDING, SENDING as MESSAGE_SENDING, SENT, SUPERSEDED
from coordinator.problems import Invalid, Problem
from coordinator.reminders import links
from coordinator.reminders.services import local_time
from coordinator.sms.encoding import UCS2, cost, saves_segments, without_diacritics
from coordinator.status import services as status
from coordinator.text import strip_diacritics
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit
from coordinator.units.services import get_unit

KIND = "broadcast"
PRIORITY = 5  # outbox priority: after incident SMS (10), before reminders and invitations (0)
PERMISSION = "broadcasts.send"
# The same text to the same audience again this soon is a double submit, not a decision.
REPEAT_WINDOW = timedelta(minutes=2)
STOPPED_REASON = "not sent: the broadcast was stopped"
_MAX_NAMES = 2  # endpoint or unit names in one SMS ("Xã A, Xã B và 3 điểm cầu khác")
_PER_RECIPIENT = {"endpoint", "unit", "confirm_url"}


class NotStoppable(Exception):
    """The broadcast has nothing left to stop: every message went out or failed."""


def key_prefix(broadcast_id: int) -> str:
    return f"{KIND}:{broadcast_id}:"


# --- preparing ---------------------------------------------------------------------------------------

@dataclass
class Preview:
    """What a broadcast would be, and why it cannot be sent (`problems`, empty when it can)."""

    event: Event
    session: EventSession | None
    filter: Filter
    scope_path: str
    template: str
    strip: bool
    audience: Audience = field(default_factory=lambda: Audience([], [], 0))
    bodies: list[str] = field(default_factory=list)  # one per recipient, in the same order
    segments_total: int = 0
    segments: int = 0  # the most any one SMS takes
    characters: int = 0  # the longest SMS
    encoding: str = ""  # UCS-2 when any SMS is
    sample: str = ""  # the first recipient's text, or the text with sample values
    plain_segments: int = 0  # the sample's segments without diacritics (when they are kept)
    problems: list[Problem] = field(default_factory=list)

    @property
    def recipients(self) -> list[Recipient]:
        return self.audience.recipients

    @property
    def saves(self) -> bool:
        """Sending without diacritics would take fewer segments (the composer offers it)."""
        return not self.strip and bool(self.sample) and saves_segments(self.sample)


def _session(event: Event, kind: str | None) -> EventSession | None:
    return event.session(kind) if kind else status.current_session(event)


def _names(names: list[str]) -> str:
    if len(names) <= _MAX_NAMES:
        return ", ".join(names)
    return f"{', '.join(names[:_MAX_NAMES])} và {len(names) - _MAX_NAMES} điểm cầu khác"


def _base_values(event: Event, session: EventSession) -> dict[str, str]:
    with force_locale("vi"):  # the SMS is Vietnamese, whoever composes it
        title = session.title or str(SESSION_LABELS.get(session.kind, session.kind))
    return {"event": event.short_title or event.title, "session": title,
            "local_time": local_time(session.starts_at, event.timezone)}


def _scope(event: Event, flt: Filter, actor, problems: list[Problem]) -> str:
    """The subtree the audience is taken from: the filter's unit, else the sender's own scope."""
    own = scope_path(actor, event.unit_structure) if getattr(actor, "role", None) == COORDINATOR else None
    if not flt.unit:
        return own or ROOT_PATH
    unit = get_unit(event.unit_structure, flt.unit)
    if unit is None:
        problems.append(Problem("filter.unit", Message(
            N_("no unit '%(code)s' in the administrative structure %(structure)s"),
            {"code": flt.unit, "structure": event.unit_structure})))
        return own or ROOT_PATH
    if not can(actor, PERMISSION, unit):
        problems.append(Problem("filter.unit", Message(
            N_("the unit %(code)s (%(name)s) is outside your province: you may send only within it"),
            {"code": unit.code, "name": unit.name}), forbidden=True))
        return own or ROOT_PATH
    return unit.path


def prepare(event: Event, data: dict, actor) -> Preview:
    """What `data` ({"session", "filter", "template", "strip_diacritics"}) would send, from `actor`.
    Reads only (an operator's hold that has ended is given back to the probes first, as the
    dashboards do, which commits that)."""
    problems: list[Problem] = []
    # Free text through the rules of every field (coordinator.fields: NFC, no control or bidi
    # characters); the template may have several lines (an SMS gets them as one).
    template, problem = clean_text(data.get("template"), TextRule(multiline=True))
    if problem is not None:
        problems.append(Problem("template", problem))
    flt = Filter.of(data.get("filter"))
    if flt.unit is not None:
        unit_code, problem = clean_text(flt.unit, rule(Unit.code))
        if problem is not None:
            problems.append(Problem("filter.unit", problem))
            unit_code = None
        flt = replace(flt, unit=unit_code or None)
    strip = bool(data.get("strip_diacritics"))
    for name, values in flt.unknown_values().items():
        problems.append(Problem(f"filter.{name}", Message(N_("unknown value: %(values)s"),
                                                          {"values": ", ".join(values)})))
    kind = data.get("session") or None
    session = _session(event, kind)
    if session is None:
        problems.append(Problem("session", Message(N_("the event has no session '%(kind)s'"), {"kind": kind})
                                if kind else Message(N_("the event has no session"))))
    if event.status in (DRAFT, CANCELLED):
        problems.append(Problem("event", Message(N_("the event is %(status)s: nothing can be sent about it"),
                                                 {"status": event.status})))
    path = _scope(event, flt, actor, problems)
    problem = None if any(p.field == "template" for p in problems) else texts.check(template)
    if problem is not None:
        problems.append(Problem("template", problem))
    preview = Preview(event, session, flt, path, template, strip, problems=problems)
    if session is None or any(p.forbidden or (p.field or "").startswith("filter.") for p in problems):
        return preview  # no audience to count: it would not be the one asked for
    if status.has_expired_holds():
        status.expire_holds()
    preview.audience = select_audience(event, session, flt, path)
    if not preview.recipients:
        problems.append(Problem("filter", Message(
            N_("nobody to send to: no mobile number among the contacts these filters choose "
               "(%(contacts)s contacts, %(unreachable)s unreachable)"),
            {"contacts": preview.audience.contacts, "unreachable": len(preview.audience.unreachable)})))
    if not any(p.field == "template" for p in problems):
        _render(preview, session)
    return preview


def _render(p: Preview, session: EventSession) -> None:
    """Every recipient's text and what it costs (one cost when the text is the same for all)."""
    base = _base_values(p.event, session)
    used = texts.used(p.template)
    personal = bool(used & _PER_RECIPIENT)

    def text_for(r: Recipient | None) -> str:
        values = dict(base)
        if r is None:  # a sample: the longest names an SMS usually carries
            values.update(endpoint="Hội trường Ủy ban nhân dân tỉnh", unit="Tỉnh Khánh Hòa",
                          confirm_url=links.url(session.id, 0))
        else:  # only what the text uses (a link is an HMAC per recipient)
            if "endpoint" in used:
                values["endpoint"] = _names(r.endpoint_names)
            if "unit" in used:
                values["unit"] = _names(r.unit_names)
            if "confirm_url" in used:
                values["confirm_url"] = links.url(session.id, r.contact_ids[0])
        text = texts.fill(p.template, values)
        return strip_diacritics(text) if p.strip else text

    if not p.recipients:
        p.sample = text_for(None)
        c = cost(p.sample)
        p.segments, p.characters, p.encoding = c.segments, c.characters, c.encoding
    elif not personal:
        text = text_for(p.recipients[0])
        c = cost(text)
        p.bodies = [text] * len(p.recipients)
        p.sample, p.segments, p.characters, p.encoding = text, c.segments, c.characters, c.encoding
        p.segments_total = c.segments * len(p.recipients)
    else:
        encodings = set()
        for r in p.recipients:
            text = text_for(r)
            c = cost(text)
            p.bodies.append(text)
            p.segments_total += c.segments
            p.segments, p.characters = max(p.segments, c.segments), max(p.characters, c.characters)
            encodings.add(c.encoding)
        p.sample = p.bodies[0]
        p.encoding = UCS2 if UCS2 in encodings else encodings.pop()
    if not p.strip:
        p.plain_segments = cost(without_diacritics(p.sample)).segments
    if p.segments > texts.MAX_SEGMENTS:
        p.problems.append(Problem("template", texts.too_long(p.segments)))


def preview(event: Event, data: dict, actor) -> Preview:
    """`prepare`, refused (`Invalid`) when the broadcast could not be sent."""
    p = prepare(event, data, actor)
    if p.problems:
        raise Invalid(p.problems)
    return p


# --- sending, stopping, progress ---------------------------------------------------------------------

def _repeated(p: Preview) -> Broadcast | None:
    """The same broadcast (session, audience, text) sent moments ago and still sending."""
    since = utcnow() - REPEAT_WINDOW
    for b in db.session.scalars(select(Broadcast).where(
            Broadcast.event_id == p.event.id, Broadcast.session_id == p.session.id, Broadcast.status == SENDING,
            Broadcast.created_at >= since)):
        if (b.template, b.strip_diacritics, b.scope_path, b.filter) == (p.template, p.strip, p.scope_path,
                                                                        p.filter.as_dict()):
            return b
    return None


def send(event: Event, data: dict, actor) -> Broadcast:
    """Queue the broadcast `data` describes, one SMS per recipient, audited, and commit; or refuse
    (`Invalid`) and queue nothing."""
    return send_prepared(preview(event, data, actor), actor)


def send_prepared(p: Preview, actor) -> Broadcast:
    """`send` of what `preview` has just prepared (the caller showed it: the API's answer, the
    command's confirmation)."""
    if p.problems:
        raise Invalid(p.problems)
    event = p.event
    again = _repeated(p)
    if again is not None:
        raise Invalid(Problem("template", Message(
            N_("the same text was just sent to the same audience (broadcast #%(id)s); nothing was queued"),
            {"id": again.id})))
    label = getattr(actor, "email", None) or "cli"
    b = Broadcast(event_id=event.id, session_id=p.session.id, filter=p.filter.as_dict(), scope_path=p.scope_path,
                  template=p.template, strip_diacritics=p.strip, recipients=0, unreachable=len(p.audience.unreachable),
                  segments_total=0, status=SENDING, created_by=getattr(actor, "id", None), created_by_label=label,
                  created_at=utcnow())
    db.session.add(b)
    db.session.flush()
    prefix = key_prefix(b.id)
    messages = [{"key": prefix + r.phone, "channel": "sms", "kind": KIND, "event_id": event.id,
                 "recipient": r.phone, "priority": PRIORITY,
                 "payload": {"body": body, "broadcast_id": b.id, "contact_ids": r.contact_ids, "name": r.name,
                             "lang": "vi"}}
                for r, body in zip(p.recipients, p.bodies)]
    b.recipients = outbox.enqueue(messages)
    b.segments_total = p.segments_total
    audit.record("broadcast.send", "broadcast", b.id, actor=actor, actor_label=label, event=event.slug,
                 session=p.session.kind, unit=p.filter.unit, filter=p.filter.as_dict(), template=p.template,
                 strip_diacritics=p.strip, recipients=b.recipients, unreachable=b.unreachable,
                 segments_total=b.segments_total, encoding=p.encoding)
    db.session.commit()
    return b


def progress(b: Broadcast) -> dict[str, int]:
    """Its messages per outbox status (pending, sending, sent, failed, superseded)."""
    counts = outbox.status_counts(b.event_id, "sms", key_prefix=key_prefix(b.id))
    return {s: counts.get(s, 0) for s in (PENDING, MESSAGE_SENDING, SENT, FAILED, SUPERSEDED)}


def state_of(b: Broadcast, counts: dict[str, int] | None = None) -> str:
    """"stopped", "sending" (messages still queued or in flight), or "done"."""
    if b.status == STOPPED:
        return "stopped"
    counts = progress(b) if counts is None else counts
    return "sending" if counts[PENDING] or counts[MESSAGE_SENDING] else "done"


def stop(b: Broadcast, actor) -> int:
    """Drop its messages still queued (those a dispatcher has claimed go out), audited, and commit;
    returns how many were dropped. Stopping a stopped broadcast does nothing; one with nothing
    left to send raises NotStoppable."""
    if b.status == STOPPED:
        return 0
    counts = progress(b)
    if not counts[PENDING] and not counts[MESSAGE_SENDING]:
        raise NotStoppable(f"broadcast {b.id} has finished: nothing left to stop")
    label = getattr(actor, "email", None) or "cli"
    dropped = outbox.drop_pending(b.event_id, key_prefix(b.id), STOPPED_REASON)
    b.status, b.stopped_at, b.stopped_by_label, b.dropped = STOPPED, utcnow(), label, dropped
    audit.record("broadcast.stop", "broadcast", b.id, actor=actor, actor_label=label, event=b.event.slug,
                 unit=(b.filter or {}).get("unit"), dropped=dropped, sent=counts[SENT])
    db.session.commit()
    return dropped


# --- reading ---------------------------------------------------------------------------------------------

def visible_to(b: Broadcast, user) -> bool:
    """Whether `user` may see and stop `b`: the right to broadcast, and for a coordinator a
    broadcast within its subtree."""
    if not can(user, PERMISSION):
        return False
    own = scope_path(user, b.event.unit_structure)
    return own is None or b.scope_path.startswith(own)


def get(broadcast_id: int, user) -> Broadcast | None:
    b = db.session.get(Broadcast, broadcast_id)
    return b if b is not None and visible_to(b, user) else None


def recent(event: Event, user, limit: int = 20) -> list[Broadcast]:
    """The event's latest broadcasts `user` may see, newest first."""
    stmt = select(Broadcast).where(Broadcast.event_id == event.id)
    own = scope_path(user, event.unit_structure)
    if own is not None:
        stmt = stmt.where(Broadcast.scope_path.startswith(own, autoescape=True))
    return list(db.session.scalars(stmt.order_by(Broadcast.id.desc()).limit(limit)))
