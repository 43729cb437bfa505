"""`flask events publish | cancel | invitations`: the events commands whose output is the table of
an event's invitations (current, pending, failed, withdrawn per session), attached to the `events`
group (`coordinator.events.cli`, which may not import invitations) when `coordinator.cli` imports
this module."""
from __future__ import annotations

import click

from coordinator.auth.permissions import SystemActor
from coordinator.cliutil import refused
from coordinator.events import services
from coordinator.events.cli import events_cli
from coordinator.events.consequences import Consequences
from coordinator.events.lookup import event_or_fail
from coordinator.invitations.services import counts
from coordinator.problems import Invalid
from coordinator.timeutil import iso_local


@events_cli.command("publish")
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Say what publishing would send; change nothing.")
def events_publish(slug: str, dry_run: bool) -> None:
    """Publish an event: every contact with an email is sent one invitation per session."""
    event = event_or_fail(slug)
    with refused(services.EventStateError):
        if dry_run:
            _print_consequences(event, services.preview_publish(event))
            return
        services.publish(event, actor=SystemActor())
    _print_invitation_counts(event)


@events_cli.command("cancel")
@click.argument("slug")
@click.option("--reason", required=True, help="Required: kept in the audit log, written in the cancellation mail and SMS.")
def events_cancel(slug: str, reason: str) -> None:
    """Cancel an event: every invitation sent is withdrawn (METHOD:CANCEL)."""
    event = event_or_fail(slug)
    with refused(services.EventStateError), refused(Invalid, message=_reasons):
        services.cancel(event, actor=SystemActor(), reason=reason)
    _print_invitation_counts(event)


def _reasons(exc: Invalid) -> str:
    return "; ".join(p.localized() for p in exc.problems)


@events_cli.command("invitations")
@click.argument("slug")
def events_invitations(slug: str) -> None:
    """Invitations of an event per session: current, pending, failed, withdrawn."""
    _print_invitation_counts(event_or_fail(slug))


def _print_consequences(event, c: Consequences) -> None:
    click.echo(f"{event.slug}: nothing changed (dry run). Publishing would send:")
    for kind, n in c.invitations.items():
        click.echo(f"  {kind:<18} {n:>6} invitations")
    click.echo(f"  to {c.recipients} addresses; {c.reminders} reminders to come"
               + (f", the first at {iso_local(c.first_reminder_at, event.timezone)}" if c.first_reminder_at else ""))


def _print_invitation_counts(event) -> None:
    click.echo(f"{event.slug}: {event.status}")
    for row in counts(event):
        c = row["counts"]
        click.echo(f"  {row['session'].kind:<18} current {c['current']:>6}  pending {c['pending']:>6}  "
                   f"failed {c['failed']:>6}  withdrawn {c['withdrawn']:>6}")
