"""Dispatcher processes: who holds a claim, and whether that process is still alive.

Every process that sends from the outbox (the scheduler's `outbox.dispatch` job, `flask outbox
dispatch`, each of `--processes`) registers once, at its first claim, as a row of
`outbox_dispatchers`, and every claim it makes carries its id (`OutboxMessage.dispatcher`).

- On PostgreSQL the process holds a session-level advisory lock, two-key form
  (`leader.DISPATCHER_LOCK_CLASS`, its own random `lock_key`: a key space apart from the
  scheduler's one-key `LOCK_KEY`), on a connection of its own for as long as it lives. When the
  process dies (kill -9 included) its connection closes and the lock is free at once.
- Elsewhere (SQLite, one machine) a thread renews the row's `heartbeat_at` every
  OUTBOX_HEARTBEAT_SECONDS; a row not renewed for OUTBOX_DISPATCHER_STALE_SECONDS is a dead process.

`release_dead()` (the active scheduler's `outbox.recover` job, every OUTBOX_RECOVERY_SECONDS) finds
the `sending` rows of dead processes (PostgreSQL: it can take their lock; elsewhere: no heartbeat)
and puts them back to `pending` at once, instead of waiting for OUTBOX_LEASE_SECONDS. A released
row whose request had gone out (`attempted_at` set) is *uncertain*: the provider may have it, and
an SMS is looked up at the provider before it is sent again (see `services`).
"""
from __future__ import annotations

import atexit
import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, create_engine, delete, func, select, text, update
from sqlalchemy.pool import NullPool

from coordinator.extensions import db, dialect_insert
from coordinator.outbox.models import PENDING, SENDING, UNCERTAIN, OutboxDispatcher, OutboxMessage
from coordinator.leases.leader import DISPATCHER_LOCK_CLASS, close_quietly
from coordinator.timeutil import utcnow

log = logging.getLogger(__name__)


def _signed(key: int) -> int:
    """An int4 for pg_try_advisory_lock(int, int)."""
    key &= 0xFFFFFFFF
    return key - (1 << 32) if key >= 1 << 31 else key


def lock_key_of(token: str) -> int | None:
    """The advisory lock key a dispatcher id carries (its first 8 hex digits), so that the
    recovery needs no row to test a process on PostgreSQL."""
    try:
        return _signed(int(token[:8], 16))
    except (TypeError, ValueError):
        return None


class ProcessDispatcher:
    """This process as a dispatcher of one database (one per process and database URL)."""

    def __init__(self, url: str, heartbeat_seconds: float):
        self.url = url
        self.postgres = url.startswith("postgresql")
        self.heartbeat_seconds = max(0.2, float(heartbeat_seconds))
        self.token = ""
        self.lock_key = 0
        self.pid = os.getpid()
        self._engine = None
        self._conn = None  # PostgreSQL: the connection holding the lock; elsewhere the heartbeat's
        self._lock = threading.RLock()
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0  # heartbeats failed in a row (logged once, then quietly)

    # -- identity ------------------------------------------------------------------------------------
    def ensure(self) -> str:
        """This process's dispatcher id, made (PostgreSQL: its lock taken, on a connection of its
        own) if needed or if the lock's connection was lost. Its row is written by `touch`, in the
        transaction of the claim."""
        with self._lock:
            if self.token and not self._lost:
                return self.token
            self._drop_conn()
            if self._engine is None:
                self._engine = create_engine(self.url, poolclass=NullPool)
            conn = self._engine.connect()
            key = 0
            try:
                if self.postgres:
                    for _ in range(20):
                        key = _signed(random.getrandbits(32))
                        if conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"),
                                        {"c": DISPATCHER_LOCK_CLASS, "k": key}).scalar():
                            break
                    else:
                        raise RuntimeError("no free advisory lock key for the dispatcher")
                    conn.commit()
                token = f"{key & 0xFFFFFFFF:08x}{uuid.uuid4().hex[:24]}"
            except Exception:
                conn.close()
                raise
            self.token, self.lock_key, self._conn, self._lost = token, key, conn, False
            log.info("outbox dispatcher %s registered (pid %s)", token, os.getpid())
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._beat_forever, daemon=True,
                                                name=f"outbox-heartbeat-{token[:8]}")
                self._thread.start()
            return token

    def touch(self, session) -> None:
        """Renew the row inside the caller's transaction (a claim): the row and the claim commit
        together, so a live process's claims always have their row."""
        table = OutboxDispatcher.__table__
        now = utcnow()
        stmt = dialect_insert("postgresql" if self.postgres else "sqlite")(table).values(id=self.token, host=socket.gethostname()[:255], pid=os.getpid(),
                                    lock_key=self.lock_key, started_at=now, heartbeat_at=now)
        # Several lanes of this process claim at once: one row, whichever writes first.
        session.execute(stmt.on_conflict_do_update(index_elements=[table.c.id], set_={"heartbeat_at": now}))

    # -- the heartbeat ---------------------------------------------------------------------------------
    def beat(self) -> bool:
        """Renew the row now (PostgreSQL: on the lock's own connection, which proves it alive). A
        row not written yet (no claim so far) is left to the first claim."""
        with self._lock:
            if not self.token or self._conn is None:
                return False
            table = OutboxDispatcher.__table__
            try:
                self._conn.execute(update(table).where(table.c.id == self.token).values(heartbeat_at=utcnow()))
                self._conn.commit()
                self._failures = 0
                return True
            except Exception as exc:
                self._failures += 1
                (log.warning if self._failures == 1 else log.debug)(
                    "outbox dispatcher %s: heartbeat failed (%s)", self.token, exc)
                try:
                    self._conn.rollback()
                except Exception:
                    pass
                if self.postgres:  # the lock went with its connection: register afresh at the next claim
                    self._lost = True
                    self._drop_conn()
                return False

    def _beat_forever(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            self.beat()

    def _drop_conn(self) -> None:
        self._conn = close_quietly(self._conn)

    def close(self) -> None:
        """A clean exit: the row goes, the lock is given back (a killed process does neither)."""
        self._stop.set()
        with self._lock:
            if self._conn is not None and self.token:
                try:
                    self._conn.execute(delete(OutboxDispatcher.__table__).where(OutboxDispatcher.id == self.token))
                    if self.postgres:
                        self._conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"),
                                           {"c": DISPATCHER_LOCK_CLASS, "k": self.lock_key})
                    self._conn.commit()
                except Exception:
                    pass
            self._drop_conn()
            self.token = ""
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


_registry: dict[tuple[int, str], ProcessDispatcher] = {}
_registry_lock = threading.Lock()


def current() -> ProcessDispatcher:
    """This process's dispatcher for the current app's database."""
    config = current_app.config
    url = config["SQLALCHEMY_DATABASE_URI"]
    key = (os.getpid(), url)
    with _registry_lock:
        found = _registry.get(key)
        if found is None:
            found = _registry[key] = ProcessDispatcher(url, config.get("OUTBOX_HEARTBEAT_SECONDS", 2))
        return found


def close_all() -> None:
    """Unregister every dispatcher of this process (a clean exit; the bench between databases)."""
    with _registry_lock:
        mine = [d for (pid, _), d in _registry.items() if pid == os.getpid()]
        for key in [k for k in _registry if k[0] == os.getpid()]:
            del _registry[key]
    for dispatcher in mine:
        dispatcher.close()


atexit.register(close_all)


# -- the recovery (the active scheduler) ----------------------------------------------------------------

@dataclass
class Recovery:
    dead: list[str] = field(default_factory=list)  # dispatcher ids found dead with claims
    released: int = 0  # their `sending` rows put back to pending
    uncertain: int = 0  # of which the request had gone out: the provider may have them
    forgotten: int = 0  # rows of dead dispatchers without claims, deleted

    def __bool__(self) -> bool:
        return bool(self.released or self.forgotten)


def _alive(token: str, row: OutboxDispatcher | None, now: datetime, stale: timedelta) -> bool:
    if current_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        key = row.lock_key if row is not None else lock_key_of(token)
        if key is None:
            return False
        conn = db.session.connection()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": DISPATCHER_LOCK_CLASS, "k": key}).scalar()
        if got:  # nobody holds it: the process is gone (give it back at once)
            conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": DISPATCHER_LOCK_CLASS, "k": key})
            return False
        return True
    return row is not None and row.heartbeat_at >= now - stale


def release_dead(now: datetime | None = None) -> Recovery:
    """Put the claims of dead dispatcher processes back to pending at once (see the module's
    docstring), mark those whose request had gone out as uncertain, and forget dead processes.
    Commits. Safe to run from several processes at once."""
    now = now or utcnow()
    stale = timedelta(seconds=float(current_app.config["OUTBOX_DISPATCHER_STALE_SECONDS"]))
    result = Recovery()
    tokens = set(db.session.scalars(select(OutboxMessage.dispatcher).distinct()
                                    .where(OutboxMessage.status == SENDING, OutboxMessage.dispatcher != "")))
    rows = {r.id: r for r in db.session.scalars(select(OutboxDispatcher))}
    result.dead = sorted(t for t in tokens if not _alive(t, rows.get(t), now, stale))
    if result.dead:
        m = OutboxMessage.__table__
        started = m.c.attempted_at.is_not(None)
        where = (m.c.status == SENDING) & m.c.dispatcher.in_(result.dead)
        result.uncertain = db.session.scalar(select(func.count()).select_from(m).where(where, started)) or 0
        result.released = db.session.execute(update(m).where(where).values(
            # next_attempt_at kept (it was due when claimed): back in the queue where they were, not at its end.
            status=PENDING, claimed_by="", dispatcher="", locked_until=None,
            doubt=case((started, UNCERTAIN), else_=m.c.doubt),
            uncertain_since=case((started, func.coalesce(m.c.uncertain_since, m.c.attempted_at)),
                                 else_=m.c.uncertain_since),
            # A claim that never reached its request was no attempt.
            attempts=case((started, m.c.attempts), (m.c.attempts > 0, m.c.attempts - 1), else_=m.c.attempts),
            attempted_at=None), execution_options={"synchronize_session": False}).rowcount
    # Processes gone without claims (or just released): their rows go. Only a live one renews its own.
    idle = [t for t in rows if t not in tokens or t in result.dead]
    gone = [t for t in idle if t in result.dead or not _alive(t, rows[t], now, stale * 6)]
    if gone:
        result.forgotten = db.session.execute(delete(OutboxDispatcher.__table__)
                                              .where(OutboxDispatcher.id.in_(gone))).rowcount
    db.session.commit()
    if result.released:
        log.warning("outbox: dispatcher(s) %s died; %s claimed messages released at once (%s uncertain: "
                    "looked up at the provider before any new attempt)", ", ".join(result.dead), result.released,
                    result.uncertain)
    return result


def alive_dispatchers() -> list[tuple[OutboxDispatcher, bool]]:
    """Every registered dispatcher process and whether it is alive now (for `outbox status`)."""
    now = utcnow()
    stale = timedelta(seconds=float(current_app.config["OUTBOX_DISPATCHER_STALE_SECONDS"]))
    rows = list(db.session.scalars(select(OutboxDispatcher).order_by(OutboxDispatcher.started_at)))
    result = [(row, _alive(row.id, row, now, stale)) for row in rows]
    db.session.rollback()
    return result


def wait_released(seconds: float, poll: float = 0.1) -> Recovery:
    """release_dead() until something is released or `seconds` pass (tests, the bench)."""
    deadline = time.monotonic() + seconds
    while True:
        result = release_dead()
        if result.released or time.monotonic() >= deadline:
            return result
        time.sleep(poll)
