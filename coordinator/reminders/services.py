"""Reminders: when each rule fires, whom it reaches, and queuing its messages exactly once.

A rule fires at its anchor's time plus its offset (the −1 day reminder of the main session fires
24 hours before it starts). A firing is recorded per *anchor version* — the anchor's time and the
rule's offset — in `ReminderRun`, unique per rule and version: whichever scheduler, command or
retry gets there first queues the messages, the others find the run and queue nothing. Each
message's outbox key is (rule, version, recipient), so a recipient cannot get the same reminder
twice either. Moving a session is a new version: its reminders fire again for the new time, and
those still queued for the old time are superseded.

A reminder whose time passed while nothing was running (the scheduler down, a restart) still goes
out when next checked, unless its anchor has passed too: then it is recorded as skipped, with the
reason. When several reminders of one anchor and audience are late at once, only the latest goes
out; the earlier ones are skipped as overtaken.

Only the scheduler and `flask reminders due` fire rules; everything here runs without a request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from coordinator.audit import services as audit
from coordinator.deadlines.models import DeadlineFulfilment
from coordinator.endpoints.models import Contact, Endpoint
from coordinator.endpoints.phones import is_foreign
from coordinator.events import reminder_texts as texts
from coordinator.events.labels import SESSION_LABELS
from coordinator.events.models import PUBLISHED, Deadline, Event, EventSession, ReminderRule
from coordinator.extensions import db
from coordinator.outbox import services as outbox
from coordinator.outbox.models import PENDING, SENDING, SENT, OutboxMessage
from coordinator.reminders import links
from coordinator.reminders.models import SENT as RUN_SENT
from coordinator.reminders.models import SKIPPED, ReminderRun
from coordinator.sms.services import opted_out_among
from coordinator.text import strip_diacritics
from coordinator.timeutil import utcnow
from coordinator.units.models import TIERS, Unit

KIND = "reminder"
# Why a firing was skipped (ReminderRun.reason): its anchor had passed when it could first go out
# (the scheduler was down at the time); or a later reminder of the same anchor and audience was
# due at the same time and went out instead ("overtaken:<that rule's id>").
ANCHOR_PASSED, OVERTAKEN = "anchor_passed", "overtaken"
CANCEL_KIND = "reminder-cancel"
# At most this many endpoint names in one SMS ("Xã A, Xã B và 3 điểm cầu khác").
_MAX_NAMES = 2


# --- anchors and fire times -------------------------------------------------------------------

@dataclass(frozen=True)
class Anchor:
    kind: str  # "session" or "deadline"
    name: str  # the session's or deadline's kind
    at: datetime  # when the session starts / the deadline is due (UTC)
    session: EventSession | None = None
    deadline: Deadline | None = None

    @property
    def title(self) -> str:
        if self.session is not None:
            return self.session.title or str(SESSION_LABELS.get(self.name, self.name))
        return self.deadline.title if self.deadline is not None else self.name


def anchor_of(rule: ReminderRule, event: Event) -> Anchor | None:
    kind, name = rule.anchor_kind, rule.anchor_name
    if kind == "session":
        session = event.session(name)
        return Anchor(kind, name, session.starts_at, session=session) if session else None
    if kind == "deadline":
        # A deadline kind may exist for several tiers; the reminder follows the earliest.
        deadlines = sorted((d for d in event.deadlines if d.kind == name), key=lambda d: d.due_at)
        return Anchor(kind, name, deadlines[0].due_at, deadline=deadlines[0]) if deadlines else None
    return None


def version_of(rule: ReminderRule, anchor: Anchor) -> str:
    """What makes a firing distinct: the anchor's time and the rule's offset."""
    return f"{anchor.at.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%MZ}{rule.offset_seconds:+d}"


def fire_time(rule: ReminderRule, anchor: Anchor) -> datetime:
    return anchor.at + timedelta(seconds=rule.offset_seconds)


@dataclass
class Planned:
    """A rule as the organizer sees it: when it fires for the current anchor, and what happened."""

    rule: ReminderRule
    anchor: Anchor | None
    fire_at: datetime | None
    version: str | None
    run: ReminderRun | None
    state: str  # scheduled | due | sent | skipped | paused | draft | closed | no_anchor


def plan(event: Event, now: datetime | None = None) -> list[Planned]:
    """Every rule of `event` with its fire time and state, in fire-time order."""
    now = now or utcnow()
    runs = {(r.rule_id, r.anchor_version): r for r in db.session.scalars(
        select(ReminderRun).where(ReminderRun.event_id == event.id))}
    out = []
    for rule in event.reminder_rules:
        anchor = anchor_of(rule, event)
        if anchor is None:
            out.append(Planned(rule, None, None, None, None, "no_anchor"))
            continue
        version = version_of(rule, anchor)
        at = fire_time(rule, anchor)
        run = runs.get((rule.id, version))
        if run is not None:
            state = run.status
        elif not rule.active:
            state = "paused"
        elif event.status == "draft":
            state = "draft"
        elif event.status != PUBLISHED:
            state = "closed"
        else:
            state = "due" if at <= now else "scheduled"
        out.append(Planned(rule, anchor, at, version, run, state))
    far = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    return sorted(out, key=lambda p: (p.fire_at or far, p.rule.id))


def next_fire_times(now: datetime | None = None) -> dict[int, datetime]:
    """rule id -> fire time, for every rule of a published event still to fire (the scheduler's
    jobs; a time already past means due now)."""
    result = {}
    for event in db.session.scalars(select(Event).where(Event.status == PUBLISHED)):
        for p in plan(event, now):
            if p.state in ("scheduled", "due"):
                result[p.rule.id] = p.fire_at
    return result


# --- recipients ---------------------------------------------------------------------------------

@dataclass
class Recipient:
    """One person (one mobile number, or one email address) and where they stand."""

    address: str  # E.164 or lower-case email
    name: str
    language: str
    contact_ids: list[int] = field(default_factory=list)
    endpoint_names: list[str] = field(default_factory=list)
    unit_names: list[str] = field(default_factory=list)
    unit_codes: list[str] = field(default_factory=list)


@dataclass
class Unreachable:
    name: str
    phone: str
    email: str
    role: str
    endpoint: str
    reason: str  # "fixed_line", "foreign_number", "no_email", "opted_out", "no_contact"


@dataclass
class Audience:
    recipients: list[Recipient]
    unreachable: list[Unreachable]


_ROLES = {"chairs": ("chair",), "technical": ("technical",), "all_contacts": ("chair", "technical", "attendee"),
          "units_missing_deadline": ("chair", "technical", "attendee")}


def _units_missing(event: Event, anchor: Anchor) -> list[Unit]:
    deadline = anchor.deadline
    met = select(DeadlineFulfilment.unit_id).where(DeadlineFulfilment.deadline_id == deadline.id,
                                                   DeadlineFulfilment.fulfilled_at.is_not(None))
    return list(db.session.scalars(select(Unit).where(
        Unit.structure == event.unit_structure, Unit.tier == deadline.tier, Unit.id.not_in(met)).order_by(Unit.code)))


def audience(rule: ReminderRule, event: Event, anchor: Anchor) -> Audience:
    """Whom `rule` reaches now, one entry per mobile number (SMS) or address (email), and whom it
    cannot reach (a fixed line, no email, opted out), for the organizer to call instead."""
    stmt = (select(Contact.id, Contact.name, Contact.role, Contact.phone, Contact.phone_type, Contact.email,
                   Contact.language, Contact.sms_opt_out, Endpoint.name, Unit.name, Unit.code, Unit.tier, Unit.path)
            .join(Endpoint, Contact.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == event.id, Contact.role.in_(_ROLES[rule.audience])))
    missing: list[Unit] = []
    if rule.audience == "units_missing_deadline":
        if anchor.deadline is None:
            return Audience([], [])
        missing = _units_missing(event, anchor)
        if not missing:
            return Audience([], [])
        ids = [u.id for u in missing]
        if len(ids) <= 500:
            stmt = stmt.where(Endpoint.unit_id.in_(ids))
        else:
            stmt = stmt.where(Unit.tier == anchor.deadline.tier)
    rows = db.session.execute(stmt).all()
    if rule.audience == "units_missing_deadline" and len(missing) > 500:
        codes = {u.code for u in missing}
        rows = [r for r in rows if r[10] in codes]
    rows.sort(key=lambda r: (TIERS.index(r[11]), r[12], r[0]))
    blocked = opted_out_among({r[3] for r in rows}) if rule.channel == "sms" else set()
    found: dict[str, Recipient] = {}
    unreachable: list[Unreachable] = []
    listed = {r[10] for r in rows}  # units with at least one contact, reachable or not
    for (cid, name, role, phone, phone_type, email, language, opt_out, endpoint_name,
         unit_name, unit_code, _tier, _path) in rows:
        if rule.channel == "sms":
            if phone_type != "mobile" or is_foreign(phone):  # a number stored before foreign ones were typed
                reason = "foreign_number" if phone_type == "foreign" or is_foreign(phone) else "fixed_line"
                unreachable.append(Unreachable(name, phone, email, role, endpoint_name, reason))
                continue
            if opt_out or phone in blocked:
                unreachable.append(Unreachable(name, phone, email, role, endpoint_name, "opted_out"))
                continue
            address = phone
        else:
            address = (email or "").strip().lower()
            if not address:
                unreachable.append(Unreachable(name, phone, email, role, endpoint_name, "no_email"))
                continue
        r = found.get(address)
        if r is None:
            r = found[address] = Recipient(address, name, language or "vi")
        r.contact_ids.append(cid)
        if endpoint_name not in r.endpoint_names:
            r.endpoint_names.append(endpoint_name)
            r.unit_names.append(unit_name)
            r.unit_codes.append(unit_code)
    for unit in missing:
        if unit.code not in listed:  # nobody to write to: the organizer phones the office
            unreachable.append(Unreachable(unit.name, "", "", "", unit.name, "no_contact"))
    return Audience(list(found.values()), unreachable)


# --- texts ------------------------------------------------------------------------------------------

def local_time(at: datetime, tz: str) -> str:
    local = at.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def _names(names: list[str]) -> str:
    if len(names) <= _MAX_NAMES:
        return ", ".join(names)
    return f"{', '.join(names[:_MAX_NAMES])} và {len(names) - _MAX_NAMES} điểm cầu khác"


def _longest_endpoint_name(event: Event) -> str:
    """For samples: the event's longest endpoint name, so that the cost shown is the worst case."""
    name = db.session.scalar(select(Endpoint.name).where(Endpoint.event_id == event.id)
                             .order_by(func.length(Endpoint.name).desc()).limit(1))
    return name or "Hội trường Ủy ban nhân dân tỉnh"


def values_for(rule: ReminderRule, event: Event, anchor: Anchor, recipient: Recipient | None) -> dict[str, str]:
    base = current_app.config["PUBLIC_BASE_URL"]
    values = {"event": event.short_title or event.title, "local_time": local_time(anchor.at, event.timezone)}
    if anchor.kind == "session":
        values["session"] = anchor.title
        values["endpoint"] = _names(recipient.endpoint_names) if recipient else _longest_endpoint_name(event)
        values["confirm_url"] = (links.url(anchor.session.id, recipient.contact_ids[0]) if recipient
                                 else f"{base}/c/{links.token(anchor.session.id or 0, 0)}")
    else:
        values["deadline"] = anchor.title
        values["unit"] = _names(recipient.unit_names) if recipient else "Tỉnh Khánh Hòa"
        code = recipient.unit_codes[0] if recipient else "56"
        values["register_url"] = f"{base}/events/{event.slug}/units/{code}/endpoint"
    return values


def render(rule: ReminderRule, event: Event, anchor: Anchor, recipient: Recipient | None,
           template: str | None = None, strip: bool | None = None) -> str:
    """The text one recipient gets (or, without a recipient, a sample for the composer). Every
    session reminder carries the confirmation link: appended when the template has none."""
    template = rule.template if template is None else template
    if anchor.kind == "session" and "{confirm_url}" not in template:
        template = template.rstrip() + " {confirm_url}"
    text = " ".join(texts.fill(template, values_for(rule, event, anchor, recipient)).split())
    if rule.strip_diacritics if strip is None else strip:
        text = strip_diacritics(text)
    return text


# --- firing ------------------------------------------------------------------------------------------

@dataclass
class FireResult:
    run: ReminderRun
    audience: Audience | None = None


def _claim_run(rule: ReminderRule, event: Event, version: str, at: datetime, status: str, reason: str = "") -> ReminderRun | None:
    """Record this firing; None when another process recorded it first."""
    run = ReminderRun(rule_id=rule.id, event_id=event.id, anchor_version=version, fire_at=at, status=status,
                      reason=reason, queued=0, unreachable=0, created_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(run)
            db.session.flush()
    except IntegrityError:
        return None
    return run


def fire(rule: ReminderRule, event: Event, now: datetime, *, skip_reason: str = "") -> FireResult | None:
    """Fire `rule` for its anchor's current version, in the caller's transaction: queue its
    messages, or record it skipped. None when it had already fired for this version."""
    anchor = anchor_of(rule, event)
    if anchor is None:
        return None
    version, at = version_of(rule, anchor), fire_time(rule, anchor)
    if not skip_reason and now >= anchor.at:
        skip_reason = ANCHOR_PASSED
    run = _claim_run(rule, event, version, at, SKIPPED if skip_reason else RUN_SENT, skip_reason)
    if run is None or skip_reason:
        if run is not None:
            audit.record("reminder.skip", "reminder_rule", rule.id, actor_label="scheduler", reason=skip_reason)
        return FireResult(run) if run is not None else None
    who = audience(rule, event, anchor)
    messages = []
    for r in who.recipients:
        text = render(rule, event, anchor, r)
        payload = {"body": text, "rule_id": rule.id, "version": version, "contact_ids": r.contact_ids,
                   "name": r.name, "lang": r.language}
        if rule.channel == "email":
            payload["subject"] = f"Nhắc lịch: {event.short_title or event.title}"
            payload["organizer_office"] = event.organizer_office or event.organizer_name
            payload["organizer_email"] = event.organizer_email
        messages.append({"key": f"{KIND}:{rule.id}:{version}:{r.address}", "channel": rule.channel, "kind": KIND,
                         "event_id": event.id, "recipient": r.address, "payload": payload})
    run.queued = outbox.enqueue(messages)
    run.unreachable = len(who.unreachable)
    audit.record("reminder.fire", "reminder_rule", rule.id, actor_label="scheduler", version=version,
                 queued=run.queued, unreachable=run.unreachable)
    return FireResult(run, who)


def due(now: datetime, *, event: Event | None = None, rule_ids: list[int] | None = None) -> list[tuple[ReminderRule, Event]]:
    """Active rules of published events whose fire time has come and that have not fired for
    their anchor's current version."""
    stmt = select(Event).where(Event.status == PUBLISHED)
    if event is not None:
        stmt = stmt.where(Event.id == event.id)
    found = []
    for ev in db.session.scalars(stmt):
        for p in plan(ev, now):
            if p.state == "due" and (rule_ids is None or p.rule.id in rule_ids):
                found.append((p.rule, ev))
    return found


def enqueue_due(now: datetime | None = None, *, event: Event | None = None,
                rule_ids: list[int] | None = None) -> list[ReminderRun]:
    """Fire every reminder due at `now` (default: the current time) and commit. Of several late
    reminders for one anchor, channel and audience only the latest is sent."""
    now = now or utcnow()
    runs = []
    groups: dict[tuple, list[ReminderRule]] = {}
    events: dict[int, Event] = {}
    for rule, ev in due(now, event=event, rule_ids=rule_ids):
        events[ev.id] = ev
        groups.setdefault((ev.id, rule.anchor, rule.channel, rule.audience), []).append(rule)
    for (event_id, *_), rules in groups.items():
        ev = events[event_id]
        rules.sort(key=lambda r: r.offset_seconds)
        later = rules[-1]
        anchor = anchor_of(later, ev)
        for earlier in rules[:-1]:
            # Overtaken only by a reminder that goes out; once the anchor has passed none does.
            result = fire(earlier, ev, now, skip_reason="" if now >= anchor.at else f"{OVERTAKEN}:{later.id}")
            if result:
                runs.append(result.run)
        result = fire(rules[-1], ev, now)
        if result:
            runs.append(result.run)
        db.session.commit()
    return runs


# --- reschedules and cancellations --------------------------------------------------------------

def supersede_outdated(event: Event) -> int:
    """Reminders still queued for an anchor version that is no longer current (a moved session,
    an edited offset, a paused or deleted rule) are never sent. In the caller's transaction."""
    current = {}
    for rule in event.reminder_rules:
        anchor = anchor_of(rule, event)
        if anchor is not None and rule.active:
            current[rule.id] = version_of(rule, anchor)
    stale = [key for key, payload in db.session.execute(
        select(OutboxMessage.key, OutboxMessage.payload).where(
            OutboxMessage.event_id == event.id, OutboxMessage.kind == KIND, OutboxMessage.status == PENDING))
        if current.get(payload.get("rule_id")) != payload.get("version")]
    outbox.supersede(stale)
    return len(stale)


def on_cancel(event: Event, reason: str = "") -> int:
    """The event is cancelled: queued reminders are never sent, and everyone who was sent an SMS
    reminder gets one saying it is cancelled (those who only had emails get the calendar's
    CANCEL). In the caller's transaction; returns the SMS queued."""
    pending = list(db.session.scalars(select(OutboxMessage.key).where(
        OutboxMessage.event_id == event.id, OutboxMessage.kind == KIND, OutboxMessage.status == PENDING)))
    outbox.supersede(pending)
    rows = db.session.execute(select(OutboxMessage.recipient, OutboxMessage.payload).where(
        OutboxMessage.event_id == event.id, OutboxMessage.kind == KIND, OutboxMessage.channel == "sms",
        OutboxMessage.status.in_((SENT, SENDING)))).all()
    if not rows:
        return 0
    main = event.session("main") or (event.sessions[0] if event.sessions else None)
    when = f" dự kiến lúc {local_time(main.starts_at, event.timezone)}" if main else ""
    text = f"Thông báo: {event.short_title or event.title}{when} ĐÃ HỦY."
    if reason.strip():
        text += f" Lý do: {reason.strip()}"
    strip = any(r.strip_diacritics for r in event.reminder_rules if r.channel == "sms")
    if strip:
        text = strip_diacritics(text)
    messages, seen = [], set()
    for phone, payload in rows:
        if phone in seen:
            continue
        seen.add(phone)
        messages.append({"key": f"{CANCEL_KIND}:{event.id}:{phone}", "channel": "sms", "kind": CANCEL_KIND,
                         "event_id": event.id, "recipient": phone,
                         "payload": {"body": text, "contact_ids": payload.get("contact_ids", []), "lang": "vi"}})
    return outbox.enqueue(messages)
