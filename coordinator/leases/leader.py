"""Only one scheduler is active per deployment, however many are started.

On PostgreSQL the active process holds a session-level advisory lock on a connection of its own:
when the process dies, its connection closes and the lock is free at once; a standby trying
every SCHEDULER_HEARTBEAT_SECONDS takes over. The lock connection is checked at every heartbeat:
a process that lost it (the database restarted, the network dropped) stops scheduling.

Elsewhere (SQLite, one machine) a lease row decides: the holder renews it every heartbeat, and a
standby takes it once it has not been renewed for SCHEDULER_LEASE_SECONDS.

On every database the row `scheduler_leases` says who is active and when it was last alive, for
the pages that show whether reminders will go out.

The active scheduler also watches the outbox's dispatcher processes (`outbox.recover`, see
`coordinator.outbox.dispatchers`): each holds an advisory lock of its own in the two-key space
(`DISPATCHER_LOCK_CLASS`, its key), which PostgreSQL keeps apart from the one-key space of
`LOCK_KEY`, so that no dispatcher can ever take or block the scheduler's lock.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import create_engine, insert, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from coordinator.extensions import db
from coordinator.leases.models import SchedulerLease
from coordinator.timeutil import utcnow

log = logging.getLogger(__name__)
NAME = "scheduler"
# pg_try_advisory_lock's key: any constant unique to this application ("vcscheduler" in ASCII, shortened).
LOCK_KEY = 0x7663_7363_6864
# The first key of the dispatchers' pg_try_advisory_lock(int, int) ("OBXD" in ASCII); the second is
# each dispatcher process's own.
DISPATCHER_LOCK_CLASS = 0x4F42_5844


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def close_quietly(conn):
    """Close a connection that holds a session-level lock (ours or a dispatcher's), which may be
    gone already (the database restarted); returns None, what the holder keeps instead."""
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
    return None


class Leadership:
    def __init__(self, app, holder: str | None = None):
        self.app = app
        self.holder = holder or holder_id()
        self.lease = timedelta(seconds=app.config["SCHEDULER_LEASE_SECONDS"])
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        self.postgres = url.startswith("postgresql")
        self._engine = create_engine(url, poolclass=NullPool) if self.postgres else None
        self._conn = None
        self.active = False

    # -- PostgreSQL ------------------------------------------------------------------------------
    def _pg_try(self) -> bool:
        if self._conn is None:
            self._conn = self._engine.connect()
        got = self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
        self._conn.commit()
        return bool(got)

    def _pg_alive(self) -> bool:
        try:
            self._conn.execute(text("SELECT 1")).scalar()
            self._conn.commit()
            return True
        except Exception:
            log.exception("scheduler: the connection holding the advisory lock is gone")
            self._drop_conn()
            return False

    def _drop_conn(self) -> None:
        self._conn = close_quietly(self._conn)

    # -- the lease row (every database) --------------------------------------------------------------
    def _write_lease(self, take_over: bool) -> bool:
        """Renew our lease, or take an expired (or, with `take_over`, any) one. True when we hold it."""
        now = utcnow()
        table = SchedulerLease.__table__
        with self.app.app_context():
            cond = table.c.name == NAME
            if not take_over:
                cond = cond & ((table.c.holder == self.holder) | (table.c.expires_at < now))
            changed = db.session.execute(update(table).where(cond).values(
                holder=self.holder, heartbeat_at=now, expires_at=now + self.lease)).rowcount
            if not changed:
                try:
                    db.session.execute(insert(table).values(name=NAME, holder=self.holder, acquired_at=now,
                                                            heartbeat_at=now, expires_at=now + self.lease))
                except IntegrityError:
                    db.session.rollback()
                    return False
            db.session.commit()
            db.session.remove()
        return True

    def _mark_acquired(self) -> None:
        with self.app.app_context():
            db.session.execute(update(SchedulerLease.__table__).where(SchedulerLease.name == NAME)
                               .values(acquired_at=utcnow()))
            db.session.commit()
            db.session.remove()

    # -- the interface ---------------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Become the active scheduler if no other is; never blocks (False while the database is down)."""
        try:
            return self._try_acquire()
        except Exception:
            log.exception("scheduler: could not take the lead; trying again later")
            return False

    def _try_acquire(self) -> bool:
        if self.postgres:
            try:
                if not self._pg_try():
                    return False
            except Exception:
                log.exception("scheduler: cannot reach the database to take the lock")
                self._drop_conn()
                return False
            self._write_lease(take_over=True)  # the lock decides; the row only shows it
        elif not self._write_lease(take_over=False):
            return False
        self._mark_acquired()
        self.active = True
        return True

    def renew(self) -> bool:
        """Still the active scheduler? (Call every heartbeat.)"""
        if not self.active:
            return False
        if self.postgres:
            self.active = self._pg_alive()
            if self.active:
                try:
                    self._write_lease(take_over=True)
                except Exception:
                    log.exception("scheduler: could not record the heartbeat")
        else:
            try:
                self.active = self._write_lease(take_over=False)
            except Exception:
                log.exception("scheduler: could not renew the lease")
                self.active = False
        return self.active

    def release(self) -> None:
        if self.postgres and self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                self._conn.commit()
            except Exception:
                pass
            self._drop_conn()
        if self.active:
            try:
                with self.app.app_context():
                    db.session.execute(update(SchedulerLease.__table__).where(
                        SchedulerLease.name == NAME, SchedulerLease.holder == self.holder).values(expires_at=utcnow()))
                    db.session.commit()
                    db.session.remove()
            except Exception:
                pass
        self.active = False
        if self._engine is not None:
            self._engine.dispose()


def status() -> SchedulerLease | None:
    """The lease row: who is (or was last) the active scheduler, and its last heartbeat."""
    return db.session.get(SchedulerLease, NAME)
