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
        assert [r.id for r in rows] == ["events.finish_past"]
        assert pickle.loads(rows[0].job_state)["func"] == "coordinator.scheduling.jobs:finish_past_events"
        job.func()  # what the scheduler runs every minute
    finally:
        scheduler.shutdown(wait=False)
    with app.app_context():
        assert get_event(nd49).status == "finished"
