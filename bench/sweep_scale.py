"""Benchmark: a probe sweep's cost as the country grows (1,000 -> 11,368 -> 113,680 endpoints),
next to the limit a minimal prober sets on the same targets. On a fresh SQLite file and, when
reachable, a fresh PostgreSQL schema.

    .venv/bin/python bench/sweep_scale.py [--only sqlite|pg] [--sizes 1000,11368,113680]
                                          [--engine-sizes 1000,11368] [--ports 200] [--timeout 2]
                                          [--concurrency 500]

Setup (not timed as an aim): nd49 with the national list imported (11,368 endpoints, two contacts
each), its connectivity test under way; for the largest size, nine more communes are simulated
beside each real one (units and endpoints written straight into the scratch database, no
contacts): 113,680 endpoints in one event.

(1) Recording, `status.record_probes` with synthetic results (a fifth of the endpoints failing,
    PROBE_FAILURES_TO_ESCALATE=3), at each size, five sweeps in a row: the first (every status row
    created), a steady one (nothing changes but the time), the third (the failing fifth reaches 3
    failures: incidents open, their SMS and the provinces' digests are queued), a steady one with
    those incidents open, and a recovery (everything answers: every incident resolved, no SMS).
    Printed: seconds and microseconds per endpoint: the cost should grow linearly.
(2) The probe engine against real sockets on 127.0.0.1 (tests/fakes/probe_responders.SipUdpFarm in a
    child process, --ports UDP ports of which a fifth never answer; each endpoint dials one of
    them), at --engine-sizes: `engine.sweep` alone, then the same steady sweep recorded, next to a
    minimal prober (one datagram per target, no retransmission, the first answer or the timeout,
    --concurrency at once) whose results are written with one executemany into a scratch table:
    the limit. The floor the silent ports impose (silent x timeout / concurrency) is printed too.

Prints figures, asserts nothing about time; exits 1 when a check fails (every endpoint probed,
exactly the silent ports' dials failed, the incidents opened and resolved as expected).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("SECRET_KEY", "bench")

from harness import DEFAULT_PG, on_each_database, prepare_national  # noqa: E402
from import_national import national_rows  # noqa: E402

FAILURES: list[str] = []


def line(label: str, value: str) -> None:
    print(f"  {label:<52} {value}", flush=True)


def check(ok: bool, what: str) -> None:
    if not ok:
        FAILURES.append(what)
        print(f"  CHECK FAILED: {what}", flush=True)


def simulate_communes(event, copies: int) -> int:
    """`copies` more communes beside each real one (same district, codes with a suffix), each with an
    endpoint of the event; returns the endpoints added."""
    from sqlalchemy import insert, select

    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db
    from coordinator.text import fold
    from coordinator.units.models import Unit

    communes = db.session.execute(select(Unit.id, Unit.code, Unit.name, Unit.parent_id, Unit.path).where(
        Unit.structure == "2024", Unit.tier == "commune")).all()
    units = []
    for _, code, name, parent_id, path in communes:
        parent = path[: path.rstrip("/").rfind("/") + 1]
        for k in range(1, copies + 1):
            units.append({"structure": "2024", "code": f"{code}s{k}", "name": f"{name} ({k})", "tier": "commune",
                          "search_name": fold(f"{name} {k}"),
                          "parent_id": parent_id, "path": f"{parent}{code}s{k}/"})
    for i in range(0, len(units), 5000):
        db.session.execute(insert(Unit), units[i:i + 5000])
    ids = db.session.scalars(select(Unit.id).where(Unit.structure == "2024", Unit.code.like("%s%"))).all()
    rows = [{"event_id": event.id, "unit_id": u, "name": f"Điểm cầu mô phỏng {u}", "protocol": "sip",
             "dial": f"sip:sim{u}@10.1.0.1", "address": "", "upstream_bridge": "", "provider": ""} for u in ids]
    for i in range(0, len(rows), 5000):
        db.session.execute(insert(Endpoint), rows[i:i + 5000])
    db.session.commit()
    return len(rows)


def reset_status() -> None:
    from sqlalchemy import delete

    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.status.models import EndpointStatus, Incident, IncidentDigest, StatusEvent, StatusVersion

    for model in (Incident, IncidentDigest, EndpointStatus, StatusEvent, StatusVersion):
        db.session.execute(delete(model))
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.kind == "incident"))
    db.session.commit()


def results_for(ids: list[int], dead: set[int], everyone_answers: bool = False):
    out = []
    for e in ids:
        if e in dead and not everyone_answers:
            out.append(SimpleNamespace(key=e, state="failed", layer="timeout", code=None, rtt_ms=None,
                                       target="SIP/UDP 10.0.0.1:5060", detail="no answer within 2 s (3 sends)"))
        else:
            out.append(SimpleNamespace(key=e, state="connected", layer="ok", code=200, rtt_ms=3.2,
                                       target="SIP/UDP 10.0.0.1:5060", detail="SIP 200 OK in 3.2 ms"))
    return out


def recording(event, session, ids: list[int]) -> dict:
    from sqlalchemy import func, select

    from coordinator.extensions import db
    from coordinator.status import services as status
    from coordinator.status.models import Incident

    reset_status()
    dead = set(random.Random(len(ids)).sample(ids, len(ids) // 5))
    times = {}
    base = datetime.now(timezone.utc)
    for n, (name, answers) in enumerate([("first sweep (rows created)", False), ("steady", False),
                                         ("third: incidents open", False), ("steady, incidents open", False),
                                         ("recovery: all resolved", True)]):
        started = time.perf_counter()
        summary = status.record_probes(event, session, results_for(ids, dead, answers),
                                       now=base + timedelta(seconds=60 * n))
        status.after_bulk_write(summary)
        times[name] = time.perf_counter() - started
        if n == 2:
            check(summary.incidents == len(dead), f"{len(ids)}: {summary.incidents} incidents opened, not {len(dead)}")
    open_ = db.session.scalar(select(func.count()).select_from(Incident).where(Incident.resolved_at.is_(None)))
    check(open_ == 0, f"{len(ids)}: {open_} incidents still open after the recovery")
    return times


# --- the engine and the minimal prober ------------------------------------------------------------------

OPTIONS = (b"OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK%d\r\n"
           b"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\n"
           b"Call-ID: %d@bench\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


async def minimal_prober(ports: list[int], timeout: float, concurrency: int) -> list[tuple[int, bool, float]]:
    """One datagram per target, the first answer or the timeout: what any prober must spend."""
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(concurrency)
    results: list = [None] * len(ports)

    class Proto(asyncio.DatagramProtocol):
        def __init__(self):
            self.answer = loop.create_future()

        def datagram_received(self, data, addr):
            if not self.answer.done():
                self.answer.set_result(loop.time())

        def error_received(self, exc):
            if not self.answer.done():
                self.answer.set_result(None)

    async def one(i: int, port: int):
        async with slots:
            transport, proto = await loop.create_datagram_endpoint(Proto, remote_addr=("127.0.0.1", port))
            sent = loop.time()
            transport.sendto(OPTIONS % (i, i))
            try:
                at = await asyncio.wait_for(proto.answer, timeout)
                results[i] = (i, at is not None, (at - sent) if at else 0.0)
            except TimeoutError:
                results[i] = (i, False, timeout)
            finally:
                transport.close()

    await asyncio.gather(*(one(i, p) for i, p in enumerate(ports)))
    return results


def write_minimal(results) -> float:
    """The limit's write: one executemany into a scratch table."""
    from sqlalchemy import text

    from coordinator.extensions import db

    started = time.perf_counter()
    db.session.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS probe_limit (k INTEGER, ok BOOLEAN, rtt FLOAT)"))
    db.session.execute(text("INSERT INTO probe_limit (k, ok, rtt) VALUES (:k, :ok, :rtt)"),
                       [{"k": k, "ok": ok, "rtt": rtt} for k, ok, rtt in results])
    db.session.commit()
    db.session.execute(text("DROP TABLE probe_limit"))
    db.session.commit()
    return time.perf_counter() - started


def engine_phase(app, event, session, ids: list[int], args) -> dict:
    from sqlalchemy import bindparam, update

    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db
    from coordinator.probes import engine
    from coordinator.status import services as status
    from fakes.probe_responders import SipUdpFarm

    out = {}
    with SipUdpFarm(n_ports=args.ports, silent_fraction=0.2, process=True) as farm:
        silent = set(farm.ports[:farm.n_silent])
        port_of = {e: farm.ports[i % len(farm.ports)] for i, e in enumerate(ids)}
        table = Endpoint.__table__
        db.session.execute(update(table).where(table.c.id == bindparam("_id")).values(
            protocol="sip", dial=bindparam("_dial")),
            [{"_id": e, "_dial": f"sip:bench@127.0.0.1:{p}"} for e, p in port_of.items()],
            execution_options={"synchronize_session": False})
        db.session.commit()
        targets = [engine.target_for(e, "sip", f"sip:bench@127.0.0.1:{port_of[e]}") for e in ids]
        reset_status()
        for n in range(2):  # the first sweep creates the rows; the second is the steady one measured
            started = time.perf_counter()
            results = engine.sweep(targets, concurrency=args.concurrency, timeout=args.timeout)
            probed = time.perf_counter() - started
            started = time.perf_counter()
            summary = status.record_probes(event, session, results)
            recorded = time.perf_counter() - started
        failed = {r.key for r in results if r.state == "failed"}
        expected = {e for e in ids if port_of[e] in silent}
        check(summary.probed == len(ids), f"{len(ids)}: {summary.probed} probed")
        check(failed == expected, f"{len(ids)}: {len(failed)} failed, {len(expected)} dials of silent ports")
        out["engine"], out["record"] = probed, recorded
        started = time.perf_counter()
        minimal = asyncio.run(minimal_prober([port_of[e] for e in ids], args.timeout, args.concurrency))
        out["minimal_probe"] = time.perf_counter() - started
        out["minimal_write"] = write_minimal(minimal)
        check(sum(1 for _, ok, _ in minimal if not ok) == len(expected), "the minimal prober disagrees")
        out["silent"] = len(expected)
    return out


def run(label: str, url: str, args) -> None:
    from sqlalchemy import select

    from coordinator import create_app
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import move_session, publish
    from coordinator.extensions import db
    from coordinator.imports import endpoints_io

    print(f"\n== {label} ==", flush=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PROBE_FAILURES_TO_ESCALATE": 3, "MAIL_BACKEND": "file"})
    with app.app_context():
        started = time.perf_counter()
        event, organizer, rows, _ = prepare_national(None, national_rows)
        endpoints_io.import_endpoints(event, organizer, rows)
        now = datetime.now(timezone.utc)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=5))
        publish(event)
        sizes = sorted(args.sizes)
        if sizes[-1] > 11368:
            added = simulate_communes(event, max(1, -(-(sizes[-1] - 11368) // 10599)))
            line("simulated endpoints added", f"{added:,}")
        ids = list(db.session.scalars(select(Endpoint.id).where(Endpoint.event_id == event.id).order_by(Endpoint.id)))
        line("setup", f"{time.perf_counter() - started:.1f} s, {len(ids):,} endpoints")
        session = event.session("connectivity_test")
        print("  (1) recording a sweep's results (synthetic), seconds and µs per endpoint", flush=True)
        for size in sizes:
            chosen = ids[:size]
            times = recording(event, session, chosen)
            for name, seconds in times.items():
                line(f"{size:>7,}: {name}", f"{seconds:6.2f} s  {seconds / size * 1e6:6.1f} µs/endpoint")
        print("  (2) the engine on real sockets, steady sweep, next to the minimal prober", flush=True)
        for size in sorted(args.engine_sizes):
            figures = engine_phase(app, event, session, ids[:size], args)
            total = figures["engine"] + figures["record"]
            limit = figures["minimal_probe"] + figures["minimal_write"]
            floor = max(args.timeout, figures["silent"] * args.timeout / args.concurrency)
            line(f"{size:>7,}: engine.sweep", f"{figures['engine']:6.2f} s")
            line(f"{size:>7,}: record_probes", f"{figures['record']:6.2f} s")
            line(f"{size:>7,}: sweep, probe + record", f"{total:6.2f} s")
            line(f"{size:>7,}: minimal prober + one executemany (limit)",
                 f"{limit:6.2f} s  ({figures['minimal_probe']:.2f} + {figures['minimal_write']:.2f})")
            line(f"{size:>7,}: sweep / limit", f"{total / limit:6.2f}x")
            line(f"{size:>7,}: floor (silent x timeout / concurrency)", f"{floor:6.2f} s")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("sqlite", "pg"))
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 11368, 113680])
    parser.add_argument("--engine-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 11368])
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=500)
    args = parser.parse_args()
    socket.setdefaulttimeout(None)

    on_each_database(lambda label, url: run(label, url, args), args.pg, args.only)
    if FAILURES:
        print("\nFAILED CHECKS:\n  " + "\n  ".join(FAILURES))
        sys.exit(1)


if __name__ == "__main__":
    main()
