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
  small groups (within `sending.RECORD_LINGER_SECONDS` of their answers), their whole claim marked as
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

This module queues and claims messages and runs the dispatchers (lanes per channel, several
processes); `sending` sends one claim and records its outcomes, `backoff` says when a retry comes,
`errors` what backends raise, and `registry` holds what the packages using the outbox register:
a composer per message kind, a backend and pre-send filters per channel.
"""
from __future__ import annotations

import logging
import math
import multiprocessing
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Callable, Iterable

from flask import current_app
from sqlalchemy import and_, case, func, insert, or_, select, update
from werkzeug.utils import import_string

from coordinator.extensions import db
from coordinator.outbox import dispatchers
from coordinator.outbox.models import (DOUBTS, FAILED, PENDING, SENDING, SENT, SUPERSEDED, UNCERTAIN,
                                       OutboxMessage)
from coordinator.outbox.sending import DispatchStats, send_batch
from coordinator.search import phone_digits
from coordinator.timeutil import utcnow

log = logging.getLogger(__name__)
_CHUNK = 500


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


def drop_pending(event_id: int | None, key_prefix: str, reason: str) -> int:
    """Messages not sent yet whose key starts with `key_prefix` (a broadcast being stopped) are never
    sent: superseded, with `reason` as their last error. A message already claimed by a dispatcher
    (`sending`) is not taken back. In the caller's transaction; returns how many were dropped."""
    stmt = update(OutboxMessage).where(OutboxMessage.status == PENDING,
                                       OutboxMessage.key.startswith(key_prefix, autoescape=True))
    if event_id is not None:
        stmt = stmt.where(OutboxMessage.event_id == event_id)
    return db.session.execute(stmt.values(status=SUPERSEDED, last_error=reason),
                              execution_options={"synchronize_session": False}).rowcount



def claim(now: datetime, limit: int, channels: Iterable[str] | None = None) -> tuple[str, list[OutboxMessage]]:
    """Take up to `limit` due messages for this dispatcher and commit the claim; returns the claim's
    token and the rows.

    The UPDATE repeats the "due" condition and marks the rows with a fresh token, so that two
    dispatchers can never both claim a row: on PostgreSQL the SELECT skips rows another claim has
    locked, and on SQLite (no row locks) the second UPDATE finds them no longer due.
    """
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
            send_batch(rows, at, stats, token)
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
    # The child builds its own app with the factory the configuration names (APP_FACTORY, an
    # import path): the outbox does not know the app that uses it.
    app = import_string(config["APP_FACTORY"])(config)
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


def status_counts(event_id: int | None = None, channel: str | None = None, *,
                  key_prefix: str | None = None) -> dict[str, int]:
    """Messages per status (of one event, channel, and keys starting with `key_prefix`)."""
    stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if event_id is not None:
        stmt = stmt.where(OutboxMessage.event_id == event_id)
    if key_prefix:
        stmt = stmt.where(OutboxMessage.key.startswith(key_prefix, autoescape=True))
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
