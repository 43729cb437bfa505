"""Command-line interface: `flask --app app <group> <command>`. Each package's `cli.py` defines its
group and commands (they parse arguments, call services and print the results); `register_cli`
adds them all to the app (the app factory calls it). Shared helpers: `coordinator.cliutil`.

The demo data's commands are defined here, over `coordinator.demo`, and attached to the groups of
the packages they are about (`flask users demo`, `flask events demo-registrations`): the demo
data build on every layer, so no package's own `cli.py` may import them."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from coordinator import demo
from coordinator.accounts.cli import users_cli
from coordinator.broadcasts.cli import broadcast_cli
from coordinator.cliutil import refused
from coordinator.events.cli import events_cli, schedules_cli
from coordinator.events.lookup import event_or_fail
# Imported for what they attach to the `events` group: copy-registrations; publish, cancel, invitations.
from coordinator.endpoints import cli as _endpoints_commands  # noqa: F401
from coordinator.invitations import cli as _invitations_commands  # noqa: F401
from coordinator.outbox.cli import outbox_cli
from coordinator.probes.cli import probes_cli
from coordinator.reminders.cli import reminders_cli
from coordinator.scheduling.cli import scheduler_cli
from coordinator.sms.cli import sms_cli
from coordinator.units.cli import units_cli

GROUPS = (units_cli, schedules_cli, users_cli, events_cli, scheduler_cli, outbox_cli, reminders_cli, sms_cli, probes_cli,
          broadcast_cli)


@click.command("demo")
@with_appcontext  # as AppGroup.command does for the groups' own commands
def users_demo() -> None:
    """Create the demo users (idempotent) and print their logins."""
    for account in demo.DEMO_USERS:
        demo.ensure_demo_user(account)
        click.echo(f"  {account.role:<12} {account.email:<26} password: {account.password}"
                   + (f"  (unit {account.unit}, {demo.DEMO_UNIT_STRUCTURE})" if account.unit else ""))


@click.command("demo-registrations")
@with_appcontext
@click.argument("slug")
@click.option("--province", default="56", show_default=True, help="Province code to fill in.")
def events_demo_registrations(slug: str, province: str) -> None:
    """Register demo endpoints and contacts for one province (its districts, a few communes attending
    at their district), so a fresh demo has something to look at. Idempotent."""
    event = event_or_fail(slug)
    with refused(demo.UnknownProvince):
        done = demo.register_demo_endpoints(event, province)
    click.echo(f"{slug}: demo endpoints registered for {done.province.name} and its {done.districts} districts")


@click.command("demo-live")
@with_appcontext
@click.option("--province", default="56", show_default=True, help="Province code to fill in.")
def events_demo_live(province: str) -> None:
    """A published rehearsal whose connectivity test started 30 minutes ago (for three hours), with
    the demo endpoints of a province and three of them marked failed by an operator: incidents to
    acknowledge, search and broadcast from the first minute of a demo. Idempotent."""
    with refused(demo.UnknownProvince):
        live = demo.create_demo_live_event(province=province)
    if not live.created:
        click.echo(f"{live.event.slug}: already there")
        return
    click.echo(f"{live.event.slug}: connectivity test under way; failed: {', '.join(live.failed) or 'none'}")


# (group, command) for the commands defined here.
COMMANDS = ((users_cli, users_demo), (events_cli, events_demo_registrations), (events_cli, events_demo_live))


def register_cli(app: Flask) -> None:
    for group, command in COMMANDS:
        group.add_command(command)  # by its name: adding it again (another app) replaces it
    for group in GROUPS:
        app.cli.add_command(group)
