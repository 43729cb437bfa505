"""Benchmark: the connection-status dashboard's JSON API at national scale, against the service run
as in production (gunicorn, sync workers), each figure next to the trivial JSON endpoint of the
same service (`GET /healthz`, which runs `SELECT 1`) measured in the same run. On a fresh SQLite
file and, when reachable, a fresh PostgreSQL schema.

    .venv/bin/python bench/dashboard_national.py [--pg URL] [--only sqlite|pg] [--limit N]
                                                 [--workers N] [--requests N] [--seconds S]
                                                 [--threads N] [--batch-size N] [--ports N]
                                                 [--search-requests N] [--profile]

Setup (timed, not an aim): the 2024 national list (one endpoint per unit, 11,368 endpoints, two
contacts each) imported into nd49, its connectivity test moved to start 10 minutes ago (the session
under way), the event published (22,736 invitation emails queued; nobody dispatches them), then
"a few status events each", three per endpoint, written in-process through the product's own
functions: a probe round (`record_probes`: 70 % connected, 30 % failed), an operator check of every
endpoint (`record_many` in chunks of 1,000: 85 % connected, 10 % degraded, 5 % failed, which opens
incidents and queues their SMS), then either the contact's confirmation (`record_many`, source
"self") or a probe that flips the first verdict. Then `gunicorn -w --workers app:app` is started
on a free port of 127.0.0.1 with DATABASE_URL pointing at the bench database.

Measured over HTTP by this process (requests; gunicorn's sync workers close every connection, so
every request opens one, /healthz's too):
  (1) /healthz, one client, --requests sequential requests: p50, p95 (the baseline);
  (2) the national roll-up GET /api/v1/events/nd49-2024/status: computed (no If-None-Match) and
      the 304 answer to its ETag, p50 and p95 (aim: p95 under 100 ms);
  (3) the largest province's view GET …/status?unit=<code>, p50 and p95;
  (4) check-in ingest for --seconds with --threads client threads: single POST
      /api/v1/endpoints/<id>/checks and POST /api/v1/events/<slug>/checks with --batch-size checks
      each, in checks/s (aim: at least 1,000/s), and the 304 poll rate, each next to /healthz
      requests/s with the same threads; the gunicorn workers' CPU per request is printed too;
  (5) a probe sweep of every endpoint against loopback SIP responders (tests/fakes/probe_responders.py
      SipUdpFarm in a child process, --ports UDP ports, a fifth of them never answer), dials
      rewritten to them with SQL: `flask --app app probes sweep --event nd49-2024` run as a
      subprocess with PROBE_TIMEOUT_SECONDS=2 and PROBE_CONCURRENCY=500 (aim: under 15 s), timed
      end to end and printed next to the floor the silent dials impose (silent x timeout /
      concurrency, at least the timeout: each holds a slot for the whole timeout). A
      sitecustomize.py on the command's PYTHONPATH times `engine.sweep` and `record_probes` inside
      it (the command is otherwise unchanged). Three sweeps: the verdicts stay the same, but the
      silent dials' failures in a row reach PROBE_FAILURES_TO_ESCALATE=3 (sooner for those the
      seed had failing), so the second and third sweeps open ~1,000 incidents each and queue
      their SMS. Also timed: the command's start-up alone (`probes sweep --help`).
  (6) search (issue 16): GET /api/v1/events/<slug>/search?q= over the national tree, --search-requests
      sequential requests cycling through a mix of what operators type: a contact's phone as written
      ("0983 000 123", "0983.000.123", "+84983000123"), a unit's name with and without diacritics, its
      code, a room's name, a dial address, a contact's name, and broad words ("phong hop", "xa"):
      p50 and p95 overall and per kind (aim: p95 under 50 ms); the first search after a change of
      the registration (each worker builds its index again), in-process; the search and the
      dashboard's feed of what changed (`status.feed.changes`), in-process. Checks that the phone,
      code and dial searches find their endpoint first.
Also printed: the roll-up, the ETag check and the province view in-process (no HTTP), which
separates the product's own time from the server and client; --profile adds cProfile's top
functions of the roll-up, its 304, the province view and a single check-in (in-process, after the
HTTP figures: the profiled check-ins are not counted in them).

Prints figures; asserts nothing about time. Checks, and exits 1 when one fails: the seed wrote 3
events per endpoint; the roll-up's totals match the database; the 304 answers; the province view
lists the province's endpoints; every check-in was answered 201 and status_events grew by exactly
the checks sent; the sweep probed every endpoint, and exactly the dials of silent ports timed out
while the others were connected.
"""
from __future__ import annotations

import cProfile
import io
import json
import math
import os
import pstats
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("SECRET_KEY", "bench")

from harness import national_parser, prepare_national, run_national  # noqa: E402
from import_national import national_rows  # noqa: E402

SLUG = "nd49-2024"
VENV_BIN = Path(sys.executable).parent


def line(label: str, value: str) -> None:
    print(f"{label:<46} {value}", flush=True)


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) of samples, in the units given (nearest rank)."""
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def ms(samples: list[float]) -> str:
    return f"p50 {pct(samples, 50) * 1000:7.1f} ms  p95 {pct(samples, 95) * 1000:7.1f} ms"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the service, as in production ----------------------------------------------------------------------

def _cpu_of(pid: int) -> float:
    """utime + stime of a process, in seconds (Linux /proc); 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _postgres_cpu() -> float:
    """CPU seconds of every process named postgres on this machine (the server the bench uses when
    it is local; its backends come and go with the workers' connections, so read before and after)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += _cpu_of(int(comm.parent.name))
        except (OSError, ValueError):
            pass
    return total


class Gunicorn:
    """`gunicorn -w N -b 127.0.0.1:PORT app:app` as a child process, with the bench's database."""

    def __init__(self, url: str, workers: int):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="gunicorn-", suffix=".log", delete=False)
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": os.environ["SECRET_KEY"]}
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "app:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        import requests

        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.tail()}")
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not answer /healthz: {self.tail()}")
            time.sleep(0.2)
        self.workers = workers

    def tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-3000:]

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
            except (OSError, IndexError, ValueError):
                pass
        return pids

    def cpu(self) -> float:
        """CPU seconds of the master and its current workers."""
        return _cpu_of(self.process.pid) + sum(_cpu_of(p) for p in self.worker_pids())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        os.unlink(self.log.name)


# --- the client --------------------------------------------------------------------------------------

class Client:
    def __init__(self, base: str, token: str):
        import requests

        self.base, self.token = base, token
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, headers: dict | None = None):
        return self.http.get(self.base + path, headers=headers, timeout=60)

    def post(self, path: str, body: dict):
        return self.http.post(self.base + path, json=body, timeout=120)


def latencies(client: Client, path: str, n: int, expect: int, headers: dict | None = None,
              failures: list[str] | None = None, warmup: int = 10) -> tuple[list[float], object]:
    """Seconds of n sequential GETs (after `warmup` untimed ones, so that every worker has served
    the path once); the last response."""
    response = None
    for _ in range(warmup):
        response = client.get(path, headers)
    samples, bad = [], 0
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, headers)
        samples.append(time.perf_counter() - started)
        bad += response.status_code != expect
    if bad and failures is not None:
        failures.append(f"{path}: {bad} of {n} answers were not {expect} (last {response.status_code})")
    return samples, response


def load(server: Gunicorn, token: str, threads: int, seconds: float, make_request) -> dict:
    """`threads` client threads, each with its own session, calling make_request(client, thread, i)
    (returns (status, items)) until `seconds` have passed. Returns the counts, rates, latencies and
    the CPU time of the server (gunicorn's processes) and of this process."""
    lock = threading.Lock()
    out = {"items": 0, "statuses": {}, "latencies": []}
    stop_at = [0.0]
    barrier = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        client = Client(server.base, token)
        i, items, lats, statuses = 0, 0, [], {}
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            started = time.perf_counter()
            try:
                status, n = make_request(client, t, i)
            except Exception as exc:  # a refused or reset connection: counted, not fatal
                status, n = type(exc).__name__, 0
            lats.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            items += n if status in (200, 201, 304) else 0
            i += 1
        with lock:
            out["items"] += items
            out["latencies"] += lats
            for k, v in statuses.items():
                out["statuses"][k] = out["statuses"].get(k, 0) + v

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    cpu0, own0, pg0 = server.cpu(), time.process_time(), _postgres_cpu()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    barrier.wait()
    for th in pool:
        th.join()
    wall = time.perf_counter() - started
    out.update(wall=wall, server_cpu=server.cpu() - cpu0, client_cpu=time.process_time() - own0,
               pg_cpu=_postgres_cpu() - pg0)
    done = sum(out["statuses"].values())
    out["done"] = done
    out["rate"] = done / wall
    out["item_rate"] = out["items"] / wall
    return out


# --- setup --------------------------------------------------------------------------------------------

def _probe_result(key, state, layer, code, target="SIP/UDP 10.0.0.1:5060"):
    from coordinator.probes.base import ProbeResult

    detail = {"ok": "200 OK", "timeout": "no answer within 2 s", "refused": "port unreachable (ICMP)"}[layer]
    return ProbeResult(key, state, layer, code, 12.5 if state == "connected" else None, detail, target)


def seed(event, session, organizer, ids: list[int], now) -> dict:
    """Three status events per endpoint through the product's functions, timed."""
    from coordinator.status.services import record_many, record_probes

    rng = random.Random(49)
    r1 = {}
    for eid in ids:
        x = rng.random()
        r1[eid] = ("connected", "ok", 200) if x < 0.7 else ("failed", "timeout", None) if x < 0.9 else \
            ("failed", "refused", None)
    times = {}
    started = time.perf_counter()
    s1 = record_probes(event, session, [_probe_result(e, *r1[e]) for e in ids], now=now - timedelta(minutes=9))
    times["probes 1"] = (time.perf_counter() - started, s1.events)

    def check(eid):
        x = rng.random()
        state = "connected" if x < 0.85 else "degraded" if x < 0.95 else "failed"
        return {"endpoint_id": eid, "state": state, "audio": state != "failed", "video": state == "connected",
                "content": state == "connected" if rng.random() < 0.5 else None,
                "note": "" if state == "connected" else "tiếng bị rè, hình giật"}

    checks = [check(e) for e in ids]
    started = time.perf_counter()
    for i in range(0, len(checks), 1000):
        record_many(event, session, checks[i:i + 1000], actor=organizer, now=now - timedelta(minutes=6))
    times["operator checks"] = (time.perf_counter() - started, len(checks))

    confirm = [e for e in ids if rng.random() < 0.6]
    confirm_set = set(confirm)
    flip = [e for e in ids if e not in confirm_set]
    started = time.perf_counter()
    for i in range(0, len(confirm), 1000):
        record_many(event, session, [{"endpoint_id": e, "state": "connected", "audio": True, "video": True}
                                     for e in confirm[i:i + 1000]], source="self", now=now - timedelta(minutes=3))
    times["confirmations"] = (time.perf_counter() - started, len(confirm))
    started = time.perf_counter()
    s3 = record_probes(event, session, [_probe_result(e, *(("failed", "timeout", None) if r1[e][0] == "connected"
                                                         else ("connected", "ok", 200))) for e in flip],
                       now=now - timedelta(minutes=3))
    times["probes 2"] = (time.perf_counter() - started, s3.events)
    return times


def setup(args) -> dict:
    from sqlalchemy import func, select

    from coordinator.auth.permissions import SystemActor
    from coordinator.auth.services import issue_token
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import move_session, publish
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.imports import endpoints_io
    from coordinator.status.models import Incident, StatusEvent
    from coordinator.status.services import current_session
    from coordinator.timeutil import utcnow
    from coordinator.units.models import Unit

    started = time.perf_counter()
    event, organizer, read, _rows = prepare_national(args.limit, national_rows)
    result = endpoints_io.import_endpoints(event, organizer, read, filename="national.csv")
    now = utcnow().replace(microsecond=0)
    # Moved while still a draft (no invitation updates), then published: the test is under way.
    move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=3))
    publish(event, actor=SystemActor("bench"))
    session = current_session(event)
    assert session is not None and session.kind == "connectivity_test", session
    emails = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    line("setup: schema, units, import, publish", f"{time.perf_counter() - started:.1f} s: "
         f"{result.endpoints.created:,} endpoints; {emails:,} outbox messages queued by publish")

    ids = list(db.session.scalars(select(Endpoint.id).where(Endpoint.event_id == event.id).order_by(Endpoint.id)))
    times = seed(event, session, organizer, ids, now)
    events_n = db.session.scalar(select(func.count()).select_from(StatusEvent))
    incidents = db.session.scalar(select(func.count()).select_from(Incident))
    open_incidents = db.session.scalar(select(func.count()).select_from(Incident).where(Incident.resolved_at.is_(None)))
    for name, (seconds, n) in times.items():
        line(f"seed (in-process): {name}", f"{seconds:6.2f} s  {n:7,} events  {n / seconds:8,.0f}/s")
    line("seed: status events", f"{events_n:,} ({events_n / len(ids):.2f} per endpoint); {incidents} incidents "
         f"opened, {open_incidents} still open")

    # The largest province (by endpoints) for the province view.
    by_province: dict[str, int] = {}
    for path, in db.session.execute(select(Unit.path).join(Endpoint, Endpoint.unit_id == Unit.id)
                                    .where(Endpoint.event_id == event.id)):
        parts = path.strip("/").split("/")
        if len(parts) > 1:
            by_province[parts[1]] = by_province.get(parts[1], 0) + 1
    province = max(by_province, key=by_province.get)
    province_name = db.session.scalar(select(Unit.name).where(Unit.structure == event.unit_structure,
                                                              Unit.code == province))
    token = issue_token(organizer, "bench")
    setup_info = {"event_id": event.id, "session_id": session.id, "ids": ids, "province": province,
                  "province_name": province_name, "province_endpoints": by_province[province],
                  "events": events_n, "token": token}
    db.session.commit()
    db.session.remove()
    return setup_info


def count_events() -> int:
    from sqlalchemy import func, select

    from coordinator.extensions import db
    from coordinator.status.models import StatusEvent

    n = db.session.scalar(select(func.count()).select_from(StatusEvent))
    db.session.rollback()
    return n


def expected_rollup(info: dict) -> dict:
    from sqlalchemy import func, select

    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db
    from coordinator.status.models import EndpointStatus

    counts: dict[str, int] = {}
    for state, n in db.session.execute(
            select(EndpointStatus.state, func.count()).select_from(Endpoint)
            .outerjoin(EndpointStatus, (EndpointStatus.endpoint_id == Endpoint.id)
                       & (EndpointStatus.session_id == info["session_id"]))
            .where(Endpoint.event_id == info["event_id"]).group_by(EndpointStatus.state)):
        counts[state or "unknown"] = counts.get(state or "unknown", 0) + n
    db.session.rollback()
    return {s: counts.get(s, 0) for s in ("connected", "degraded", "failed", "unknown")}


# --- in-process figures -------------------------------------------------------------------------------

def in_process(app, info: dict, args, figures: dict) -> None:
    """The same work without HTTP: the product's functions, and the view through the test client."""
    from coordinator.events.models import EventSession
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.status import services as status
    from coordinator.units.services import get_unit

    headers = {"Authorization": f"Bearer {info['token']}"}
    client = app.test_client()
    rollup_path = f"/api/v1/events/{SLUG}/status"
    unit_path = f"{rollup_path}?unit={info['province']}"
    n = max(10, args.requests // 4)

    def sample(fn, repeat=n):
        fn()
        out = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
            db.session.remove()
        return out

    with app.app_context():
        def call(fn_name):
            def go():
                event = get_event(SLUG)
                session = db.session.get(EventSession, info["session_id"])
                if fn_name == "rollup":
                    return status.rollup(event, session)
                if fn_name == "version":
                    return status.version(event, session)
                return status.unit_view(event, get_unit(event.unit_structure, info["province"]), session)
            return go

        figures["ip_version"] = sample(call("version"))
        figures["ip_rollup"] = sample(call("rollup"))
        figures["ip_unit"] = sample(call("unit"))
    figures["ip_get_rollup"] = sample(lambda: client.get(rollup_path, headers=headers))
    figures["ip_get_unit"] = sample(lambda: client.get(unit_path, headers=headers))
    line("in-process: status.version (the ETag)", ms(figures["ip_version"]))
    line("in-process: status.rollup", ms(figures["ip_rollup"]))
    line("in-process: GET roll-up (test client)", ms(figures["ip_get_rollup"]))
    line(f"in-process: status.unit_view {info['province']}", ms(figures["ip_unit"]))
    line("in-process: GET province view (test client)", ms(figures["ip_get_unit"]))
    if args.profile:
        etag = client.get(rollup_path, headers=headers).headers["ETag"]
        ids = info["ids"]
        cases = (("roll-up", 10, lambda i: client.get(rollup_path, headers=headers)),
                 ("roll-up 304", 50, lambda i: client.get(rollup_path, headers={**headers, "If-None-Match": etag})),
                 ("province view", 10, lambda i: client.get(unit_path, headers=headers)),
                 ("single check POST", 50, lambda i: client.post(f"/api/v1/endpoints/{ids[i * 7 % len(ids)]}/checks",
                                                                 headers=headers, json={"state": "connected"})))
        for label, repeat, call in cases:
            call(0)
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(repeat):
                call(i)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(18)
            ours = r"coordinator|marshmallow|flask_smorest|sqlalchemy/orm/loading"
            stats.sort_stats("cumulative").print_stats(ours, 20)
            print(f"\n--- cProfile: {repeat} x {label} in-process ---")
            print("\n".join(out.getvalue().splitlines()[:90]))


# --- the probe sweep -------------------------------------------------------------------------------------

# Loaded by the `flask` command's own interpreter (a sitecustomize.py on its PYTHONPATH): sums the
# wall time of engine.sweep and record_probes, looked up at call time by probes.services.sweep,
# and prints it at exit. The command itself is unchanged.
_TIMERS = r"""
import atexit, json, sys, time
if "probes" in sys.argv:
    from coordinator.probes import engine
    from coordinator.status import services as status
    _t = {}

    def _wrap(module, name):
        fn = getattr(module, name)

        def timed(*a, **k):
            s = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                _t[name] = _t.get(name, 0.0) + time.perf_counter() - s
        setattr(module, name, timed)

    _wrap(engine, "sweep")
    _wrap(status, "record_probes")
    atexit.register(lambda: print("TIMERS " + json.dumps(_t), flush=True))
"""


def run_sweep(url: str, args) -> dict:
    """`flask --app app probes sweep --event nd49-2024`, timed end to end, with the timers above."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sitecustomize.py").write_text(_TIMERS)
        env = {**os.environ, "DATABASE_URL": url, "PROBE_TIMEOUT_SECONDS": str(args.probe_timeout),
               "PROBE_CONCURRENCY": str(args.probe_concurrency),
               "PYTHONPATH": os.pathsep.join([tmp, str(ROOT)] + ([os.environ["PYTHONPATH"]]
                                                                  if os.environ.get("PYTHONPATH") else []))}
        command = [str(VENV_BIN / "flask"), "--app", "app", "probes", "sweep", "--event", SLUG]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - started
    out = {"wall": wall, "rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-2000:]}
    for text in done.stdout.splitlines():
        if text.startswith("TIMERS "):
            out["timers"] = json.loads(text[7:])
        elif " probed in " in text:
            out["reported"] = float(text.split(" probed in ")[1].split(" s")[0])
            out["summary"] = text
        elif text.startswith("by layer") or "incidents opened" in text:
            out.setdefault("more", []).append(text)
    timers = out.get("timers", {})
    out["engine"] = timers.get("sweep", float("nan"))
    out["record"] = timers.get("record_probes", float("nan"))
    return out


def sweep_phase(url: str, info: dict, args, figures: dict, failures: list[str]) -> None:
    from sqlalchemy import func, select, update

    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db
    from coordinator.status.models import EndpointStatus, Incident
    from fakes.probe_responders import SipUdpFarm

    ids = info["ids"]
    with SipUdpFarm(n_ports=args.ports, silent_fraction=0.2, process=True) as farm:
        dials = farm.dials(len(ids), user="dc")
        silent_keys = {eid for i, eid in enumerate(ids) if farm.is_silent(i)}
        started = time.perf_counter()
        db.session.execute(update(Endpoint), [{"id": eid, "protocol": "sip", "dial": d} for eid, d in zip(ids, dials)])
        db.session.commit()
        line("(5) dials rewritten to the SIP farm (SQL)",
             f"{time.perf_counter() - started:.2f} s: {len(ids):,} endpoints over {farm.n_ports} UDP ports, "
             f"{farm.n_silent} silent ({len(silent_keys):,} dials, {100 * len(silent_keys) / len(ids):.1f} %)")
        # Each silent dial holds one of the PROBE_CONCURRENCY slots for the whole timeout.
        floor = max(args.probe_timeout if silent_keys else 0.0,
                    len(silent_keys) * args.probe_timeout / args.probe_concurrency)
        line(f"    `flask --app app probes sweep --event {SLUG}`",
             f"PROBE_TIMEOUT_SECONDS={args.probe_timeout:g}, PROBE_CONCURRENCY={args.probe_concurrency}; floor "
             f"(silent dials x timeout / concurrency) {floor:.1f} s")
        # Three times: the verdicts stay the same, but the silent dials' failures in a row reach
        # PROBE_FAILURES_TO_ESCALATE (sooner for those the seed had failing): incidents open in
        # the second and third sweeps.
        sweeps = []
        for n in (1, 2, 3):
            before_events = count_events()
            before_incidents = db.session.scalar(select(func.count()).select_from(Incident))
            db.session.rollback()
            result = run_sweep(url, args)
            result["events"] = count_events() - before_events
            result["incidents"] = db.session.scalar(select(func.count()).select_from(Incident)) - before_incidents
            db.session.rollback()
            if result["rc"] != 0:
                failures.append(f"probes sweep {n} exited {result['rc']}: {result['stderr']}")
                print(result["stdout"], result["stderr"])
                return
            line(f"    sweep {n}", f"{result['wall']:6.2f} s end to end (the command says "
                 f"{result.get('reported', float('nan')):.2f} s): engine.sweep {result['engine']:.2f} s, "
                 f"record_probes {result['record']:.2f} s ({result['events']:,} events, {result['incidents']:,} "
                 f"incidents opened), the rest {result['wall'] - result['engine'] - result['record']:.2f} s")
            line("      its output", result.get("summary", "?"))
            for text in result.get("more", []):
                line("", text)
            sweeps.append(result)
            if n == 1:
                # Check: exactly the silent dials timed out, every other one connected.
                rows = db.session.execute(select(EndpointStatus.endpoint_id, EndpointStatus.probe_state,
                                                 EndpointStatus.probe_layer)
                                          .where(EndpointStatus.session_id == info["session_id"])).all()
                db.session.rollback()
                got = {eid: (state, layer) for eid, state, layer in rows}
                wrong_silent = [e for e in silent_keys if got.get(e) != ("failed", "timeout")]
                wrong_answering = [e for e in ids if e not in silent_keys and got.get(e) != ("connected", "ok")]
                connected = sum(1 for e in ids if got.get(e) == ("connected", "ok"))
                timeouts = sum(1 for e in ids if got.get(e) == ("failed", "timeout"))
                line("      verdicts", f"{connected:,} connected ({100 * connected / len(ids):.1f} %), "
                     f"{timeouts:,} timeout ({100 * timeouts / len(ids):.1f} %)")
                if wrong_silent or wrong_answering:
                    failures.append(f"sweep: {len(wrong_answering)} answering dials not connected "
                                    f"(e.g. {[got.get(e) for e in wrong_answering[:3]]}), {len(wrong_silent)} "
                                    f"silent dials not timed out")
                    print("    check: verdicts match the farm: MISMATCH")
                else:
                    print("    check: verdicts match the farm (silent dials timeout, others connected): ok")
            elif f"{len(ids) - len(silent_keys):,} connected" not in result.get("summary", ""):
                failures.append(f"sweep {n}: not {len(ids) - len(silent_keys):,} connected: {result.get('summary')}")
        started = time.perf_counter()
        subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "probes", "sweep", "--help"], cwd=ROOT,
                       env={**os.environ, "DATABASE_URL": url}, capture_output=True, check=True)
        startup = time.perf_counter() - started
        line("    `flask --app app probes sweep --help`", f"{startup:6.2f} s (the command's start-up alone)")
    line("    SIP farm", f"{farm.options:,} OPTIONS (distinct Call-IDs), {farm.requests:,} datagrams, "
         f"{farm.answered:,} answered")
    if farm.options and farm.options != 3 * len(ids):
        failures.append(f"sweep: the farm saw {farm.options:,} distinct OPTIONS, expected {3 * len(ids):,}")
    figures.update(sweeps=sweeps, sweep_floor=floor, sweep_startup=startup, sweep_connected=connected,
                   sweep_timeouts=timeouts)


# --- search and what changed (issue 16) ----------------------------------------------------------------

def search_queries(info: dict, n: int) -> list[tuple[str, str, str]]:
    """n searches as operators type them: (kind, q, the unit code expected first, or "" when the
    search is ambiguous by nature), drawn from the seeded registration."""
    from sqlalchemy import select

    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.extensions import db
    from coordinator.text import fold
    from coordinator.units.models import Unit

    rows = db.session.execute(select(Endpoint.id, Endpoint.name, Endpoint.dial, Unit.code, Unit.name)
                              .join(Unit, Endpoint.unit_id == Unit.id)
                              .where(Endpoint.event_id == info["event_id"]).order_by(Endpoint.id)).all()
    people = {eid: (name, phone) for eid, name, phone in db.session.execute(
        select(Contact.endpoint_id, Contact.name, Contact.phone).join(Endpoint, Contact.endpoint_id == Endpoint.id)
        .where(Endpoint.event_id == info["event_id"], Contact.role == "technical"))}
    db.session.rollback()
    rng = random.Random(16)

    def national(e164):  # +84983000123 -> 0983000123
        return "0" + e164[3:]

    def written(e164, sep):  # "0983 000 123"
        n = national(e164)
        return sep.join((n[:4], n[4:7], n[7:]))

    kinds = [
        ("phone 0983 000 123", lambda r, p: (written(p[1], " "), r[3])),
        ("phone 0983.000.123", lambda r, p: (written(p[1], "."), r[3])),
        ("phone +84983000123", lambda r, p: (p[1], r[3])),
        ("unit name", lambda r, p: (r[4], "")),
        ("unit name, no diacritics", lambda r, p: (fold(r[4]), "")),
        ("unit code", lambda r, p: (r[3], r[3])),
        ("room name", lambda r, p: (fold(r[1]), "")),
        ("dial address", lambda r, p: (r[2].split("@")[-1].split("/")[-1], r[3])),
        ("contact name", lambda r, p: (p[0], "")),
        ("broad: phong hop", lambda r, p: ("phong hop", "")),
        ("broad: xa", lambda r, p: ("xa", "")),
    ]
    out = []
    for i in range(n):
        row = rng.choice(rows)
        kind, make = kinds[i % len(kinds)]
        q, expected = make(row, people.get(row[0], ("", "+84000000000")))
        out.append((kind, q, expected))
    return out


def search_phase(app, client: Client, info: dict, args, figures: dict, check) -> None:
    """(6) the search over HTTP (gunicorn), and in-process: the index's build, a search, the feed."""
    from coordinator.events.models import EventSession
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.status import feed, search as finder

    path = f"/api/v1/events/{SLUG}/search"
    queries = search_queries(info, args.search_requests)
    for kind, q, _ in queries[:4 * args.workers]:  # every worker builds its index once (timed below)
        client.http.get(client.base + path, params={"q": q}, timeout=60)
    samples, by_kind, wrong, sizes = [], {}, [], []
    for kind, q, expected in queries:
        started = time.perf_counter()
        response = client.http.get(client.base + path, params={"q": q}, timeout=60)
        took = time.perf_counter() - started
        samples.append(took)
        by_kind.setdefault(kind, []).append(took)
        items = response.json().get("items", []) if response.status_code == 200 else None
        if items is None or (expected and (not items or items[0]["unit_code"] != expected)):
            wrong.append((kind, q, response.status_code, items[:1] if items else items))
        else:
            sizes.append(len(items))
    line(f"(6) GET search, {len(samples)} queries (mixed)", f"{ms(samples)}   ({sum(sizes) / max(1, len(sizes)):.1f} "
         f"results on average, at most {finder.LIMIT})")
    for kind, values in by_kind.items():
        line(f"    {kind}", ms(values))
    check(not wrong, f"phone, code and dial searches find their endpoint first ({len(wrong)} wrong: {wrong[:3]})")

    with app.app_context():
        event = get_event(SLUG)
        session = db.session.get(EventSession, info["session_id"])
        builds = []
        for _ in range(3):
            finder.forget()
            started = time.perf_counter()
            finder.search(event, "0983 000 123", session=session)
            builds.append(time.perf_counter() - started)
        in_proc = []
        for kind, q, _ in queries:
            started = time.perf_counter()
            finder.search(event, q, session=session)
            in_proc.append(time.perf_counter() - started)
        feeds = []
        for _ in range(max(10, args.requests // 10)):
            started = time.perf_counter()
            feed.changes(event, session)
            feeds.append(time.perf_counter() - started)
        db.session.remove()
    line("    in-process: the first search after a change", f"{ms(builds)}   (the index built: "
         f"{len(info['ids']):,} endpoints and their contacts)")
    line("    in-process: status.search.search", ms(in_proc))
    line("    in-process: status.feed.changes (national)", ms(feeds))
    figures.update(search=samples, search_build=builds, search_ip=in_proc, feed_ip=feeds)


# --- broadcast SMS (issue 16) ---------------------------------------------------------------------------

BROADCAST_TEXT = "{event}: điểm cầu {endpoint} chưa kết nối. Đề nghị vào phòng họp ngay."


def broadcast_phase(app, info: dict, figures: dict, failures: list[str]) -> None:
    """(7) a broadcast to every technical contact in the country (one per endpoint: ~11,400 mobiles),
    in-process through the product's services: the preview (the audience, every recipient's text
    with its own endpoint's name, encoding and segments: `broadcasts.services.preview`, three times),
    the same as the API's dry run (`POST /api/v1/events/<slug>/broadcasts`, test client), and the
    enqueue (`send_prepared`: the broadcast row, one outbox row per mobile keyed
    `broadcast:<id>:<phone>`, the audit entry, the commit). Aims: preview under 1 s, enqueue under
    3 s. Checks: every technical mobile is a recipient once, the outbox holds exactly one row per
    recipient under the broadcast's keys; then Stop drops them all (timed), so nothing is sent."""
    from sqlalchemy import func, select

    from coordinator.auth.permissions import SystemActor
    from coordinator.broadcasts import services as broadcasts
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    actor = SystemActor("bench")
    data = {"session": None, "filter": {"roles": ["technical"]}, "template": BROADCAST_TEXT}
    headers = {"Authorization": f"Bearer {info['token']}"}
    with app.app_context():
        mobiles = db.session.scalar(select(func.count(func.distinct(Contact.phone))).join(
            Endpoint, Contact.endpoint_id == Endpoint.id).where(
            Endpoint.event_id == info["event_id"], Contact.role == "technical", Contact.phone_type == "mobile"))
        previews = []
        for _ in range(3):
            started = time.perf_counter()
            p = broadcasts.preview(get_event(SLUG), data, actor)
            previews.append(time.perf_counter() - started)
            db.session.rollback()
        line("(7) broadcast preview, every technical contact", f"min {min(previews):.2f} s  max {max(previews):.2f} s  "
             f"({len(p.recipients):,} recipients, {len(p.audience.unreachable):,} unreachable, {p.encoding}, "
             f"{p.segments} segments at most, {p.segments_total:,} in all)")
        if len(p.recipients) != mobiles:
            failures.append(f"broadcast: {len(p.recipients):,} recipients, expected {mobiles:,} technical mobiles")
        db.session.remove()
    client = app.test_client()
    started = time.perf_counter()
    response = client.post(f"/api/v1/events/{SLUG}/broadcasts", headers=headers, json={**data, "dry_run": True})
    dry = time.perf_counter() - started
    line("    the API's dry run (test client)", f"{dry:.2f} s  ({response.status_code}, "
         f"{response.get_json().get('recipients', 0):,} recipients)")
    if response.status_code != 200:
        failures.append(f"broadcast dry run: {response.status_code} {response.get_json()}")
    with app.app_context():
        p = broadcasts.preview(get_event(SLUG), data, actor)
        started = time.perf_counter()
        b = broadcasts.send_prepared(p, actor)
        enqueue = time.perf_counter() - started
        prefix = broadcasts.key_prefix(b.id)
        rows, keys = db.session.execute(select(func.count(), func.count(func.distinct(OutboxMessage.recipient)))
                                        .where(OutboxMessage.key.startswith(prefix))).one()
        line("    enqueue (send_prepared: rows, audit, commit)", f"{enqueue:.2f} s  ({b.recipients:,} SMS queued, "
             f"{rows:,} outbox rows, {keys:,} distinct numbers, {enqueue / max(1, b.recipients) * 1e6:.0f} µs/SMS)")
        if not (rows == keys == b.recipients == len(p.recipients)):
            failures.append(f"broadcast: {rows:,} rows, {keys:,} numbers, {b.recipients:,} queued, "
                            f"{len(p.recipients):,} recipients")
        started = time.perf_counter()
        dropped = broadcasts.stop(b, actor)
        stop = time.perf_counter() - started
        line("    stop (every queued SMS dropped)", f"{stop:.2f} s  ({dropped:,} dropped)")
        if dropped != b.recipients:
            failures.append(f"broadcast stop: {dropped:,} dropped of {b.recipients:,}")
        db.session.remove()
    figures.update(broadcast_preview=min(previews), broadcast_preview_max=max(previews), broadcast_dry_run=dry,
                   broadcast_enqueue=enqueue, broadcast_stop=stop, broadcast_recipients=len(p.recipients))
    line("    aims", f"preview {max(previews):.2f} s (< 1 s), enqueue {enqueue:.2f} s (< 3 s)")


# --- one database ------------------------------------------------------------------------------------

def run(label: str, url: str, args, summary: list[dict], failures: list[str]) -> None:
    from coordinator import create_app
    from coordinator.extensions import db

    print(f"\n== {label} ==", flush=True)
    figures: dict = {"database": label}
    mine: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"    check: {what}: {'ok' if ok else 'MISMATCH'}")
        if not ok:
            mine.append(what)

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        info = setup(args)
        expected = expected_rollup(info)
        check(info["events"] == 3 * len(info["ids"]), f"the seed wrote 3 events per endpoint ({info['events']:,})")
        n_endpoints = len(info["ids"])

        server = Gunicorn(url, args.workers)
        try:
            line("service", f"gunicorn -w {args.workers} (sync workers) on {server.base}; client: this process "
                 f"({os.cpu_count()} cores shared)")
            client = Client(server.base, info["token"])
            rollup_path = f"/api/v1/events/{SLUG}/status"
            unit_path = f"{rollup_path}?unit={info['province']}"

            # (1) the baseline
            health, _ = latencies(client, "/healthz", args.requests, 200, failures=mine)
            line("(1) GET /healthz (SELECT 1), one client", ms(health))

            # (2) the national roll-up
            full, response = latencies(client, rollup_path, args.requests, 200, failures=mine)
            body = response.json()
            etag = response.headers.get("ETag")
            line("(2) GET national roll-up, computed", f"{ms(full)}   ({len(response.content) / 1024:.0f} KiB, "
                 f"{len(body.get('provinces', []))} tiles)")
            total = body.get("total") or {}
            check(total.get("endpoints") == n_endpoints and total.get("counts") == expected
                  and sum(t["endpoints"] for t in body["provinces"]) == n_endpoints,
                  f"roll-up totals match the database ({total.get('counts')})")
            not_modified, response = latencies(client, rollup_path, args.requests, 304, {"If-None-Match": etag},
                                               failures=mine)
            line("    the same with its ETag (304)", ms(not_modified))
            check(response.status_code == 304 and response.headers.get("ETag") == etag, "304 with the same ETag")

            # (3) the largest province
            unit, response = latencies(client, unit_path, args.requests, 200, failures=mine)
            rows = response.json().get("endpoints", [])
            line(f"(3) GET province {info['province']} ({info['province_name']})",
                 f"{ms(unit)}   ({len(rows):,} endpoints, {len(response.content) / 1024:.0f} KiB)")
            check(len(rows) == info["province_endpoints"],
                  f"the province view lists its {info['province_endpoints']:,} endpoints")
            figures.update(health=health, full=full, not_modified=not_modified, unit=unit,
                           province=f"{info['province']} ({info['province_endpoints']:,} endpoints)")

            search_phase(app, client, info, args, figures, check)

            # (4) ingest, and throughput of the baseline and of the 304 poll with the same threads
            ids = info["ids"]
            rng = random.Random(7)
            order = ids[:]
            rng.shuffle(order)

            def state_for(k: int) -> str:
                x = (k * 2654435761 % 1000) / 1000
                return "connected" if x < 0.9 else "degraded" if x < 0.98 else "failed"

            threads = args.threads
            is_pg = url.startswith("postgresql")

            def costs(r: dict, per: int, what: str) -> None:
                per = max(1, per)
                pg = f", postgres {r['pg_cpu'] / per * 1000:.2f}" if is_pg else ""
                line("", f"CPU per {what}: gunicorn {r['server_cpu'] / per * 1000:.2f} ms{pg}, client "
                     f"{r['client_cpu'] / per * 1000:.2f} ms; latency {ms(r['latencies'])}")

            h = load(server, info["token"], threads, args.seconds, lambda c, t, i: (c.get("/healthz").status_code, 1))
            line(f"(4) /healthz, {threads} threads", f"{h['rate']:8,.0f} requests/s")
            costs(h, h["done"], "request")
            polls = load(server, info["token"], threads, args.seconds,
                         lambda c, t, i: (c.get(rollup_path, {"If-None-Match": etag}).status_code, 1))
            line(f"    roll-up 304 polls, {threads} threads", f"{polls['rate']:8,.0f} requests/s")
            costs(polls, polls["done"], "request")
            check(set(polls["statuses"]) == {304}, f"every poll answered 304 ({polls['statuses']})")

            before = count_events()

            def single(c, t, i):
                eid = order[(t + i * threads) % len(order)]
                r = c.post(f"/api/v1/endpoints/{eid}/checks",
                           {"state": state_for(t + i * threads), "audio": True, "video": True, "note": ""})
                return r.status_code, 1

            s = load(server, info["token"], threads, args.seconds, single)
            grew = count_events() - before
            line(f"    single check-ins POST, {threads} threads", f"{s['item_rate']:8,.0f} checks/s")
            costs(s, s["done"], "check")
            check(set(s["statuses"]) == {201} and grew == s["done"],
                  f"{s['done']:,} checks sent, all 201 ({s['statuses']}), status_events grew by {grew:,}")

            size = min(args.batch_size, len(ids))
            before = count_events()

            def batch(c, t, i):
                k = (t + i * threads) * size
                chunk = [order[(k + j) % len(order)] for j in range(size)]
                chunk = list(dict.fromkeys(chunk))
                r = c.post(f"/api/v1/events/{SLUG}/checks",
                           {"checks": [{"endpoint_id": e, "state": state_for(k + j), "audio": True, "video": True}
                                       for j, e in enumerate(chunk)]})
                return r.status_code, len(chunk)

            b = load(server, info["token"], threads, args.seconds, batch)
            grew = count_events() - before
            line(f"    batch check-ins POST ({size}/request), {threads} thr.", f"{b['item_rate']:8,.0f} checks/s "
                 f"({b['done']} requests)")
            costs(b, b["items"], "check")
            check(set(b["statuses"]) == {201} and grew == b["items"],
                  f"{b['items']:,} checks sent in {b['done']} requests, all 201 ({b['statuses']}), "
                  f"status_events grew by {grew:,}")
            figures.update(h_rate=h["rate"], h_cpu=h["server_cpu"] / max(1, h["done"]), poll_rate=polls["rate"],
                           poll_cpu=polls["server_cpu"] / max(1, polls["done"]), single_rate=s["item_rate"],
                           single_cpu=s["server_cpu"] / max(1, s["done"]), single_lat=s["latencies"],
                           h_lat=h["latencies"], batch_rate=b["item_rate"],
                           batch_cpu=b["server_cpu"] / max(1, b["items"]), threads=threads)

            # The roll-up again, after ingest (more events, more incidents): the figure operators see.
            full2, _ = latencies(client, rollup_path, args.requests // 2 or 1, 200, failures=mine)
            health2, _ = latencies(client, "/healthz", args.requests // 2 or 1, 200, failures=mine)
            line("    roll-up after the ingest", f"{ms(full2)}   (/healthz now: {ms(health2)})")
            figures.update(full2=full2, health2=health2)

            # In-process, for the breakdown.
            in_process(app, info, args, figures)
        finally:
            server.stop()

        # (5) the sweep, as an operator runs it.
        sweep_phase(url, info, args, figures, mine)
        broadcast_phase(app, info, figures, mine)  # (7)
        db.session.remove()
        db.engine.dispose()
    summary.append(figures)
    print_summary([figures], args)
    failures.extend(f"{label}: {m}" for m in mine)


def print_summary(summary: list[dict], args) -> None:
    def lat(key):
        return lambda f: f"{pct(f[key], 50) * 1000:.1f} / {pct(f[key], 95) * 1000:.1f} ms" if key in f else "-"

    rows = [
        ("/healthz p50 / p95 (baseline)", lat("health"), "", ""),
        ("roll-up computed p50 / p95", lat("full"), lat("health"), "p95 < 100 ms"),
        ("roll-up computed, after ingest", lat("full2"), lat("health2"), "p95 < 100 ms"),
        ("roll-up 304 (ETag) p50 / p95", lat("not_modified"), lat("health"), ""),
        ("largest province view p50 / p95", lat("unit"), lat("health"), ""),
        ("  (province)", lambda f: f.get("province", "-"), "", ""),
        ("in-process rollup() p50 / p95", lat("ip_rollup"), "", ""),
        ("in-process GET roll-up p50 / p95", lat("ip_get_rollup"), "", ""),
        ("in-process GET province p50 / p95", lat("ip_get_unit"), "", ""),
        ("single check-ins/s", lambda f: f"{f['single_rate']:,.0f}/s" if "single_rate" in f else "-",
         lambda f: f"{f['h_rate']:,.0f} req/s" if "h_rate" in f else "-", ">= 1,000/s"),
        ("  server CPU per request", lambda f: f"{f['single_cpu'] * 1000:.2f} ms" if "single_cpu" in f else "-",
         lambda f: f"{f['h_cpu'] * 1000:.2f} ms" if "h_cpu" in f else "-", ""),
        ("  latency under load p50 / p95", lat("single_lat"), lat("h_lat"), ""),
        (f"batch check-ins/s ({args.batch_size}/request)",
         lambda f: f"{f['batch_rate']:,.0f}/s" if "batch_rate" in f else "-",
         lambda f: f"{f['h_rate']:,.0f} req/s" if "h_rate" in f else "-", ">= 1,000/s"),
        ("  server CPU per check", lambda f: f"{f['batch_cpu'] * 1000:.2f} ms" if "batch_cpu" in f else "-", "", ""),
        ("roll-up 304 polls/s", lambda f: f"{f['poll_rate']:,.0f}/s" if "poll_rate" in f else "-",
         lambda f: f"{f['h_rate']:,.0f} req/s" if "h_rate" in f else "-", ""),
        ("probe sweep 1, end to end", lambda f: f"{f['sweeps'][0]['wall']:.2f} s" if "sweeps" in f else "-",
         lambda f: f"floor {f['sweep_floor']:.1f} s" if "sweep_floor" in f else "-", "< 15 s"),
        ("  as the command reports it", lambda f: f"{f['sweeps'][0].get('reported', float('nan')):.2f} s"
         if "sweeps" in f else "-", "", ""),
        ("  connected / timeout", lambda f: f"{f['sweep_connected']:,} / {f['sweep_timeouts']:,}"
         if "sweep_connected" in f else "-", "", "~80 % / ~20 %"),
        ("  the command's start-up alone", lambda f: f"{f['sweep_startup']:.2f} s" if "sweep_startup" in f else "-",
         "", ""),
    ] + [(f"sweep {n + 1}: engine / record_probes",
          lambda f, n=n: f"{f['sweeps'][n]['engine']:.2f} / {f['sweeps'][n]['record']:.2f} s"
          if len(f.get("sweeps", [])) > n else "-",
          lambda f, n=n: f"total {f['sweeps'][n]['wall']:.2f} s, {f['sweeps'][n]['incidents']:,} inc."
          if len(f.get("sweeps", [])) > n else "-", "") for n in range(3)]
    rows += [
        ("search p50 / p95 (mixed queries)", lat("search"), lat("health"), "p95 < 50 ms"),
        ("  first search after a change (in-proc.)", lat("search_build"), "", ""),
        ("  in-process search p50 / p95", lat("search_ip"), "", ""),
        ("feed of what changed, in-process", lat("feed_ip"), "", ""),
    ]
    for f in summary:
        threads = f.get("threads", args.threads)
        print(f"\n== summary: {f['database']} (gunicorn -w {args.workers}; throughput with {threads} client "
              f"threads for {args.seconds:g} s) ==")
        print(f"{'figure':<40}{'product':>26}{'/healthz (same run)':>26}   aim")
        for name, value, base, aim in rows:
            v = value(f) if callable(value) else value
            b = base(f) if callable(base) else base
            print(f"{name:<40}{v:>26}{b:>26}   {aim}")


def main() -> None:
    parser = national_parser(__doc__)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1),
                        help="gunicorn workers (default 2 x cores)")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per latency figure")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput phase")
    parser.add_argument("--threads", type=int, default=8, help="client threads of the throughput phases")
    parser.add_argument("--batch-size", type=int, default=500, help="checks per batch POST (at most 1,000)")
    parser.add_argument("--ports", type=int, default=50, help="UDP ports of the SIP farm (a fifth silent)")
    parser.add_argument("--probe-timeout", type=float, default=2.0, help="PROBE_TIMEOUT_SECONDS")
    parser.add_argument("--probe-concurrency", type=int, default=500, help="PROBE_CONCURRENCY")
    parser.add_argument("--search-requests", type=int, default=440,
                        help="sequential searches of the search phase (a mix of 11 kinds)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the roll-up, its 304, the province view and a single check in-process")
    run_national(parser.parse_args(), run, print_both)


def print_both(summary: list[dict], args) -> None:
    """After both databases: their main figures side by side (each run printed its own table)."""
    if len(summary) < 2:
        return
    print("\n== both databases ==")
    for f in summary:
        def p50_95(key):
            return f"{pct(f[key], 50) * 1000:.1f}/{pct(f[key], 95) * 1000:.1f} ms" if key in f else "-"

        sweep = f"{f['sweeps'][0]['wall']:.2f} s" if f.get("sweeps") else "-"
        print(f"{f['database']:<16} healthz {p50_95('health')}; roll-up {p50_95('full')}; "
              f"304 {p50_95('not_modified')}; province {p50_95('unit')}; "
              f"checks {f.get('single_rate', 0):,.0f}/s single, {f.get('batch_rate', 0):,.0f}/s batch "
              f"(healthz {f.get('h_rate', 0):,.0f} req/s); sweep 1 {sweep}")


if __name__ == "__main__":
    main()
