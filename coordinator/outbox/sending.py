"""Sending one claim: every message composed, then sent over the backend's connections, each
outcome recorded as soon as the provider answers (see the guarantees in `outbox.services`).

A message that fails for good is announced with `signals.message_failed` (in the dispatcher's
transaction, after its outcome is written): what the provider's refusal means for the recipient
(an SMS number that unsubscribed) is the channel's business, not the outbox's.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from flask import current_app
from sqlalchemy import bindparam

from coordinator import signals
from coordinator.extensions import db
from coordinator.outbox import registry
from coordinator.outbox.backoff import jittered_delay
from coordinator.outbox.errors import LookupUnavailable, SendError, Unreachable
from coordinator.outbox.models import ABSENT, FAILED, FOUND, PENDING, SENT, UNCERTAIN, UNCONFIRMED, OutboxMessage
from coordinator.timeutil import utcnow

log = logging.getLogger(__name__)


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
        return self.now + jittered_delay(row.attempts, row.priority > 0, self.retry_base, self.retry_cap)


def send_batch(rows: list[OutboxMessage], now: datetime, stats: DispatchStats, token: str) -> None:
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
            channel_rows = _filtered(channel, channel_rows, settle)
            for row in channel_rows:
                try:
                    work.put((row, registry.composer(row.kind)(row)))
                except Exception as exc:  # a bug composing one message must not stop the others
                    log.exception("outbox message %s could not be composed", row.id)
                    settle(row, SendError(f"{type(exc).__name__}: {exc}", permanent=True))
            try:
                backend = registry.backend(channel, current_app.config)
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

    for row, outcome, exc in results:
        if outcome is not None and exc is not None and outcome["status"] == FAILED:
            # Its channel's receivers decide what the refusal means (sms: an unsubscribed number opts out).
            signals.message_failed.send(row, error=exc)
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


def _filtered(channel: str, rows: list[OutboxMessage], settle: Callable) -> list[OutboxMessage]:
    """The rows the channel's pre-send filters let through (`registry.register_pre_send`: for SMS,
    a number that opted out after its message was queued); each row they stop fails for good with
    their reason. Asked at sending time, since a retry may come hours after the queuing."""
    for check in registry.pre_send(channel):
        stopped = {row.id: reason for row, reason in check(rows)}
        if not stopped:
            continue
        for row in rows:
            if row.id in stopped:
                settle(row, SendError(stopped[row.id], permanent=True))
        rows = [row for row in rows if row.id not in stopped]
    return rows


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

