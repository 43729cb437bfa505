"""`flask reminders`: reminder rules and their firings."""
from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup

from coordinator.events.lookup import event_or_fail
from coordinator.reminders.services import enqueue_due, plan
from coordinator.timeutil import format_local, utcnow

reminders_cli = AppGroup("reminders", help="Reminder rules and their firings.")


def _parse_instant(value: str) -> datetime:
    if not value:
        return utcnow()
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date and time, e.g. 2024-06-27T14:00+07:00") from None
    if at.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; write e.g. 2024-06-27T14:00+07:00 or ...Z")
    return at


@reminders_cli.command("due")
@click.option("--at", "at", default="", help="The instant (ISO 8601 with offset); default now.")
@click.option("--event", "slug", default=None, help="Only this event.")
def reminders_due(at: str, slug: str | None) -> None:
    """Queue every reminder due at --at that has not gone out yet (what the scheduler does).
    Safe to run at any time and any number of times: a reminder is queued once."""
    instant = _parse_instant(at)
    runs = enqueue_due(instant, event=event_or_fail(slug) if slug else None)
    for run in runs:
        detail = f"{run.queued} queued, {run.unreachable} unreachable" if run.status == "sent" else run.reason
        click.echo(f"rule {run.rule_id} ({run.anchor_version}): {run.status}: {detail}")
    click.echo(f"{len(runs)} reminders fired, {sum(r.queued for r in runs)} messages queued")


@reminders_cli.command("plan")
@click.argument("slug")
def reminders_plan(slug: str) -> None:
    """List an event's reminder rules with their fire times (in the event's time zone) and state."""
    event = event_or_fail(slug)
    for p in plan(event):
        when = format_local(p.fire_at, event.timezone) if p.fire_at else "-"
        click.echo(f"{p.rule.id:>5}  {when:<17} {p.state:<10} {p.rule.anchor:<28} {p.rule.offset_seconds:>+9d}s "
                   f"{p.rule.channel:<5} {p.rule.audience}")
