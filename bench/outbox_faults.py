"""Benchmark: faults during a national SMS fan-out. The national list (2024 structure, ~22,700
people with distinct mobile numbers) is imported into nd49, one reminder to everybody is fired, and
its SMS are sent by a real dispatcher process (`flask outbox dispatch`) through the real twilio
client to the local fake Twilio (tests/fakes/twilio_server.py, another process, answering after
--latency-ms), with a real `flask scheduler run` as the leader that releases dead dispatchers'
claims (`outbox.recover` every OUTBOX_RECOVERY_SECONDS). On a fresh SQLite file and, when
reachable, a fresh PostgreSQL schema.

    .venv/bin/python bench/outbox_faults.py [--pg URL] [--only sqlite|pg] [--limit N] [--kills N]
                                            [--rate R] [--concurrency N] [--latency-ms MS]
                                            [--timeouts N] [--sms-timeout S]

What it does and prints
  (1) --kills times during the fan-out, the dispatcher is killed with SIGKILL (requests in flight)
      and restarted at once (as a supervisor would). Per kill: the rows its claim held, how many of
      them were *uncertain* (request gone out, no outcome recorded: at most SMS_CONCURRENCY), how
      many of those the provider had taken (the duplicates a blind resend would make: "before the
      lookup"), and the SMS the fake received twice in the end ("after the lookup": 0 is the aim);
      the recovery: kill -> claims released by the leader, kill -> the provider receives again,
      kill -> every released row resolved (sent, or found at the provider).
  (2) --timeouts SMS that the provider takes at once but answers only after SMS_TIMEOUT
      (--sms-timeout): the timeouts seen, found at the provider by the lookup (not resent), resent
      after the lookup found nothing, resent without confirmation, and duplicates at the fake.
Checks, and exits 1 when one fails: nobody received the reminder twice, everybody received it,
every row ended `sent` with the SID the fake gave, uncertain per crash <= SMS_CONCURRENCY.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SECRET_KEY", "bench")

from harness import national_parser, run_national  # noqa: E402
from invitations import line  # noqa: E402
from sms_fanout import ACCOUNT_SID, AUTH_TOKEN, SENDER, TEMPLATE, setup_event  # noqa: E402

# The fake Twilio, in a process of its own (off this process's CPU), driven over stdin.
_FAKE = r"""
import collections, json, sys, time
sys.path.insert(0, sys.argv[1])
from fakes.twilio_server import FakeTwilio

tw = FakeTwilio(sys.argv[2], sys.argv[3]).start()
tw.hand_off_seconds = 0.5  # handed to the carrier half a second after it is taken
print(json.dumps({"base_url": tw.base_url}), flush=True)
for command in sys.stdin:
    name, _, arg = command.strip().partition(" ")
    out = {}
    if name == "latency":  # between taking a message and answering
        tw.answer_delay = float(arg)
    elif name == "stall":  # n seconds: the next n messages are taken, answered after `seconds`
        n, seconds = arg.split()
        tw.stall_next(int(n), float(seconds))
    elif name == "count":
        with tw._lock:
            out = {"accepted": len(tw.messages), "stalls": len(tw._stalls),
                   "lookups": sum(1 for r in tw.requests if r["method"] == "GET"),
                   "timeouts": sum(1 for r in tw.requests if r["status"] == "dropped")}
    elif name == "received":  # number -> [sids], for the numbers received more than once, and the counts
        with tw._lock:
            by = collections.defaultdict(list)
            for m in tw.messages:
                by[m["to"]].append(m["sid"])
        out = {"numbers": len(by), "messages": sum(len(v) for v in by.values()),
               "twice": {k: v for k, v in by.items() if len(v) > 1}}
    elif name == "sids":
        with tw._lock:
            out = {m["sid"]: m["to"] for m in tw.messages}
    elif name == "has":  # which of these numbers it has received
        wanted = set(json.loads(arg))
        with tw._lock:
            out = {"has": sorted({m["to"] for m in tw.messages if m["to"] in wanted})}
    elif name == "quit":
        break
    print(json.dumps(out), flush=True)
tw.stop()
"""


class Fake:
    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-c", _FAKE, str(ROOT / "tests"), ACCOUNT_SID, AUTH_TOKEN],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = self.process.stdout.readline()
        if not first:
            raise RuntimeError("the fake Twilio did not start")
        self.base_url = json.loads(first)["base_url"]

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        try:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


@contextmanager
def fake_twilio():
    fake = Fake()
    try:
        yield fake
    finally:
        fake.close()


def flask_process(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                            stdout=open(log, "a"), stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def wait_for(predicate, seconds: float, poll: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    return None


def run(label: str, url: str, args, summary: list[dict], failures: list[str]) -> None:
    from sqlalchemy import func, select

    from coordinator import create_app
    from coordinator.extensions import db
    from coordinator.outbox import dispatchers
    from coordinator.outbox.models import SENDING, SENT, OutboxMessage
    from coordinator.reminders import rules as reminder_rules
    from coordinator.reminders.services import enqueue_due, plan

    print(f"\n== {label} ==", flush=True)
    figures = {"database": label, "kills": []}

    def check(ok: bool, what: str) -> None:
        print(f"    check: {what}: {'ok' if ok else 'MISMATCH'}")
        if not ok:
            failures.append(f"{label}: {what}")

    logs = Path(tempfile.mkdtemp(prefix="outbox_faults_"))
    with fake_twilio() as fake:
        settings = {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_FROM": SENDER, "TWILIO_MESSAGING_SERVICE_SID": "", "TWILIO_API_BASE_URL": fake.base_url,
                    "SMS_RATE_PER_SECOND": args.rate, "SMS_CONCURRENCY": args.concurrency,
                    "SMS_TIMEOUT": args.sms_timeout, "OUTBOX_RETRY_BASE_SECONDS": 2.0}
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, **settings})
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "MAIL_FILE_DIR": str(logs / "mail"),
               **{k: str(v) for k, v in settings.items()}}
        for name in ("TWILIO_REGION", "TWILIO_EDGE"):
            env.pop(name, None)
        with app.app_context():
            event, result, _emails, seconds = setup_event(args.limit)
            for rule in list(event.reminder_rules):
                reminder_rules.update_rule(rule, {"active": False})
            rule = reminder_rules.create_rule(event, {"anchor": "session:main", "offset_seconds": -86400,
                                                      "channel": "sms", "audience": "all_contacts",
                                                      "template": TEMPLATE})
            planned = next(p for p in plan(event) if p.rule.id == rule.id)
            db.session.remove()
            queued = sum(r.queued for r in enqueue_due(planned.fire_at + timedelta(minutes=1)))
            numbers = set(db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.channel == "sms")))
            db.session.remove()
        line("setup (schema, units, import, publish, enqueue)",
             f"{seconds:.1f} s: {result.endpoints.created:,} endpoints, {queued:,} SMS queued")
        figures["queued"] = queued
        fake.ask(f"latency {args.latency_ms / 1000}")

        def sms_counts() -> dict:
            with app.app_context():
                counts = dict(db.session.execute(select(OutboxMessage.status, func.count())
                                                 .where(OutboxMessage.channel == "sms")
                                                 .group_by(OutboxMessage.status)).all())
                db.session.remove()
            return counts

        def in_doubt() -> tuple[list[tuple[int, str, str]], int]:
            """(rows held with their request gone out: id, number, dispatcher), rows held in all."""
            with app.app_context():
                held = db.session.execute(select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.dispatcher,
                                                 OutboxMessage.attempted_at)
                                          .where(OutboxMessage.channel == "sms", OutboxMessage.status == SENDING)).all()
                db.session.remove()
            return [(i, r, d) for i, r, d, at in held if at is not None], len(held)

        def doubt_counts_now() -> dict:
            from coordinator.outbox.services import doubt_counts

            with app.app_context():
                counts = doubt_counts(channel="sms")
                db.session.remove()
            return counts

        # The leader: a real scheduler process (its own dispatcher idle: OUTBOX_POLL_SECONDS=3600).
        scheduler = flask_process(["scheduler", "run"], {**env, "OUTBOX_POLL_SECONDS": "3600"}, logs / "scheduler.log")
        dispatcher = flask_process(["outbox", "dispatch"], env, logs / "dispatcher.log")
        started = time.monotonic()
        try:
            step = queued // (args.kills + 2)  # the kills spread over the fan-out, the slow answers after them
            for k in range(args.kills):
                target = step * (k + 1)
                if not wait_for(lambda: fake.ask("count")["accepted"] >= target, 3600, poll=0.2):
                    failures.append(f"{label}: the fan-out stalled before kill {k + 1}")
                    break
                dispatcher.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                dispatcher.wait(10)
                dispatcher = flask_process(["outbox", "dispatch"], env, logs / "dispatcher.log")  # the supervisor
                accepted_at_kill = fake.ask("count")["accepted"]
                time.sleep(0.3)  # what was in flight reaches the fake
                doubt, held = in_doubt()
                dead = {d for _, _, d in doubt}
                ids = {i for i, _, _ in doubt}
                taken = set(fake.ask("has " + json.dumps(sorted({r for _, r, _ in doubt})))["has"])
                before = sum(1 for _, r, _ in doubt if r in taken)

                def released():
                    with app.app_context():
                        left = db.session.scalar(select(func.count()).where(OutboxMessage.dispatcher.in_(dead),
                                                                           OutboxMessage.status == SENDING)) if dead else 0
                        db.session.remove()
                    return left == 0

                def resolved():
                    with app.app_context():
                        done = db.session.scalar(select(func.count()).where(OutboxMessage.id.in_(ids),
                                                                           OutboxMessage.status == SENT)) if ids else 0
                        db.session.remove()
                    return done == len(ids)

                def resumed():  # the provider receives new messages (the restarted dispatcher, or released rows)
                    return fake.ask("count")["accepted"] > accepted_at_kill + len(taken) or \
                        sms_counts().get(SENT, 0) == queued  # (nothing left to receive)

                moments = {}
                deadline = time.monotonic() + 300
                while len(moments) < 3 and time.monotonic() < deadline:
                    for name, test in (("released", released), ("resumed", resumed), ("resolved", resolved)):
                        if name not in moments and (name != "resolved" or "released" in moments) and test():
                            moments[name] = time.monotonic() - killed
                    time.sleep(0.05)
                released_s, resumed_s, resolved_s = (moments.get(n, float("nan"))
                                                     for n in ("released", "resumed", "resolved"))
                kill = {"held": held, "uncertain": len(doubt), "before": before, "released_s": released_s,
                        "resumed_s": resumed_s, "resolved_s": resolved_s, "at": accepted_at_kill}
                figures["kills"].append(kill)
                line(f"(1) kill {k + 1} at {accepted_at_kill:,} taken",
                     f"claim held {held} rows, {len(doubt)} uncertain (<= SMS_CONCURRENCY={args.concurrency}), "
                     f"{before} of them already at the provider")
                line("    recovery", f"released {released_s:.2f} s after the kill, provider receiving again "
                     f"{resumed_s:.2f} s, released rows resolved {resolved_s:.2f} s")
                check(len(doubt) <= args.concurrency, f"kill {k + 1}: uncertain {len(doubt)} <= {args.concurrency}")

            # (2) a slow provider: --timeouts messages taken at once, answered after SMS_TIMEOUT.
            doubts_before = doubt_counts_now()
            if args.timeouts:
                wait_for(lambda: fake.ask("count")["accepted"] >= step * (args.kills + 1), 3600, poll=0.2)
                fake.ask(f"stall {args.timeouts} {args.sms_timeout + 1.5}")
                if not wait_for(lambda: fake.ask("count")["stalls"] == 0, 120, poll=0.2):
                    failures.append(f"{label}: the fan-out ended before the slow answers (--timeouts) were used")

            done = wait_for(lambda: sms_counts().get(SENT, 0) == queued, 3600, poll=0.5)
            wall = time.monotonic() - started
            check(bool(done), f"every SMS sent in the end ({sms_counts()})")
        finally:
            stop(dispatcher)
            stop(scheduler)

        received = fake.ask("received")
        sids = fake.ask("sids")
        with app.app_context():
            from coordinator.outbox.services import doubt_counts

            sent_rows = dict(db.session.execute(select(OutboxMessage.provider_ref, OutboxMessage.recipient)
                                                .where(OutboxMessage.channel == "sms",
                                                       OutboxMessage.status == SENT)).all())
            doubts = doubt_counts(channel="sms")
            db.session.remove()
            dispatchers.close_all()
            db.engine.dispose()
        twice = received["twice"]
        line("fan-out", f"{queued:,} SMS in {wall:.1f} s ({queued / wall:,.0f}/s with the kills; SMS_RATE_PER_SECOND="
             f"{args.rate:g}, SMS_CONCURRENCY={args.concurrency}, latency {args.latency_ms:g} ms)")
        line("after the lookup: received twice", f"{len(twice)} numbers"
             + (f" (e.g. {next(iter(twice))})" if twice else ""))
        line("doubts (whole run)", f"found {doubts['found']}, absent {doubts['absent']}, resent without confirmation "
             f"{doubts['unconfirmed']}, still uncertain {doubts['uncertain']}")
        slow = {k: doubts[k] - doubts_before[k] for k in doubts}
        if args.timeouts:
            line(f"(2) {args.timeouts} answers after SMS_TIMEOUT={args.sms_timeout:g} s",
                 f"found at the provider (not resent) {slow['found']}, absent (sent after the lookup) "
                 f"{slow['absent']}, resent without confirmation {slow['unconfirmed']}")
            # ">=": a kill's released rows resolved while the slow answers were in progress are
            # counted in this window too (the duplicates check below is the one that matters).
            check(slow["found"] >= args.timeouts and slow["unconfirmed"] == 0,
                  f"every slow answer found at the provider ({slow['found']} found, {args.timeouts} slow)")
        check(not twice, "nobody received the reminder twice")
        check(received["numbers"] == len(numbers) == queued, f"everybody received it ({received['numbers']:,})")
        check(sent_rows == sids, "every row sent with the SID the fake gave, and no other message at the fake")
        check(doubts["unconfirmed"] == 0 and doubts["uncertain"] == 0, "nothing resent without confirmation")
        figures.update(wall=wall, twice=len(twice), doubts=doubts, slow=slow)
        summary.append(figures)


def print_summary(summary: list[dict], args) -> None:
    if not summary:
        return
    print(f"\n== summary (SMS_RATE_PER_SECOND={args.rate:g}, SMS_CONCURRENCY={args.concurrency}, "
          f"latency {args.latency_ms:g} ms, {args.kills} kills, {args.timeouts} slow answers) ==")

    def per_kill(key, fmt):
        return lambda f: " / ".join(fmt(k[key]) for k in f["kills"]) or "-"

    rows = [("SMS queued", lambda f: f"{f['queued']:,}"),
            ("fan-out wall time", lambda f: f"{f['wall']:.0f} s"),
            ("rows held by the killed claim", per_kill("held", str)),
            ("uncertain per crash", per_kill("uncertain", str)),
            ("duplicates per crash before the lookup", per_kill("before", str)),
            ("duplicates after the lookup (whole run)", lambda f: str(f["twice"])),
            ("kill -> claims released (s)", per_kill("released_s", lambda v: f"{v:.1f}")),
            ("kill -> provider receiving again (s)", per_kill("resumed_s", lambda v: f"{v:.1f}")),
            ("kill -> released rows resolved (s)", per_kill("resolved_s", lambda v: f"{v:.1f}")),
            ("kills: found at the provider (not resent)", lambda f: str(f["doubts"]["found"] - f["slow"]["found"])),
            ("kills: absent, sent after the lookup", lambda f: str(f["doubts"]["absent"] - f["slow"]["absent"])),
            (f"slow answers (> SMS_TIMEOUT): {args.timeouts}", lambda f: ""),
            ("  found at the provider (not resent)", lambda f: str(f["slow"]["found"])),
            ("  absent, sent after the lookup", lambda f: str(f["slow"]["absent"])),
            ("resent without confirmation (whole run)", lambda f: str(f["doubts"]["unconfirmed"]))]
    width = 42
    print(f"{'':<{width}}" + "".join(f"{f['database']:>24}" for f in summary))
    for name, value in rows:
        print(f"{name:<{width}}" + "".join(f"{value(f):>24}" for f in summary))


def main() -> None:
    parser = national_parser(__doc__)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs during the fan-out (default 3)")
    parser.add_argument("--rate", type=float, default=100.0, help="SMS_RATE_PER_SECOND (default 100)")
    parser.add_argument("--concurrency", type=int, default=8, help="SMS_CONCURRENCY (default 8)")
    parser.add_argument("--latency-ms", type=float, default=60.0,
                        help="the fake's delay between taking a message and answering (default 60)")
    parser.add_argument("--timeouts", type=int, default=32, help="answers after SMS_TIMEOUT (default 32)")
    parser.add_argument("--sms-timeout", type=float, default=2.0, help="SMS_TIMEOUT of the run (default 2 s)")
    run_national(parser.parse_args(), run, print_summary)


if __name__ == "__main__":
    main()
