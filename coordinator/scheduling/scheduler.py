"""The background scheduler: one process per deployment (`flask --app app scheduler run`).

APScheduler 3 with a persistent SQLAlchemy job store in the application's database.
Web workers never start a scheduler, so the reloader or several gunicorn workers cannot run
jobs twice. Jobs only enqueue work; senders do the sending.
"""
from __future__ import annotations

import logging
import signal

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from coordinator.scheduling import jobs

JOBS_TABLE = "apscheduler_jobs"
log = logging.getLogger(__name__)


def build_scheduler(app: Flask, scheduler_class=BlockingScheduler):
    jobs.bind_app(app)
    scheduler = scheduler_class(
        jobstores={"default": SQLAlchemyJobStore(url=app.config["SQLALCHEMY_DATABASE_URI"], tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(4)},
        # APScheduler's default grace of 1 s drops a job whose time passed while the process was
        # down; our periodic jobs are safe to run late, so they run once on restart instead.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    scheduler.add_job(jobs.finish_past_events, "interval", minutes=1, id="events.finish_past",
                      replace_existing=True)
    # The continuous dispatcher: the outbox is polled every few seconds (max_instances=1: a long
    # batch is never overlapped by the next run).
    scheduler.add_job(jobs.dispatch_outbox, "interval", seconds=app.config["OUTBOX_POLL_SECONDS"],
                      id="outbox.dispatch", replace_existing=True)
    return scheduler


def run_forever(app: Flask) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The outbox job runs every few seconds: log what it sends (jobs.py), not each run.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = build_scheduler(app)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    log.info("scheduler started")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
