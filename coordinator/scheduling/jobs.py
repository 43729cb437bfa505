"""Job functions. APScheduler pickles references to these, so they are module-level and take
only picklable arguments; each runs in an app context of the scheduler's app."""
from __future__ import annotations

import logging

from flask import Flask

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
    from coordinator.events.services import finish_past_events as finish

    assert _app is not None, "bind() first"
    with _app.app_context():
        for slug in finish():
            log.info("event %s finished", slug)


def dispatch_outbox() -> None:
    """Send what is due in the outbox (the running service's continuous dispatcher)."""
    from coordinator.outbox.services import dispatch_due

    assert _app is not None, "bind() first"
    with _app.app_context():
        stats = dispatch_due()
        if stats.handled:
            log.info("outbox: %s sent, %s to retry, %s failed", stats.sent, stats.retried, stats.failed)


def recover_outbox() -> None:
    """Release at once the claims of outbox dispatcher processes that died (PostgreSQL: their
    advisory lock is free; elsewhere: no heartbeat), instead of waiting for their lease."""
    from coordinator.outbox.dispatchers import release_dead

    assert _app is not None, "bind() first"
    with _app.app_context():
        release_dead()


def fire_reminder(rule_id: int) -> None:
    """A reminder's time has come (or came while the scheduler was down): fire it if it is still
    due for its anchor's current version (the service decides; a moved session is not due)."""
    from coordinator.reminders.services import enqueue_due

    assert _app is not None, "bind() first"
    with _app.app_context():
        for run in enqueue_due(rule_ids=[rule_id]):
            log.info("reminder %s (%s): %s, %s queued%s", run.rule_id, run.anchor_version, run.status, run.queued,
                     f" ({run.reason})" if run.reason else "")


def sync_reminders() -> None:
    """Bring the `reminder:<id>` jobs in line with the rules: add or move a date job for every rule
    still to fire, remove jobs of rules that no longer will; fire what is already due."""
    from coordinator.reminders.services import enqueue_due, next_fire_times
    from coordinator.timeutil import utcnow

    assert _app is not None and _scheduler is not None, "bind() first"
    with _app.app_context():
        now = utcnow()
        for run in enqueue_due(now):
            log.info("reminder %s (%s): %s, %s queued%s", run.rule_id, run.anchor_version, run.status, run.queued,
                     f" ({run.reason})" if run.reason else "")
        wanted = {f"{REMINDER_JOB_PREFIX}{rule_id}": at for rule_id, at in next_fire_times(now).items() if at > now}
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
    from coordinator.probes.services import due_sweeps, sweep

    assert _app is not None, "bind() first"
    with _app.app_context():
        for event, session in due_sweeps():
            summary = sweep(event, session=session, origin="scheduler")
            log.info("probes %s/%s: %s probed, %s connected, %s degraded, %s failed, %s incidents opened",
                     event.slug, session.kind, summary.probed, summary.connected, summary.degraded, summary.failed,
                     summary.incidents)


def status_tick() -> None:
    """Every STATUS_TICK_SECONDS: operators' holds that ended give way to the probes, and the
    incident digests whose escalation window has passed go out."""
    from coordinator.status.services import tick

    assert _app is not None, "bind() first"
    with _app.app_context():
        released, digests = tick()
        if released or digests:
            log.info("status: %s holds ended, %s digests sent", released, digests)
