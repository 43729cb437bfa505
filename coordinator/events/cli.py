"""`flask schedules` (event plans, TOML files in schedules/) and `flask events`."""
from __future__ import annotations

import sys
from datetime import date

import click
from flask.cli import AppGroup

from coordinator import demo
from coordinator.auth.permissions import SystemActor
from coordinator.cliutil import refused
from coordinator.events.lookup import event_or_fail
from coordinator.endpoints import copying
from coordinator.events import services
from coordinator.events.plans import PlanInvalid, read_plan_file, shift_plan
from coordinator.invitations.services import counts
from coordinator.timeutil import format_local, iso_local

schedules_cli = AppGroup("schedules", help="Event plans (TOML files in schedules/).")
events_cli = AppGroup("events", help="Events.")


def _print_plan_errors(exc: PlanInvalid) -> None:
    for err in exc.errors:
        click.echo(f"{exc.source}: {err}" if exc.source else str(err), err=True)


@schedules_cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def schedules_check(files: tuple[str, ...]) -> None:
    """Validate plan FILES; print every error as FILE: KEY.PATH: REASON and exit 1 if any."""
    failed = False
    for path in files:
        try:
            plan = read_plan_file(path)
        except PlanInvalid as exc:
            _print_plan_errors(exc)
            failed = True
        else:
            click.echo(f"{path}: OK ({plan.slug}: {len(plan.sessions)} sessions, {len(plan.deadlines)} deadlines, "
                       f"{len(plan.reminders)} reminders, tiers {', '.join(t.tier for t in plan.tiers)})")
    if failed:
        sys.exit(1)


@schedules_cli.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--shift-to", "shift_to", metavar="YYYY-MM-DD",
              help="Move every date so that the first session falls on this day (times of day and gaps kept).")
def schedules_load(file: str, shift_to: str | None) -> None:
    """Create the event of plan FILE, or update it (matched by slug). Nothing is saved on error."""
    try:
        plan = read_plan_file(file)
        if shift_to:
            try:
                plan = shift_plan(plan, date.fromisoformat(shift_to))
            except ValueError:
                raise click.BadParameter("use YYYY-MM-DD", param_hint="--shift-to") from None
        result = services.apply_plan(plan)
    except PlanInvalid as exc:
        if not exc.source:
            exc.source = file
        _print_plan_errors(exc)
        sys.exit(1)
    event = result.event
    verb = "created" if result.created else ("updated" if result.changes else "unchanged")
    click.echo(f"{event.slug}: {verb} ({event.status})")
    for s in event.sessions:
        click.echo(f"  {s.kind}: {format_local(s.starts_at, event.timezone)}–"
                   f"{format_local(s.ends_at, event.timezone)} {event.timezone} (SEQUENCE {s.sequence})")


@events_cli.command("demo-registrations")
@click.argument("slug")
@click.option("--province", default="56", show_default=True, help="Province code to fill in.")
def events_demo_registrations(slug: str, province: str) -> None:
    """Register demo endpoints and contacts for one province (its districts, a few communes attending
    at their district), so a fresh demo has something to look at. Idempotent."""
    event = event_or_fail(slug)
    with refused(demo.UnknownProvince):
        done = demo.register_demo_endpoints(event, province)
    click.echo(f"{slug}: demo endpoints registered for {done.province.name} and its {done.districts} districts")


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
    with refused(services.EventStateError), refused(PlanInvalid, message=_reasons):
        services.cancel(event, actor=SystemActor(), reason=reason)
    _print_invitation_counts(event)


def _reasons(exc: PlanInvalid) -> str:
    return "; ".join(e.localized() for e in exc.errors)


@events_cli.command("copy-registrations")
@click.argument("source")
@click.argument("target")
@click.option("--dry-run", is_flag=True, help="Say what would be copied and what needs review; change nothing.")
def events_copy_registrations(source: str, target: str, dry_run: bool) -> None:
    """Copy SOURCE's endpoints and contacts into TARGET, following the succession of units
    (2024 -> 2025). Endpoints that cannot be carried over are listed for review, not lost."""
    src, dst = event_or_fail(source), event_or_fail(target)
    with refused(copying.CopyRefused):
        plan = copying.plan_copy(src, dst) if dry_run else copying.copy_registrations(src, dst, actor=SystemActor())
    result = plan.as_dict()
    verb = "would copy" if dry_run else "copied"
    click.echo(f"{dst.slug}: {verb} {result['copied']} endpoints ({result['contacts']} contacts) from {src.slug}; "
               f"{result['already_registered']} already registered, {len(result['review'])} to review"
               + (" (dry run: nothing changed)" if dry_run else ""))
    for item in result["review"]:
        click.echo(f"  review {item['unit_code']:>6} {item['endpoint']}: {item['message']}")


def _print_consequences(event, c: services.Consequences) -> None:
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


@events_cli.command("invitations")
@click.argument("slug")
def events_invitations(slug: str) -> None:
    """Invitations of an event per session: current, pending, failed, withdrawn."""
    _print_invitation_counts(event_or_fail(slug))


@events_cli.command("finish-past")
def events_finish_past() -> None:
    """Mark published events whose sessions are all over as finished."""
    for slug in services.finish_past_events():
        click.echo(f"{slug}: finished")
