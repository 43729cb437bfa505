"""`flask schedules` (event plans, TOML files in schedules/) and `flask events`. Commands of the
`events` group about a higher domain live in that domain's `cli.py` and attach themselves to
`events_cli` (endpoints: copy-registrations; invitations: publish, cancel, invitations)."""
from __future__ import annotations

import sys
from datetime import date

import click
from flask.cli import AppGroup

from coordinator.events import services
from coordinator.events.plans import read_plan_file, shift_plan
from coordinator.problems import Invalid
from coordinator.timeutil import format_local

schedules_cli = AppGroup("schedules", help="Event plans (TOML files in schedules/).")
events_cli = AppGroup("events", help="Events.")


def _print_plan_errors(exc: Invalid) -> None:
    for problem in exc.problems:
        click.echo(f"{exc.source}: {problem}" if exc.source else str(problem), err=True)


@schedules_cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def schedules_check(files: tuple[str, ...]) -> None:
    """Validate plan FILES; print every error as FILE: KEY.PATH: REASON and exit 1 if any."""
    failed = False
    for path in files:
        try:
            plan = read_plan_file(path)
        except Invalid as exc:
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
    except Invalid as exc:
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


@events_cli.command("finish-past")
def events_finish_past() -> None:
    """Mark published events whose sessions are all over as finished."""
    for slug in services.finish_past_events():
        click.echo(f"{slug}: finished")
