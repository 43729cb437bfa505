"""Benchmark: loading the national units (2024: 11,368 rows with the root; 2025: 3,356) and the
queries that stand on them, on a fresh SQLite file and, when reachable, a fresh PostgreSQL schema.

    .venv/bin/python bench/bench_units.py [--pg URL] [--repeat N]

Prints figures; asserts nothing about time.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SECRET_KEY", "bench")


from coordinator import create_app  # noqa: E402
from harness import DEFAULT_PG, fmt, on_each_database, signed_in_client, timed  # noqa: E402


def run(label: str, url: str, repeat: int) -> None:
    from flask_migrate import upgrade

    from coordinator.auth.services import create_user
    from coordinator.units import services

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    print(f"\n== {label} ==")
    with app.app_context():
        upgrade()
        result, s = timed(lambda: services.load_structure("2024"))
        print(f"units load 2024, empty database      {fmt(s)}  ({result.inserted:,} inserted)")
        result, s = timed(lambda: services.load_structure("2024"), repeat)
        print(f"units load 2024 again (no change)    {fmt(s)}  ({result.unchanged:,} unchanged)")
        result, s = timed(lambda: services.load_structure("2025"))
        print(f"units load 2025, next to 2024        {fmt(s)}  ({result.inserted:,} inserted)")
        _, s = timed(lambda: services.search_units("2024", tier="commune", per_page=50), repeat)
        print(f"API query: communes page 1 + total   {fmt(s)}")
        _, s = timed(lambda: services.search_units("2024", q="phuong 1", per_page=50), repeat)
        print(f"API query: search without diacritics {fmt(s)}")
        kh = services.get_unit("2024", "56")
        from sqlalchemy import func, select

        from coordinator.extensions import db
        from coordinator.units.models import Unit

        count, s = timed(lambda: db.session.scalar(select(func.count()).select_from(Unit).where(
            Unit.structure == "2024", Unit.path.startswith(kh.path))), repeat)
        print(f"subtree of Khánh Hòa (count)         {fmt(s)}  ({count} units)")
        create_user("bench@example.gov.vn", "bench-password", "coordinator", unit_code="56")
    client = signed_in_client(app, "bench@example.gov.vn", "bench-password")
    _, s = timed(lambda: client.get("/api/v1/units?tier=commune&per_page=1000"), repeat)
    print(f"GET /api/v1/units?tier=commune&per_page=1000 {fmt(s)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    on_each_database(lambda label, url: run(label, url, args.repeat), args.pg)


if __name__ == "__main__":
    main()
