"""The scheduler process: its persistent job store and its jobs."""
from __future__ import annotations

import pickle

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, text


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
        assert sorted(r.id for r in rows) == ["events.finish_past", "outbox.dispatch"]
        funcs = {r.id: pickle.loads(r.job_state)["func"] for r in rows}
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
