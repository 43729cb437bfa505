"""`flask events copy-registrations`: a command about endpoints, attached to the `events` group
(`coordinator.events.cli`, which may not import endpoints) when `coordinator.cli` imports this module."""
from __future__ import annotations

import click

from coordinator.auth.permissions import SystemActor
from coordinator.cliutil import refused
from coordinator.endpoints import copying
from coordinator.events.cli import events_cli
from coordinator.events.lookup import event_or_fail


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
