"""Benchmark: invitations at national scale. The national list (2024 structure: 11,368 endpoints,
two contacts each, every contact with a distinct email, ~22,700 people) is imported into nd49,
the event is published, and the outbox sends every invitation (one per person and session:
~45,000 emails) through SMTP to a local sink, on a fresh SQLite file and, when reachable, a fresh
PostgreSQL schema.

    .venv/bin/python bench/invitations.py [--pg URL] [--limit N] [--only sqlite|pg] [--tracemalloc]
                                          [--processes N] [--connections N]

Times (a) the publication (`events.services.publish`, whose `invitations.sync` queues every
message in the same transaction) and (b) the dispatch (`outbox.services.dispatch_due`): wall time
and messages per second end to end, i.e. composing each MIME message with its iCalendar part,
the SMTP conversation and the outbox bookkeeping in the database. The SMTP sink (aiosmtpd) runs in
a separate process and only counts what it receives (and its bytes), so it stays off the
benchmark's CPU; its own CPU time is printed to show it was not the bottleneck. Also printed: the
peak resident memory of this process during the dispatch only (Linux: the high-water mark is
reset just before it through /proc/self/clear_refs; elsewhere ru_maxrss before/after) and the size
of a typical message. --limit N takes only the first N units (by path) for a quick run;
--tracemalloc also reports the Python heap peak of the dispatch (it slows the dispatch down, so
its rate is then not comparable). --processes N dispatches as `flask outbox dispatch --once
--processes N` does; --connections N sets OUTBOX_SMTP_CONNECTIONS.

Prints figures; asserts nothing about time (the aim is at least 300 messages/s end to end), only
that the sink received exactly what the outbox says it sent.
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SECRET_KEY", "bench")

from harness import timed, fmt, DEFAULT_PG, on_each_database, prepare_national  # noqa: E402

# --- the SMTP sink (a separate process) ------------------------------------------------------------


_SINK = r"""
import resource, sys
from aiosmtpd.controller import Controller

count = size = 0


class Counting:
    async def handle_DATA(self, server, session, envelope):
        global count, size
        count += 1  # one asyncio thread: no lock needed
        size += len(envelope.content)
        return "250 OK"


# A fixed server_hostname: no reverse DNS lookup per connection.
controller = Controller(Counting(), hostname="127.0.0.1", port=int(sys.argv[1]), server_hostname="sink.bench",
                        ready_timeout=10)
controller.start()
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
controller.stop()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(count, size, usage.ru_utime + usage.ru_stime, flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """A separate process accepting everything on 127.0.0.1:port, counting messages and bytes and
    doing nothing else per message. Its figures are known once it has stopped (`close`)."""

    def __init__(self):
        self.port = _free_port()
        self.received = self.bytes = 0
        self.cpu_seconds = 0.0
        self._process = subprocess.Popen([sys.executable, "-c", _SINK, str(self.port)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
        if self._process.stdout.readline().strip() != "ready":
            self._process.kill()
            raise RuntimeError("the SMTP sink did not start")

    def close(self) -> None:
        if self._process is None:
            return
        out, _ = self._process.communicate(timeout=60)
        self._process = None
        received, size, cpu = out.split()
        self.received, self.bytes, self.cpu_seconds = int(received), int(size), float(cpu)


@contextmanager
def smtp_sink():
    sink = Sink()
    try:
        yield sink
    finally:
        sink.close()


# --- memory ----------------------------------------------------------------------------------------


def _reset_peak_rss() -> bool:
    """Reset this process's resident high-water mark (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)


# --- the benchmark ---------------------------------------------------------------------------------


def rows_with_emails(units) -> list[list[str]]:
    """import_national's rows (Vietnamese names, two contacts per endpoint), every contact with its
    own address: the chair, who has none there, gets lanhdao{i}@…; the technical one keeps kythuat{i}@…"""
    from import_national import national_rows

    rows = national_rows(units)
    for i in range(0, len(rows), 2):
        assert rows[i][8] == ""
        rows[i][8] = f"lanhdao{i // 2}@example.gov.vn"
    emails = [r[8] for r in rows]
    assert len(set(emails)) == len(emails) and all(emails)
    return rows


def line(label: str, value: str) -> None:
    print(f"{label:<44} {value}")


def run(label: str, url: str, limit: int | None, use_tracemalloc: bool, processes: int = 1,
        connections: int = 1) -> None:
    from sqlalchemy import select

    from coordinator import create_app
    from coordinator.auth.permissions import SystemActor
    from coordinator.events.services import get_event, publish
    from coordinator.extensions import db
    from coordinator.invitations.mail import compose
    from coordinator.outbox import services as outbox
    from coordinator.outbox.models import SENT, OutboxMessage
    from coordinator.imports import endpoints_io

    print(f"\n== {label} ==", flush=True)
    with smtp_sink() as sink:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1",
                          "SMTP_PORT": sink.port, "SMTP_STARTTLS": False, "SMTP_SSL": False,
                          "SMTP_USERNAME": "", "SMTP_PASSWORD": "", "OUTBOX_SMTP_CONNECTIONS": connections})
        with app.app_context():
            event, organizer, read, people = prepare_national(limit, rows_with_emails)
            started = time.perf_counter()
            result = endpoints_io.import_endpoints(event, organizer, read, filename="national.csv")
            seconds = time.perf_counter() - started
            line("national list imported (draft: no mail)",
                 f"{result.endpoints.created:,} endpoints, {result.contacts.created:,} contacts "
                 f"with distinct emails in {seconds:.1f} s")
            sessions = len(event.sessions)

            # (a) publish: invitations.sync queues one message per person and session.
            started = time.perf_counter()
            publish(event, actor=SystemActor("bench"))
            publish_seconds = time.perf_counter() - started
            queued = outbox.status_counts(event_id=event.id)
            line("(a) publish (sync + queue, one commit)", f"{publish_seconds:7.2f} s")
            line("    messages queued",
                 f"{queued['pending']:,} ({people:,} people x {sessions} sessions = {people * sessions:,}); "
                 f"{queued['pending'] / publish_seconds:,.0f} queued/s")
            db.session.remove()

            # (b) dispatch: compose + SMTP + bookkeeping, batches of OUTBOX_BATCH_SIZE per connection.
            rss_reset = _reset_peak_rss()
            maxrss_before = _maxrss_mb()
            rss_before = (_proc_status_kb("VmRSS") or 0) / 1024
            if use_tracemalloc:
                tracemalloc.start()
            done = [0]
            last = [time.perf_counter()]

            def progress(n: int) -> None:
                done[0] += n
                if time.perf_counter() - last[0] >= 10:
                    last[0] = time.perf_counter()
                    print(f"    … {done[0]:,} handled", file=sys.stderr, flush=True)

            started = time.perf_counter()
            if processes > 1:  # `flask outbox dispatch --once --processes N`
                stats = outbox.dispatch_in_processes(processes)
            else:
                stats = outbox.dispatch_due(progress=progress)
            dispatch_seconds = time.perf_counter() - started
            heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if use_tracemalloc else None
            if use_tracemalloc:
                tracemalloc.stop()
            hwm = _proc_status_kb("VmHWM")
            rss_after = (_proc_status_kb("VmRSS") or 0) / 1024
            maxrss_after = _maxrss_mb()
            final = outbox.status_counts(event_id=event.id)
            # What the organizer's invitations page and GET …/invitations compute, at this scale.
            from coordinator.invitations.services import counts

            _, count_samples = timed(lambda: counts(get_event(event.slug)), repeat=5)

            if stats.errors:
                print(f"    first errors: {stats.errors[:3]}")
            # A typical message: the last sent (a commune's at national scale: most recipients are).
            sent_ids = list(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.event_id == event.id,
                                                                              OutboxMessage.status == SENT)
                                               .order_by(OutboxMessage.id)))
            typical = db.session.get(OutboxMessage, sent_ids[-1]) if sent_ids else None
            typical_size = len(compose(typical).data) if typical is not None else 0
            typical_tier = typical.payload.get("tier", "?") if typical is not None else "-"
            batch = app.config["OUTBOX_BATCH_SIZE"]
            db.session.remove()
            db.engine.dispose()
    # The sink has stopped: its counts are final.
    line("(b) dispatch (compose + SMTP + database)", f"{dispatch_seconds:7.2f} s wall, "
         f"{processes} process(es) x {connections} SMTP connection(s), batches of {batch}")
    line("    messages sent (outbox)", f"{stats.sent:,} (retried {stats.retried}, failed {stats.failed}; "
         f"rows sent {final['sent']:,}, pending {final['pending']:,}, sending {final['sending']:,})")
    line("    messages received (sink)", f"{sink.received:,}")
    line("    end to end", f"{stats.sent / dispatch_seconds:,.0f} messages/s")
    if processes > 1:
        line("    memory", "(not measured with several processes: this one only waits)")
    elif rss_reset and hwm is not None:
        line("    peak RSS during dispatch (VmHWM reset)",
             f"{hwm / 1024:,.0f} MB (RSS {rss_before:,.0f} MB before, {rss_after:,.0f} MB after)")
    if processes == 1:
        line("    ru_maxrss before / after dispatch", f"{maxrss_before:,.0f} MB / {maxrss_after:,.0f} MB"
             + ("" if rss_reset else " (a lifetime peak: the import may dominate)"))
    if heap_peak is not None:
        line("    tracemalloc peak (dispatch only)", f"{heap_peak:,.1f} MB (the rate above is slowed by tracing)")
    line("    typical message", f"{typical_size:,} bytes (a {typical_tier}'s; sink average "
         f"{sink.bytes / max(1, sink.received):,.0f} bytes, {sink.bytes / 1e6:,.1f} MB in all)")
    line("    sink process CPU time", f"{sink.cpu_seconds:.1f} s in {dispatch_seconds:.1f} s of dispatch "
         f"(<= {100 * sink.cpu_seconds / dispatch_seconds:.0f} % of one core)")
    line("(c) invitation counts per session", fmt(count_samples) + " (the organizer's page, GET …/invitations)")
    if not (sink.received == stats.sent == final["sent"]):
        print(f"    MISMATCH: outbox sent {stats.sent:,} (rows sent {final['sent']:,}), sink received {sink.received:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--limit", type=int, default=None, help="only the first N units (by path)")
    parser.add_argument("--only", choices=("sqlite", "pg"), default=None)
    parser.add_argument("--tracemalloc", action="store_true", help="also the Python heap peak of the dispatch")
    parser.add_argument("--processes", type=int, default=1, help="dispatch in N processes (outbox dispatch --processes)")
    parser.add_argument("--connections", type=int, default=1, help="OUTBOX_SMTP_CONNECTIONS")
    args = parser.parse_args()

    def each(label: str, url: str) -> None:
        is_pg = url.startswith("postgresql")
        if args.only == "sqlite" and is_pg or args.only == "pg" and not is_pg:
            return
        run(label, url, args.limit, args.tracemalloc, args.processes, args.connections)

    on_each_database(each, args.pg)


if __name__ == "__main__":
    main()
