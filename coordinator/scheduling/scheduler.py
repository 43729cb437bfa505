"""The background scheduler: `flask --app app scheduler run`, one active per deployment.

APScheduler 3 with a persistent SQLAlchemy job store in the application's database. Web workers
never start a scheduler, so the reloader or several gunicorn workers cannot run jobs twice; and
of several `scheduler run` processes only one is active (`leader.Leadership`: a PostgreSQL
advisory lock, or a lease row): the others wait as standbys and take over within a minute of
the active one's death. Jobs only enqueue work; senders do the sending.

Jobs (stable ids, `replace_existing=True`):
- `events.finish_past`   every minute
- `outbox.dispatch`      every OUTBOX_POLL_SECONDS: the continuous dispatcher
- `outbox.recover`       every OUTBOX_RECOVERY_SECONDS: the claims of dispatcher processes that
                         died (their advisory lock free, or no heartbeat) are released at once,
                         not when their lease ends (`coordinator.outbox.dispatchers`)
- `reminders.sync`       every REMINDER_SYNC_SECONDS: one `reminder:<rule id>` date job per rule
                         still to fire, moved when its session moves, removed when the rule, its
                         event or its anchor goes; and anything already due is fired at once
- `reminder:<rule id>`   at the rule's fire time
- `probes.sweep`         every minute: from PROBE_WINDOW_BEFORE_SECONDS before a session to its end,
                         a sweep of every endpoint once PROBE_INTERVAL_SECONDS have passed
- `status.tick`          every STATUS_TICK_SECONDS: operators' holds that ended give way to the
                         probes; incident digests due at the end of their window go out

APScheduler's default `misfire_grace_time` of 1 s would drop a job whose time passed while the
process was down; here it is None (run late rather than never): a late reminder still goes out,
unless its anchor has passed, which the reminder service records as skipped with the reason.
"""
from __future__ import annotations

import logging
import signal
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from coordinator.leases.leader import Leadership
from coordinator.scheduling import jobs
from coordinator.timeutil import utcnow

JOBS_TABLE = "apscheduler_jobs"
log = logging.getLogger(__name__)


def build_scheduler(app: Flask, scheduler_class=BackgroundScheduler):
    scheduler = scheduler_class(
        jobstores={"default": SQLAlchemyJobStore(url=app.config["SQLALCHEMY_DATABASE_URI"], tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(4)},
        # APScheduler's default grace of 1 s drops a job whose time passed while the process was
        # down; every job here is safe to run late, so it runs once on restart instead.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    jobs.bind(app, scheduler)
    scheduler.add_job(jobs.finish_past_events, "interval", minutes=1, id="events.finish_past",
                      replace_existing=True)
    # The continuous dispatcher: the outbox is polled every few seconds (max_instances=1: a long
    # batch is never overlapped by the next run).
    scheduler.add_job(jobs.dispatch_outbox, "interval", seconds=app.config["OUTBOX_POLL_SECONDS"],
                      id="outbox.dispatch", replace_existing=True)
    scheduler.add_job(jobs.recover_outbox, "interval", seconds=app.config["OUTBOX_RECOVERY_SECONDS"],
                      id="outbox.recover", replace_existing=True)
    scheduler.add_job(jobs.sync_reminders, "interval", seconds=app.config["REMINDER_SYNC_SECONDS"],
                      id="reminders.sync", replace_existing=True)
    # Probe sweeps during the sessions' windows (the job decides whether one is due).
    scheduler.add_job(jobs.sweep_probes, "interval", minutes=1, id="probes.sweep", replace_existing=True)
    scheduler.add_job(jobs.status_tick, "interval", seconds=app.config["STATUS_TICK_SECONDS"], id="status.tick",
                      replace_existing=True)
    return scheduler


def run_forever(app: Flask, stop: threading.Event | None = None) -> None:
    """Wait to become the active scheduler, run the jobs while active, renew every heartbeat; on
    losing leadership go back to waiting. Returns when `stop` is set (SIGTERM, Ctrl+C)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The outbox job runs every few seconds: log what it sends (jobs.py), not each run.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # its INFO is ten lines per SMS
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    beat = app.config["SCHEDULER_HEARTBEAT_SECONDS"]
    leadership = Leadership(app)
    try:
        while not stop.is_set():
            if not leadership.try_acquire():
                log.info("scheduler %s: standby (another scheduler is active)", leadership.holder)
                while not stop.wait(beat) and not leadership.try_acquire():
                    pass
                if stop.is_set():
                    break
            log.info("scheduler %s: active", leadership.holder)
            scheduler = build_scheduler(app)
            scheduler.start()
            scheduler.modify_job("reminders.sync", next_run_time=_now())  # line the reminders up at once
            scheduler.modify_job("outbox.recover", next_run_time=_now())  # a dispatcher may have died meanwhile
            try:
                while not stop.wait(beat):
                    if not leadership.renew():
                        log.error("scheduler %s: lost leadership; stopping jobs", leadership.holder)
                        break
            finally:
                scheduler.shutdown(wait=True)
    finally:
        leadership.release()
        log.info("scheduler %s: stopped", leadership.holder)


def _now():
    return utcnow()
