"""Benchmark: an SMS reminder to everybody at national scale. The national list (2024 structure:
11,368 endpoints, two contacts each with distinct mobile numbers, ~22,700 people) is imported
into nd49 and the event published; one reminder rule (main session, -1 day, SMS, all contacts) is
fired and its ~22,700 messages are dispatched through the Twilio backend to a local fake Twilio,
on a fresh SQLite file and, when reachable, a fresh PostgreSQL schema.

    .venv/bin/python bench/sms_fanout.py [--pg URL] [--only sqlite|pg] [--limit N]
                                         [--concurrency N] [--rate R] [--rated-messages N]
                                         [--latency-ms MS] [--batch-size N]

Times
  (1) `reminders.services.enqueue_due` at an instant just after the rule's fire time (audience,
      one text per person with its confirmation link, one outbox row each, one commit), and the
      same call again (idempotent: it must queue nothing);
  (2a) `outbox.services.dispatch_due(channels=["sms"])` at an unlimited rate
      (SMS_RATE_PER_SECOND=0) over SMS_CONCURRENCY=--concurrency connections, for everything but
      the last --rated-messages: the product's own ceiling, in messages/s and in wall time and CPU
      time of this process per message (with a breakdown: claiming, sending, recording);
  (2b) the remaining --rated-messages at SMS_RATE_PER_SECOND=--rate: the achieved rate, seen by
      the product (sent / wall time) and by the fake (the arrivals' spacing).
  (3) the twilio client alone (one thread, 1,000 messages.create): the library's share of (2a)'s
      CPU per message, so that the rest is the product's own.
The fake Twilio (tests/fakes/twilio_server.py) runs in a separate process, so it stays off this
process's CPU and GIL; its own CPU time is printed. --latency-ms makes it wait before every answer
(Twilio's API takes ~100-200 ms), to show how far the concurrency hides that latency.
--limit N takes only the first N units (by path) for a quick run.

Prints figures; asserts nothing about time (the aims: enqueue under 5 s; the dispatch limited by
the configured rate, not by the product). Checks, and exits 1 when one fails: the fake accepted
exactly the messages the outbox says it sent (same SIDs, numbers and texts), nobody twice, one
message per distinct mobile number, and no SMS left pending.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SECRET_KEY", "bench")

from harness import fmt, national_parser, prepare_national, run_national, timed  # noqa: E402
from import_national import national_rows  # noqa: E402
from invitations import line  # noqa: E402

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-token"
SENDER = "+15005550006"
TEMPLATE = ("{event}: kính mời điểm cầu {endpoint} dự họp lúc {local_time}, "
            "đề nghị kết nối trước 30 phút. Xác nhận: {confirm_url}")

# --- the fake Twilio (a separate process) -----------------------------------------------------------

_FAKE = r"""
import collections, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from fakes.twilio_server import FakeTwilio  # TCP_NODELAY on (see its _Handler)



class Timed(FakeTwilio):
    # The arrival time of every accepted message (monotonic), for the achieved rate; connections opened.
    arrivals = []
    opened = 0

    def _track(self, conn, add):
        if add:
            Timed.opened += 1
        super()._track(conn, add)

    def _create(self, form):
        answer = super()._create(form)
        if answer[0] == 201:
            self.arrivals.append(time.monotonic())
        return answer


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


tw = Timed(sys.argv[2], sys.argv[3]).start()
print(json.dumps({"base_url": tw.base_url}), flush=True)
mark = {"cpu": cpu(), "messages": 0, "requests": 0, "opened": 0}
for command in sys.stdin:
    name, _, arg = command.strip().partition(" ")
    out = {}
    if name == "delay":
        tw.delay = float(arg)
    elif name == "mark":  # the start of a phase
        with tw._lock:
            mark = {"cpu": cpu(), "messages": len(tw.messages), "requests": len(tw.requests), "opened": tw.opened}
    elif name == "phase":  # what happened since the mark
        with tw._lock:
            arrivals = tw.arrivals[mark["messages"]:]
            statuses = collections.Counter(str(r["status"]) for r in tw.requests[mark["requests"]:])
            out = {"cpu": cpu() - mark["cpu"], "accepted": len(tw.messages) - mark["messages"],
                   "requests": len(tw.requests) - mark["requests"], "statuses": statuses,
                   "gaps": [b - a for a, b in zip(arrivals, arrivals[1:])],
                   "span": arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0,
                   "opened": tw.opened - mark["opened"], "open_connections": len(tw._connections)}
    elif name == "messages":
        with tw._lock:
            out = {"messages": [[m["sid"], m["to"], m["from"], m["body"], m["num_segments"],
                                 bool(m["status_callback"])] for m in tw.messages]}
    elif name == "quit":
        break
    print(json.dumps(out), flush=True)
tw.stop()
"""


class FakeTwilioProcess:
    """tests/fakes/twilio_server.FakeTwilio served by another Python process, driven over its stdin."""

    def __init__(self):
        self._process = subprocess.Popen([sys.executable, "-c", _FAKE, str(ROOT / "tests"), ACCOUNT_SID, AUTH_TOKEN],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = self._process.stdout.readline()
        if not first:
            self._process.kill()
            raise RuntimeError("the fake Twilio did not start")
        self.base_url = json.loads(first)["base_url"]

    def ask(self, command: str) -> dict:
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def close(self) -> None:
        if self._process is None:
            return
        try:
            self._process.stdin.write("quit\n")
            self._process.stdin.close()
            self._process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
        self._process = None


@contextmanager
def fake_twilio():
    fake = FakeTwilioProcess()
    try:
        yield fake
    finally:
        fake.close()


# --- timing the dispatcher's steps ---------------------------------------------------------------------


@contextmanager
def step_timers(module, names: list[str]):
    """Wrap module-level functions of `module` (looked up at call time by dispatch_due) to sum the
    wall time spent in each; yields {name: [seconds, calls]}. Restored afterwards."""
    totals = {name: [0.0, 0] for name in names}
    originals = {name: getattr(module, name) for name in names}

    def wrap(name, fn):
        def timed_step(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[name][0] += time.perf_counter() - started
                totals[name][1] += 1
        return timed_step

    for name, fn in originals.items():
        setattr(module, name, wrap(name, fn))
    try:
        yield totals
    finally:
        for name, fn in originals.items():
            setattr(module, name, fn)


def progress_printer(label: str):
    done, last = [0], [time.perf_counter()]

    def progress(n: int) -> None:
        done[0] += n
        if time.perf_counter() - last[0] >= 10:
            last[0] = time.perf_counter()
            print(f"    … {label}: {done[0]:,} handled", file=sys.stderr, flush=True)
    return progress


def dispatch_phase(fake: FakeTwilioProcess, max_messages: int) -> dict:
    """dispatch_due(channels=["sms"]) of up to max_messages, timed (wall, this process's CPU, the
    fake's CPU, the dispatcher's steps)."""
    from coordinator.extensions import db
    from coordinator.outbox import sending, services as outbox

    db.session.remove()
    fake.ask("mark")
    with step_timers(outbox, ["claim", "send_batch"]) as steps, step_timers(sending, ["_record"]) as recorded:
        cpu0, started = time.process_time(), time.perf_counter()
        stats = outbox.dispatch_due(channels=["sms"], max_messages=max_messages,
                                    progress=progress_printer("dispatch"))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return {"stats": stats, "wall": wall, "cpu": cpu, "steps": {**steps, **recorded}, "fake": fake.ask("phase")}


def client_floor(fake: FakeTwilioProcess, n: int, body: str) -> tuple[float, float]:
    """(wall, CPU seconds) of n messages.create with a twilio Client as TwilioSmsBackend builds it,
    in one thread, outside the product: what any sender through this library pays per message."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=15))
    client.api.base_url = fake.base_url
    cpu0, started = time.process_time(), time.perf_counter()
    for i in range(n):
        client.messages.create(to=f"+8490{i:07d}", from_=SENDER, body=body,
                               status_callback="http://127.0.0.1:5000/webhooks/twilio/status")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    client.http_client.session.close()
    return wall, cpu


# --- the benchmark ----------------------------------------------------------------------------------------


def setup_event(limit: int | None):
    """Fresh schema, 2024 units, nd49 moved 60 days ahead, the national list imported (as
    bench/invitations.py does), the event published, its invitation emails marked sent. Returns
    (event, the import's result, emails marked sent, seconds)."""
    from sqlalchemy import update

    from coordinator.auth.permissions import SystemActor
    from coordinator.events.services import publish
    from coordinator.extensions import db
    from coordinator.outbox.models import PENDING, SENT, OutboxMessage
    from coordinator.imports import endpoints_io

    started = time.perf_counter()
    event, organizer, read, _people = prepare_national(limit, national_rows)
    result = endpoints_io.import_endpoints(event, organizer, read, filename="national.csv")
    publish(event, actor=SystemActor("bench"))
    # The invitation emails publishing queued went out long before a -1 day reminder: not part of this bench.
    emails = db.session.execute(update(OutboxMessage).where(OutboxMessage.channel == "email",
                                                            OutboxMessage.status == PENDING)
                                .values(status=SENT), execution_options={"synchronize_session": False}).rowcount
    db.session.commit()
    return event, result, emails, time.perf_counter() - started


def run(label: str, url: str, args, summary: list[dict], failures: list[str]) -> None:
    from sqlalchemy import distinct, func, select

    from coordinator import create_app
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.extensions import db
    from coordinator.outbox import services as outbox
    from coordinator.outbox.models import SENT, OutboxMessage
    from coordinator.reminders import rules as reminder_rules
    from coordinator.reminders.services import enqueue_due, plan
    from coordinator.sms.encoding import cost
    from coordinator.text import strip_diacritics

    print(f"\n== {label} ==", flush=True)
    figures = {"database": label}

    def check(ok: bool, what: str) -> None:
        print(f"    check: {what}: {'ok' if ok else 'MISMATCH'}")
        if not ok:
            failures.append(f"{label}: {what}")

    with fake_twilio() as fake:
        config = {"SQLALCHEMY_DATABASE_URI": url, "SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                  "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM": SENDER, "TWILIO_MESSAGING_SERVICE_SID": "",
                  "TWILIO_API_BASE_URL": fake.base_url, "SMS_RATE_PER_SECOND": 0.0,
                  "SMS_CONCURRENCY": args.concurrency, "SMS_TIMEOUT": 15.0}
        if args.batch_size:
            config["OUTBOX_BATCH_SIZE"] = args.batch_size
        app = create_app(config)
        with app.app_context():
            event, result, emails, seconds = setup_event(args.limit)
            contacts = db.session.execute(
                select(func.count(Contact.id), func.count(distinct(Contact.phone)))
                .join(Endpoint, Contact.endpoint_id == Endpoint.id)
                .where(Endpoint.event_id == event.id, Contact.phone_type == "mobile")).one()
            all_contacts = db.session.scalar(select(func.count(Contact.id)).join(Endpoint).where(
                Endpoint.event_id == event.id))
            line("setup (schema, units, plan, import, publish)",
                 f"{seconds:.1f} s: {result.endpoints.created:,} endpoints, {all_contacts:,} contacts, "
                 f"{contacts[0]:,} with a mobile number ({contacts[1]:,} distinct); "
                 f"{emails:,} invitation emails marked sent")

            # One rule reaching everybody; the plan's own rules paused so that only it fires.
            for rule in list(event.reminder_rules):
                reminder_rules.update_rule(rule, {"active": False})
            rule = reminder_rules.create_rule(event, {"anchor": "session:main", "offset_seconds": -86400,
                                                      "channel": "sms", "audience": "all_contacts",
                                                      "template": TEMPLATE})
            planned = next(p for p in plan(event) if p.rule.id == rule.id)
            now = planned.fire_at + timedelta(minutes=1)
            assert now < planned.anchor.at
            rule_id = rule.id
            db.session.remove()  # as the scheduler's job: a fresh session

            # (1) enqueue
            cpu0 = time.process_time()
            runs, samples = timed(lambda: enqueue_due(now))
            enqueue_seconds, enqueue_cpu = samples[0], time.process_time() - cpu0
            queued = sum(r.queued for r in runs)
            unreachable = sum(r.unreachable for r in runs)
            counts = outbox.status_counts(channel="sms")
            line("(1) enqueue_due (audience, texts, rows)",
                 f"{enqueue_seconds:7.2f} s wall ({enqueue_cpu:.2f} s CPU here): {queued:,} SMS queued, "
                 f"{unreachable} unreachable; {queued / enqueue_seconds:,.0f} rows/s")
            db.session.remove()
            again, samples = timed(lambda: enqueue_due(now))
            line("    enqueue_due again, same instant", f"{fmt(samples)}: {sum(r.queued for r in again)} queued, "
                 f"{len(again)} runs")
            check([r.rule_id for r in runs] == [rule_id] and queued == counts["pending"] == contacts[1],
                  f"one rule fired, one SMS per distinct mobile number ({queued:,} queued, "
                  f"{counts['pending']:,} pending rows, {contacts[1]:,} numbers)")
            check(not again, "a second enqueue_due at the same instant queues nothing")
            bodies = [p["body"] for p in db.session.scalars(select(OutboxMessage.payload).where(
                OutboxMessage.channel == "sms").order_by(OutboxMessage.id))]
            texts = [cost(b) for b in bodies]
            sample = bodies[-1] if bodies else "-"
            if texts:
                line("    the texts", f"{statistics.mean(t.characters for t in texts):.0f} characters and "
                     f"{statistics.mean(t.segments for t in texts):.2f} segments on average "
                     f"({texts[-1].encoding}; {cost(strip_diacritics(sample)).segments} without diacritics); "
                     f"the last one:")
                print(f"      «{sample}»")
            figures.update(queued=queued, enqueue_s=enqueue_seconds, enqueue_cpu=enqueue_cpu,
                           again_ms=samples[0] * 1000)

            # Import the Twilio client now: its first import (~0.5 s) is not a per-message cost.
            import twilio.rest  # noqa: F401
            from twilio.http.http_client import TwilioHttpClient  # noqa: F401

            fake.ask(f"delay {args.latency_ms / 1000}")
            rated = min(args.rated_messages, queued // 2)
            free = queued - rated

            # (2a) unlimited rate: the product's ceiling.
            app.config["SMS_RATE_PER_SECOND"] = 0.0
            a = dispatch_phase(fake, free)
            stats, wall, cpu, f = a["stats"], a["wall"], a["cpu"], a["fake"]
            n = max(1, stats.sent)
            batch = app.config["OUTBOX_BATCH_SIZE"]
            line("(2a) dispatch, no rate limit", f"{wall:7.2f} s wall, SMS_CONCURRENCY={args.concurrency}, batches of "
                 f"{batch}, fake latency {args.latency_ms:g} ms")
            line("    sent / retried / failed", f"{stats.sent:,} / {stats.retried} / {stats.failed}"
                 + (f"; first errors: {stats.errors[:3]}" if stats.errors else ""))
            line("    throughput", f"{stats.sent / wall:,.0f} messages/s")
            line("    overhead per message (wall / sent)", f"{wall / n * 1000:.2f} ms")
            line("    CPU of this process per message", f"{cpu / n * 1000:.2f} ms ({100 * cpu / wall:.0f} % of one core)")
            line("    CPU of the fake Twilio per message", f"{f['cpu'] / n * 1000:.2f} ms ({100 * f['cpu'] / wall:.0f} % "
                 f"of one core, another process)")
            steps = a["steps"]
            # Outcomes are recorded during the send, by the recorder's thread: "record" is part of "send".
            other = wall - steps["claim"][0] - steps["send_batch"][0]
            line("    where the wall time went",
                 f"claim {steps['claim'][0]:.2f} s, send {steps['send_batch'][0]:.2f} s (of which recording "
                 f"{steps['_record'][0]:.2f} s, in the recorder's thread), commit & rest {other:.2f} s "
                 f"({steps['send_batch'][1]} batches)")
            line("    fake: HTTP connections", f"{f['opened']} opened, {f['open_connections']} still open after "
                 f"the phase (left to the garbage collector)")
            check(f["requests"] == f["accepted"] == stats.sent,
                  f"the fake answered every request with 201 ({f['requests']:,} requests, statuses {f['statuses']})")
            figures.update(free_sent=stats.sent, free_rate=stats.sent / wall, free_ms=wall / n * 1000,
                           free_cpu_ms=cpu / n * 1000, fake_cpu_ms=f["cpu"] / n * 1000)

            # (2b) at the configured rate.
            app.config["SMS_RATE_PER_SECOND"] = float(args.rate)
            b = dispatch_phase(fake, rated)
            stats_b, wall_b, fb = b["stats"], b["wall"], b["fake"]
            gaps = fb["gaps"]
            fake_rate = (len(gaps) / fb["span"]) if fb["span"] else 0.0
            line(f"(2b) dispatch at SMS_RATE_PER_SECOND={args.rate:g}",
                 f"{wall_b:7.2f} s wall for {stats_b.sent:,} sent (retried {stats_b.retried}, failed {stats_b.failed})")
            line("    achieved rate (product: sent / wall)", f"{stats_b.sent / wall_b:,.1f} messages/s "
                 f"({100 * stats_b.sent / wall_b / args.rate:.0f} % of the configured rate)")
            if gaps:
                q = statistics.quantiles(gaps, n=100) if len(gaps) > 1 else gaps * 99
                line("    achieved rate (fake: arrivals)", f"{fake_rate:,.1f} messages/s; spacing median "
                     f"{statistics.median(gaps) * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {max(gaps) * 1000:.1f} ms "
                     f"(ideal {1000 / args.rate:.1f} ms)")
            line("    CPU of this process per message", f"{b['cpu'] / max(1, stats_b.sent) * 1000:.2f} ms")
            check(fb["requests"] == fb["accepted"] == stats_b.sent,
                  f"the fake answered every request with 201 ({fb['requests']:,} requests, statuses {fb['statuses']})")
            figures.update(rated_sent=stats_b.sent, rated_rate=stats_b.sent / wall_b, rated_fake_rate=fake_rate)

            # Verification: what the fake accepted is exactly what the outbox says it sent.
            messages = fake.ask("messages")["messages"]
            sent_rows = {ref: (to, body) for ref, to, body in db.session.execute(
                select(OutboxMessage.provider_ref, OutboxMessage.recipient, OutboxMessage.payload["body"].as_string())
                .where(OutboxMessage.channel == "sms", OutboxMessage.status == SENT))}
            received = {sid: (to, body) for sid, to, _from, body, _segments, _callback in messages}
            final = outbox.status_counts(channel="sms")
            total_sent = stats.sent + stats_b.sent
            check(len(messages) == total_sent == final["sent"] == len(sent_rows),
                  f"fake accepted {len(messages):,} = dispatch stats {total_sent:,} = rows sent {final['sent']:,}")
            check(received == sent_rows, "same SIDs, numbers and texts in the fake and in the outbox")
            check(len({m[1] for m in messages}) == len(messages) == queued,
                  f"nobody twice: {len({m[1] for m in messages}):,} distinct numbers")
            check(all(m[2] == SENDER and m[5] for m in messages), "every message from TWILIO_FROM with a status callback")
            check(final["pending"] == final["sending"] == final["failed"] == 0,
                  f"no SMS left: pending {final['pending']}, sending {final['sending']}, failed {final['failed']}")
            line("    billed segments (fake)", f"{sum(m[4] for m in messages):,} for {len(messages):,} messages")
            figures.update(segments=sum(m[4] for m in messages))

            # (3) the floor: the twilio client alone (after the checks: these messages are in no outbox).
            floor_n = min(1000, queued)
            fake.ask("delay 0")
            floor_wall, floor_cpu = client_floor(fake, floor_n, sample)
            line("(3) the twilio client alone, one thread",
                 f"{floor_n:,} messages.create: {floor_wall / floor_n * 1000:.2f} ms wall, "
                 f"{floor_cpu / floor_n * 1000:.2f} ms CPU per message (no latency)")
            line("    the product's own CPU per message in (2a)",
                 f"{(cpu / n - floor_cpu / floor_n) * 1000:.2f} ms above the client's "
                 f"(claim, bookkeeping, threads)")
            figures.update(floor_cpu_ms=floor_cpu / floor_n * 1000, own_cpu_ms=(cpu / n - floor_cpu / floor_n) * 1000)
            summary.append(figures)
            db.session.remove()
            db.engine.dispose()


def print_summary(summary: list[dict], args) -> None:
    if not summary:
        return
    print(f"\n== summary (SMS_CONCURRENCY={args.concurrency}, fake latency {args.latency_ms:g} ms) ==")
    rows = [("SMS queued", lambda f: f"{f['queued']:,}"),
            ("enqueue_due", lambda f: f"{f['enqueue_s']:.2f} s"),
            ("enqueue rows/s", lambda f: f"{f['queued'] / f['enqueue_s']:,.0f}"),
            ("enqueue_due again (idempotent)", lambda f: f"{f['again_ms']:.1f} ms"),
            ("(a) unlimited: messages", lambda f: f"{f['free_sent']:,}"),
            ("(a) unlimited: messages/s", lambda f: f"{f['free_rate']:,.0f}"),
            ("(a) wall per message", lambda f: f"{f['free_ms']:.2f} ms"),
            ("(a) CPU here per message", lambda f: f"{f['free_cpu_ms']:.2f} ms"),
            ("(a) CPU of the fake per message", lambda f: f"{f['fake_cpu_ms']:.2f} ms"),
            ("twilio client alone: CPU per message", lambda f: f"{f['floor_cpu_ms']:.2f} ms"),
            ("(a) product's own CPU per message", lambda f: f"{f['own_cpu_ms']:.2f} ms"),
            ("(b) rated: messages", lambda f: f"{f['rated_sent']:,}"),
            (f"(b) at {args.rate:g}/s: achieved (product)", lambda f: f"{f['rated_rate']:.1f}/s"),
            (f"(b) at {args.rate:g}/s: achieved (fake)", lambda f: f"{f['rated_fake_rate']:.1f}/s"),
            ("segments billed", lambda f: f"{f['segments']:,}")]
    width = 38
    print(f"{'':<{width}}" + "".join(f"{f['database']:>18}" for f in summary))
    for name, value in rows:
        print(f"{name:<{width}}" + "".join(f"{value(f):>18}" for f in summary))


def main() -> None:
    parser = national_parser(__doc__)
    parser.add_argument("--concurrency", type=int, default=4, help="SMS_CONCURRENCY (default 4)")
    parser.add_argument("--rate", type=float, default=100.0, help="SMS_RATE_PER_SECOND of phase (b) (default 100)")
    parser.add_argument("--rated-messages", type=int, default=2000, help="messages sent in phase (b) (default 2000)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the fake's delay before each answer (default 0)")
    parser.add_argument("--batch-size", type=int, default=None, help="OUTBOX_BATCH_SIZE (default: the app's)")
    run_national(parser.parse_args(), run, print_summary)


if __name__ == "__main__":
    main()
