"""A dispatcher killed mid fan-out, a provider answering too late: nobody gets an SMS twice.

Real processes (`flask outbox dispatch`, `flask scheduler run`) are killed with SIGKILL while they
send through the real `twilio` client to the local fake of Twilio's API (tests/fakes/twilio_server.py),
which takes each message before it answers, so that requests are in flight when the kill comes.

What is checked (issue 14, point 2):
- each SMS's outcome is recorded as soon as the provider answers: a kill leaves at most
  SMS_CONCURRENCY SMS whose outcome is unknown ("uncertain"), never a whole batch;
- the active scheduler releases a dead dispatcher's claims within seconds (PostgreSQL: its advisory
  lock is free; SQLite: its heartbeat stopped), not after OUTBOX_LEASE_SECONDS;
- an uncertain SMS is looked up at the provider before it is sent again: found, it is recorded with
  its SID and not sent again (zero duplicates); a provider that cannot be asked is counted as
  "resent without confirmation".
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update

from fakes.twilio_server import FakeTwilio

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "twilio-token-crash-tests"
SENDER = "+15005550006"
CONNECTIVITY_MINUS_1D = "2024-06-26T14:00:30+07:00"  # nd49's connectivity test, −1 day reminder (technical)
CONCURRENCY = 4


def settings(tw: FakeTwilio, **extra) -> dict:
    return {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": tw.account_sid, "TWILIO_AUTH_TOKEN": tw.auth_token,
            "TWILIO_FROM": SENDER, "TWILIO_MESSAGING_SERVICE_SID": "", "TWILIO_API_BASE_URL": tw.base_url,
            "SMS_RATE_PER_SECOND": 0.0, "SMS_CONCURRENCY": CONCURRENCY, "SMS_TIMEOUT": 5.0, **extra}


@pytest.fixture()
def tw():
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        server.hand_off_seconds = 0  # handed to the carrier at once (date_sent set), unless a test says otherwise
        yield server


@pytest.fixture()
def sms_app(app, tw, monkeypatch):
    for key, value in settings(tw).items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setitem(app.config, "OUTBOX_DISPATCHER_STALE_SECONDS", 1.0)
    return app


@pytest.fixture()
def fan_out(sms_app, nd49, cli):
    """nd49 published with one endpoint of `n` technical contacts (distinct mobiles) and its −1 day
    reminder queued: n SMS pending. Returns their numbers."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, publish
    from coordinator.units.services import get_unit

    def make(n: int) -> list[str]:
        with sms_app.app_context():
            event = get_event(nd49)
            values = endpoints.clean_endpoint({"name": "Hội trường Sở TT&TT Khánh Hòa", "protocol": "sip",
                                               "dial": "kh@10.56.0.1", "contacts": [
                                                   {"name": f"Kỹ thuật viên {i}", "phone": f"0912 200 {i:03d}",
                                                    "role": "technical"} for i in range(n)]})
            assert not values.problems, values.problems
            endpoints.save_endpoint(event, get_unit("2024", "56"), values, actor=SystemActor())
            publish(event)
        result = cli("reminders", "due", "--at", CONNECTIVITY_MINUS_1D)
        assert result.output.rstrip().endswith(f"{n} messages queued"), result.output
        return [f"+84912200{i:03d}" for i in range(n)]

    return make


def rows(app) -> list:
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        found = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "sms")
                                        .order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return found


def dispatch(app, later: timedelta = timedelta(0)):
    from coordinator.outbox.services import dispatch_due

    with app.app_context():
        return dispatch_due(now=datetime.now(UTC) + later, channels=["sms"])


def posts_to(tw: FakeTwilio, number: str) -> int:
    return len([r for r in tw.requests if r["method"] == "POST" and r["form"].get("To") == number])


def wait_for(predicate, seconds: float = 30, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


def process_env(database, tw: FakeTwilio, tmp_path, **extra) -> dict:
    env = {**os.environ, "DATABASE_URL": database.url, "SECRET_KEY": "test-secret-key",
           "MAIL_FILE_DIR": str(tmp_path / "mail"), "OUTBOX_POLL_SECONDS": "0.2", "OUTBOX_HEARTBEAT_SECONDS": "0.2",
           **{k: str(v) for k, v in settings(tw).items()}, **{k: str(v) for k, v in extra.items()}}
    env.pop("TWILIO_REGION", None)
    env.pop("TWILIO_EDGE", None)
    return env


def start_dispatcher(env: dict, tmp_path, name: str = "dispatcher") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "outbox", "dispatch"], cwd=ROOT, env=env,
                            stdout=open(tmp_path / f"{name}.log", "w"), stderr=subprocess.STDOUT)


def kill_when(tw: FakeTwilio, process: subprocess.Popen, accepted: int, log: Path) -> None:
    """SIGKILL `process` once the fake has taken `accepted` messages (requests are then in flight)."""
    assert wait_for(lambda: len(tw.messages) >= accepted or process.poll() is not None, 60), log.read_text()
    assert process.poll() is None, f"the dispatcher ended before the kill:\n{log.read_text()}"
    process.send_signal(signal.SIGKILL)
    process.wait(10)


# --- 1. kill -9 during a fan-out ----------------------------------------------------------------------------

def test_a_dispatcher_killed_mid_fan_out_sends_nobody_the_same_sms_twice(sms_app, database, tw, fan_out, cli,
                                                                        tmp_path):
    from coordinator.outbox.models import SENDING, SENT

    app = sms_app
    numbers = fan_out(60)
    tw.answer_delay = 0.15  # each message is taken, then answered 150 ms later: CONCURRENCY requests in flight
    process = start_dispatcher(process_env(database, tw, tmp_path), tmp_path)
    try:
        kill_when(tw, process, 20, tmp_path / "dispatcher.log")
    finally:
        if process.poll() is None:
            process.kill()
    killed = time.monotonic()
    time.sleep(0.3)  # the fake finishes taking what was in flight when the process died
    taken = {m["to"]: m["sid"] for m in tw.messages}
    assert 20 <= len(taken) < len(numbers)

    # Outcomes were written as the answers came, not at the end of the (single, 60-message) claim.
    before = rows(app)
    sent = [r for r in before if r.status == SENT]
    assert len(taken) - len(sent) <= CONCURRENCY, (len(taken), len(sent))
    assert all(r.provider_ref == taken[r.recipient] for r in sent)
    in_doubt = [r for r in before if r.status == SENDING and r.attempted_at is not None]
    assert 1 <= len(in_doubt) <= CONCURRENCY  # the requests in flight, and nothing more, are unknown
    # (The fake takes a message before answering, so these are at the provider: a blind resend would
    # duplicate them. One whose request was still on its way at the kill is not.)
    at_provider = [r for r in in_doubt if r.recipient in taken]
    assert at_provider

    # The leader sees the process gone and releases its claims at once (not after OUTBOX_LEASE_SECONDS).
    from coordinator.outbox.dispatchers import wait_released
    from coordinator.outbox.models import FOUND, UNCERTAIN

    with app.app_context():
        recovery = wait_released(10)
    released_after = time.monotonic() - killed
    assert recovery.released == len([r for r in before if r.status == SENDING])
    assert recovery.uncertain == len(in_doubt)
    assert released_after < 5 < app.config["OUTBOX_LEASE_SECONDS"], released_after
    assert {r.recipient for r in rows(app) if r.doubt == UNCERTAIN} == {r.recipient for r in in_doubt}

    # Sending resumes: the uncertain SMS are looked up (found: not sent again), the rest go out once.
    tw.answer_delay = 0
    stats = dispatch(app)
    for number in numbers:
        assert len(tw.received(number)) == 1, number  # nobody twice
    assert (stats.found, stats.absent, stats.unconfirmed) == (len(at_provider), len(in_doubt) - len(at_provider), 0)
    assert stats.sent == len(numbers) - len(sent)
    after = {r.recipient: r for r in rows(app)}
    assert all(r.status == SENT and r.provider_ref == tw.received(r.recipient)[0]["sid"] for r in after.values())
    for row in at_provider:
        assert after[row.recipient].doubt == FOUND and posts_to(tw, row.recipient) == 1

    status = cli("outbox", "status").output
    assert f"found at the provider (not resent)                     {len(at_provider):>7}" in status, status
    assert f"resent without confirmation (possible duplicates)      {0:>7}" in status


# --- 2. the active scheduler releases a dead dispatcher's claims -----------------------------------------------

def test_the_active_scheduler_releases_a_dead_dispatchers_claims_within_seconds(sms_app, database, tw, fan_out,
                                                                               tmp_path):
    from coordinator.outbox.models import SENDING, UNCERTAIN

    app = sms_app
    fan_out(40)
    tw.answer_delay = 0.2
    env = process_env(database, tw, tmp_path, SCHEDULER_HEARTBEAT_SECONDS="0.3", SCHEDULER_LEASE_SECONDS="2",
                      OUTBOX_RECOVERY_SECONDS="0.3", OUTBOX_DISPATCHER_STALE_SECONDS="1.5")
    # The scheduler only recovers here: its own dispatcher polls once an hour.
    scheduler = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"], cwd=ROOT,
                                 env={**env, "OUTBOX_POLL_SECONDS": "3600"}, stdout=open(tmp_path / "sched.log", "w"),
                                 stderr=subprocess.STDOUT)
    dispatcher = start_dispatcher(env, tmp_path)
    try:
        assert wait_for(lambda: ": active" in (tmp_path / "sched.log").read_text(), 60), \
            (tmp_path / "sched.log").read_text()
        kill_when(tw, dispatcher, 10, tmp_path / "dispatcher.log")
        killed = time.monotonic()
        held = [r for r in rows(app) if r.status == SENDING]
        assert held  # the dead process's claim
        assert wait_for(lambda: not [r for r in rows(app) if r.status == SENDING], 20, poll=0.05), \
            (tmp_path / "sched.log").read_text()
        released_after = time.monotonic() - killed
    finally:
        for p in (dispatcher, scheduler):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (dispatcher, scheduler):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
    # PostgreSQL: the lock is free at the kill, one recovery period later the rows are back;
    # SQLite: the staleness bound (1.5 s) first. Either way seconds, not OUTBOX_LEASE_SECONDS (600 s).
    assert released_after < 8, released_after
    assert "claimed messages released at once" in (tmp_path / "sched.log").read_text()
    uncertain = [r for r in rows(app) if r.doubt == UNCERTAIN]
    assert 1 <= len(uncertain) <= CONCURRENCY
    # ... and what was released is sent once: the uncertain ones looked up first (found at the provider).
    tw.answer_delay = 0
    stats = dispatch(app)
    assert all(len(tw.received(r.recipient)) == 1 for r in rows(app))
    assert stats.found >= 1 and stats.found + stats.absent == len(uncertain) and stats.unconfirmed == 0


def test_a_live_dispatchers_claims_are_kept_a_silent_ones_released(sms_app, database, fan_out):
    """The leader releases only the claims of processes that are gone: the test process, a live
    dispatcher, keeps its claim; once it is gone (PostgreSQL: its lock's connection closed; SQLite:
    no heartbeat within the staleness bound) the claim is released at once."""
    from coordinator.extensions import db
    from coordinator.outbox import dispatchers
    from coordinator.outbox.models import OutboxDispatcher, PENDING, SENDING
    from coordinator.outbox.services import claim

    app = sms_app
    fan_out(3)
    with app.app_context():
        _token, claimed = claim(datetime.now(UTC), 10)
        assert len(claimed) == 3 and all(r.status == SENDING and r.dispatcher for r in claimed)
        me = dispatchers.current()
        assert {r.dispatcher for r in claimed} == {me.token}
        time.sleep(1.2)  # longer than the staleness bound: the heartbeat thread keeps it fresh
        me.beat()
        assert not dispatchers.release_dead()
        assert [r.status for r in rows(app)] == [SENDING] * 3
        if database.is_postgres:
            me._conn.invalidate()  # the process's connection (and its lock) gone, as at a kill
            me._conn = None
        else:
            db.session.execute(update(OutboxDispatcher).where(OutboxDispatcher.id == me.token)
                               .values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=5)))
            db.session.commit()
            me._stop.set()  # and it stays silent
        recovery = dispatchers.release_dead()
        assert recovery.dead == [me.token] and recovery.released == 3
        assert recovery.uncertain == 0  # none of their requests had gone out: sent as usual, no lookup
        assert [(r.status, r.doubt, r.attempts) for r in rows(app)] == [(PENDING, "", 0)] * 3
        me._lost = True  # the next claim registers this process afresh
        me._stop.clear()


# --- 3. a provider answering after SMS_TIMEOUT --------------------------------------------------------------

def test_an_sms_the_provider_took_but_answered_after_the_timeout_is_not_sent_twice(sms_app, tw, fan_out,
                                                                                  monkeypatch):
    from coordinator.outbox.models import PENDING, SENT

    app = sms_app
    monkeypatch.setitem(app.config, "SMS_TIMEOUT", 0.4)
    [number, other] = fan_out(2)
    tw.stall_next(1, seconds=1.2)  # takes the first one at once, answers 1.2 s later
    first = dispatch(app)
    assert (first.sent, first.retried) == (1, 1)
    slow = next(r for r in rows(app) if r.status == PENDING)
    assert "ReadTimeout" in slow.last_error and len(tw.received(slow.recipient)) == 1  # Twilio has it

    stats = dispatch(app, later=timedelta(hours=1))  # its next attempt: asked first, not sent again
    assert posts_to(tw, slow.recipient) == 1 and len(tw.received(slow.recipient)) == 1

    from coordinator.outbox.models import FOUND, UNCERTAIN

    assert first.uncertain == 1 and slow.doubt == UNCERTAIN and slow.uncertain_since is not None
    assert (stats.sent, stats.found, stats.absent) == (1, 1, 0)
    row = next(r for r in rows(app) if r.recipient == slow.recipient)
    assert (row.status, row.doubt, row.provider_ref) == (SENT, FOUND, tw.received(slow.recipient)[0]["sid"])
    assert posts_to(tw, slow.recipient) == 1 and len(tw.received(number)) == len(tw.received(other)) == 1
    lookups = [r for r in tw.requests if r["method"] == "GET"]
    assert lookups and lookups[0]["query"]["To"] == slow.recipient and lookups[0]["query"]["From"] == SENDER
    since = datetime.strptime(lookups[0]["query"]["DateSent>"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert since <= slow.uncertain_since


def test_a_timed_out_sms_the_provider_never_took_is_sent_once_after_asking(sms_app, tw, fan_out, monkeypatch):
    from coordinator.outbox.models import ABSENT, SENT

    app = sms_app
    monkeypatch.setitem(app.config, "SMS_TIMEOUT", 0.4)
    [number] = fan_out(1)
    tw.stall_next(1, seconds=1.0, accept=False)
    assert dispatch(app).uncertain == 1 and tw.messages == []
    stats = dispatch(app, later=timedelta(hours=1))
    assert (stats.sent, stats.found, stats.absent) == (1, 0, 1)
    [row] = rows(app)
    assert (row.status, row.doubt) == (SENT, ABSENT) and len(tw.received(number)) == 1


def test_a_connection_dropped_after_the_provider_took_the_sms(sms_app, tw, fan_out):
    from coordinator.outbox.models import FOUND

    app = sms_app
    [number] = fan_out(1)
    tw.drop_next(1)  # the provider's front end goes down after taking it
    assert dispatch(app).uncertain == 1
    assert dispatch(app, later=timedelta(hours=1)).found == 1
    [row] = rows(app)
    assert row.doubt == FOUND and posts_to(tw, number) == 1


def test_a_refused_connection_is_no_doubt(sms_app, tw, fan_out, monkeypatch):
    import socket

    app = sms_app
    fan_out(1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(app.config, "TWILIO_API_BASE_URL", f"http://127.0.0.1:{port}")
    stats = dispatch(app)
    assert (stats.retried, stats.uncertain) == (1, 0)
    assert [r.doubt for r in rows(app)] == [""]


def test_an_sms_still_queued_at_the_provider_is_found_too(sms_app, tw, fan_out, monkeypatch):
    """Twilio's date filter reads date_sent, which a message still queued there has not got: the
    lookup then reads the newest messages to the number."""
    app = sms_app
    monkeypatch.setitem(app.config, "SMS_TIMEOUT", 0.4)
    tw.hand_off_seconds = None  # nothing leaves Twilio's queue
    [number] = fan_out(1)
    tw.stall_next(1, seconds=1.0)
    assert dispatch(app).uncertain == 1
    assert dispatch(app, later=timedelta(hours=1)).found == 1
    assert posts_to(tw, number) == 1
    lists = [r["query"] for r in tw.requests if r["method"] == "GET"]
    assert "DateSent>" in lists[0] and "DateSent>" not in lists[1]


def test_a_lookup_that_fails_holds_the_sms_and_one_refused_resends_it_counted(sms_app, tw, fan_out, cli,
                                                                             monkeypatch):
    from coordinator.outbox.models import FOUND, PENDING, UNCERTAIN, UNCONFIRMED

    app = sms_app
    monkeypatch.setitem(app.config, "SMS_TIMEOUT", 0.4)
    first, second = fan_out(2)
    tw.stall_next(2, seconds=1.0)
    assert dispatch(app).uncertain == 2

    tw.fail_next(2, status=503, method="GET")  # Twilio cannot answer the lookup now: nothing is sent blindly
    stats = dispatch(app, later=timedelta(hours=1))
    assert (stats.sent, stats.retried) == (0, 2)
    assert [(r.status, r.doubt) for r in rows(app)] == [(PENDING, UNCERTAIN)] * 2
    assert posts_to(tw, first) == posts_to(tw, second) == 1

    tw.fail_next(1, status=403, code=20403, method="GET")  # the account may not list messages: sent again
    stats = dispatch(app, later=timedelta(hours=3))
    assert stats.sent == 2 and stats.found + stats.unconfirmed == 2 and stats.unconfirmed == 1
    doubts = sorted(r.doubt for r in rows(app))
    assert doubts == sorted([FOUND, UNCONFIRMED])
    resent = next(r for r in rows(app) if r.doubt == UNCONFIRMED).recipient
    assert posts_to(tw, resent) == 2  # the possible duplicate, counted as such
    output = cli("outbox", "status").output
    assert f"resent without confirmation (possible duplicates)      {1:>7}" in output, output
    assert f"found at the provider (not resent)                     {1:>7}" in output


def test_the_outbox_page_shows_the_messages_in_doubt(sms_app, tw, fan_out, client, make_user, monkeypatch):
    from factories import login

    app = sms_app
    monkeypatch.setitem(app.config, "SMS_TIMEOUT", 0.4)
    fan_out(1)
    tw.stall_next(1, seconds=1.0)
    dispatch(app)
    make_user("organizer@example.gov.vn", "organizer")
    login(client, "organizer@example.gov.vn")
    html = client.get("/outbox/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Outcome unknown after a crash or a timeout:" in html
    assert "outcome unknown: checked with the provider before any new attempt: 1" in html


# --- 4. a row the claim no longer holds ------------------------------------------------------------------------

def test_rows_taken_from_the_claim_meanwhile_are_neither_sent_nor_recorded(sms_app, tw, fan_out, monkeypatch):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    app = sms_app
    monkeypatch.setitem(app.config, "SMS_CONCURRENCY", 1)
    numbers = fan_out(5)
    tw.answer_delay = 0.3
    taken = threading.Event()

    def take_back():  # the leader released the claim and another dispatcher took the rows
        assert wait_for(lambda: len(tw.messages) >= 1, 10)
        with app.app_context():
            db.session.execute(update(OutboxMessage).values(claimed_by="another-claim"))
            db.session.commit()
            db.session.remove()
        taken.set()

    thread = threading.Thread(target=take_back)
    thread.start()
    stats = dispatch(app)
    thread.join()
    assert taken.is_set()
    assert len(tw.messages) == 1 and stats.lost == len(numbers) - 1
    assert all(r.claimed_by == "another-claim" for r in rows(app))  # nothing recorded over the other claim
