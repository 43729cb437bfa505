"""Benchmark: the national endpoint spreadsheet (2024 structure: one endpoint for the centre and
for every province, district and commune, 11,368 endpoints, two contacts each, ~22,700 rows)
imported by the organizer, on a fresh SQLite file and, when reachable, a fresh PostgreSQL schema.

    .venv/bin/python bench/import_national.py [--pg URL] [--deadlines-every-tier]

Times (a) reading the .xlsx, (b) the first import (everything created), (c) the same file again
(everything unchanged), and the export of the national list. Prints figures; asserts nothing
about time (the aim is a first import under 10 s). With --deadlines-every-tier the plan also gets
an `endpoints` and a `focal_contacts` deadline for every tier, so the import's deadline
bookkeeping covers all 11,368 units (nd49 itself has one deadline, for the provinces).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench")


from coordinator import create_app  # noqa: E402
from harness import DEFAULT_PG, on_each_database  # noqa: E402

PROTOCOLS = ("sip", "h323", "webrtc")


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def national_rows(units) -> list[list[str]]:
    """Two people per endpoint, with distinct valid mobile numbers (091x and 098x ranges)."""
    rows = []
    for i, unit in enumerate(units):
        protocol = PROTOCOLS[i % 3]
        dial = {"sip": f"sip:dc{unit.code}@10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                "h323": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                "webrtc": f"https://hop.example.gov.vn/{unit.code}"}[protocol]
        endpoint = [unit.code, f"Phòng họp trực tuyến {unit.name}", f"Trụ sở {unit.name}", protocol, dial]
        rows.append(endpoint + [f"Nguyễn Văn {i}", "Lãnh đạo", f"0912 {i // 1000:03d} {i % 1000:03d}", "",
                                "Chủ trì"])
        rows.append([unit.code, "", "", "", "", f"Trần Thị {i}", "Chuyên viên", f"0983{i:06d}",
                     f"kythuat{i}@example.gov.vn", "Kỹ thuật"])
    return rows


def plan_tiers(plan) -> list[str]:
    return [t.tier for t in plan.tiers]


def line(label: str, seconds: float, rows: int) -> None:
    print(f"{label:<38} {seconds:7.2f} s  {rows / seconds:9,.0f} rows/s")


def run(label: str, url: str, every_tier: bool = False) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from coordinator.auth.services import create_user
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.events.plans import DeadlineSpec, read_plan_file, shift_plan
    from coordinator.events.services import apply_plan, get_event
    from coordinator.extensions import db
    from coordinator.imports import endpoints_io
    from coordinator.spreadsheets.safe import write_xlsx
    from coordinator.units.models import Unit
    from coordinator.units.services import load_structure

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    print(f"\n== {label} ==")
    with app.app_context():
        upgrade()
        load_structure("2024")
        # nd49's dates moved into the future, so registration is open for every tier.
        plan = shift_plan(read_plan_file(ROOT / "schedules" / "nd49-2024.toml"), date.today() + timedelta(days=60))
        if every_tier:
            due = plan.deadlines[0].due_at
            plan.deadlines += [DeadlineSpec(kind=kind, tier=tier, due_at=due)
                               for kind in ("endpoints", "focal_contacts") for tier in plan_tiers(plan)
                               if (kind, tier) not in {(d.kind, d.tier) for d in plan.deadlines}]
        apply_plan(plan)
        print(f"deadlines: {', '.join(f'{d.kind}/{d.tier}' for d in plan.deadlines)}")
        organizer = create_user("organizer@example.gov.vn", "bench-password", "organizer")
        event = get_event(plan.slug)
        units = list(db.session.scalars(select(Unit).where(Unit.structure == "2024").order_by(Unit.path)))
        rows = national_rows(units)
        data, seconds = timed(lambda: write_xlsx(endpoints_io.HEADERS, rows, sheet_title=endpoints_io.SHEET_TITLE))
        print(f"national file: {len(units):,} endpoints, {len(rows):,} rows, {len(data) / 1e6:.1f} MB "
              f"(written in {seconds:.1f} s)")
        db.session.commit()

        read, seconds = timed(lambda: endpoints_io.read_rows("national.xlsx", data))
        line("(a) read the .xlsx", seconds, len(read))
        result, seconds = timed(lambda: endpoints_io.import_endpoints(event, organizer, read, filename="national.xlsx"))
        line("(b) first import (validate + save)", seconds, len(read))
        print(f"    endpoints {result.endpoints.as_dict()}, contacts {result.contacts.as_dict()}")
        result, seconds = timed(lambda: endpoints_io.import_endpoints(event, organizer, read, filename="national.xlsx"))
        line("(c) same file again (nothing changes)", seconds, len(read))
        print(f"    endpoints {result.endpoints.as_dict()}, contacts {result.contacts.as_dict()}")
        counts = (db.session.scalar(select(func.count()).select_from(Endpoint)),
                  db.session.scalar(select(func.count()).select_from(Contact)))
        print(f"    stored: {counts[0]:,} endpoints, {counts[1]:,} contacts")
        exported, seconds = timed(lambda: endpoints_io.export_endpoints(event, organizer, "xlsx"))
        line("export of the national list (.xlsx)", seconds, len(read))
        exported_csv, seconds = timed(lambda: endpoints_io.export_endpoints(event, organizer, "csv"))
        line("export of the national list (.csv)", seconds, len(read))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--deadlines-every-tier", action="store_true")
    args = parser.parse_args()
    on_each_database(lambda label, url: run(label, url, args.deadlines_every_tier), args.pg)


if __name__ == "__main__":
    main()
