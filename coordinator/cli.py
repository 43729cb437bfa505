"""Command-line interface: `flask --app app <group> <command>`. Each package's `cli.py` defines its
group and commands (they parse arguments, call services and print the results); `register_cli`
adds them all to the app (the app factory calls it). Shared helpers: `coordinator.cliutil`; the
demo data: `coordinator.demo`."""
from __future__ import annotations

from flask import Flask

from coordinator.accounts.cli import users_cli
from coordinator.events.cli import events_cli, schedules_cli
from coordinator.outbox.cli import outbox_cli
from coordinator.probes.cli import probes_cli
from coordinator.reminders.cli import reminders_cli
from coordinator.scheduling.cli import scheduler_cli
from coordinator.sms.cli import sms_cli
from coordinator.units.cli import units_cli

GROUPS = (units_cli, schedules_cli, users_cli, events_cli, scheduler_cli, outbox_cli, reminders_cli, sms_cli, probes_cli)


def register_cli(app: Flask) -> None:
    for group in GROUPS:
        app.cli.add_command(group)
