"""The scheduler process: its persistent job store and its jobs."""
from __future__ import annotations

import pickle
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, select, text

UTC = timezone.utc


def test_jobs_are_persisted_with_stable_ids_and_run_in_an_app_context(app, nd49):
    from coordinator.events.services import get_event, publish
    from coordinator.scheduling.scheduler import JOBS_TABLE, build_scheduler

    with app.app_context():
        publish(get_event(nd49))
    scheduler = build_scheduler(app, BackgroundScheduler)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("events.finish_past")
        assert job is not None and job.misfire_grace_time is None and job.coalesce
        # Starting again (a restart) replaces the job instead of adding a second one.
        build_scheduler(app, BackgroundScheduler).add_job(job.func, "interval", minutes=1, id=job.id,
                                                          replace_existing=True, jobstore="default")
        engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT id, job_state FROM {JOBS_TABLE}")).all()
        engine.dispose()
        assert sorted(r.id for r in rows) == ["events.finish_past", "outbox.dispatch", "outbox.recover", "probes.sweep",
                                              "reminders.sync", "status.tick"]
        funcs = {r.id: pickle.loads(r.job_state)["func"] for r in rows}
        assert funcs["status.tick"] == "coordinator.scheduling.jobs:status_tick"
        assert funcs["events.finish_past"] == "coordinator.scheduling.jobs:finish_past_events"
        job.func()  # what the scheduler runs every minute
    finally:
        scheduler.shutdown(wait=False)
    with app.app_context():
        assert get_event(nd49).status == "finished"


def test_the_scheduler_dispatches_the_outbox_continuously(app, nd49):
    """The running service sends invitations without anyone calling `outbox dispatch`."""
    from pathlib import Path

    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, publish
    from coordinator.outbox.services import status_counts
    from coordinator.scheduling.scheduler import build_scheduler
    from coordinator.units.services import get_unit

    with app.app_context():
        event = get_event(nd49)
        values = endpoints.clean_endpoint({"name": "Hội trường Sở", "protocol": "sip", "dial": "kh@10.56.0.1", "contacts": [
            {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "email": "anh@example.gov.vn", "role": "technical"}]})
        endpoints.save_endpoint(event, get_unit("2024", "56"), values, actor=SystemActor())
        publish(event)
        assert status_counts(event.id)["pending"] == 2
    scheduler = build_scheduler(app, BackgroundScheduler)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("outbox.dispatch")
        assert job.trigger.interval.total_seconds() == app.config["OUTBOX_POLL_SECONDS"] and job.max_instances == 1
        job.func()
    finally:
        scheduler.shutdown(wait=False)
    with app.app_context():
        assert status_counts(get_event(nd49).id)["sent"] == 2
    assert len(list(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))) >= 2


def _future_main_session(app, starts_in: timedelta):
    """Put nd49's sessions ahead of the real clock (the scheduler works in real time)."""
    from coordinator.events.services import get_event, move_session, publish

    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event("nd49-2024")
        move_session(event, "main", starts_at=now + starts_in, ends_at=now + starts_in + timedelta(hours=3))
        move_session(event, "connectivity_test", starts_at=now + starts_in - timedelta(hours=20),
                     ends_at=now + starts_in - timedelta(hours=17))
        publish(event)
        return event.id


def _register_technical(app):
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event
    from coordinator.units.services import get_unit

    with app.app_context():
        values = endpoints.clean_endpoint({"name": "Hội trường Sở", "protocol": "sip", "dial": "kh@10.56.0.1", "contacts": [
            {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"}]})
        endpoints.save_endpoint(get_event("nd49-2024"), get_unit("2024", "56"), values, actor=SystemActor())


def _rule(app, anchor: str, offset: int):
    from coordinator.events.models import ReminderRule
    from coordinator.extensions import db

    with app.app_context():
        return db.session.scalar(select(ReminderRule).where(ReminderRule.anchor == anchor,
                                                            ReminderRule.offset_seconds == offset,
                                                            ReminderRule.audience == "technical"))


def _queued_for(app, rule_id: int) -> list[str]:
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        return [p["body"] for p in db.session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == "reminder"))
                if p.get("rule_id") == rule_id]


def test_a_reminder_whose_time_passed_while_the_scheduler_was_down_goes_out_on_restart(app, nd49, monkeypatch):
    from coordinator.reminders import rules
    from coordinator.events.services import get_event
    from coordinator.scheduling import jobs
    from coordinator.scheduling.scheduler import build_scheduler

    _register_technical(app)
    _future_main_session(app, timedelta(days=2))
    with app.app_context():
        event = get_event("nd49-2024")
        main = event.session("main")
        # A reminder due three seconds from now.
        offset = -int((main.starts_at - datetime.now(UTC)).total_seconds()) + 3
        rule_id = rules.create_rule(event, {"anchor": "session:main", "offset_seconds": offset, "channel": "sms",
                                            "audience": "technical", "template": "Nhắc {event} lúc {local_time}"}).id
    first = build_scheduler(app, BackgroundScheduler)
    first.start(paused=True)
    jobs.sync_reminders()  # what the running scheduler does every REMINDER_SYNC_SECONDS
    job = first.get_job(f"reminder:{rule_id}")
    assert job is not None and job.misfire_grace_time is None
    first.shutdown(wait=False)  # ... and the scheduler goes down before the job's time
    time.sleep(4)
    assert _queued_for(app, rule_id) == []
    restarted = build_scheduler(app, BackgroundScheduler)
    restarted.start()  # the stored job's time has passed: it runs now (not dropped after 1 s)
    try:
        deadline = time.monotonic() + 15
        while not _queued_for(app, rule_id) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        restarted.shutdown(wait=True)
    [body] = _queued_for(app, rule_id)
    assert body.startswith("Nhắc Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP lúc ")


def test_reminder_jobs_follow_the_rules_and_the_sessions(app, nd49):
    from coordinator.events.services import get_event, move_session
    from coordinator.scheduling import jobs
    from coordinator.scheduling.scheduler import build_scheduler

    _register_technical(app)
    _future_main_session(app, timedelta(days=3))
    day_before = _rule(app, "session:main", -86400)
    scheduler = build_scheduler(app, BackgroundScheduler)
    scheduler.start(paused=True)
    try:
        jobs.sync_reminders()
        ids = sorted(j.id for j in scheduler.get_jobs() if j.id.startswith("reminder:"))
        # Every rule still ahead has one job with a stable id; the deadline's have passed (not scheduled).
        assert len(ids) == 6 and f"reminder:{day_before.id}" in ids
        with app.app_context():
            event = get_event("nd49-2024")
            main = event.session("main")
            expected = main.starts_at - timedelta(days=1)
            assert scheduler.get_job(f"reminder:{day_before.id}").next_run_time == expected
            move_session(event, "main", starts_at=main.starts_at + timedelta(days=1), ends_at=main.ends_at + timedelta(days=1))
        jobs.sync_reminders()
        assert scheduler.get_job(f"reminder:{day_before.id}").next_run_time == expected + timedelta(days=1)
        with app.app_context():
            from coordinator.events.services import cancel

            cancel(get_event("nd49-2024"), reason="Hoãn theo chỉ đạo của Lãnh đạo Bộ")
        jobs.sync_reminders()
        assert [j.id for j in scheduler.get_jobs() if j.id.startswith("reminder:")] == []
    finally:
        scheduler.shutdown(wait=False)


def test_only_one_scheduler_is_active_and_a_standby_takes_over(app, monkeypatch):
    from coordinator.leases.leader import Leadership

    monkeypatch.setitem(app.config, "SCHEDULER_LEASE_SECONDS", 2)
    first, second = Leadership(app, "first"), Leadership(app, "second")
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        assert first.renew() is True and second.try_acquire() is False
        # The active one dies without a word: its connection closes (PostgreSQL), or it stops
        # renewing its lease (SQLite, which has no advisory locks).
        if first.postgres:
            first._conn.invalidate()
            first._conn = None
            assert second.try_acquire() is True
        else:
            time.sleep(2.5)
            assert second.try_acquire() is True
            assert first.renew() is False  # and if it wakes up, it knows it is no longer active
        with app.app_context():
            from coordinator.leases.leader import status

            assert status().holder == "second"
    finally:
        first.release()
        second.release()


def test_two_scheduler_processes_one_active_then_the_other(app, database, tmp_path):
    """Real processes: `flask scheduler run` twice; kill the active one; the standby takes over."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": database.url, "SCHEDULER_HEARTBEAT_SECONDS": "0.5",
           "SCHEDULER_LEASE_SECONDS": "2", "MAIL_FILE_DIR": str(tmp_path / "mail"), "OUTBOX_POLL_SECONDS": "60"}
    root = Path(__file__).resolve().parents[2]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"], cwd=root, env=env,
                              stdout=open(log, "w"), stderr=subprocess.STDOUT) for log in logs]

    def wait_for(predicate, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.2)
        return False

    try:
        active = lambda: [i for i, log in enumerate(logs) if ": active" in log.read_text()]  # noqa: E731
        assert wait_for(lambda: active() and all(": standby" in log.read_text() or ": active" in log.read_text()
                                                 for log in logs))
        time.sleep(1.5)
        assert len(active()) == 1, [log.read_text() for log in logs]
        leader = active()[0]
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(10)
        other = 1 - leader
        assert wait_for(lambda: ": active" in logs[other].read_text(), 60), logs[other].read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
