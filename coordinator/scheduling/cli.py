"""`flask scheduler`: the background scheduler's process."""
from __future__ import annotations

from flask import current_app
from flask.cli import AppGroup

from coordinator.scheduling.scheduler import run_forever

scheduler_cli = AppGroup("scheduler", help="The background scheduler.")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in the foreground (one per deployment)."""
    run_forever(current_app._get_current_object())
