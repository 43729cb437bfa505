"""`flask outbox`: sending what waits in the outbox, its counts, new attempts for failed messages."""
from __future__ import annotations

import logging
import time

import click
from flask import current_app
from flask.cli import AppGroup

from coordinator.cliutil import progressbar
from coordinator.events.lookup import event_or_fail
from coordinator.extensions import db
from coordinator.outbox import dispatchers, services as outbox

outbox_cli = AppGroup("outbox", help="The outbox every email and SMS passes through.")

ERRORS_SHOWN = 20


@outbox_cli.command("dispatch")
@click.option("--once", is_flag=True, help="Send everything due now and exit (default: keep dispatching).")
@click.option("--limit", type=int, default=None, help="With --once: at most this many messages.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="With --once: dispatch in this many processes at once (one core each), for a big send-out.")
def outbox_dispatch(once: bool, limit: int | None, processes: int) -> None:
    """Send due messages through the configured backends (MAIL_BACKEND)."""
    if not once:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # ten lines per SMS otherwise
        click.echo(f"dispatching every {current_app.config['OUTBOX_POLL_SECONDS']} s (Ctrl+C stops)")
        try:
            outbox.run_forever(current_app.config["OUTBOX_POLL_SECONDS"])
        except KeyboardInterrupt:
            pass
        return
    started = time.perf_counter()
    due = outbox.status_counts()["pending"]
    if processes > 1:
        click.echo(f"{due} messages due; dispatching in {processes} processes", err=True)
        stats = outbox.dispatch_in_processes(processes, max_messages=limit)
    else:
        with progressbar(limit or due, "Outbox") as bar:
            stats = outbox.dispatch_due(max_messages=limit, progress=bar.update)
    elapsed = time.perf_counter() - started
    click.echo(f"sent {stats.sent}, to retry {stats.retried}, failed {stats.failed} in {elapsed:.2f} s")
    for line in stats.errors[:ERRORS_SHOWN]:
        click.echo(f"  {line}", err=True)
    if len(stats.errors) > ERRORS_SHOWN:
        click.echo(f"  … and {len(stats.errors) - ERRORS_SHOWN} more", err=True)


@outbox_cli.command("status")
@click.option("--event", "slug", default=None, help="Only this event's messages.")
def outbox_status(slug: str | None) -> None:
    """Messages per status; those whose outcome was unknown (a crash, a timeout) and how that ended;
    the dispatcher processes."""
    event_id = event_or_fail(slug).id if slug else None
    for status, n in outbox.status_counts(event_id).items():
        click.echo(f"{status:<11} {n:>7}")
    doubts = outbox.doubt_counts(event_id)
    click.echo(f"uncertain (outcome unknown, looked up before any resend) {doubts['uncertain']:>7}")
    click.echo(f"  found at the provider (not resent)                     {doubts['found']:>7}")
    click.echo(f"  not at the provider (sent again, no duplicate)         {doubts['absent']:>7}")
    click.echo(f"  resent without confirmation (possible duplicates)      {doubts['unconfirmed']:>7}")
    for row, alive in dispatchers.alive_dispatchers():
        click.echo(f"dispatcher {row.id} {row.host}:{row.pid} {'alive' if alive else 'gone'}, "
                   f"heartbeat {row.heartbeat_at:%Y-%m-%d %H:%M:%S}Z")


@outbox_cli.command("retry-failed")
@click.option("--event", "slug", required=True, help="The event whose failed messages get new attempts.")
def outbox_retry_failed(slug: str) -> None:
    """Give failed messages a fresh set of attempts (after fixing the mail server or an address)."""
    n = outbox.retry_failed(event_or_fail(slug).id)
    db.session.commit()
    click.echo(f"{n} messages queued again")
