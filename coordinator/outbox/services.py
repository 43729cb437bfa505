"""The durable outbox: queue messages in the caller's transaction, dispatch them later.

Guarantees:
- a message is queued once: its `key` is unique and `enqueue` skips keys already present;
- a message is sent at most once per claim: a dispatcher claims due rows (status `sending`, its
  claim token, its process's id, a lease, attempts + 1) and commits before it talks to the
  provider; several dispatchers never share a row (PostgreSQL: `FOR UPDATE SKIP LOCKED`;
  everywhere: the claiming UPDATE re-checks that the rows are due), and each records outcomes only
  for rows it still holds;
- each outcome is written as soon as the provider answers (a recorder thread per claim, on a
  connection of its own): an SMS's outcome is committed before the next request of its connection
  goes out, together with that next request's `attempted_at` mark (committed before the request;
  a row the claim no longer holds is never sent). A dispatcher killed mid fan-out therefore leaves
  at most SMS_CONCURRENCY SMS whose outcome is unknown, and knows which. Emails are recorded in
  small groups (within RECORD_LINGER_SECONDS of their answers), their whole claim marked as
  attempted when it is claimed (SMTP cannot be asked afterwards what it took);
- a temporary failure goes back to `pending` with exponential backoff and jitter; a permanent one
  or the last attempt marks it `failed` with the provider's reason (each backend says which is
  which: for SMTP 4xx and lost connections are temporary and 5xx permanent; for Twilio 429, 5xx
  and connection errors are temporary, other 4xx permanent);
- a dispatcher that dies mid-batch leaves rows `sending`: the active scheduler sees the process
  gone (`dispatchers.release_dead`: its advisory lock free, or no heartbeat) and releases them at
  once; the lease (OUTBOX_LEASE_SECONDS) only backs that up. A released row whose request had gone
  out is *uncertain* (`doubt`), as is an SMS whose provider did not answer in time or whose
  connection dropped after the request went out (the backend says so: `SendError.uncertain`);
- before an uncertain SMS is sent again its provider is asked whether it has it (`find`: the
  messages to that number since the first uncertain attempt, matched on sender, number and text):
  found, it is recorded as sent with the provider's reference and not sent again; not found, it is
  sent. Only where no lookup is possible (email, the log backend, a provider refusing the lookup)
  is it sent again without confirmation, counted as a possible duplicate (`UNCONFIRMED`); emails
  carry a Message-ID derived from the key so that clients can tell.
"""
from __future__ import annotations

import logging
import math
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable

from flask import current_app
from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update

from coordinator.extensions import db
from coordinator.search import phone_digits
from coordinator.outbox.models import (ABSENT, DOUBTS, FAILED, FOUND, PENDING, SENDING, SENT, SUPERSEDED,
                                       UNCERTAIN, UNCONFIRMED, OutboxMessage)
from coordinator.timeutil import utcnow

log = logging.getLogger(__name__)
_CHUNK = 500


class SendError(Exception):
    """A provider refused or could not be reached. `permanent`: retrying cannot help. `uncertain`:
    the request may have reached the provider (no answer in time, the connection dropped after the
    request went out): it may have the message."""

    def __init__(self, reason: str, *, permanent: bool = False, uncertain: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.uncertain = uncertain


class LookupUnavailable(Exception):
    """The provider cannot say whether it has a message (the lookup is refused): an uncertain
    message is then sent again without confirmation."""


class Unreachable(SendError):
    """The provider cannot be reached at all: the rest of the batch waits for the next attempt."""


@dataclass
class DispatchStats:
    sent: int = 0  # recorded as sent (those found at the provider included)
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    # Requests whose outcome is unknown (no answer in time, connection dropped after the request):
    # looked up at the provider before any new attempt.
    uncertain: int = 0
    # Uncertain messages resolved: the provider had it (recorded as sent, not sent again); the
    # provider had none (sent, no duplicate); sent again without confirmation (possible duplicates).
    found: int = 0
    absent: int = 0
    unconfirmed: int = 0
    lost: int = 0  # rows this claim no longer held when their turn came: not sent

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed


def enqueue(messages: list[dict]) -> int:
    """Queue messages (dicts with key, channel, kind, event_id, recipient, payload); keys already
    queued are skipped. Returns how many were queued. Flushes, never commits."""
    if not messages:
        return 0
    keys = [m["key"] for m in messages]
    known: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        known.update(db.session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(keys[i:i + _CHUNK]))))
    now = utcnow()
    rows, seen = [], set(known)
    for m in messages:
        if m["key"] in seen:
            continue
        seen.add(m["key"])
        rows.append({"status": PENDING, "attempts": 0, "next_attempt_at": now, "last_error": "", "provider_ref": "",
                     "claimed_by": "", "priority": 0, "created_at": now, "event_id": None, **m})
    if rows:
        db.session.execute(insert(OutboxMessage.__table__), rows)
    return len(rows)


def supersede(keys: Iterable[str]) -> None:
    """Messages overtaken by a newer one for the same recipient and subject: if not sent yet, never send them."""
    keys = [k for k in keys if k]
    for i in range(0, len(keys), _CHUNK):
        db.session.execute(update(OutboxMessage)
                           .where(OutboxMessage.key.in_(keys[i:i + _CHUNK]), OutboxMessage.status == PENDING)
                           .values(status=SUPERSEDED), execution_options={"synchronize_session": False})


def _composer(kind: str) -> Callable:
    if kind == "invitation":
        from coordinator.invitations.mail import compose

        return compose
    if kind in ("reminder", "reminder-cancel", "incident"):
        from coordinator.reminders.compose import compose

        return compose
    if kind == "account":  # set-password links
        from coordinator.accounts.mail import compose

        return compose
    raise LookupError(f"no composer for messages of kind {kind!r}")


def _backend(channel: str):
    from coordinator.outbox.backends import backend_for

    return backend_for(channel, current_app.config)


URGENT_RETRY_BASE_SECONDS = 5.0  # an incident SMS refused by a busy provider is tried again within seconds


def retry_delay(attempts: int, urgent: bool = False) -> timedelta:
    """Exponential backoff with ±20 % jitter (so that many failed messages do not return at once);
    from a few seconds for urgent messages (an incident does not wait a minute for a 429)."""
    return _retry_delay(attempts, urgent, current_app.config["OUTBOX_RETRY_BASE_SECONDS"],
                        current_app.config["OUTBOX_RETRY_MAX_SECONDS"])


def _retry_delay(attempts: int, urgent: bool, base: float, cap: float) -> timedelta:
    if urgent:
        base = min(base, URGENT_RETRY_BASE_SECONDS)
    seconds = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def claim(now: datetime, limit: int, channels: Iterable[str] | None = None) -> tuple[str, list[OutboxMessage]]:
    """Take up to `limit` due messages for this dispatcher and commit the claim; returns the claim's
    token and the rows.

    The UPDATE repeats the "due" condition and marks the rows with a fresh token, so that two
    dispatchers can never both claim a row: on PostgreSQL the SELECT skips rows another claim has
    locked, and on SQLite (no row locks) the second UPDATE finds them no longer due.
    """
    from coordinator.outbox import dispatchers

    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    me = dispatchers.current()
    process = me.ensure()  # before the claim's transaction (PostgreSQL: its lock on its own connection)
    due = or_(and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
              and_(OutboxMessage.status == SENDING, OutboxMessage.locked_until < now))
    stmt = select(OutboxMessage.id).where(due)
    if channels:
        stmt = stmt.where(OutboxMessage.channel.in_(list(channels)))
    stmt = stmt.order_by(OutboxMessage.priority.desc(), OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
    ids = list(db.session.scalars(stmt.with_for_update(skip_locked=True)))
    token = uuid.uuid4().hex
    if ids:
        m = OutboxMessage
        # A row taken back from a claim whose lease ended had perhaps reached the provider.
        expired = and_(m.status == SENDING, m.attempted_at.is_not(None))
        me.touch(db.session)  # the process's row commits with its claim
        db.session.execute(update(m).where(m.id.in_(ids), due)
                           .values(status=SENDING, claimed_by=token, dispatcher=process, locked_until=now + lease,
                                   attempts=m.attempts + 1,
                                   doubt=case((expired, UNCERTAIN), else_=m.doubt),
                                   uncertain_since=case((expired, func.coalesce(m.uncertain_since, m.attempted_at)),
                                                        else_=m.uncertain_since),
                                   # SMS: marked one by one just before each request; email: the whole claim.
                                   attempted_at=case((m.channel == "sms", None), else_=utcnow())),
                           execution_options={"synchronize_session": False})
    db.session.commit()
    if not ids:
        return token, []
    rows = []
    for i in range(0, len(ids), _CHUNK):  # by primary key (claimed_by has no index), still ours only
        rows += db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids[i:i + _CHUNK]),
                                                               OutboxMessage.claimed_by == token))
    rows.sort(key=lambda r: (-r.priority, r.next_attempt_at, r.id))
    return token, rows


# Outcomes nobody waits for (emails, SMS that reached no request) are grouped this long into one commit.
RECORD_LINGER_SECONDS = 0.1
_OUTCOME_FIELDS = ("id", "status", "sent_at", "provider_ref", "last_error", "next_attempt_at", "doubt",
                   "uncertain_since")


_statements: dict[str, object] = {}


def _statement(name: str):
    """The recorder's two statements, built once (they run once per SMS)."""
    if not _statements:
        table = OutboxMessage.__table__
        held = (table.c.id == bindparam("_id")) & (table.c.claimed_by == bindparam("_token"))
        _statements["outcome"] = table.update().where(held).values(
            status=bindparam("_status"), sent_at=bindparam("_sent_at"), provider_ref=bindparam("_provider_ref"),
            last_error=bindparam("_last_error"), next_attempt_at=bindparam("_next_attempt_at"),
            doubt=bindparam("_doubt"), uncertain_since=bindparam("_uncertain_since"), locked_until=None,
            claimed_by="", dispatcher="")
        _statements["mark"] = table.update().where(held).values(attempted_at=bindparam("_at"))
    return _statements[name]


def _record(conn, token: str, updates: list[dict]) -> None:
    """Write outcomes (dicts of _OUTCOME_FIELDS) on `conn`, for the rows this claim still holds."""
    if not updates:
        return
    conn.execute(_statement("outcome"), [{"_token": token, **{f"_{k}": u[k] for k in _OUTCOME_FIELDS}}
                                         for u in updates])


class _Recorder:
    """Writes a claim's outcomes while it is being sent, on a database connection of its own (one
    thread): an outcome is committed within `linger` seconds of its provider's answer, and at once
    when a sender waits — an SMS sender waits for the commit of its next row's `attempted_at` mark
    (with its previous outcome in the same transaction) before that row's request goes out. Every
    write is for rows still under the claim (`claimed_by`); a mark that finds the row no longer held
    says so, and the row is not sent."""

    def __init__(self, engine, token: str, linger: float):
        self.engine = engine
        self.token = token
        self.linger = max(0.0, linger)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"outbox-recorder-{token[:6]}")
        self._thread.start()

    def outcome(self, outcome: dict) -> None:
        self._queue.put({"outcome": outcome, "start": None, "done": None})

    def start(self, row_id: int, previous: dict | None = None) -> datetime | None:
        """Commit `previous` and mark row `row_id` attempted now; the time written, or None when the
        claim no longer holds the row (or the mark could not be written): do not send it then."""
        item = {"outcome": previous, "start": row_id, "done": threading.Event(), "at": None}
        self._queue.put(item)
        item["done"].wait()
        return item["at"]

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            if self._conn is not None:
                self._conn.close()

    _conn = None

    def _connection(self):
        if self._conn is None:  # one checkout for the claim (the pool's pre-ping once, not per SMS)
            self._conn = self.engine.connect()
        return self._conn

    def _loop(self) -> None:
        closing = False
        while not closing:
            item = self._queue.get()
            if item is None:
                break
            items = [item]
            deadline = time.monotonic() + (0 if item["done"] else self.linger)
            while True:  # whatever else has arrived; if nobody waits, a little more (fewer commits)
                wait = deadline - time.monotonic()
                try:
                    more = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                items.append(more)
                if more["done"]:
                    deadline = 0
            self._flush(items)

    def _flush(self, items: list[dict]) -> None:
        mark = _statement("mark")
        outcomes = [i["outcome"] for i in items if i["outcome"]]
        starts = [i for i in items if i["start"] is not None]
        for attempt in range(3):
            try:
                conn = self._connection()
                _record(conn, self.token, outcomes)
                at = utcnow()
                held = {i["start"]: conn.execute(mark, {"_id": i["start"], "_token": self.token, "_at": at}).rowcount == 1
                        for i in starts}
                conn.commit()
                for i in starts:
                    i["at"] = at if held[i["start"]] else None
                break
            except Exception:
                log.exception("outbox: could not record %s outcomes (try %s of 3)", len(outcomes), attempt + 1)
                if self._conn is not None:
                    try:
                        self._conn.close()  # rolled back; a fresh connection for the next try
                    except Exception:
                        pass
                    self._conn = None
                time.sleep(0.2 * (attempt + 1))
        # Not written: those rows stay `sending` (released when the lease ends, as uncertain if their
        # request had gone out), and no request goes out without its mark.
        for i in items:
            if i["done"] is not None:
                i["done"].set()


@dataclass
class _Outcomes:
    """How an answer becomes a row's outcome (computed in the sender threads, from settings read
    in the dispatcher's app context)."""

    now: datetime
    max_attempts: int
    retry_base: float
    retry_cap: float

    @classmethod
    def from_config(cls, now: datetime) -> "_Outcomes":
        config = current_app.config
        return cls(now, config["OUTBOX_MAX_ATTEMPTS"], config["OUTBOX_RETRY_BASE_SECONDS"],
                   config["OUTBOX_RETRY_MAX_SECONDS"])

    def sent(self, row: OutboxMessage, ref: str | None, doubt: str | None = None) -> dict:
        return {"id": row.id, "status": SENT, "sent_at": utcnow(), "provider_ref": ref or "", "last_error": "",
                "next_attempt_at": row.next_attempt_at, "doubt": doubt if doubt is not None else row.doubt,
                "uncertain_since": row.uncertain_since}

    def failed(self, row: OutboxMessage, exc: SendError, started: datetime | None = None) -> dict:
        """`started`: when this attempt's request went out (its `attempted_at` mark)."""
        outcome = {"id": row.id, "sent_at": None, "provider_ref": "", "last_error": exc.reason[:2000],
                   "doubt": row.doubt, "uncertain_since": row.uncertain_since}
        if exc.uncertain:  # it may be at the provider: looked up before it is sent again
            outcome.update(doubt=UNCERTAIN, uncertain_since=row.uncertain_since or started or row.attempted_at
                           or utcnow())
            if row.attempts < self.max_attempts:
                return {**outcome, "status": PENDING, "next_attempt_at": self.next_attempt(row)}
            return {**outcome, "status": FAILED, "next_attempt_at": row.next_attempt_at}
        if exc.permanent or row.attempts >= self.max_attempts:
            return {**outcome, "status": FAILED, "next_attempt_at": row.next_attempt_at}
        return {**outcome, "status": PENDING, "next_attempt_at": self.next_attempt(row)}

    def next_attempt(self, row: OutboxMessage) -> datetime:
        return self.now + _retry_delay(row.attempts, row.priority > 0, self.retry_base, self.retry_cap)


def _send_batch(rows: list[OutboxMessage], now: datetime, stats: DispatchStats, token: str) -> None:
    """Send claimed rows channel by channel, each outcome recorded as it arrives (`_Recorder`).

    First every message of the batch is composed (CPU), then they are sent over the backend's
    connections (`connections`: one for SMTP unless OUTBOX_SMTP_CONNECTIONS says more, each reused
    for its share of the batch; with several, one thread each, waiting on the network together).
    The two phases do not overlap on purpose: a thread composing while another sends makes the
    sender wait for the GIL after every SMTP reply, which halves the rate.
    """
    plan = _Outcomes.from_config(now)
    recorder = _Recorder(db.engine, token, RECORD_LINGER_SECONDS)
    # (row, outcome or None when the claim no longer held it, the error if any)
    results: list[tuple[OutboxMessage, dict | None, SendError | None]] = []

    def settle(row: OutboxMessage, exc: SendError) -> None:  # an outcome reached without a request
        outcome = plan.failed(row, exc)
        results.append((row, outcome, exc))
        recorder.outcome(outcome)

    try:
        by_channel: dict[str, list[OutboxMessage]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for channel, channel_rows in by_channel.items():
            work: queue.Queue = queue.Queue()
            if channel == "sms":
                channel_rows = _drop_opted_out(channel_rows, settle)
            for row in channel_rows:
                try:
                    work.put((row, _composer(row.kind)(row)))
                except Exception as exc:  # a bug composing one message must not stop the others
                    log.exception("outbox message %s could not be composed", row.id)
                    settle(row, SendError(f"{type(exc).__name__}: {exc}", permanent=True))
            try:
                backend = _backend(channel)
            except SendError as exc:
                for item in list(work.queue):
                    settle(item[0], exc)
                continue
            connections = min(backend.connections, max(1, work.qsize()))
            for _ in range(connections):
                work.put(None)
            # SMS: each request's mark is committed before it goes out (at most one unknown outcome per connection).
            marks = channel == "sms"
            if connections == 1:
                _sender(backend, work, results, recorder, plan, marks)
            else:
                senders = [threading.Thread(target=_sender, args=(backend, work, results, recorder, plan, marks),
                                            daemon=True, name=f"outbox-{channel}-{i}") for i in range(connections)]
                for thread in senders:
                    thread.start()
                for thread in senders:
                    thread.join()
    finally:
        recorder.close()  # every outcome written

    unsubscribed = [row.recipient for row, _, exc in results if getattr(exc, "code", None) == 21610]
    if unsubscribed:  # Twilio says the number replied STOP: no further SMS to it, from any event
        from coordinator.sms.services import opt_out

        for phone in set(unsubscribed):
            opt_out(phone, "provider", note="Twilio 21610")
    for row, outcome, exc in results:
        _count(stats, row, outcome, exc)


def _count(stats: DispatchStats, row: OutboxMessage, outcome: dict | None, exc: SendError | None) -> None:
    if outcome is None:
        stats.lost += 1
        return
    if exc is not None:
        stats.errors.append(f"{row.recipient}: {exc.reason}")
        stats.uncertain += exc.uncertain
    if outcome["status"] == SENT:
        stats.sent += 1
        if row.doubt == UNCERTAIN:
            stats.found += outcome["doubt"] == FOUND
            stats.absent += outcome["doubt"] == ABSENT
            stats.unconfirmed += outcome["doubt"] == UNCONFIRMED
    elif outcome["status"] == FAILED:
        stats.failed += 1
    else:
        stats.retried += 1


def _drop_opted_out(rows: list[OutboxMessage], settle: Callable) -> list[OutboxMessage]:
    """An SMS queued before its number opted out (STOP, 21610, an organizer) is not sent: it fails
    with the reason. Checked at sending time, since a retry may come hours after the queuing."""
    from coordinator.sms.services import opted_out_among

    blocked = opted_out_among({row.recipient for row in rows})
    if not blocked:
        return rows
    for row in rows:
        if row.recipient in blocked:
            settle(row, SendError("not sent: the number has opted out of SMS", permanent=True))
    return [row for row in rows if row.recipient not in blocked]


def _sender(backend, work: queue.Queue, results: list, recorder: _Recorder, plan: _Outcomes,
            marks: bool = False) -> None:
    """One provider connection: send what arrives on `work` until its None, each outcome handed to
    the recorder at once. With `marks` (SMS) a row's request goes out only once its `attempted_at`
    mark is committed, in the same transaction as the previous outcome of this connection; an
    uncertain row is first looked up at the provider (`conn.find`, where the backend has one).
    Once the provider cannot be reached (at connect, or when reconnecting after a lost connection),
    the rest of this sender's share is handed back for its next attempt without trying."""
    down: SendError | None = None
    finished = False  # this sender's None has been taken from the queue
    previous: dict | None = None  # with marks: the last outcome, written with the next mark

    def done(row: OutboxMessage, outcome: dict, exc: SendError | None = None) -> None:
        nonlocal previous
        results.append((row, outcome, exc))
        if not marks:
            recorder.outcome(outcome)
            return
        if previous is not None:
            recorder.outcome(previous)
        previous = outcome

    try:
        with backend.connect() as conn:
            find = getattr(conn, "find", None)
            ready = getattr(conn, "ready", None)  # the rate limiter's turn, taken before the mark
            while (item := work.get()) is not None:
                row, content = item
                if down is not None:
                    done(row, plan.failed(row, down), down)
                    continue
                started = row.attempted_at  # email: the claim's time (ORM rows are not changed in these threads)
                if marks:
                    if ready is not None:
                        ready()
                    started, previous = recorder.start(row.id, previous), None
                    if started is None:  # no longer this claim's (released, or its lease ended): never sent
                        results.append((row, None, None))
                        continue
                try:
                    resolved = None
                    if row.doubt == UNCERTAIN:  # it may be at the provider already
                        resolved = UNCONFIRMED
                        if marks and find is not None:
                            try:
                                ref = find(row, content, row.uncertain_since or started)
                            except LookupUnavailable as exc:
                                log.warning("outbox message %s: cannot ask the provider (%s); sent again "
                                            "without confirmation", row.id, exc)
                            else:
                                if ref:
                                    done(row, plan.sent(row, ref, FOUND))
                                    continue
                                resolved = ABSENT
                    ref = conn.send(row, content)
                except Unreachable as exc:
                    down = exc
                    done(row, plan.failed(row, exc, started), exc)
                except SendError as exc:
                    done(row, plan.failed(row, exc, started), exc)
                except Exception as exc:  # never lose a claimed row to an unexpected error
                    log.exception("outbox message %s: unexpected error while sending", row.id)
                    error = SendError(f"{type(exc).__name__}: {exc}")
                    done(row, plan.failed(row, error, started), error)
                else:
                    done(row, plan.sent(row, ref, resolved))
            finished = True
    except SendError as exc:  # could not connect
        down = exc
    except Exception as exc:
        log.exception("outbox: the connection failed")
        down = SendError(f"{type(exc).__name__}: {exc}")
    if not finished:  # never connected: fail what is still queued for this sender (the others go on)
        while (item := work.get()) is not None:
            done(item[0], plan.failed(item[0], down), down)
    if previous is not None:
        recorder.outcome(previous)


def lanes(channels: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """(channel, messages per claim) in the order a dispatcher serves them. An SMS claim holds
    about a second of sending at SMS_RATE_PER_SECOND (at least SMS_CONCURRENCY), so that an urgent
    SMS queued behind 20,000 reminders waits for one short batch, not for a 20-second one; an
    email claim holds OUTBOX_BATCH_SIZE (a fraction of a second to a local relay)."""
    config = current_app.config
    batch = config["OUTBOX_BATCH_SIZE"]
    rate = float(config.get("SMS_RATE_PER_SECOND") or 0)
    sms = batch if rate <= 0 else min(batch, max(int(config.get("SMS_CONCURRENCY") or 1), math.ceil(rate)))
    wanted = list(channels) if channels else ["sms", "email"]
    return [(c, sms if c == "sms" else batch) for c in ("sms", "email") if c in wanted] + \
        [(c, batch) for c in wanted if c not in ("sms", "email")]


def dispatch_due(*, now: datetime | None = None, max_messages: int | None = None,
                 channels: Iterable[str] | None = None,
                 progress: Callable[[int], None] | None = None) -> DispatchStats:
    """Send everything due (at `now`, default the current time) and return what happened.

    Each channel's lane (`lanes`) runs in a thread of its own (its own app context and database
    session), claims highest priority first, and keeps looking every OUTBOX_POLL_SECONDS while
    another lane is still busy: an incident SMS queued while 45,000 invitations go out to a slow
    relay waits for one short SMS claim, not for the emails. Returns once every lane is idle."""
    served = lanes(channels)
    if len(served) == 1 or max_messages is not None:
        return _dispatch_lanes(served, now, max_messages, progress)
    app = current_app._get_current_object()
    wait = min(float(current_app.config["OUTBOX_POLL_SECONDS"]), 1.0)
    busy = {channel: True for channel, _ in served}
    lock = threading.Lock()
    # Every lane's first round is known before any lane decides to stop: idle lanes all stop at
    # once instead of waiting a poll for a lane that has not looked yet.
    first_round = threading.Barrier(len(served))
    results: dict[str, DispatchStats] = {}
    errors: list[BaseException] = []

    def lane(entry: tuple[str, int]) -> None:
        channel = entry[0]
        total = DispatchStats()
        first = [True]

        def claimed(n: int) -> None:  # after each claim, before sending it
            with lock:
                busy[channel] = busy[channel] or n > 0
            if first[0]:
                first[0] = False
                first_round.wait()

        try:
            while True:
                with lock:
                    busy[channel] = False
                part = _dispatch_lanes([entry], now, None, progress, claimed)
                _add(total, part)
                with lock:
                    busy[channel] = part.handled > 0
                    if not part.handled and not any(busy.values()):
                        break
                if not part.handled:
                    time.sleep(wait)  # another lane is still sending: look again soon
        except BaseException as exc:  # reported by the caller's thread, not lost in this one
            if not isinstance(exc, threading.BrokenBarrierError):
                errors.append(exc)
            first_round.abort()
            with lock:
                busy[channel] = False
        results[channel] = total

    def in_context(entry) -> None:
        with app.app_context():
            try:
                lane(entry)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=in_context, args=(entry,), name=f"outbox-{entry[0]}-lane", daemon=True)
               for entry in served[:-1]]
    for thread in threads:
        thread.start()
    lane(served[-1])
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    stats = DispatchStats()
    for part in results.values():
        _add(stats, part)
    return stats


def _add(total: DispatchStats, part: DispatchStats) -> None:
    for name in ("sent", "retried", "failed", "uncertain", "found", "absent", "unconfirmed", "lost"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.errors += part.errors


def _dispatch_lanes(served: list[tuple[str, int]], now: datetime | None, max_messages: int | None,
                    progress: Callable[[int], None] | None,
                    on_claim: Callable[[int], None] | None = None) -> DispatchStats:
    """Rounds of one claim per lane until nothing is due (or `max_messages` were handled);
    `on_claim(n)` after each claim, before its messages are sent."""
    stats = DispatchStats()
    while max_messages is None or stats.handled < max_messages:
        claimed = 0
        for channel, size in served:
            at = now or utcnow()
            limit = size if max_messages is None else min(size, max_messages - stats.handled)
            if limit <= 0:
                break
            token, rows = claim(at, limit, [channel])
            if on_claim is not None:
                on_claim(len(rows))
            if not rows:
                continue
            claimed += len(rows)
            _send_batch(rows, at, stats, token)
            db.session.commit()
            db.session.expire_all()
            if progress:
                progress(len(rows))
        if not claimed:
            break
    return stats


def _worker_config(config) -> dict:
    simple = (str, int, float, bool, type(None), dict, list, tuple, timedelta)
    return {k: v for k, v in config.items() if isinstance(v, simple)}


def _dispatch_worker(config: dict, max_messages: int | None) -> DispatchStats:
    from coordinator import create_app

    app = create_app(config)
    with app.app_context():
        try:
            return dispatch_due(max_messages=max_messages)
        finally:
            db.session.remove()
            db.engine.dispose()


def dispatch_in_processes(processes: int, *, max_messages: int | None = None) -> DispatchStats:
    """`dispatch_due` in several processes at once (composing a message is CPU work, and one Python
    process uses one core). Safe on every database: claims never overlap (see `claim`). Each
    process takes batches until nothing is due; `max_messages` is shared out between them."""
    if processes <= 1:
        return dispatch_due(max_messages=max_messages)
    import multiprocessing

    share = None if max_messages is None else -(-max_messages // processes)
    db.session.remove()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections or threads
    with context.Pool(processes) as pool:
        parts = pool.starmap(_dispatch_worker, [(_worker_config(current_app.config), share)] * processes)
    total = DispatchStats()
    for part in parts:
        _add(total, part)
    return total


def run_forever(poll_seconds: float, stop: Callable[[], bool] = lambda: False) -> None:
    """The continuous dispatcher: send what is due, sleep, repeat (until `stop()`)."""
    while not stop():
        try:
            stats = dispatch_due()
            if stats.handled:
                log.info("outbox: %s sent, %s to retry, %s failed", stats.sent, stats.retried, stats.failed)
        except Exception:  # the database restarting must not end the dispatcher
            log.exception("outbox dispatch failed; trying again in %s s", poll_seconds)
            db.session.rollback()
        db.session.remove()
        time.sleep(poll_seconds)


def retry_failed(event_id: int, *, channel: str | None = None) -> int:
    """Give failed messages of an event a fresh set of attempts (after fixing an address or the server)."""
    stmt = (update(OutboxMessage).where(OutboxMessage.event_id == event_id, OutboxMessage.status == FAILED)
            .values(status=PENDING, attempts=0, next_attempt_at=utcnow()))
    if channel:
        stmt = stmt.where(OutboxMessage.channel == channel)
    count = db.session.execute(stmt, execution_options={"synchronize_session": False}).rowcount
    return count


def doubt_counts(event_id: int | None = None, channel: str | None = None) -> dict[str, int]:
    """Messages whose outcome was once unknown, by how that ended (see `models.DOUBTS`): still
    uncertain, found at the provider (not sent again), absent there (sent again, no duplicate),
    sent again without confirmation (possible duplicates)."""
    stmt = select(OutboxMessage.doubt, func.count()).where(OutboxMessage.doubt != "").group_by(OutboxMessage.doubt)
    if event_id is not None:
        stmt = stmt.where(OutboxMessage.event_id == event_id)
    if channel:
        stmt = stmt.where(OutboxMessage.channel == channel)
    counts = {doubt: 0 for doubt in DOUBTS}
    counts.update(dict(db.session.execute(stmt).all()))
    return counts


def status_counts(event_id: int | None = None, channel: str | None = None) -> dict[str, int]:
    stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if event_id is not None:
        stmt = stmt.where(OutboxMessage.event_id == event_id)
    if channel:
        stmt = stmt.where(OutboxMessage.channel == channel)
    counts = {status: 0 for status in (PENDING, SENDING, SENT, FAILED, SUPERSEDED)}
    counts.update(dict(db.session.execute(stmt).all()))
    return counts


def list_messages(*, event_id: int | None = None, channel: str | None = None, status: str | None = None,
                  limit: int = 100, offset: int = 0, q: str = "") -> tuple[list[OutboxMessage], int]:
    """One page of the outbox, newest first, with the number of messages that pass the filters.
    `q`: a piece of the recipient, an email address or a phone number as people write it
    ("0913 123" finds +84913123…)."""
    stmt = select(OutboxMessage)
    if q.strip():
        stmt = stmt.where(_recipient_like(q))
    if event_id is not None:
        stmt = stmt.where(OutboxMessage.event_id == event_id)
    if channel:
        stmt = stmt.where(OutboxMessage.channel == channel)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(limit).offset(offset)))
    return rows, total


def _recipient_like(q: str):
    digits = phone_digits(q)
    if digits:
        # Stored E.164: "0913 123" is "+84913123…"; a piece without the leading 0 anywhere.
        needle = "+84" + digits[1:] if digits.startswith("0") else digits
        return OutboxMessage.recipient.contains(needle, autoescape=True)
    return func.lower(OutboxMessage.recipient).contains(q.strip().lower(), autoescape=True)
