"""`flask --app app db upgrade` builds an empty database, on SQLite and PostgreSQL alike,
and the migrations match the models exactly: tables, columns and indexes (`db check`), and the CHECK
constraints of the closed vocabularies, which autogenerate does not compare. A database filled by
the code upgrades; one holding a value the checks refuse says which rows before changing anything."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint, create_engine, insert, inspect, text, update
from sqlalchemy.exc import IntegrityError

from coordinator.auth.models import User
from coordinator.events.models import DRAFT, Event
from coordinator.extensions import db
from coordinator.outbox.models import OutboxMessage
from coordinator.status.models import EndpointStatus, Incident, ProbeSweep, StatusEvent

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


def _counts(engine, tables) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in tables}


def test_a_database_with_the_codes_data_upgrades_to_the_checked_vocabularies(database):
    """Migration 0013 adds a CHECK per closed vocabulary: a database filled by the code (units, an
    event with its registrations and invitations, accounts, opt-outs, status rows with their ""
    defaults) upgrades with every row kept. The code of today fills it at today's revision (it
    reads columns later migrations added), then the database goes back to before 0013 and up again."""
    url = database.new_empty_url()
    assert flask(url, "db", "upgrade").returncode == 0
    slug, start = "example-2025-two-tier", str(date.today() + timedelta(days=14))
    for args in (("units", "load", "--structure", "2025"),
                 ("schedules", "load", str(ROOT / "schedules" / f"{slug}.toml"), "--shift-to", start),
                 ("events", "demo-registrations", slug, "--province", "56"),
                 ("events", "publish", slug), ("sms", "opt-out", "0913123456"),
                 ("users", "create", "--email", "ho@example.vn", "--role", "coordinator", "--unit", "56",
                  "--structure", "2025", "--send-link")):
        done = flask(url, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:  # what the status code writes, Python-side defaults ("") included
            event_id, session_id = conn.execute(text(
                "SELECT e.id, s.id FROM events e JOIN sessions s ON s.event_id = e.id LIMIT 1")).one()
            endpoint_id = conn.execute(text("SELECT id FROM endpoints WHERE event_id = :e LIMIT 1"),
                                       {"e": event_id}).scalar_one()
            conn.execute(insert(EndpointStatus.__table__).values(endpoint_id=endpoint_id, session_id=session_id))
            conn.execute(insert(StatusEvent.__table__).values(event_id=event_id, endpoint_id=endpoint_id,
                                                              session_id=session_id, source="probe", state="failed",
                                                              layer="timeout"))
            conn.execute(insert(Incident.__table__).values(event_id=event_id, endpoint_id=endpoint_id,
                                                           session_id=session_id, cause="operator"))
            conn.execute(insert(ProbeSweep.__table__).values(event_id=event_id, session_id=session_id))
        tables = ("units", "unit_successions", "events", "sessions", "deadlines", "reminder_rules", "endpoints",
                  "contacts", "outbox_messages", "invitations", "users", "password_tokens", "sms_opt_outs",
                  "endpoint_status",
                  "status_events", "incidents", "probe_sweeps")
        before = _counts(engine, tables)
        assert all(before.values()), before
        down = flask(url, "db", "downgrade", "0012_dispatchers")
        assert down.returncode == 0, down.stderr
        assert _counts(engine, tables) == before
        upgraded = flask(url, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert _counts(engine, tables) == before
        assert {c["name"] for c in inspect(engine).get_check_constraints("outbox_messages")} == {
            "ck_outbox_messages_channel", "ck_outbox_messages_status", "ck_outbox_messages_doubt",
            "ck_outbox_messages_delivery_status"}
    finally:
        engine.dispose()


def test_a_value_the_checks_refuse_stops_the_upgrade_before_any_change_and_is_named(database):
    url = database.new_empty_url()
    assert flask(url, "db", "upgrade", "0012_dispatchers").returncode == 0
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO events (slug, title, short_title, legal_reference, description, "
                              "organizer_name, organizer_office, organizer_email, organizer_phone, timezone, "
                              "unit_structure, status, created_at, updated_at, cancel_reason) VALUES ('old', 'Old', "
                              "'', '', '', '', '', '', '', 'Asia/Ho_Chi_Minh', '2024', 'archived', "
                              "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '')"))
        refused = flask(url, "db", "upgrade")
        assert refused.returncode != 0
        assert "events.status = 'archived': 1 row(s)" in refused.stderr
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0012_dispatchers"
        assert inspect(engine).get_check_constraints("events") == []
    finally:
        engine.dispose()


# The closed vocabularies (the models' enums) are checked by the database (migration 0013).
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def _values(sql: str) -> set[str]:
    """The string literals of a CHECK's text, whatever the backend made of it (SQLite keeps the
    text as written; PostgreSQL rewrites it as `= ANY (ARRAY['a'::character varying, …])`)."""
    return {v.replace("''", "'") for v in _QUOTED.findall(sql)}


def _model_checks(dialect) -> dict[tuple[str, str], set[str]]:
    out = {}
    for table in db.metadata.sorted_tables:
        for c in table.constraints:
            if isinstance(c, CheckConstraint):
                sql = str(c.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                out[(table.name, c.name)] = _values(sql)
    return out


def test_the_migrated_database_checks_exactly_what_the_models_declare(app_ctx):
    # Alembic's autogenerate (`db check`) does not compare CHECK constraints: this does.
    engine = db.engine
    declared = _model_checks(engine.dialect)
    inspector = inspect(engine)
    found = {(table, c["name"]): _values(c["sqltext"])
             for table in inspector.get_table_names() for c in inspector.get_check_constraints(table)}
    assert len(declared) >= 40
    assert found == declared


@pytest.mark.parametrize("write", ["insert", "update"])
def test_an_illegal_status_is_refused_by_the_database(app_ctx, write):
    event = Event(slug="checks", title="Checks", status=DRAFT)
    db.session.add(event)
    db.session.flush()
    try:
        with pytest.raises(IntegrityError, match="ck_events_status"):
            if write == "insert":  # a real INSERT, past every Python-side check
                db.session.execute(insert(Event).values(slug="archived", title="Archived", status="archived"))
            else:
                db.session.execute(update(Event).where(Event.id == event.id).values(status="Published"))
    finally:
        db.session.rollback()


@pytest.mark.parametrize("column, value, constraint", [
    ("status", "queued", "ck_outbox_messages_status"),
    ("channel", "fax", "ck_outbox_messages_channel"),
    ("doubt", "maybe", "ck_outbox_messages_doubt"),
    ("delivery_status", "scheduled", "ck_outbox_messages_delivery_status"),
])
def test_an_outbox_message_with_an_unknown_value_is_refused(app_ctx, column, value, constraint):
    row = {"key": f"check:{column}", "channel": "sms", "kind": "reminder", "recipient": "+84913123456",
           "payload": {}, column: value}
    try:
        with pytest.raises(IntegrityError, match=constraint):
            db.session.execute(insert(OutboxMessage).values(**row))
    finally:
        db.session.rollback()


def test_empty_strings_are_accepted_where_the_code_stores_them(app_ctx):
    # "" is what the code writes for "none yet" (never in doubt, no delivery report): legal.
    try:
        db.session.execute(insert(OutboxMessage).values(key="check:empty", channel="email", kind="invitation",
                                                        recipient="a@example.vn", payload={}, doubt="",
                                                        delivery_status=""))
        db.session.flush()
    finally:
        db.session.rollback()


def test_a_user_role_outside_the_enum_is_refused(app_ctx):
    db.session.add(User(email="root@example.vn", password_hash="!", role="root"))
    try:
        with pytest.raises(IntegrityError, match="ck_users_role"):
            db.session.flush()
    finally:
        db.session.rollback()
