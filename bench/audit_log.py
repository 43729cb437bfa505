"""Benchmark: the /audit page and an endpoint's history at national scale.

Builds the 2024 tree with the ND49 plan, one endpoint per unit (~11,000), 800 accounts, then fills
the audit log with --entries entries (default 100,000) by bulk inserts, in the shapes the services
record, over 30 days: endpoint registrations and edits, incidents opened by the probes and by
operators, readiness confirmations, sign-ins, reminder runs, documents, digests, opt-outs, and the
event's own changes (a cancellation among them). Then times the page (signed in as an organizer,
Vietnamese): the newest page, a page deep in the log, each filter (event, province, commune, a
name typed without diacritics, the scheduler, a rare and a frequent action, one day), all filters
together, 200 entries per page, and `history_for_endpoint`. Prints the median of --repeat runs,
the bytes of each page and the SQL statements it ran.

    .venv/bin/python bench/audit_log.py [--entries 100000] [--repeat 5] [--only sqlite|pg] [--indexes]

--indexes first adds the indexes the report asks for (object, details->>'event', details->>'unit'),
to compare. On a fresh SQLite file and, when reachable, a fresh PostgreSQL schema. Prints figures;
asserts nothing about time.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench")

from sqlalchemy import event as sa_event  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from coordinator import create_app  # noqa: E402
from harness import DEFAULT_PG, on_each_database, signed_in_client  # noqa: E402

PASSWORD = "bench-password"
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ")
MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Thanh", "Quốc", "Ngọc")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hùng", "Lan", "Linh", "Mai", "Nam", "Phúc", "Quân", "Trang")
LAYERS = ("timeout", "refused", "dns", "sip_error", "network")


def build(event, entries: int, rng: random.Random) -> dict:
    from coordinator.audit.models import AuditEntry
    from coordinator.auth.models import User
    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db
    from coordinator.timeutil import utcnow
    from coordinator.units.models import Unit

    now = utcnow()
    units = db.session.execute(select(Unit.id, Unit.code, Unit.tier, Unit.path)
                               .where(Unit.structure == "2024").order_by(Unit.path)).all()
    db.session.execute(insert(Endpoint), [
        {"event_id": event.id, "unit_id": u.id, "name": f"Phòng họp trực tuyến {u.code}", "address": "",
         "protocol": "sip", "dial": f"sip:{u.code}@10.0.0.1", "upstream_bridge": "", "provider": "VNPT",
         "created_at": now, "updated_at": now} for u in units])
    endpoints = db.session.execute(select(Endpoint.id, Unit.code).join(Unit, Endpoint.unit_id == Unit.id)
                                   .where(Endpoint.event_id == event.id).order_by(Endpoint.id)).all()
    provinces = [u.code for u in units if u.tier == "province"]
    from werkzeug.security import generate_password_hash

    digest = generate_password_hash(PASSWORD)
    db.session.execute(insert(User), [
        {"email": f"canbo{i:03d}@example.gov.vn", "display_name": f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} "
         f"{rng.choice(GIVEN)}", "password_hash": digest, "role": "coordinator", "active": True, "created_at": now}
        for i in range(800)])
    users = list(db.session.scalars(select(User.id).order_by(User.id)))
    rules = [r.id for r in event.reminder_rules]
    deadline = event.deadlines[0].id
    slug = event.slug

    def entry(action, object_type, object_id, actor=None, label="cli", **details):
        return {"actor_id": actor, "actor_label": label if actor is None else f"u{actor}@example.gov.vn",
                "action": action, "object_type": object_type, "object_id": str(object_id), "details": details}

    rows = []
    for eid, code in endpoints:  # every endpoint registered, most edited twice
        rows.append(entry("endpoint.create", "endpoint", eid, rng.choice(users), event=slug, unit=code))
    while len(rows) < entries:
        eid, code = rng.choice(endpoints)
        roll = rng.random()
        if roll < 0.30:
            rows.append(entry("endpoint.update", "endpoint", eid, rng.choice(users), event=slug, unit=code))
        elif roll < 0.55:
            by_probe = rng.random() < 0.8
            rows.append(entry("incident.open", "endpoint", eid, label="probe" if by_probe else "operator",
                              incident=len(rows), session=rng.choice(("connectivity_test", "rehearsal", "main")),
                              detail="SIP OPTIONS: no answer after 3 s" if by_probe else "", notified=rng.randint(0, 2),
                              layer=rng.choice(LAYERS) if by_probe else ""))
        elif roll < 0.72:
            rows.append(entry("session.confirm", "event", slug, label=rng.choice(("link", "sms")),
                              session=rng.choice(("connectivity_test", "main")), endpoints=[eid]))
        elif roll < 0.85:
            user = rng.choice(users)
            rows.append(entry("user.login", "user", user, user))
        elif roll < 0.90:
            rows.append(entry(rng.choice(("document.upload", "document.replace")), "document_file", len(rows),
                              rng.choice(users), event=slug, deadline=deadline, unit=code, slot=0,
                              filename=f"Danh sách đầu mối {code}.pdf", size=rng.randint(20_000, 3_000_000),
                              sha256="ab" * 32, late=rng.random() < 0.2))
        elif roll < 0.93:
            rows.append(entry("incident.digest", "event", slug, label="escalation", scope=rng.choice(provinces),
                              session="main", incidents=rng.randint(1, 300), recipients=rng.randint(1, 5)))
        elif roll < 0.95:
            rows.append(entry(rng.choice(("reminder.fire", "reminder.skip")), "reminder_rule", rng.choice(rules),
                              label="scheduler", version="20240625T0130Z-259200", queued=rng.randint(0, 11000),
                              unreachable=rng.randint(0, 50), reason="anchor_passed"))
        elif roll < 0.97:
            rows.append(entry("sms.opt_out", "phone", f"+8491{rng.randint(0, 9_999_999):07d}", label="organizer",
                              source="organizer", note=""))
        elif roll < 0.99:
            rows.append(entry("event.update", "event", slug, rng.choice(users[:3]), changes=["title", "session:main"]))
        else:
            rows.append(entry("endpoint.delete", "endpoint", eid, rng.choice(users), event=slug, unit=code, contacts=2))
    rows = rows[:entries - 1]
    rows.append(entry("event.cancel", "event", slug, users[0], reason="Bão số 3 đổ bộ", cancellations=20500,
                      cancellation_sms=11000))
    start = now - timedelta(days=30)
    step = timedelta(days=30) / len(rows)
    for i, row in enumerate(rows):
        row["at"] = start + step * i
    for i in range(0, len(rows), 5000):
        db.session.execute(insert(AuditEntry.__table__), rows[i:i + 5000])
    db.session.commit()
    return {"endpoint": endpoints[len(endpoints) // 2][0], "commune": next(u.code for u in units if u.tier == "commune"),
            "day": (start + timedelta(days=10)).astimezone(timezone(timedelta(hours=7))).strftime("%d/%m/%Y"),
            "deep": len(rows) // 50}


INDEXES = {
    "postgresql": ["CREATE INDEX ix_audit_log_object ON audit_log (object_type, object_id)",
                   "CREATE INDEX ix_audit_log_event ON audit_log ((details ->> 'event'))",
                   "CREATE INDEX ix_audit_log_unit ON audit_log ((details ->> 'unit'))"],
    "sqlite": ["CREATE INDEX ix_audit_log_object ON audit_log (object_type, object_id)",
               "CREATE INDEX ix_audit_log_event ON audit_log (json_extract(details, '$.event'))",
               "CREATE INDEX ix_audit_log_unit ON audit_log (json_extract(details, '$.unit'))"],
}


def run(label: str, url: str, entries: int, repeat: int, indexes: bool) -> None:
    from flask_migrate import upgrade

    from coordinator.auth.services import create_user
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan, get_event
    from coordinator.extensions import db
    from coordinator.units.services import load_structure

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    print(f"\n== {label}: {entries:,} audit entries ==")
    rng = random.Random(1)
    with app.app_context():
        upgrade()
        load_structure("2024")
        apply_plan(read_plan_file(ROOT / "schedules" / "nd49-2024.toml"))
        create_user("organizer@example.gov.vn", PASSWORD, "organizer", display_name="Nguyễn Văn A")
        started = time.perf_counter()
        facts = build(get_event("nd49-2024"), entries, rng)
        dialect = db.engine.dialect.name
        if indexes:
            with db.engine.begin() as conn:
                for ddl in INDEXES[dialect]:
                    conn.execute(text(ddl))
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        print(f"filled in {time.perf_counter() - started:.1f} s{' (with the proposed indexes)' if indexes else ''}")
        engine = db.engine

    client = signed_in_client(app, "organizer@example.gov.vn", PASSWORD)
    statements = []
    sa_event.listen(engine, "before_cursor_execute", lambda *a: statements.append(1))
    cases = [
        ("newest page", {}),
        (f"deep page (before id {facts['deep']:,})", {"before": facts["deep"]}),
        ("event nd49-2024", {"event": "nd49-2024"}),
        ("unit 56 (a province)", {"unit": "56"}),
        (f"unit {facts['commune']} (a commune)", {"unit": facts["commune"]}),
        ("unit typed 'khanh hoa'", {"unit": "khanh hoa"}),
        ("user typed 'nguyen van'", {"user": "nguyen van"}),
        ("user 'scheduler'", {"user": "scheduler"}),
        ("user typed 'nobody' (no match: every row read)", {"user": "nobody"}),
        ("unit typed 'Phường 1' (more than 50 units)", {"unit": "Phường 1"}),
        ("action event.cancel (1 entry)", {"action": "event.cancel"}),
        ("action incident.open", {"action": "incident.open"}),
        (f"one day ({facts['day']})", {"from": facts["day"], "to": facts["day"]}),
        ("event + unit 56 + action + dates", {"event": "nd49-2024", "unit": "56", "action": "endpoint.update",
                                               "from": "01/01/2020", "to": "31/12/2099"}),
        ("200 per page", {"n": 200}),
        ("200 per page, English", {"n": 200, "_en": 1}),
    ]
    print(f"{'page':48} {'median':>9} {'min':>8} {'KB':>7} {'lines':>6} {'SQL':>4}")
    for name, args in cases:
        headers = {"Accept-Language": "en" if args.pop("_en", None) else "vi"}
        samples = []
        for _ in range(repeat):
            statements.clear()
            t0 = time.perf_counter()
            response = client.get("/audit/", query_string=args, headers=headers)
            samples.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.status_code
        body = response.get_data()
        print(f"{name:48} {statistics.median(samples) * 1000:7.1f}ms {min(samples) * 1000:6.1f}ms "
              f"{len(body) / 1000:7.1f} {body.count(b'<li><time>'):6} {len(statements):4}")

    from coordinator.history.services import history_for_endpoint

    samples = []
    for _ in range(repeat):
        with app.test_request_context(headers={"Accept-Language": "vi"}):
            statements.clear()
            t0 = time.perf_counter()
            lines = history_for_endpoint(facts["endpoint"], 20)
            samples.append(time.perf_counter() - t0)
    print(f"{'history_for_endpoint (20 lines)':48} {statistics.median(samples) * 1000:7.1f}ms "
          f"{min(samples) * 1000:6.1f}ms {'':>7} {len(lines):6} {len(statements):4}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--only", choices=("sqlite", "pg"))
    parser.add_argument("--indexes", action="store_true", help="add the proposed indexes first")
    args = parser.parse_args()
    on_each_database(lambda label, url: run(label, url, args.entries, args.repeat, args.indexes), args.pg, args.only)


if __name__ == "__main__":
    main()
