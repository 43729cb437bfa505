"""A mail or SMS outage is visible at once (issue 14, point 9): after the first failed attempt the
invitations page says, per session, how many invitations are retrying, the latest error explained
and the next attempt (dd/mm/yyyy HH:MM in the event's zone); the event page warns when the event's
oldest unsent message (email or SMS) has waited longer than OUTBOX_STALL_WARNING_MINUTES; the API
gives the same facts. The relay is the real local SMTP server (tests/fakes/smtp_server.py), stopped,
refusing with 451, or a port that accepts and never answers; the SMS provider a closed port."""
from __future__ import annotations

import re
import socket
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import select, update

from factories import login
from fakes.smtp_server import SmtpServer, free_port
from factories import PROVINCE_CONTACTS, publish, register

KH = "56"  # Khánh Hòa

UTC = timezone.utc
SLUG = "nd49-2024"
EN = {"Accept-Language": "en"}
TECHNICAL = PROVINCE_CONTACTS[0]["email"].lower()
CHAIR = PROVINCE_CONTACTS[1]["email"].lower()


@pytest.fixture()
def smtp(app, monkeypatch):
    server = SmtpServer().start()
    for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port,
                       "SMTP_STARTTLS": False, "SMTP_SSL": False, "SMTP_TIMEOUT": 5.0}.items():
        monkeypatch.setitem(app.config, key, value)
    yield server
    if server.controller._thread is not None:  # some tests stop it themselves
        server.stop()


@pytest.fixture()
def org(make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    return token_for("org@example.gov.vn")


@pytest.fixture()
def organizer(app, make_user):
    """A second client, signed in as an organizer (pages)."""
    make_user("organizer@example.gov.vn", "organizer")
    browser = app.test_client()
    login(browser, "organizer@example.gov.vn")
    return browser


def dispatch(app, *, later: timedelta = timedelta(0), channels=None):
    from coordinator.outbox.services import dispatch_due

    with app.app_context():
        return dispatch_due(now=datetime.now(UTC) + later, channels=channels)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def tr(app, message, lang="vi", **params) -> str:
    """`message` as the page shows it in `lang` (the catalogue's words once translated)."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale(lang):
        return str(message) if not isinstance(message, str) else gettext(message, **params)


def local(value: datetime) -> str:
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y %H:%M")


def pending_invitations(app, kind: str) -> list:
    """(recipient, attempts, next attempt, last error) of a session's pending invitations."""
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.invitations.models import Invitation
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        session_id = get_event(SLUG).session(kind).id
        return db.session.execute(
            select(OutboxMessage.recipient, OutboxMessage.attempts, OutboxMessage.next_attempt_at,
                   OutboxMessage.last_error)
            .join(Invitation, Invitation.message_key == OutboxMessage.key)
            .where(Invitation.session_id == session_id, OutboxMessage.status == "pending")).all()


def retry_row(html: str, kind: str) -> str:
    match = re.search(r'<tr class="retrying" data-retrying="%s">(.*?)</tr>' % kind, html, re.S)
    assert match, f"no retry line for session {kind}"
    return text_of(match.group(1))


def explanation(app, kind: str, lang="vi") -> str:
    from coordinator.outbox.waiting import EXPLANATIONS

    return tr(app, EXPLANATIONS[kind], lang)


def age_messages(app, minutes: float, channel: str | None = None) -> None:
    """As if the event's messages had been queued `minutes` earlier (the page reads the clock)."""
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        stmt = select(OutboxMessage.id, OutboxMessage.created_at)
        if channel:
            stmt = stmt.where(OutboxMessage.channel == channel)
        rows = [{"id": i, "created_at": at - timedelta(minutes=minutes)} for i, at in db.session.execute(stmt)]
        db.session.execute(update(OutboxMessage), rows)
        db.session.commit()


# --- the invitations page, per session -----------------------------------------------------------

def test_a_stopped_relay_shows_the_reason_and_the_next_attempt_after_the_first_failure(app, client, org, smtp,
                                                                                      organizer):
    register(client, org, KH, PROVINCE_CONTACTS[:2])
    publish(client, org)
    smtp.stop()  # the relay is down: nothing listens on its port any more
    stats = dispatch(app)
    assert (stats.sent, stats.retried, stats.failed) == (0, 4, 0)

    page = organizer.get(f"/events/{SLUG}/invitations")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for kind in ("connectivity_test", "main"):
        rows = pending_invitations(app, kind)
        assert len(rows) == 2 and all(r.attempts == 1 for r in rows)
        assert all("Connection refused" in r.last_error for r in rows)
        line = retry_row(html, kind)
        # "2 retrying — last error: <explained> <the server's words>; next attempt at dd/mm/yyyy HH:MM"
        assert tr(app, "%(n)s retrying", n=2) in line
        assert explanation(app, "refused") in line and "Connection refused" in line
        assert f"127.0.0.1:{smtp.port}" in line
        assert tr(app, "next attempt at %(at)s", at=local(min(r.next_attempt_at for r in rows))) in line
    # Nothing older than ten minutes yet: no warning.
    assert 'id="outbox-stalled"' not in html

    # The same facts in the API, with the event's offset.
    body = client.get(f"/api/v1/events/{SLUG}/invitations", headers=org).get_json()
    main = next(s for s in body["sessions"] if s["kind"] == "main")
    assert main["counts"]["pending"] == 2  # nothing renamed
    retrying = main["retrying"]
    assert retrying["count"] == 2 and retrying["last_error_kind"] == "refused"
    assert "Connection refused" in retrying["last_error"] and retrying["last_error_explained"]
    next_at = datetime.fromisoformat(retrying["next_attempt_at"])
    assert next_at.utcoffset() == timedelta(hours=7)
    assert next_at == min(r.next_attempt_at for r in pending_invitations(app, "main"))
    [email] = body["waiting"]
    assert (email["channel"], email["waiting"], email["retrying"], email["stalled"]) == ("email", 4, 4, False)
    assert email["last_error_kind"] == "refused" and body["stall_warning_minutes"] == 10


def test_in_english_the_line_reads_retrying_last_error_next_attempt(app, client, org, smtp, organizer):
    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)
    smtp.stop()
    dispatch(app)
    line = retry_row(organizer.get(f"/events/{SLUG}/invitations", headers=EN).get_data(as_text=True), "main")
    [row] = pending_invitations(app, "main")
    assert line.startswith("1 retrying — last error: the server refused the connection")
    assert line.endswith(f"next attempt at {local(row.next_attempt_at)}")


def test_a_relay_answering_451_then_recovering(app, client, org, smtp, organizer):
    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)
    smtp.handler.refuse_next = 100
    assert dispatch(app).retried == 2
    html = organizer.get(f"/events/{SLUG}/invitations").get_data(as_text=True)
    line = retry_row(html, "main")
    assert explanation(app, "smtp_4xx") in line and "451 4.3.0" in line
    # The second attempt (two hours later) refused again: still shown, with its new next attempt.
    assert dispatch(app, later=timedelta(hours=2)).retried == 2
    [row] = pending_invitations(app, "main")
    assert row.attempts == 2
    html = organizer.get(f"/events/{SLUG}/invitations").get_data(as_text=True)
    assert tr(app, "next attempt at %(at)s", at=local(row.next_attempt_at)) in retry_row(html, "main")
    # The relay accepts again: the line goes away.
    smtp.handler.refuse_next = 0
    assert dispatch(app, later=timedelta(hours=5)).sent == 2
    assert 'class="retrying"' not in organizer.get(f"/events/{SLUG}/invitations").get_data(as_text=True)


def test_a_relay_that_accepts_and_never_answers_is_a_timeout(app, client, org, smtp, organizer, monkeypatch):
    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever says 220
    try:
        monkeypatch.setitem(app.config, "SMTP_PORT", silent.getsockname()[1])
        monkeypatch.setitem(app.config, "SMTP_TIMEOUT", 0.5)
        assert dispatch(app).retried == 2
    finally:
        silent.close()
    line = retry_row(organizer.get(f"/events/{SLUG}/invitations").get_data(as_text=True), "main")
    assert explanation(app, "timeout") in line and "timed out" in line
    body = client.get(f"/api/v1/events/{SLUG}/invitations", headers=org).get_json()
    assert {s["retrying"]["last_error_kind"] for s in body["sessions"]} == {"timeout"}


def test_the_latest_error_is_the_one_shown(app, client, org, smtp, monkeypatch):
    """Refused at the first attempt; two hours later one message is tried again and gets a 451:
    the 451 is the latest error, while the other message still carries the refusal."""
    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)
    smtp.stop()
    dispatch(app)
    replacement = SmtpServer().start()
    try:
        monkeypatch.setitem(app.config, "SMTP_PORT", replacement.port)
        replacement.handler.refuse_next = 100
        from coordinator.outbox.services import dispatch_due

        with app.app_context():
            assert dispatch_due(now=datetime.now(UTC) + timedelta(hours=2), max_messages=1).retried == 1
    finally:
        replacement.stop()
    body = client.get(f"/api/v1/events/{SLUG}/messages", headers=org).get_json()
    assert sorted(m["last_error_kind"] for m in body["items"]) == ["refused", "smtp_4xx"]
    assert all(m["next_attempt_at"] for m in body["items"])
    [email] = body["waiting"]
    assert email["last_error_kind"] == "smtp_4xx" and email["last_error"].startswith("451")


# --- the event page's warning ----------------------------------------------------------------------

def test_the_event_page_warns_when_the_oldest_message_waits_longer_than_the_threshold(app, client, org, smtp,
                                                                                     organizer, monkeypatch,
                                                                                     make_user):
    register(client, org, KH, PROVINCE_CONTACTS[:2])
    publish(client, org)
    smtp.stop()
    dispatch(app)
    assert 'id="outbox-stalled"' not in organizer.get(f"/events/{SLUG}").get_data(as_text=True)

    from coordinator.events.services import get_event
    from coordinator.outbox.waiting import stalled

    with app.app_context():  # eleven minutes from now, by the service's clock
        event_id = get_event(SLUG).id
        [later] = stalled(event_id, now=datetime.now(UTC) + timedelta(minutes=11))
        assert (later.channel, later.count, later.retrying, later.error.kind) == ("email", 4, 4, "refused")
        assert stalled(event_id) == []

    age_messages(app, 11)  # ... and by the page's: queued eleven minutes ago
    html = organizer.get(f"/events/{SLUG}").get_data(as_text=True)
    match = re.search(r'<div class="flash flash-error" role="alert" id="outbox-stalled">(.*?)</div>', html, re.S)
    assert match, "no warning on the event page"
    warning = text_of(match.group(1))
    with app.app_context():
        [w] = stalled(event_id)
    assert tr(app, "%(channel)s: %(n)s waiting, the oldest since %(since)s (%(minutes)s minutes).",
              channel=tr(app, "Email"), n=4, since=local(w.since), minutes=11) in warning
    assert explanation(app, "refused") in warning and "Connection refused" in warning
    assert tr(app, "Next attempt at %(at)s.", at=local(w.next_attempt_at)) in warning
    assert 'data-channel="email"' in match.group(1)

    # The threshold is a setting.
    monkeypatch.setitem(app.config, "OUTBOX_STALL_WARNING_MINUTES", 15)
    assert 'id="outbox-stalled"' not in organizer.get(f"/events/{SLUG}").get_data(as_text=True)
    monkeypatch.setitem(app.config, "OUTBOX_STALL_WARNING_MINUTES", 10)
    # The API says the same; a coordinator, who does not see messages, gets no warning.
    body = client.get(f"/api/v1/events/{SLUG}/invitations", headers=org).get_json()
    assert body["waiting"][0]["stalled"] is True and body["waiting"][0]["minutes"] == 11
    make_user("kh@example.gov.vn", "coordinator", unit=KH)
    coordinator = app.test_client()
    login(coordinator, "kh@example.gov.vn")
    assert 'id="outbox-stalled"' not in coordinator.get(f"/events/{SLUG}").get_data(as_text=True)

    # Once the relay is back and everything is sent, the warning goes.
    replacement = SmtpServer().start()
    try:
        monkeypatch.setitem(app.config, "SMTP_PORT", replacement.port)
        assert dispatch(app, later=timedelta(hours=2)).sent == 4
    finally:
        replacement.stop()
    assert 'id="outbox-stalled"' not in organizer.get(f"/events/{SLUG}").get_data(as_text=True)


def test_messages_never_tried_say_the_dispatcher_may_not_run(app, client, org, organizer):
    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)  # queued; no dispatcher runs
    age_messages(app, 30)
    html = organizer.get(f"/events/{SLUG}", headers=EN).get_data(as_text=True)
    warning = text_of(re.search(r'id="outbox-stalled">(.*?)</div>', html, re.S).group(1))
    assert "Email: 2 waiting" in warning and "(30 minutes)" in warning
    assert "No attempt has failed yet: is the dispatcher (the scheduler process) running?" in warning
    assert "The next attempt is due now; if this warning stays, the dispatcher is not running." in warning


def test_sms_reminders_stuck_behind_an_unreachable_provider_are_warned_of_too(app, cli, client, org, organizer,
                                                                             monkeypatch):
    register(client, org, KH, PROVINCE_CONTACTS[:2])
    publish(client, org)
    for key, value in {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "5" * 32, "TWILIO_AUTH_TOKEN": "t",
                       "TWILIO_FROM": "+15005550006", "TWILIO_MESSAGING_SERVICE_SID": "",
                       "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens
                       "SMS_RATE_PER_SECOND": 0.0, "SMS_TIMEOUT": 2.0}.items():
        monkeypatch.setitem(app.config, key, value)
    result = cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00")  # the technical contacts' −1 day SMS
    assert result.exit_code == 0 and "1 messages queued" in result.output, result.output
    stats = dispatch(app, channels=["sms"])
    assert stats.retried == 1
    age_messages(app, 12, channel="sms")
    html = organizer.get(f"/events/{SLUG}").get_data(as_text=True)
    match = re.search(r'id="outbox-stalled">(.*?)</div>', html, re.S)
    assert match and 'data-channel="sms"' in match.group(1) and 'data-channel="email"' not in match.group(1)
    warning = text_of(match.group(1))
    assert tr(app, "SMS") in warning and "Twilio unreachable" in warning and explanation(app, "refused") in warning
    body = client.get(f"/api/v1/events/{SLUG}/messages?channel=sms", headers=org).get_json()
    sms = next(w for w in body["waiting"] if w["channel"] == "sms")
    assert sms["stalled"] and sms["waiting"] == 1 and sms["last_error_kind"] == "refused"


@pytest.mark.parametrize("reason,kind", [
    ("SMTP 127.0.0.1:25: [Errno 111] Connection refused", "refused"),
    ("SMTP relay.example.gov.vn:587: timed out", "timeout"),
    ("SMTP relay.example.gov.vn:587: [Errno -2] Name or service not known", "dns"),
    ("SMTP 127.0.0.1:465: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "tls"),
    ("451 4.3.0 Temporary failure, please try again later", "smtp_4xx"),
    ("SMTP 127.0.0.1:25: 421 4.7.0 Too many connections", "smtp_4xx"),
    ("550 5.1.1 <a@b.vn>: Recipient address rejected: User unknown", "smtp_5xx"),
    ("SMTP 127.0.0.1:25: 535 5.7.8 Authentication credentials invalid", "credentials"),
    ("SMTP connection lost: Connection unexpectedly closed", "lost"),
    ("Twilio HTTP 429: Too Many Requests", "http_429"),
    ("Twilio HTTP 503: Service Unavailable", "http_5xx"),
    ("Twilio HTTP 401 (20003): Authenticate; check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN", "credentials"),
    ("Twilio unreachable: ConnectionError: ... [Errno 111] Connection refused')", "refused"),
    ("Twilio unreachable: ReadTimeout: HTTPSConnectionPool(host='api.twilio.com', port=443): Read timed out.",
     "timeout"),
    ("not sent: a foreign number, which the Vietnamese SMS sender cannot reach", "foreign"),
    ("KeyError: 'summary'", "other"),
    ("", ""),
])
def test_error_kinds(reason, kind):
    from coordinator.outbox.waiting import error_kind

    assert error_kind(reason) == kind
