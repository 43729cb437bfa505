"""The outbox itself: a dispatcher that dies after claiming, several dispatchers at once, and
messages queued twice."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from fakes.smtp_server import TEST_CERT, SmtpServer

UTC = timezone.utc


@pytest.fixture()
def smtp(app, monkeypatch):
    server = SmtpServer().start()
    for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port,
                       "SMTP_TIMEOUT": 5.0}.items():
        monkeypatch.setitem(app.config, key, value)
    yield server
    server.stop()


@pytest.fixture()
def published(app, nd49):
    """nd49 published with `n` contacts with an email at Khánh Hòa's endpoint: 2n invitations queued."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, publish
    from coordinator.units.services import get_unit

    def make(n: int) -> int:
        with app.app_context():
            event = get_event(nd49)
            contacts = [{"name": f"Cán bộ số {i}", "phone": f"0912 000 {i:03d}", "email": f"canbo{i}@example.gov.vn",
                         "role": "technical"} for i in range(n)]
            values = endpoints.clean_endpoint({"name": "Hội trường", "protocol": "sip", "dial": "kh@10.56.0.1",
                                               "contacts": contacts})
            endpoints.save_endpoint(event, get_unit("2024", "56"), values, actor=SystemActor())
            publish(event)
            return event.id

    return make


def test_a_dispatcher_that_dies_after_claiming_leaves_nothing_lost(app, smtp, published):
    from coordinator.outbox.services import claim, dispatch_due, status_counts

    event_id = published(3)
    with app.app_context():
        _token, claimed = claim(datetime.now(UTC), 100)  # ... and the process is killed before sending
        assert len(claimed) == 6
        assert status_counts(event_id)["sending"] == 6
        assert dispatch_due().handled == 0  # still held by the dead dispatcher's lease
        later = datetime.now(UTC) + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"] + 1)
        assert dispatch_due(now=later).sent == 6
        assert status_counts(event_id)["sent"] == 6
    assert len(smtp.received) == 6


def test_the_same_message_cannot_be_queued_twice(app, published):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.outbox.services import enqueue

    published(1)
    with app.app_context():
        existing = db.session.query(OutboxMessage).first()
        again = {"key": existing.key, "channel": "email", "kind": "invitation", "event_id": existing.event_id,
                 "recipient": existing.recipient, "payload": existing.payload}
        assert enqueue([again, again]) == 0
        db.session.commit()
        assert db.session.query(OutboxMessage).count() == 2


def test_two_dispatchers_at_once_send_each_message_once(app, database, smtp, published, monkeypatch):
    if not database.is_postgres:
        pytest.skip("concurrent dispatchers need PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED)")
    from coordinator.outbox.services import dispatch_due

    monkeypatch.setitem(app.config, "OUTBOX_BATCH_SIZE", 5)
    published(30)  # 60 messages
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                results.append(dispatch_due().sent)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(results) == 60
    recipients = [(r.rcpt_tos[0], r.message["Message-ID"]) for r in smtp.received]
    assert len(recipients) == 60 and len(set(recipients)) == 60


def test_dispatch_in_several_processes_sends_each_message_once(cli, smtp, published):
    event_id = published(10)
    result = cli("outbox", "dispatch", "--once", "--processes", "2")
    assert result.exit_code == 0, result.output
    assert "sent 20, to retry 0, failed 0" in result.output
    recipients = sorted(r.rcpt_tos[0] for r in smtp.received)
    assert recipients == sorted([f"canbo{i}@example.gov.vn" for i in range(10)] * 2)
    assert "sent 0" in cli("outbox", "dispatch", "--once").output
    assert event_id


def _use(app, monkeypatch, server, **config):
    settings = {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port, "SMTP_TIMEOUT": 5.0,
                "SMTP_STARTTLS": False, "SMTP_SSL": False, "SMTP_USERNAME": "", "SMTP_PASSWORD": "",
                "SMTP_CA_FILE": str(TEST_CERT), **config}
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)


def test_starttls_and_login_to_a_relay_with_its_own_ca(app, monkeypatch, published):
    from coordinator.outbox.services import dispatch_due, status_counts

    server = SmtpServer(starttls=True, users={"hoinghi": "mật-khẩu-đúng"}).start()
    try:
        event_id = published(1)
        _use(app, monkeypatch, server, SMTP_STARTTLS=True, SMTP_USERNAME="hoinghi", SMTP_PASSWORD="sai")
        with app.app_context():
            stats = dispatch_due()
            assert (stats.sent, stats.retried) == (0, 2)
            assert "535" in stats.errors[0]  # the relay's answer, kept for the organizer
            monkeypatch.setitem(app.config, "SMTP_PASSWORD", "mật-khẩu-đúng")
            assert dispatch_due(now=datetime.now(UTC) + timedelta(hours=2)).sent == 2
            assert status_counts(event_id)["sent"] == 2
        assert [(r.tls, r.login) for r in server.received] == [(True, "hoinghi")] * 2
    finally:
        server.stop()


def test_implicit_tls_and_an_untrusted_certificate(app, monkeypatch, published):
    from coordinator.outbox.services import dispatch_due

    server = SmtpServer(implicit_tls=True).start()
    try:
        published(1)
        _use(app, monkeypatch, server, SMTP_SSL=True, SMTP_CA_FILE="")  # the system CAs do not know it
        with app.app_context():
            stats = dispatch_due()
            assert stats.retried == 2 and "CERTIFICATE_VERIFY_FAILED" in stats.errors[0]
            monkeypatch.setitem(app.config, "SMTP_CA_FILE", str(TEST_CERT))
            assert dispatch_due(now=datetime.now(UTC) + timedelta(hours=2)).sent == 2
        assert len(server.received) == 2 and all(r.tls for r in server.received)
    finally:
        server.stop()


def test_a_relay_that_dies_in_the_middle_of_a_batch(app, monkeypatch, smtp, published):
    """The connection drops during a message and reconnecting fails: what was sent stays sent,
    the rest waits for its next attempt, and nothing arrives twice."""
    from coordinator.outbox.services import dispatch_due

    published(3)  # 6 messages
    smtp.handler.crash_after = 2
    with app.app_context():
        stats = dispatch_due()
    assert (stats.sent, stats.retried, stats.failed) == (2, 4, 0)
    assert len(smtp.received) == 2
    replacement = SmtpServer().start()
    try:
        monkeypatch.setitem(app.config, "SMTP_PORT", replacement.port)
        with app.app_context():
            assert dispatch_due(now=datetime.now(UTC) + timedelta(hours=2)).sent == 4
        delivered = sorted(r.rcpt_tos[0] for r in smtp.received + replacement.received)
        assert delivered == sorted([f"canbo{i}@example.gov.vn" for i in range(3)] * 2)
    finally:
        replacement.stop()


def test_an_urgent_sms_does_not_wait_behind_emails_to_a_slow_relay(app, smtp, published, monkeypatch):
    """Invitations go out to a relay that takes 50 ms a message (one batch of 40: two seconds); an
    incident SMS queued meanwhile is sent at once, before the batch of emails is through."""
    import time

    from sqlalchemy import select

    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.outbox.services import dispatch_due, enqueue

    smtp.handler.delay = 0.05
    event_id = published(20)  # 40 invitations
    monkeypatch.setitem(app.config, "OUTBOX_BATCH_SIZE", 40)
    done = threading.Event()

    def dispatch():
        with app.app_context():
            dispatch_due()
        done.set()

    thread = threading.Thread(target=dispatch)
    thread.start()
    time.sleep(0.3)  # the first batch of emails is on its way
    with app.app_context():
        enqueue([{"key": "incident:test:+84905111222", "channel": "sms", "kind": "incident", "event_id": event_id,
                  "recipient": "+84905111222", "priority": 10,
                  "payload": {"body": "SỰ CỐ 14:05: điểm cầu Hội trường không trả lời SIP.", "lang": "vi"}}])
        db.session.commit()
        queued = time.monotonic()
        sent = None
        while time.monotonic() - queued < 5:
            db.session.expire_all()
            row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.channel == "sms"))
            if row.status == "sent":
                sent = time.monotonic() - queued
                emails = len(smtp.received)
                break
            time.sleep(0.05)
    thread.join(30)
    assert done.is_set() and len(smtp.received) == 40  # every email too, once
    assert sent is not None and sent < 1.5, sent
    assert emails < 40, emails  # the SMS did not wait for the emails
