"""`flask --app app db upgrade` builds an empty database, on SQLite and PostgreSQL alike,
and the migrations match the models exactly."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "app"]
TABLES = {"units", "events", "sessions", "tier_roles", "deadlines", "reminder_rules", "users", "api_tokens",
          "audit_log", "alembic_version"}


def flask(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "migration-test"}
    return subprocess.run([*FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_upgrade_on_an_empty_database_then_no_drift_then_downgrade(database):
    url = database.new_empty_url()
    result = flask(url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    engine = create_engine(url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        check = flask(url, "db", "check")
        assert check.returncode == 0 and "No new upgrade operations detected" in check.stdout + check.stderr, check.stderr
        down = flask(url, "db", "downgrade", "base")
        assert down.returncode == 0, down.stderr
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_commands_work_on_a_freshly_migrated_database(database):
    url = database.new_empty_url()
    assert flask(url, "db", "upgrade").returncode == 0
    loaded = flask(url, "units", "load", "--structure", "2025")
    assert loaded.returncode == 0, loaded.stderr
    assert "province: 34, commune: 3,321" in loaded.stdout
    plan = flask(url, "schedules", "load", str(ROOT / "schedules" / "example-2025-two-tier.toml"))
    assert plan.returncode == 0 and "example-2025-two-tier: created" in plan.stdout, plan.stderr


def test_a_migration_in_the_same_process_leaves_the_apps_loggers_working(database):
    # Alembic's env.py configures logging from alembic.ini; with logging's default it disabled every
    # logger that existed already, so after an in-process upgrade the app's own warnings (e.g. the
    # production start's "PUBLIC_BASE_URL is not set") went nowhere.
    import logging

    from flask_migrate import upgrade

    from coordinator import create_app

    ours = logging.getLogger("coordinator.config")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database.new_empty_url(), "TESTING": True})
    with app.app_context():
        upgrade()
    heard: list[logging.LogRecord] = []
    listener = logging.Handler(logging.WARNING)
    listener.emit = heard.append
    ours.addHandler(listener)
    try:
        ours.warning("still heard")
    finally:
        ours.removeHandler(listener)
    assert not ours.disabled and [r.getMessage() for r in heard] == ["still heard"]
