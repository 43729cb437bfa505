"""`flask probes`: probing an event's endpoints now."""
from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup

from coordinator.cliutil import found, progressbar
from coordinator.events.lookup import event_or_fail
from coordinator.probes import services as probes
from coordinator.units.services import get_unit

probes_cli = AppGroup("probes", help="Probing endpoints (SIP OPTIONS, H.323 TCP connect, HTTP GET).")


@probes_cli.command("sweep")
@click.option("--event", "slug", required=True)
@click.option("--unit", "code", default=None, help="Only this unit and the units below it (a province code).")
@click.option("--session", "kind", default=None, help="Record for this session (default: under way, else next).")
def probes_sweep(slug: str, code: str | None, kind: str | None) -> None:
    """Probe the event's endpoints now and record the results (progress bar, then a summary by
    state and by failing layer)."""
    event = event_or_fail(slug)
    unit = None
    if code:
        unit = found(get_unit(event.unit_structure, code), f"no unit {code} in structure {event.unit_structure}")
    session = found(event.session(kind), f"{slug} has no session {kind}") if kind else None
    total = len(probes.targets(event, unit))
    started = time.perf_counter()
    with progressbar(total, f"Probing {total:,} endpoints (timeout {current_app.config['PROBE_TIMEOUT_SECONDS']:g} s, "
                     f"{current_app.config['PROBE_CONCURRENCY']} at once)") as bar:
        summary = probes.sweep(event, session=session, unit=unit, progress=lambda _result: bar.update(1))
    elapsed = time.perf_counter() - started
    click.echo(f"{summary.probed:,} probed in {elapsed:.1f} s: {summary.connected:,} connected, "
               f"{summary.degraded:,} degraded, {summary.failed:,} failed, {summary.unknown:,} without a dial address")
    if summary.layers:
        click.echo("by layer: " + ", ".join(f"{layer} {n:,}" for layer, n in sorted(summary.layers.items())))
    if summary.incidents:
        click.echo(f"{summary.incidents} incidents opened")
