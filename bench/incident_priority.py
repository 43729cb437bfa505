"""Benchmark: an incident SMS overtakes a queue of reminders. With --reminders SMS reminders queued
(default 20,000) and the real dispatcher (`flask --app app outbox dispatch`, --processes of them,
each its own process) sending them through the Twilio backend to a local fake Twilio at
SMS_RATE_PER_SECOND=--rate (default 10, the product's default; SMS_CONCURRENCY the product's
default unless --concurrency), an operator's "failed" check opens an incident every few seconds
and its SMS (priority URGENT) must reach the fake within seconds, not after the queue. On a fresh
SQLite file and, when reachable, a fresh PostgreSQL schema.

    .venv/bin/python bench/incident_priority.py [--pg URL] [--only sqlite|pg] [--limit N]
                                                [--reminders 20000] [--rate 10] [--samples 10]
                                                [--processes 1] [--every 3] [--concurrency N]
                                                [--latency-ms MS]

Setup: the 2024 national list (11,368 endpoints, two contacts each with distinct mobiles; --limit N
keeps the first N units) imported into nd49, its connectivity test moved to have started 10
minutes ago (inside the escalation window: a failed check opens an incident), the event
published (its invitation emails marked sent: not part of this bench), the plan's reminder rules
paused and one SMS rule to all contacts created (as bench/sms_fanout.py). The fake Twilio
(tests/fakes/twilio_server.py) runs in a child process and stamps every accepted message with its
arrival time (time.time(), the same clock as this process's).

  (1) idle: the dispatcher(s) running with nothing queued. --samples times, every --every seconds
      (±30 %, so that the samples fall anywhere in the dispatcher's poll cycle), this process
      records an operator's "failed" check on a commune endpoint (a new province each time while
      there are provinces left) through `coordinator.status.services.record` and commits; the
      incident's SMS to the endpoint's technical contact, and the province's digest when one is
      due at once, are queued with priority URGENT in that transaction. Latency = the fake's
      arrival of (recipient, text) − the moment just after the commit (also printed: from the
      row's created_at, which is set inside `record` before its commit).
  (2) busy: the reminder rule fired (`reminders.services.enqueue_due`, one commit, as the
      scheduler does), trimmed to --reminders (the rows beyond set aside as superseded in the next
      transaction, before the dispatcher reaches them) or topped up with synthetic reminder rows;
      once the dispatcher is sending them, --samples incidents as in (1). Then the reminders still
      pending are set aside (superseded) so that the dispatchers finish their batch and go idle,
      and they are stopped (SIGINT).
Printed per database: latency p50 / p95 / max (idle and busy; the endpoint's own incident SMS and
the digests separately, and all together), where the busy latency went (the rest of the batch in
progress when the incident was queued, then the gap from that batch's last arrival to the
incident's: recording, claiming, composing, the rate limiter's spacing), the reminders still
pending at each incident's arrival, the reminders handed over between its queuing and its
arrival, and the reminder throughput meanwhile (msgs/s, against --processes x --rate: the rate
limit is per process).

Prints figures; asserts nothing about time (the aim: within 2 s of being queued, with 20,000
reminders queued). Checks, and exits 1 when one fails: every urgent SMS queued reached the fake
exactly once and its row is sent with the fake's SID; no reminder reached the fake twice, and the
fake holds exactly the reminders the outbox marks sent (same SIDs); every busy incident SMS
arrived while reminders were still pending (it overtook the queue); the fake answered every
request with 201; the dispatchers were running throughout.
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SECRET_KEY", "bench")

from harness import national_parser, prepare_national, run_national  # noqa: E402
from import_national import national_rows  # noqa: E402
from sms_fanout import ACCOUNT_SID, AUTH_TOKEN, SENDER, TEMPLATE, FakeTwilioProcess  # noqa: E402

WAIT_SECONDS = 120.0  # how long one sample waits for its SMS before it counts as lost

# --- the fake Twilio, stamping every accepted message with its arrival -----------------------------

_FAKE = r"""
import collections, json, sys, time
sys.path.insert(0, sys.argv[1])
from fakes.twilio_server import FakeTwilio  # TCP_NODELAY on (see its _Handler)


class Stamped(FakeTwilio):
    def _create(self, form):
        with self._lock:  # re-entrant: the message appended is this request's
            at = time.time()
            answer = super()._create(form)
            if answer[0] == 201:
                self.messages[-1]["received"] = at
            return answer


tw = Stamped(sys.argv[2], sys.argv[3]).start()
print(json.dumps({"base_url": tw.base_url}), flush=True)
for command in sys.stdin:
    name, _, arg = command.strip().partition(" ")
    out = {}
    if name == "delay":
        tw.delay = float(arg)
    elif name == "since":  # the accepted messages from index N on
        with tw._lock:
            out = {"messages": [[m["sid"], m["to"], m["body"], m["received"]] for m in tw.messages[int(arg):]]}
    elif name == "requests":
        with tw._lock:
            out = {"requests": len(tw.requests),
                   "statuses": collections.Counter(str(r["status"]) for r in tw.requests)}
    elif name == "quit":
        break
    print(json.dumps(out), flush=True)
tw.stop()
"""


class StampedTwilio(FakeTwilioProcess):
    """sms_fanout's fake-in-a-child-process, with a script that stamps arrivals."""

    def __init__(self):
        self._process = subprocess.Popen([sys.executable, "-c", _FAKE, str(ROOT / "tests"), ACCOUNT_SID, AUTH_TOKEN],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = self._process.stdout.readline()
        if not first:
            self._process.kill()
            raise RuntimeError("the fake Twilio did not start")
        self.base_url = json.loads(first)["base_url"]
        self.messages: list[tuple[str, str, str, float]] = []  # (sid, to, body, received), arrival order
        self.where: dict[tuple[str, str], list[int]] = {}  # (to, body) -> indices in messages

    def __enter__(self) -> "StampedTwilio":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def poll(self) -> int:
        new = self.ask(f"since {len(self.messages)}")["messages"]
        for sid, to, body, received in new:
            self.where.setdefault((to, body), []).append(len(self.messages))
            self.messages.append((sid, to, body, received))
        return len(new)


# --- the dispatcher processes ----------------------------------------------------------------------------

class Dispatchers:
    """N × `python -m flask --app app outbox dispatch` (the continuous dispatcher), as child processes."""

    def __init__(self, n: int, env: dict, logdir: Path):
        self.logs = [logdir / f"dispatcher-{i}.log" for i in range(n)]
        self.processes = []
        for path in self.logs:
            with open(path, "w") as log:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "app", "outbox", "dispatch"],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))

    def wait_ready(self, timeout: float = 60) -> None:
        """Until every one has printed its first line (the app is created; its loop starts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("a dispatcher exited at start:\n" + self.tail())
            if all("dispatching every" in path.read_text() for path in self.logs):
                return
            time.sleep(0.05)
        raise RuntimeError("the dispatchers did not start:\n" + self.tail())

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def stop(self) -> list[int | None]:
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # KeyboardInterrupt: the CLI returns
        codes = []
        for p in self.processes:
            try:
                codes.append(p.wait(timeout=20))
            except subprocess.TimeoutExpired:
                p.kill()
                codes.append(p.wait())
        return codes

    def errors(self) -> list[str]:
        return [line for path in self.logs for line in path.read_text().splitlines()
                if " ERROR " in line or "Traceback" in line]

    def tail(self, n: int = 15) -> str:
        return "\n".join(f"  [{path.name}] {line}" for path in self.logs
                         for line in path.read_text().splitlines()[-n:])


# --- helpers ----------------------------------------------------------------------------------------------------

def line(label: str, value: str) -> None:
    print(f"{label:<50} {value}", flush=True)


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def lat(samples: list[float]) -> str:
    if not samples:
        return "-"
    return (f"p50 {pct(samples, 50) * 1000:7.0f} ms  p95 {pct(samples, 95) * 1000:7.0f} ms  "
            f"max {max(samples) * 1000:7.0f} ms  (n={len(samples)})")


# --- setup --------------------------------------------------------------------------------------------------------

def setup(limit: int | None) -> dict:
    """Fresh schema, national list, connectivity test under way, event published (invitation emails
    marked sent), plan rules paused and one SMS reminder rule to everybody (not fired yet)."""
    from sqlalchemy import distinct, func, select, update

    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.events.services import move_session, publish
    from coordinator.extensions import db
    from coordinator.outbox.models import PENDING, SENT, OutboxMessage
    from coordinator.reminders import rules as reminder_rules
    from coordinator.reminders.services import plan
    from coordinator.imports import endpoints_io
    from coordinator.status.services import current_session, in_window
    from coordinator.timeutil import utcnow

    started = time.perf_counter()
    event, organizer, read, _rows = prepare_national(limit, national_rows)
    result = endpoints_io.import_endpoints(event, organizer, read, filename="national.csv")
    now = utcnow().replace(microsecond=0)
    # Moved while still a draft (no invitation updates), then published: the test is under way.
    move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=3))
    publish(event, actor=SystemActor("bench"))
    emails = db.session.execute(update(OutboxMessage).where(OutboxMessage.channel == "email",
                                                            OutboxMessage.status == PENDING)
                                .values(status=SENT), execution_options={"synchronize_session": False}).rowcount
    db.session.commit()
    session = current_session(event)
    assert session is not None and session.kind == "connectivity_test" and in_window(session, utcnow()), session

    for rule in list(event.reminder_rules):
        reminder_rules.update_rule(rule, {"active": False})
    rule = reminder_rules.create_rule(event, {"anchor": "session:main", "offset_seconds": -86400, "channel": "sms",
                                              "audience": "all_contacts", "template": TEMPLATE})
    planned = next(p for p in plan(event) if p.rule.id == rule.id)
    fire_at = planned.fire_at + timedelta(minutes=1)
    assert fire_at < planned.anchor.at
    mobiles = db.session.execute(
        select(func.count(Contact.id), func.count(distinct(Contact.phone))).join(Endpoint)
        .where(Endpoint.event_id == event.id, Contact.phone_type == "mobile")).one()
    pending = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                .where(OutboxMessage.status == PENDING))
    info = {"event_id": event.id, "session_id": session.id, "rule_id": rule.id, "fire_at": fire_at,
            "endpoints": result.endpoints.created, "mobiles": mobiles[1], "emails": emails, "pending": pending,
            "seconds": time.perf_counter() - started}
    db.session.commit()
    db.session.remove()
    return info


def incident_targets(event_id: int, n: int) -> list[int]:
    """Commune endpoints with a technical mobile contact: one per province first (so that each
    incident also gets its province's first digest, due at once), then the others."""
    from sqlalchemy import select

    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.extensions import db
    from coordinator.units.models import Unit

    rows = db.session.execute(
        select(Endpoint.id, Unit.path).join(Unit, Endpoint.unit_id == Unit.id)
        .join(Contact, Contact.endpoint_id == Endpoint.id)
        .where(Endpoint.event_id == event_id, Unit.tier == "commune", Contact.role == "technical",
               Contact.phone_type == "mobile").order_by(Unit.path)).all()
    first, rest, seen, provinces = [], [], set(), set()
    for eid, path in rows:
        if eid in seen:
            continue
        seen.add(eid)
        province = path.strip("/").split("/")[1]
        (rest if province in provinces else first).append(eid)
        provinces.add(province)
    targets = (first + rest)[:n]
    if len(targets) < n:
        raise RuntimeError(f"only {len(targets)} commune endpoints with a technical mobile; {n} needed")
    return targets


def queue_reminders(info: dict, n: int) -> dict:
    """Fire the reminder rule as the scheduler would (one commit), then trim the queue to n (the
    newest set aside as superseded, before the dispatcher reaches them: it takes the oldest first)
    or top it up with synthetic reminder rows."""
    from sqlalchemy import select, update

    from coordinator.extensions import db
    from coordinator.outbox import services as outbox
    from coordinator.outbox.models import PENDING, SUPERSEDED, OutboxMessage
    from coordinator.reminders.services import enqueue_due

    started = time.perf_counter()
    runs = enqueue_due(info["fire_at"])
    fired = sum(r.queued for r in runs)
    rule_runs = [r.rule_id for r in runs]
    seconds = time.perf_counter() - started
    ids = list(db.session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.kind == "reminder", OutboxMessage.channel == "sms", OutboxMessage.status == PENDING)
        .order_by(OutboxMessage.id)))
    aside = ids[n:]
    for i in range(0, len(aside), 500):
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(aside[i:i + 500]),
                                                       OutboxMessage.status == PENDING)
                           .values(status=SUPERSEDED), execution_options={"synchronize_session": False})
    extra = max(0, n - len(ids))
    if extra:
        outbox.enqueue([{"key": f"bench-reminder:{i}", "channel": "sms", "kind": "reminder",
                         "event_id": info["event_id"], "recipient": f"+8497{i:07d}",
                         "payload": {"body": f"Nhắc lịch (bench) số {i}: kiểm tra kết nối lúc 14:00.", "name": "",
                                     "lang": "vi"}} for i in range(extra)])
    db.session.commit()
    db.session.remove()
    return {"fired": fired, "rule_runs": rule_runs, "enqueue_s": seconds,
            "aside": len(aside), "synthetic": extra, "queued": min(n, len(ids)) + extra}


def one_incident(info: dict, endpoint_id: int, fake: StampedTwilio, dispatchers: Dispatchers) -> dict:
    """An operator's "failed" check on the endpoint, committed; then wait for its urgent SMS at the fake."""
    from sqlalchemy import func, select

    from coordinator.endpoints.models import Endpoint
    from coordinator.events.models import EventSession
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.status.services import URGENT, record

    before = db.session.scalar(select(func.max(OutboxMessage.id))) or 0
    endpoint = db.session.get(Endpoint, endpoint_id)
    session = db.session.get(EventSession, info["session_id"])
    db.session.commit()  # no read transaction left open across the write
    started = time.time()
    record(endpoint, session, "operator", "failed", audio=False, video=False,
           note="bench: mất hình, mất tiếng")  # commits
    committed = time.time()
    rows = db.session.execute(select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.recipient,
                                     OutboxMessage.payload, OutboxMessage.created_at, OutboxMessage.priority)
                              .where(OutboxMessage.id > before, OutboxMessage.priority >= URGENT)
                              .order_by(OutboxMessage.id)).all()
    db.session.commit()
    db.session.remove()
    messages = [{"id": r.id, "key": r.key, "what": r.key.split(":")[0], "to": r.recipient, "body": r.payload["body"],
                 "created": r.created_at.timestamp(), "received": None, "index": None} for r in rows]
    deadline = time.monotonic() + WAIT_SECONDS
    while any(m["received"] is None for m in messages) and time.monotonic() < deadline:
        fake.poll()
        for m in messages:
            if m["received"] is None and (m["to"], m["body"]) in fake.where:
                m["index"] = fake.where[(m["to"], m["body"])][0]
                m["received"] = fake.messages[m["index"]][3]
        if not dispatchers.alive():
            break
        time.sleep(0.01)
    return {"endpoint": endpoint_id, "started": started, "committed": committed, "record_s": committed - started,
            "messages": messages}


def sample_phase(info, targets, args, fake, dispatchers, rng) -> list[dict]:
    samples = []
    next_at = time.monotonic()
    for eid in targets:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at = time.monotonic() + args.every * rng.uniform(0.7, 1.3)
        samples.append(one_incident(info, eid, fake, dispatchers))
        got = samples[-1]["messages"]
        print(f"    … incident on endpoint {eid}: " + ", ".join(
            f"{m['what']} {(m['received'] - samples[-1]['committed']) * 1000:.0f} ms" if m["received"] else
            f"{m['what']} NOT RECEIVED" for m in got), file=sys.stderr, flush=True)
    return samples


def latencies(samples: list[dict], what: str | None = None, since: str = "committed") -> list[float]:
    out = []
    for s in samples:
        for m in s["messages"]:
            if m["received"] is not None and (what is None or m["what"] == what):
                out.append(m["received"] - (s["committed"] if since == "committed" else m["created"]))
    return out


# --- the benchmark ---------------------------------------------------------------------------------------------

def run(label: str, url: str, args, summary: list[dict], failures: list[str]) -> None:
    from sqlalchemy import func, select, update

    from coordinator import create_app
    from coordinator.extensions import db
    from coordinator.outbox import services as outbox
    from coordinator.outbox.models import PENDING, SENDING, SENT, SUPERSEDED, OutboxMessage

    print(f"\n== {label} ==", flush=True)
    figures = {"database": label}

    def check(ok: bool, what: str) -> None:
        print(f"    check: {what}: {'ok' if ok else 'MISMATCH'}", flush=True)
        if not ok:
            failures.append(f"{label}: {what}")

    rng = random.Random(10)
    with tempfile.TemporaryDirectory(prefix="incident-priority-") as tmp, StampedTwilio() as fake:
        tmp = Path(tmp)
        overrides = {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                     "TWILIO_FROM": SENDER, "TWILIO_MESSAGING_SERVICE_SID": "", "TWILIO_API_BASE_URL": fake.base_url,
                     "SMS_RATE_PER_SECOND": str(float(args.rate)), "MAIL_FILE_DIR": str(tmp / "mail"),
                     "CACHE_DIR": str(tmp / "cache")}
        if args.concurrency:
            overrides["SMS_CONCURRENCY"] = str(args.concurrency)
        env = {**os.environ, **overrides, "DATABASE_URL": url, "SECRET_KEY": os.environ["SECRET_KEY"],
               "PYTHONUNBUFFERED": "1"}
        env.pop("TWILIO_REGION", None)
        env.pop("TWILIO_EDGE", None)
        config = {"SQLALCHEMY_DATABASE_URI": url, **overrides, "SMS_RATE_PER_SECOND": float(args.rate)}
        if args.concurrency:
            config["SMS_CONCURRENCY"] = args.concurrency
        app = create_app(config)
        if args.latency_ms:
            fake.ask(f"delay {args.latency_ms / 1000}")
        dispatchers = None
        with app.app_context():
            info = setup(args.limit)
            line("setup (schema, units, import, test under way, publish)",
                 f"{info['seconds']:.1f} s: {info['endpoints']:,} endpoints, {info['mobiles']:,} distinct mobiles; "
                 f"{info['emails']:,} invitation emails marked sent; {info['pending']} messages pending")
            c = app.config
            sms_claim = dict(outbox.lanes())["sms"]
            line("dispatcher", f"{args.processes} × `flask --app app outbox dispatch`, OUTBOX_POLL_SECONDS="
                 f"{c['OUTBOX_POLL_SECONDS']:g}, SMS_RATE_PER_SECOND={c['SMS_RATE_PER_SECOND']:g} (per process), "
                 f"SMS_CONCURRENCY={c['SMS_CONCURRENCY']}, SMS claim {sms_claim} messages"
                 + (f", fake latency {args.latency_ms:g} ms" if args.latency_ms else ""))
            targets = incident_targets(info["event_id"], 2 * args.samples)
            db.session.remove()
            try:
                dispatchers = Dispatchers(args.processes, env, tmp)
                dispatchers.wait_ready()
                time.sleep(1.5)  # past the first poll and the twilio client's first import (none: nothing due)

                # (1) idle
                idle = sample_phase(info, targets[:args.samples], args, fake, dispatchers, rng)
                line("(1) idle: incident SMS, from commit", lat(latencies(idle, "incident")))
                line("    idle: digest SMS, from commit", lat(latencies(idle, "digest")))
                line("    idle: all urgent SMS, from commit", lat(latencies(idle)))
                line("    idle: all urgent SMS, from the row's created_at", lat(latencies(idle, since="created")))
                line("    record() (the check, incident, outbox rows, commit)",
                     f"p50 {statistics.median(s['record_s'] for s in idle) * 1000:.0f} ms")

                # (2) busy
                fake.poll()
                base = len(fake.messages)
                q = queue_reminders(info, args.reminders)
                line("(2) reminders queued", f"{q['queued']:,} (the rule fired {q['fired']:,} in "
                     f"{q['enqueue_s']:.1f} s; {q['aside']:,} set aside, {q['synthetic']:,} synthetic added)")
                check(q["rule_runs"] == [info["rule_id"]], f"only the bench's rule fired ({q['rule_runs']})")
                ramp = time.monotonic() + 60
                while len(fake.messages) - base < 2 * sms_claim * args.processes and time.monotonic() < ramp:
                    fake.poll()
                    time.sleep(0.05)
                busy_started = time.time()
                busy = sample_phase(info, targets[args.samples:], args, fake, dispatchers, rng)
                fake.poll()
                busy_ended = time.time()
                running = dispatchers.alive()

                # Drain: the rest of the reminders set aside; the dispatchers finish their batch, then stop.
                left = db.session.execute(update(OutboxMessage).where(OutboxMessage.kind == "reminder",
                                                                      OutboxMessage.status == PENDING)
                                          .values(status=SUPERSEDED),
                                          execution_options={"synchronize_session": False}).rowcount
                db.session.commit()
                drain = time.monotonic() + 60
                while db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                        .where(OutboxMessage.status == SENDING)) and time.monotonic() < drain:
                    db.session.commit()
                    time.sleep(0.1)
                db.session.commit()
                time.sleep(0.5)
            finally:
                codes = dispatchers.stop() if dispatchers else []
            fake.poll()
            errors = dispatchers.errors()

            line("    busy: incident SMS, from commit", lat(latencies(busy, "incident")))
            line("    busy: digest SMS, from commit", lat(latencies(busy, "digest")))
            line("    busy: all urgent SMS, from commit", lat(latencies(busy)))
            line("    busy: all urgent SMS, from the row's created_at", lat(latencies(busy, since="created")))
            line("    record() (the check, incident, outbox rows, commit)",
                 f"p50 {statistics.median(s['record_s'] for s in busy) * 1000:.0f} ms")

            # Which fake messages are urgent (their (to, body) was queued by a sample), which reminders.
            urgent_pairs = {(m["to"], m["body"]) for s in idle + busy for m in s["messages"]}
            is_urgent = [(to, body) in urgent_pairs for _sid, to, body, _at in fake.messages]
            reminders_before = []  # reminders the fake had accepted before index i
            n = 0
            for flag in is_urgent:
                reminders_before.append(n)
                n += 0 if flag else 1
            reminder_arrivals = [m[3] for m, flag in zip(fake.messages, is_urgent) if not flag]

            # Where the busy latency went: the batch in progress, then the gap to the incident's arrival.
            in_batch, gap, handed, pending_at = [], [], [], []
            for s in busy:
                for m in s["messages"]:
                    if m["received"] is None:
                        continue
                    i = m["index"]
                    pending_at.append(q["queued"] - reminders_before[i])
                    handed.append(sum(1 for at in reminder_arrivals if s["committed"] < at < m["received"]))
                    if m["what"] != "incident" or i == 0:
                        continue
                    last = fake.messages[i - 1][3]
                    in_batch.append(max(0.0, last - s["committed"]))
                    gap.append(m["received"] - max(last, s["committed"]))
            if in_batch:
                line("    busy incident SMS: rest of the batch in progress",
                     f"median {statistics.median(in_batch) * 1000:.0f} ms, max {max(in_batch) * 1000:.0f} ms")
                line("    … then from the previous arrival to it",
                     f"median {statistics.median(gap) * 1000:.0f} ms, max {max(gap) * 1000:.0f} ms "
                     f"(limiter spacing {1000 / args.rate:.0f} ms)")
            if handed:
                line("    reminders handed over between queuing and arrival",
                     f"median {statistics.median(handed):.0f}, max {max(handed)} "
                     f"(one SMS claim is {sms_claim} per process)")
                line("    reminders still pending at each arrival", f"min {min(pending_at):,}, max {max(pending_at):,} "
                     f"of {q['queued']:,}")
            during = [at for at in reminder_arrivals if busy_started <= at <= busy_ended]
            busy_rate = len(during) / (busy_ended - busy_started) if busy_ended > busy_started else 0.0
            span = reminder_arrivals[-1] - reminder_arrivals[0] if len(reminder_arrivals) > 1 else 0.0
            overall = (len(reminder_arrivals) - 1) / span if span else 0.0
            line("    reminder throughput meanwhile", f"{busy_rate:.1f} msgs/s over {busy_ended - busy_started:.0f} s "
                 f"of samples; {overall:.1f} msgs/s first to last reminder ({len(reminder_arrivals):,} sent; "
                 f"configured {args.processes} × {args.rate:g}/s)")
            line("    reminders left when the samples ended", f"{left:,} (set aside to stop the dispatchers)")

            # Checks.
            sent_rows = {r.id: r for r in db.session.execute(
                select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.recipient, OutboxMessage.status,
                       OutboxMessage.provider_ref, OutboxMessage.priority, OutboxMessage.kind)
                .where(OutboxMessage.channel == "sms", OutboxMessage.status.in_((SENT, SENDING, PENDING))))}
            urgent = [m for s in idle + busy for m in s["messages"]]
            check(all(s["messages"] for s in idle + busy) and all(any(m["what"] == "incident" for m in s["messages"])
                                                               for s in idle + busy),
                  f"every failed check queued its incident SMS ({len(urgent)} urgent SMS for "
                  f"{len(idle) + len(busy)} checks)")
            counts = [len(fake.where.get((m["to"], m["body"]), [])) for m in urgent]
            check(all(c == 1 for c in counts),
                  f"every urgent SMS received exactly once (received {Counter(counts)} times)")
            check(all(m["id"] in sent_rows and sent_rows[m["id"]].status == SENT
                      and sent_rows[m["id"]].provider_ref == fake.messages[m["index"]][0]
                      for m in urgent if m["index"] is not None),
                  "every urgent row is sent, with the SID the fake gave it")
            reminder_pairs = Counter((to, body) for (_s, to, body, _a), flag in zip(fake.messages, is_urgent) if not flag)
            twice = sum(1 for c in reminder_pairs.values() if c > 1)
            check(twice == 0, f"no reminder sent twice ({len(reminder_pairs):,} distinct, {twice} more than once)")
            reminder_sids = {m[0] for m, flag in zip(fake.messages, is_urgent) if not flag}
            sent_reminders = {r.provider_ref for r in sent_rows.values() if r.kind == "reminder" and r.status == SENT}
            stuck = sum(1 for r in sent_rows.values() if r.status == SENDING)
            check(reminder_sids == sent_reminders and stuck == 0,
                  f"the fake holds exactly the reminders the outbox marks sent ({len(reminder_sids):,} received, "
                  f"{len(sent_reminders):,} rows sent, {stuck} rows still sending)")
            check(bool(pending_at) and min(pending_at) > 0,
                  "every busy incident SMS arrived while reminders were still pending (it overtook the queue)")
            statuses = fake.ask("requests")["statuses"]
            check(set(statuses) <= {"201"}, f"the fake answered every request with 201 ({statuses})")
            check(running and not errors, f"the dispatchers ran throughout, without errors (exit codes {codes}"
                  + (f"; {len(errors)} error lines, first: {errors[0]!r}" if errors else "") + ")")
            if not running or errors:
                print(dispatchers.tail())

            figures.update(queued=q["queued"], samples=len(busy), idle=latencies(idle), busy=latencies(busy),
                           idle_incident=latencies(idle, "incident"), busy_incident=latencies(busy, "incident"),
                           busy_rate=busy_rate, overall_rate=overall,
                           handed=max(handed) if handed else 0, pending_min=min(pending_at) if pending_at else 0)
            summary.append(figures)
            db.session.remove()
            db.engine.dispose()


def print_summary(summary: list[dict], args) -> None:
    if not summary:
        return
    print(f"\n== summary ({args.processes} dispatcher process(es), SMS_RATE_PER_SECOND={args.rate:g}) ==")

    def ms(key, q):
        return lambda f: f"{(pct(f[key], q) if q else max(f[key])) * 1000:.0f} ms" if f[key] else "-"

    rows = [("reminders queued", lambda f: f"{f['queued']:,}"),
            ("incidents per phase", lambda f: f"{f['samples']}"),
            ("idle: incident SMS p50", ms("idle_incident", 50)),
            ("idle: incident SMS p95", ms("idle_incident", 95)),
            ("idle: incident SMS max", ms("idle_incident", None)),
            ("busy: incident SMS p50", ms("busy_incident", 50)),
            ("busy: incident SMS p95", ms("busy_incident", 95)),
            ("busy: incident SMS max", ms("busy_incident", None)),
            ("busy: all urgent SMS (with digests) max", ms("busy", None)),
            ("reminders/s during the samples", lambda f: f"{f['busy_rate']:.1f}"),
            ("reminders handed over while waiting, max", lambda f: f"{f['handed']}"),
            ("reminders pending at arrival, min", lambda f: f"{f['pending_min']:,}")]
    width = 42
    print(f"{'':<{width}}" + "".join(f"{f['database']:>18}" for f in summary))
    for name, value in rows:
        print(f"{name:<{width}}" + "".join(f"{value(f):>18}" for f in summary))


def main() -> None:
    parser = national_parser(__doc__)
    parser.add_argument("--reminders", type=int, default=20000, help="SMS reminders queued (default 20000)")
    parser.add_argument("--rate", type=float, default=10.0, help="SMS_RATE_PER_SECOND (default 10)")
    parser.add_argument("--samples", type=int, default=10, help="incidents per phase (default 10)")
    parser.add_argument("--processes", type=int, default=1, help="dispatcher processes (default 1)")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between incidents, ±30 %% (default 3)")
    parser.add_argument("--concurrency", type=int, default=None, help="SMS_CONCURRENCY (default: the product's)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the fake's delay before each answer")
    run_national(parser.parse_args(), run, print_summary)


if __name__ == "__main__":
    main()
