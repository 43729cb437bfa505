"""`flask units`: the bundled administrative units."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from coordinator.cliutil import progressbar
from coordinator.units import services
from coordinator.units.models import STRUCTURES

units_cli = AppGroup("units", help="Administrative units.")


@units_cli.command("load")
@click.option("--structure", type=click.Choice(STRUCTURES), required=True,
              help="2024: 63 provinces / 705 districts / 10,599 communes; 2025: 34 provinces / 3,321 communes.")
def units_load(structure: str) -> None:
    """Load (or refresh) the bundled units of STRUCTURE. Idempotent."""
    started = time.perf_counter()
    rows = services.read_rows(services.data_file(structure))
    with progressbar(len(rows), f"Units {structure}") as bar:
        result = services.load_structure(structure, rows=rows, progress=bar.update)
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{tier}: {n:,}" for tier, n in result.per_tier.items() if n)
    click.echo(f"structure {structure}: {counts}")
    click.echo(f"inserted {result.inserted:,}, updated {result.updated:,}, unchanged {result.unchanged:,} "
               f"in {elapsed:.2f} s")
