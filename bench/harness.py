"""What every benchmark shares: run a measurement on a fresh SQLite file, then on a fresh
PostgreSQL schema when a server answers, and time things. Benchmarks print; they assert no time."""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SECRET_KEY", "bench")

DEFAULT_PG = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def timed(fn, repeat=1):
    """(the last result, the seconds of each run)."""
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return result, samples


def fmt(samples) -> str:
    if len(samples) == 1:
        return f"{samples[0] * 1000:8.1f} ms"
    return f"{statistics.median(samples) * 1000:8.1f} ms median of {len(samples)} (min {min(samples) * 1000:.1f})"


def on_each_database(run: Callable[[str, str], None], pg_url: str = DEFAULT_PG, only: str | None = None) -> None:
    """run(label, database_url) on a fresh SQLite file, then on a fresh PostgreSQL schema;
    `only` "sqlite" or "pg" keeps one of them."""
    from sqlalchemy import create_engine, text

    if only != "pg":
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite (file)", f"sqlite:///{tmp}/bench.sqlite3")
    if only == "sqlite":
        return
    try:
        socket.create_connection(("127.0.0.1", 5432), 1).close()
    except OSError:
        print("\n(PostgreSQL not reachable: skipped)")
        return
    from coordinator.config import normalise_database_url

    base = normalise_database_url(pg_url)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        run("PostgreSQL", f"{base}?options=-csearch_path%3D{schema}")
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def national_parser(doc: str) -> argparse.ArgumentParser:
    """The options every national benchmark takes: --pg URL, --only sqlite|pg, --limit N units."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--only", choices=("sqlite", "pg"), default=None)
    parser.add_argument("--limit", type=int, default=None, help="only the first N units (by path)")
    return parser


def run_national(args, run: Callable, print_summary: Callable | None = None) -> None:
    """run(label, url, args, summary, failures) on each database (`--only` keeps one), then
    print_summary(summary, args); exit 1 with the failed checks listed when there are any."""
    summary: list[dict] = []
    failures: list[str] = []
    on_each_database(lambda label, url: run(label, url, args, summary, failures), args.pg, args.only)
    if print_summary is not None:
        print_summary(summary, args)
    if failures:
        print("\nFAILED checks:\n  " + "\n  ".join(failures))
        sys.exit(1)


def signed_in_client(app, email: str, password: str):
    """A test client of `app` signed in as `email` (CSRF off: the benchmark posts the form directly)."""
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": password}).status_code == 302
    return client


def prepare_national(limit: int | None, rows_for: Callable):
    """In an app context: a fresh schema, the 2024 units, nd49 moved 60 days ahead (registration
    open for every tier) and an organizer; returns (event, organizer, the national list as read
    from a CSV, ready for `endpoints_io.import_endpoints`, its number of rows). `rows_for(units)` makes the rows;
    `limit` keeps the first N units by path."""
    from datetime import date, timedelta

    from flask_migrate import upgrade
    from sqlalchemy import select

    from coordinator.auth.services import create_user
    from coordinator.events.plans import read_plan_file, shift_plan
    from coordinator.events.services import apply_plan, get_event
    from coordinator.extensions import db
    from coordinator.imports import endpoints_io
    from coordinator.spreadsheets.safe import write_csv
    from coordinator.units.models import Unit
    from coordinator.units.services import load_structure

    upgrade()
    load_structure("2024")
    root = Path(__file__).resolve().parent.parent
    plan = shift_plan(read_plan_file(root / "schedules" / "nd49-2024.toml"), date.today() + timedelta(days=60))
    apply_plan(plan)
    organizer = create_user("organizer@example.gov.vn", "bench-password", "organizer")
    event = get_event(plan.slug)
    units = list(db.session.scalars(select(Unit).where(Unit.structure == "2024").order_by(Unit.path)))
    if limit:
        units = units[:limit]
    rows = rows_for(units)
    db.session.commit()
    return event, organizer, endpoints_io.read_rows("national.csv", write_csv(endpoints_io.HEADERS, rows)), len(rows)
