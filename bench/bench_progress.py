"""Benchmark: the organizer's registration reports at national scale.

Builds the 2024 tree with the ND49 plan (central, province, district, commune), one endpoint per
unit except one commune in ten, which attends at its district's endpoint (~10,300 endpoints),
two contacts each (a technical mobile and a fixed-line chair: ~20,600 contacts) and the
fulfilment rows of the provincial focal-contact deadline. The data is written with bulk inserts
(this measures the reports, not the registration path), then times `province_progress`,
`provinces_missing`, `focal_contacts` with both exports, and the progress page and API.
On a fresh SQLite file and, when reachable, a fresh PostgreSQL schema.

    .venv/bin/python bench/bench_progress.py [--pg URL] [--repeat N]

Prints figures; asserts nothing about time.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench")

from sqlalchemy import insert, select  # noqa: E402

from coordinator import create_app  # noqa: E402
from harness import DEFAULT_PG, fmt, on_each_database, signed_in_client, timed  # noqa: E402


def build(event) -> tuple[int, int, int]:
    """One endpoint per unit (one commune in ten hosted at its district), two contacts each."""
    from coordinator.deadlines.models import DeadlineFulfilment
    from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
    from coordinator.extensions import db
    from coordinator.timeutil import utcnow
    from coordinator.units.models import Unit

    units = db.session.execute(select(Unit.id, Unit.code, Unit.tier, Unit.parent_id)
                               .where(Unit.structure == event.unit_structure).order_by(Unit.id)).all()
    now = utcnow()
    own = [u for i, u in enumerate(units) if not (u.tier == "commune" and i % 10 == 0)]
    hosted = [u for i, u in enumerate(units) if u.tier == "commune" and i % 10 == 0]
    db.session.execute(insert(Endpoint), [
        {"event_id": event.id, "unit_id": u.id, "name": f"Phòng họp trực tuyến {u.code}", "address": "",
         "protocol": "sip", "dial": f"sip:{u.code}@10.0.0.1", "upstream_bridge": "", "provider": "VNPT",
         "created_at": now, "updated_at": now} for u in own])
    endpoint_of = dict(db.session.execute(select(Endpoint.unit_id, Endpoint.id).where(Endpoint.event_id == event.id)).all())
    db.session.execute(insert(HostedUnit), [
        {"event_id": event.id, "endpoint_id": endpoint_of[u.parent_id], "unit_id": u.id} for u in hosted])
    contacts = []
    for n, u in enumerate(own):
        endpoint_id = endpoint_of[u.id]
        contacts.append({"endpoint_id": endpoint_id, "role": "technical", "name": f"Cán bộ kỹ thuật {u.code}",
                         "position": "Chuyên viên", "phone": f"+8491{n:07d}", "phone_type": "mobile",
                         "email": f"kt{u.code}@example.gov.vn", "created_at": now, "updated_at": now})
        contacts.append({"endpoint_id": endpoint_id, "role": "chair", "name": f"Lãnh đạo {u.code}",
                         "position": "Giám đốc", "phone": f"+84258{n:07d}", "phone_type": "fixed",
                         "email": "", "created_at": now, "updated_at": now})
    db.session.execute(insert(Contact), contacts)
    deadline = event.deadlines[0]
    db.session.execute(insert(DeadlineFulfilment), [
        {"deadline_id": deadline.id, "unit_id": u.id, "fulfilled_at": now, "late": bool(i % 3 == 0), "updated_at": now}
        for i, u in enumerate(own) if u.tier == deadline.tier and i % 7])
    db.session.commit()
    return len(own), len(hosted), len(contacts)


def run(label: str, url: str, repeat: int) -> None:
    from flask_migrate import upgrade

    from coordinator.auth.services import create_user
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan
    from coordinator.reports import services
    from coordinator.units.services import load_structure

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    print(f"\n== {label} ==")
    with app.app_context():
        upgrade()
        load_structure("2024")
        event = apply_plan(read_plan_file(ROOT / "schedules" / "nd49-2024.toml")).event
        (endpoints, hosted, contacts), s = timed(lambda: build(event))
        print(f"build data (bulk inserts)            {fmt(s)}  ({endpoints:,} endpoints, {hosted:,} hosted, "
              f"{contacts:,} contacts)")
        organizer = create_user("bench@example.gov.vn", "bench-password", "organizer")
        progress, s = timed(lambda: services.province_progress(event), repeat)
        print(f"province_progress                    {fmt(s)}  ({len(progress.provinces)} provinces, "
              f"{progress.totals.tiers['commune'].total:,} communes)")
        missing, s = timed(lambda: services.provinces_missing(event, event.deadlines[0], progress), repeat)
        print(f"provinces_missing (progress given)   {fmt(s)}  ({len(missing)} provinces)")
        rows, s = timed(lambda: services.focal_contacts(event, organizer), repeat)
        print(f"focal_contacts                       {fmt(s)}  ({len(rows):,} rows)")
        data, s = timed(lambda: services.focal_contacts_xlsx(rows), repeat)
        print(f"focal contacts .xlsx                 {fmt(s)}  ({len(data) // 1024:,} KiB)")
        data, s = timed(lambda: services.focal_contacts_csv(rows), repeat)
        print(f"focal contacts .csv                  {fmt(s)}  ({len(data) // 1024:,} KiB)")
    client = signed_in_client(app, "bench@example.gov.vn", "bench-password")
    for path in ("/events/nd49-2024/progress", "/api/v1/events/nd49-2024/registration",
                 "/events/nd49-2024/focal-contacts.xlsx"):
        response, s = timed(lambda: client.get(path), repeat)
        assert response.status_code == 200, (path, response.status_code)
        print(f"GET {path:<38} {fmt(s)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    on_each_database(lambda label, url: run(label, url, args.repeat), args.pg)


if __name__ == "__main__":
    main()
