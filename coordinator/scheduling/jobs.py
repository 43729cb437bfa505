"""Job functions. APScheduler pickles references to these (`coordinator.scheduling.jobs:<name>`),
so they are module-level, keep their names and take only picklable arguments; each runs in an app
context of the scheduler's app. Scheduling is the top layer: it imports the services it runs."""
from __future__ import annotations

import logging

from flask import Flask

from coordinator.events import services as events
from coordinator.outbox import dispatchers
from coordinator.outbox import services as outbox
from coordinator.probes import services as probes
from coordinator.reminders import services as reminders
from coordinator.status import services as status
from coordinator.timeutil import utcnow

log = logging.getLogger(__name__)
_app: Flask | None = None
_scheduler = None
REMINDER_JOB_PREFIX = "reminder:"


def bind(app: Flask, scheduler=None) -> None:
    global _app, _scheduler
    _app = app
    if scheduler is not None:
        _scheduler = scheduler


def finish_past_events() -> None:
    assert _app is not None, "bind() first"
    with _app.app_context():
        for slug in events.finish_past_events():
            log.info("event %s finished", slug)


def dispatch_outbox() -> None:
    """Send what is due in the outbox (the running service's continuous dispatcher)."""
    assert _app is not None, "bind() first"
    with _app.app_context():
        stats = outbox.dispatch_due()
        if stats.handled:
            log.info("outbox: %s sent, %s to retry, %s failed", stats.sent, stats.retried, stats.failed)


def recover_outbox() -> None:
    """Release at once the claims of outbox dispatcher processes that died (PostgreSQL: their
    advisory lock is free; elsewhere: no heartbeat), instead of waiting for their lease."""
    assert _app is not None, "bind() first"
    with _app.app_context():
        dispatchers.release_dead()


def fire_reminder(rule_id: int) -> None:
    """A reminder's time has come (or came while the scheduler was down): fire it if it is still
    due for its anchor's current version (the service decides; a moved session is not due)."""
    assert _app is not None, "bind() first"
    with _app.app_context():
        for run in reminders.enqueue_due(rule_ids=[rule_id]):
            log.info("reminder %s (%s): %s, %s queued%s", run.rule_id, run.anchor_version, run.status, run.queued,
                     f" ({run.reason})" if run.reason else "")


def sync_reminders() -> None:
    """Bring the `reminder:<id>` jobs in line with the rules: add or move a date job for every rule
    still to fire, remove jobs of rules that no longer will; fire what is already due."""
    assert _app is not None and _scheduler is not None, "bind() first"
    with _app.app_context():
        now = utcnow()
        for run in reminders.enqueue_due(now):
            log.info("reminder %s (%s): %s, %s queued%s", run.rule_id, run.anchor_version, run.status, run.queued,
                     f" ({run.reason})" if run.reason else "")
        wanted = {f"{REMINDER_JOB_PREFIX}{rule_id}": at for rule_id, at in reminders.next_fire_times(now).items() if at > now}
    existing = {job.id: job for job in _scheduler.get_jobs() if job.id.startswith(REMINDER_JOB_PREFIX)}
    for job_id, at in wanted.items():
        job = existing.get(job_id)
        if job is None or job.next_run_time is None or abs((job.next_run_time - at).total_seconds()) >= 1:
            _scheduler.add_job(fire_reminder, "date", run_date=at, id=job_id, replace_existing=True,
                               args=[int(job_id[len(REMINDER_JOB_PREFIX):])], misfire_grace_time=None)
            log.info("reminder job %s at %s", job_id, at.isoformat())
    for job_id in existing.keys() - wanted.keys():
        _scheduler.remove_job(job_id)
        log.info("reminder job %s removed", job_id)


def sweep_probes() -> None:
    """From an hour before each session to its end, probe every endpoint every PROBE_INTERVAL_SECONDS."""
    assert _app is not None, "bind() first"
    with _app.app_context():
        for event, session in probes.due_sweeps():
            summary = probes.sweep(event, session=session, origin="scheduler")
            log.info("probes %s/%s: %s probed, %s connected, %s degraded, %s failed, %s incidents opened",
                     event.slug, session.kind, summary.probed, summary.connected, summary.degraded, summary.failed,
                     summary.incidents)


def status_tick() -> None:
    """Every STATUS_TICK_SECONDS: operators' holds that ended give way to the probes, the
    incident digests whose escalation window has passed go out, and incidents nobody acknowledged
    within INCIDENT_ACK_SECONDS are escalated once more."""
    assert _app is not None, "bind() first"
    with _app.app_context():
        done = status.tick()
        released, digests = done
        if released or digests or done.escalated:
            log.info("status: %s holds ended, %s digests sent, %s unacknowledged incidents escalated", released,
                     digests, done.escalated)
