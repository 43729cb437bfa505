"""Benchmark: the long lists at national scale (issue 13, point 7: any page under 150 KB and under
1 s of server time).

Builds the 2024 tree with the ND49 plan moved 60 days ahead (registration open), imports the
national spreadsheet through the product (`endpoints_io.import_endpoints`: one endpoint per unit,
two contacts each), except one commune of Hà Nội in four, left unregistered so that its rows carry
the "Register" and "attends at the parent endpoint" buttons (~11,220 endpoints, ~22,450
contacts). Then publishes the event (the invitation emails are queued in the outbox; nobody sends
them), creates an account for the coordinator of every province and district (~770, through
`create_user`, each audited) and adds --audit-entries audit entries by bulk inserts, in the
shapes the services record.

Measured through the Flask test client (server time, in-process: no network), Vietnamese, after
one untimed request: the median and the max of --repeat runs, and the bytes of the answer, of

  * the coordinator of Hà Nội (the largest province: 610 units in 2024): its registration page
    (first page, the search `q=ba dinh`, the last page), and the endpoints API with `q`;
  * the organizer: Hà Nội's registration page, the progress page (and its search), the outbox
    (first page, a search by recipient, the last page), the audit log, the accounts page (and a
    search), the endpoints API with `q`, one page of it, and the whole national list (an export
    rather than a page: shown for scale, flagged like the others).

Anything at or over 150 KB or 1 s is flagged `!!`. On a fresh SQLite file and, when reachable, a
fresh PostgreSQL schema.

    .venv/bin/python bench/long_lists.py [--pg URL] [--only sqlite|pg] [--repeat 5] [--audit-entries 20000]

Prints figures; asserts nothing about time. Exits 1 when a page does not answer 200 or a
search's answer lacks what it searched for.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SECRET_KEY", "bench")

from sqlalchemy import func, insert, select  # noqa: E402

from coordinator import create_app  # noqa: E402
from harness import DEFAULT_PG, on_each_database, signed_in_client  # noqa: E402
from import_national import national_rows  # noqa: E402

SLUG = "nd49-2024"
PASSWORD = "bench-password"
ORGANIZER = "organizer@example.gov.vn"
HN_COORDINATOR = "canbo.01@example.gov.vn"
HANOI = "01"
MAX_BYTES = 150_000
MAX_SECONDS = 1.0
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ")
MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Thanh", "Quốc", "Ngọc")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hùng", "Lan", "Linh", "Mai", "Nam", "Phúc", "Quân", "Trang")


def line(label: str, value: str) -> None:
    print(f"{label:<44} {value}", flush=True)


def _in_hanoi(unit) -> bool:
    return unit.path.startswith(f"/TW/{HANOI}/")


def rows_for(units) -> list[list[str]]:
    """The national list, without one commune of Hà Nội in four."""
    kept, n = [], 0
    for u in units:
        if u.tier == "commune" and _in_hanoi(u):
            n += 1
            if n % 4 == 0:
                continue
        kept.append(u)
    return national_rows(kept)


def add_accounts(rng: random.Random) -> int:
    """A coordinator for every province and district (the Hà Nội one signs in), a few operators."""
    from coordinator.auth.services import create_user
    from coordinator.extensions import db
    from coordinator.units.models import Unit

    units = db.session.execute(select(Unit.code, Unit.tier).where(Unit.structure == "2024",
                                                                  Unit.tier.in_(("province", "district")))
                               .order_by(Unit.path)).all()
    for code, tier in units:
        name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        create_user(f"canbo.{code}@example.gov.vn", PASSWORD if code == HANOI else None, "coordinator",
                    unit_code=code, structure="2024", display_name=name)
    for i in range(20):
        create_user(f"vanhanh{i:02d}@example.gov.vn", None, "operator", display_name=f"Trực vận hành {i + 1}")
    return len(units) + 20


def add_audit_entries(event, n: int, rng: random.Random) -> None:
    """`n` entries over the last 30 days: endpoint edits, sign-ins, readiness confirmations and
    incidents opened by the probes, in the shapes the services record."""
    from coordinator.audit.models import AuditEntry
    from coordinator.auth.models import User
    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db
    from coordinator.timeutil import utcnow
    from coordinator.units.models import Unit

    if n <= 0:
        return
    endpoints = db.session.execute(select(Endpoint.id, Unit.code).join(Unit, Endpoint.unit_id == Unit.id)
                                   .where(Endpoint.event_id == event.id)).all()
    users = db.session.execute(select(User.id, User.email)).all()
    now = utcnow()
    rows = []
    for i in range(n):
        eid, code = rng.choice(endpoints)
        uid, email = rng.choice(users)
        roll = rng.random()
        if roll < 0.45:
            row = {"actor_id": uid, "actor_label": email, "action": "endpoint.update", "object_type": "endpoint",
                   "object_id": str(eid), "details": {"event": event.slug, "unit": code}}
        elif roll < 0.65:
            row = {"actor_id": uid, "actor_label": email, "action": "user.login", "object_type": "user",
                   "object_id": str(uid), "details": {}}
        elif roll < 0.85:
            row = {"actor_id": None, "actor_label": "link", "action": "session.confirm", "object_type": "event",
                   "object_id": event.slug, "details": {"session": "connectivity_test", "endpoints": [eid]}}
        else:
            row = {"actor_id": None, "actor_label": "probe", "action": "incident.open", "object_type": "endpoint",
                   "object_id": str(eid), "details": {"incident": i, "session": "connectivity_test",
                                                      "detail": "SIP OPTIONS: no answer after 3 s",
                                                      "notified": 1, "layer": "timeout"}}
        row["at"] = now - timedelta(days=30) + timedelta(days=30) * i / n
        rows.append(row)
    for i in range(0, len(rows), 5000):
        db.session.execute(insert(AuditEntry.__table__), rows[i:i + 5000])
    db.session.commit()


def setup(audit_entries: int) -> dict:
    from harness import prepare_national

    from coordinator.audit.models import AuditEntry
    from coordinator.auth.models import User
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import listing
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.events.services import publish
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.imports import endpoints_io
    from coordinator.units.services import get_unit

    rng = random.Random(13)
    started = time.perf_counter()
    event, organizer, read, n_rows = prepare_national(None, rows_for)
    result = endpoints_io.import_endpoints(event, organizer, read, filename="national.csv")
    line("setup: schema, units, import", f"{time.perf_counter() - started:6.1f} s  ({n_rows:,} rows, "
         f"{result.endpoints.created:,} endpoints created)")
    started = time.perf_counter()
    publish(event, actor=SystemActor("bench"))
    line("setup: publish (invitations queued)", f"{time.perf_counter() - started:6.1f} s")
    started = time.perf_counter()
    accounts = add_accounts(rng)
    add_audit_entries(event, audit_entries, rng)
    line("setup: accounts, audit entries", f"{time.perf_counter() - started:6.1f} s")

    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    hanoi = get_unit("2024", HANOI)
    hn = listing.registration_list(event, hanoi)
    facts = {"endpoints": count(Endpoint), "contacts": count(Contact), "outbox": count(OutboxMessage),
             "audit": count(AuditEntry), "users": count(User), "accounts": accounts,
             "hn_units": hn.counts["total"], "hn_registered": hn.counts["registered"], "hn_pages": hn.pages,
             "outbox_pages": max(1, math.ceil(count(OutboxMessage) / 100)),
             "recipient": db.session.scalar(select(OutboxMessage.recipient).order_by(OutboxMessage.id).limit(1))}
    line("data", f"{facts['endpoints']:,} endpoints, {facts['contacts']:,} contacts, {facts['outbox']:,} outbox "
         f"messages, {facts['audit']:,} audit entries, {facts['users']:,} accounts")
    line(f"Hà Nội ({HANOI})", f"{facts['hn_units']} units, {facts['hn_registered']} registered, "
         f"{facts['hn_pages']} pages of {listing.PER_PAGE}")
    db.session.remove()
    return facts


def measure(client, path: str, repeat: int) -> tuple[int, int, list[float], bytes]:
    """(status, bytes, seconds of each run, body) of GET `path`, after one untimed request."""
    headers = {"Accept-Language": "vi"}
    client.get(path, headers=headers)
    samples, response = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append(time.perf_counter() - started)
    return response.status_code, len(response.data), samples, response.data


def _text(body: bytes) -> str:
    """The answer as text; JSON decoded first (it may escape every non-ASCII letter)."""
    text = body.decode("utf-8", "replace")
    if text.startswith(("{", "[")):
        return json.dumps(json.loads(text), ensure_ascii=False)
    return text


def run(label: str, url: str, args, summary: list) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    print(f"\n== {label} ==", flush=True)
    with app.app_context():
        facts = setup(args.audit_entries)
    coordinator = signed_in_client(app, HN_COORDINATOR, PASSWORD)
    organizer = signed_in_client(app, ORGANIZER, PASSWORD)
    reg = f"/events/{SLUG}/registration"
    api = f"/api/v1/events/{SLUG}/endpoints"
    # (who, what, path, what the answer must contain: bytes, or a check of the JSON)
    cases = [
        ("coordinator", "registration, first page", reg, "Quận Ba Đình"),
        ("coordinator", "registration, q=ba dinh", f"{reg}?q=ba+dinh", "Quận Ba Đình"),
        ("coordinator", f"registration, last page ({facts['hn_pages']})", f"{reg}?page={facts['hn_pages']}",
         'rel="prev"'),
        ("coordinator", "endpoints API, q=ba dinh", f"{api}?q=ba+dinh", "Ba Đình"),
        ("organizer", "registration of Hà Nội, first page", f"{reg}?unit={HANOI}", "Quận Ba Đình"),
        ("organizer", "registration of Hà Nội, q=ba dinh", f"{reg}?unit={HANOI}&q=ba+dinh", "Quận Ba Đình"),
        ("organizer", "registration of Hà Nội, last page", f"{reg}?unit={HANOI}&page={facts['hn_pages']}",
         'rel="prev"'),
        ("organizer", "registration: provinces", reg, "Thành phố Hà Nội"),
        ("organizer", "progress", f"/events/{SLUG}/progress", "Thành phố Hà Nội"),
        ("organizer", "progress, q=ha noi", f"/events/{SLUG}/progress?q=ha+noi", "Thành phố Hà Nội"),
        ("organizer", "outbox, first page", "/outbox/", "@example.gov.vn"),
        ("organizer", "outbox, q=<a recipient>", f"/outbox/?q={facts['recipient']}", facts["recipient"]),
        ("organizer", f"outbox, last page ({facts['outbox_pages']})", f"/outbox/?page={facts['outbox_pages']}",
         "@example.gov.vn"),
        ("organizer", "audit log", "/audit/", "<time"),
        ("organizer", "accounts (/users/)", "/users/", "@example.gov.vn"),
        ("organizer", "accounts, q=canbo.01@", "/users/?q=canbo.01%40", HN_COORDINATOR),
        ("organizer", "endpoints API, q=ba dinh", f"{api}?q=ba+dinh", "Ba Đình"),
        ("organizer", "endpoints API, q=0983 (a phone piece)", f"{api}?q=0983&page=1", "+84983"),
        ("organizer", "endpoints API, page=1 (100)", f"{api}?page=1", "items"),
        ("organizer", "endpoints API, everything (export)", api, "items"),
    ]
    clients = {"coordinator": coordinator, "organizer": organizer}
    results, problems = [], []
    for who, what, path, needle in cases:
        status, size, samples, body = measure(clients[who], path, args.repeat)
        if status != 200:
            problems.append(f"{who} {path}: {status}")
        elif needle not in _text(body):
            problems.append(f"{who} {path}: {needle!r} not in the answer")
        results.append((who, what, status, size, statistics.median(samples), max(samples)))
        print(f"  {who:<12} {what:<42} {status}  {size / 1000:8.1f} KB  {statistics.median(samples) * 1000:7.1f} ms",
              flush=True)
    summary.append((label, facts, results, problems, args.repeat))
    with app.app_context():
        from coordinator.extensions import db

        db.session.remove()
        db.engine.dispose()


def print_table(label: str, facts: dict, results: list, problems: list, repeat: int) -> None:
    print(f"\n== {label}: {facts['endpoints']:,} endpoints, {facts['contacts']:,} contacts, {facts['outbox']:,} "
          f"outbox messages, {facts['audit']:,} audit entries, {facts['users']:,} accounts; "
          f"server time over {repeat} runs ==")
    print(f"{'who':<12} {'page':<42} {'HTTP':>4} {'KB':>9} {'median ms':>10} {'max ms':>9}  flag")
    for who, what, status, size, median, worst in results:
        flags = []
        if size >= MAX_BYTES:
            flags.append(">= 150 KB")
        if worst >= MAX_SECONDS:
            flags.append(">= 1 s")
        print(f"{who:<12} {what:<42} {status:>4} {size / 1000:9.1f} {median * 1000:10.1f} {worst * 1000:9.1f}  "
              f"{'!! ' + ', '.join(flags) if flags else ''}")
    for p in problems:
        print(f"PROBLEM: {p}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--only", choices=("sqlite", "pg"), default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--audit-entries", type=int, default=20_000)
    args = parser.parse_args()
    summary: list = []
    on_each_database(lambda label, url: run(label, url, args, summary), args.pg, only=args.only)
    for item in summary:
        print_table(*item)
    if any(problems for _, _, _, problems, _ in summary):
        sys.exit(1)


if __name__ == "__main__":
    main()
