"""A transaction keeps all of its writes or none, on both databases: a savepoint released inside
it is undone by the transaction's rollback. On SQLite the driver used to begin a transaction only
before an INSERT, UPDATE or DELETE, so a SAVEPOINT that was the first write opened the
transaction itself and its RELEASE committed: readiness confirmations and SMS opt-outs were kept
although the rest of their transaction was rolled back (found by tests/test_wiring.py)."""
from __future__ import annotations

from sqlalchemy import func, select

from coordinator.audit.models import AuditEntry
from coordinator.extensions import db


def _entries() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


def test_a_released_savepoint_is_undone_by_the_rollback_of_its_transaction(app):
    with app.app_context():
        before = _entries()
        with db.session.begin_nested():  # the transaction's first write
            db.session.add(AuditEntry(actor_label="test", action="test.savepoint", object_type="test"))
        db.session.rollback()
        assert _entries() == before
        db.session.remove()
        with db.engine.connect() as other:  # and no other connection ever saw it
            assert other.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_a_committed_savepoint_stays(app):
    with app.app_context():
        before = _entries()
        with db.session.begin_nested():
            db.session.add(AuditEntry(actor_label="test", action="test.savepoint", object_type="test"))
        db.session.commit()
        db.session.remove()
        assert _entries() == before + 1
