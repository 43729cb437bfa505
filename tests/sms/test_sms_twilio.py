"""SMS reminders through Twilio, end to end: the real `twilio` client talks to a local fake of
Twilio's Messages API (tests/fakes/twilio_server.py), and Twilio's webhooks (delivery reports, texts
that arrive) are posted to the app signed as Twilio signs them.

What an organizer relies on: each person gets each reminder once (whatever retries, restarts or
concurrent dispatchers happen), numbers that cannot or must not receive SMS are not texted, what
became of every SMS is visible, and nobody but Twilio can change that record.
"""
from __future__ import annotations

import socket
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
from twilio.request_validator import RequestValidator

from fakes.twilio_server import FakeTwilio

UTC = timezone.utc
ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "twilio-auth-token-for-tests"
SENDER = "+15005550006"

# Fire times of the nd49 reminder rules (the plan's sessions are in Asia/Ho_Chi_Minh, +07:00).
CONNECTIVITY_MINUS_1D = "2024-06-26T14:00:30+07:00"  # the connectivity test's −1 day reminder, technical
MAIN_MINUS_1D = "2024-06-27T08:30:30+07:00"  # the main session's −1 day reminders (chairs, technical)
CONNECTIVITY_MINUS_1H = "2024-06-27T13:00:30+07:00"  # the connectivity test's −1 hour reminder (+ late main −1 day)

ANH = "+84905111222"  # technical contact at two endpoints (one person, one phone)
BINH = "+84905333444"
CUC = "+84987654321"
CHAIR = "+84914000001"
FIXED_LINE = "+842583563535"  # 0258 3563 535: a landline, cannot receive SMS

KH_ROOM = "Hội trường Sở TT&TT Khánh Hòa"
NT_ROOM = "Phòng họp UBND Nha Trang"
CR_ROOM = "Phòng họp UBND Cam Ranh"

# unit code -> (endpoint name, contacts)
LAYOUT = {
    "56": (KH_ROOM, [
        {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"},
        {"name": "Tổ kỹ thuật Sở", "phone": "0258 3563 535", "role": "technical"},
        {"name": "Lê Văn Chủ", "phone": "0914 000 001", "role": "chair"},
    ]),
    "568": (NT_ROOM, [
        {"name": "Đỗ Thị Ánh", "phone": "0905.111.222", "role": "technical"},
        {"name": "Trần Văn Bình", "phone": "0905 333 444", "role": "technical"},
    ]),
    "569": (CR_ROOM, [
        {"name": "Nguyễn Thị Cúc", "phone": "+84 987 654 321", "role": "technical"},
    ]),
}
TECHNICAL = sorted([ANH, BINH, CUC])


# --- fixtures and helpers ------------------------------------------------------------------------

def twilio_settings(tw: FakeTwilio, **extra) -> dict:
    return {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": tw.account_sid, "TWILIO_AUTH_TOKEN": tw.auth_token,
            "TWILIO_FROM": SENDER, "TWILIO_MESSAGING_SERVICE_SID": "", "TWILIO_API_BASE_URL": tw.base_url,
            "SMS_RATE_PER_SECOND": 0.0, "SMS_CONCURRENCY": 4, "SMS_TIMEOUT": 5.0, **extra}


@pytest.fixture()
def tw():
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        yield server


@pytest.fixture()
def twilio_app(app, tw, monkeypatch):
    """The session's app, sending SMS through the real twilio client to the fake."""
    for key, value in twilio_settings(tw).items():
        monkeypatch.setitem(app.config, key, value)
    return app


@pytest.fixture()
def register(app, nd49):
    """Register endpoints (unit code -> (name, contacts)) for nd49 and publish it; returns the event id."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, publish
    from coordinator.units.services import get_unit

    def make(layout: dict = LAYOUT) -> int:
        with app.app_context():
            event = get_event(nd49)
            for i, (code, (name, contacts)) in enumerate(layout.items()):
                values = endpoints.clean_endpoint({"name": name, "protocol": "sip", "dial": f"dd{i}@10.56.0.{i + 1}",
                                                   "contacts": contacts})
                assert not values.problems, values.problems
                endpoints.save_endpoint(event, get_unit("2024", code), values, actor=SystemActor())
            publish(event)
            return event.id

    return make


def many(n: int, first: int = 0) -> dict:
    """One endpoint (Khánh Hòa) with `n` technical contacts, each with their own mobile number."""
    return {"56": (KH_ROOM, [{"name": f"Kỹ thuật viên {i}", "phone": f"0912 100 {i:03d}", "role": "technical"}
                             for i in range(first, first + n)])}


def fire(cli, at: str) -> str:
    result = cli("reminders", "due", "--at", at)
    assert result.exit_code == 0, result.output
    return result.output


def dispatch(app, *, later: timedelta = timedelta(0)):
    from coordinator.outbox.services import dispatch_due

    with app.app_context():
        return dispatch_due(now=datetime.now(UTC) + later, channels=["sms"])


def sms_rows(app) -> list[dict]:
    """Every SMS in the outbox, as plain dicts (read through the outbox service)."""
    from coordinator.outbox.services import list_messages

    with app.app_context():
        rows, _total = list_messages(channel="sms", limit=1000)
        return [{"recipient": r.recipient, "status": r.status, "attempts": r.attempts, "last_error": r.last_error,
                 "provider_ref": r.provider_ref, "body": r.payload.get("body"), "key": r.key,
                 "delivery_status": r.delivery_status, "delivery_error": r.delivery_error} for r in rows]


def row_for(app, number: str) -> dict:
    [row] = [r for r in sms_rows(app) if r["recipient"] == number]
    return row


def opted_out(app, number: str) -> bool:
    from coordinator.sms.services import is_opted_out

    with app.app_context():
        return is_opted_out(number)


def post_signed(client, path: str, params: dict, signature: str | None, base_url: str, **headers):
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(path, data=params, headers=headers, base_url=base_url)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- 1. one SMS per person per reminder -----------------------------------------------------------

def test_each_person_gets_exactly_one_sms_per_reminder(twilio_app, tw, register, cli):
    app = twilio_app
    register()

    output = fire(cli, CONNECTIVITY_MINUS_1D)
    assert output.rstrip().endswith("3 messages queued"), output
    stats = dispatch(app)
    assert (stats.sent, stats.retried, stats.failed) == (3, 0, 0), stats.errors

    # One message per distinct mobile number; none to the landline, none to the chair.
    assert sorted(m["to"] for m in tw.messages) == TECHNICAL
    assert len(tw.requests) == 3
    callback = app.config["PUBLIC_BASE_URL"] + "/webhooks/twilio/status"
    for request in tw.requests:
        form = request["form"]
        assert request["method"] == "POST" and request["status"] == 201
        assert form["From"] == SENDER and form["To"] in TECHNICAL and form["Body"]
        assert form["StatusCallback"] == callback
        assert "MessagingServiceSid" not in form

    by_number = {m["to"]: m for m in tw.messages}
    # The person listed at two endpoints is told about both in one SMS.
    assert KH_ROOM in by_number[ANH]["body"] and NT_ROOM in by_number[ANH]["body"]
    assert NT_ROOM in by_number[BINH]["body"] and KH_ROOM not in by_number[BINH]["body"]
    assert CR_ROOM in by_number[CUC]["body"]
    # Vietnamese arrives intact, with the session's local time and the confirmation link.
    for message in tw.messages:
        assert message["body"].startswith("Kiểm tra đường truyền kỹ thuật Hội nghị trực tuyến phổ biến "
                                          "Nghị định 49/2024/NĐ-CP lúc 14:00 ngày 27/06/2024, điểm cầu ")
        assert app.config["PUBLIC_BASE_URL"] + "/c/" in message["body"]

    rows = sms_rows(app)
    assert len(rows) == 3
    for row in rows:
        message = by_number[row["recipient"]]
        assert row["status"] == "sent" and row["attempts"] == 1
        assert row["provider_ref"] == message["sid"]  # the Twilio SID, for the delivery reports
        assert row["body"] == message["body"]

    # The scheduler (or an organizer) running it again sends nothing more.
    again = fire(cli, CONNECTIVITY_MINUS_1D)
    assert again.rstrip().endswith("0 messages queued"), again
    assert dispatch(app, later=timedelta(hours=2)).handled == 0
    assert len(tw.messages) == 3 and len(tw.requests) == 3


def test_a_messaging_service_sends_without_a_from_number(twilio_app, tw, register, cli, monkeypatch):
    monkeypatch.setitem(twilio_app.config, "TWILIO_FROM", "")
    monkeypatch.setitem(twilio_app.config, "TWILIO_MESSAGING_SERVICE_SID", "MG" + "1" * 32)
    register(many(2))
    fire(cli, CONNECTIVITY_MINUS_1D)
    assert dispatch(twilio_app).sent == 2
    assert [r["form"].get("MessagingServiceSid") for r in tw.requests] == ["MG" + "1" * 32] * 2
    assert all("From" not in r["form"] for r in tw.requests)
    assert {r["provider_ref"] for r in sms_rows(twilio_app)} == {m["sid"] for m in tw.messages}


# --- 2. temporary failures: retried, delivered once ------------------------------------------------

@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_temporary_twilio_error_is_retried_and_delivered_once(twilio_app, tw, register, cli, status):
    app = twilio_app
    register(many(1))
    fire(cli, CONNECTIVITY_MINUS_1D)
    tw.fail_next(1, status)

    stats = dispatch(app)
    assert (stats.sent, stats.retried, stats.failed) == (0, 1, 0)
    [row] = sms_rows(app)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert str(status) in row["last_error"]
    assert tw.messages == [] and len(tw.requests) == 1

    assert dispatch(app).handled == 0  # not due again before its backoff
    stats = dispatch(app, later=timedelta(hours=2))
    assert (stats.sent, stats.retried, stats.failed) == (1, 0, 0)
    [row] = sms_rows(app)
    assert row["status"] == "sent" and row["attempts"] == 2 and row["last_error"] == ""
    assert len(tw.messages) == 1 and row["provider_ref"] == tw.messages[0]["sid"]
    assert len(tw.requests) == 2


def test_twilio_unreachable_is_retried_not_failed(twilio_app, tw, register, cli, monkeypatch):
    app = twilio_app
    register(many(2))
    fire(cli, CONNECTIVITY_MINUS_1D)
    monkeypatch.setitem(app.config, "TWILIO_API_BASE_URL", f"http://127.0.0.1:{closed_port()}")

    stats = dispatch(app)
    assert (stats.sent, stats.retried, stats.failed) == (0, 2, 0)
    for row in sms_rows(app):
        assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]

    monkeypatch.setitem(app.config, "TWILIO_API_BASE_URL", tw.base_url)  # the network is back
    assert dispatch(app, later=timedelta(hours=2)).sent == 2
    assert sorted(m["to"] for m in tw.messages) == ["+84912100000", "+84912100001"]
    assert all(r["status"] == "sent" for r in sms_rows(app))


def test_a_wrong_auth_token_holds_the_reminders_until_it_is_fixed(twilio_app, tw, register, cli, monkeypatch):
    """Twilio's 401 is about the account, not the message: nothing is failed, one request is made
    per batch (not one per message), and once the token is fixed everything goes out once."""
    app = twilio_app
    register(many(3))
    fire(cli, CONNECTIVITY_MINUS_1D)
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", "a-wrong-token")
    stats = dispatch(app)
    assert (stats.sent, stats.retried, stats.failed) == (0, 3, 0)
    assert len(tw.requests) <= app.config["SMS_CONCURRENCY"]  # each connection stops at its first 401
    assert all(r["status"] == "pending" and "TWILIO_AUTH_TOKEN" in r["last_error"] for r in sms_rows(app))
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", tw.auth_token)
    assert dispatch(app, later=timedelta(hours=2)).sent == 3
    assert len(tw.messages) == 3


# --- 3. permanent errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [21614, 21211, 21610])
def test_a_permanent_twilio_error_fails_at_once_with_the_reason(twilio_app, tw, register, cli, code):
    app = twilio_app
    register()
    tw.reject(ANH, code)
    fire(cli, CONNECTIVITY_MINUS_1D)

    stats = dispatch(app)
    assert (stats.sent, stats.retried, stats.failed) == (2, 0, 1)
    row = row_for(app, ANH)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert str(code) in row["last_error"]
    assert sorted(m["to"] for m in tw.messages) == [BINH, CUC]
    assert dispatch(app, later=timedelta(days=1)).handled == 0  # never tried again
    assert len([r for r in tw.requests if r["form"].get("To") == ANH]) == 1

    # Only "unsubscribed" (the person replied STOP to Twilio) opts the number out.
    assert opted_out(app, ANH) is (code == 21610)
    assert not opted_out(app, BINH)
    fire(cli, CONNECTIVITY_MINUS_1H)  # the next reminders (connectivity −1 h; main −1 day, chairs and technical)
    queued = {r["recipient"] for r in sms_rows(app) if r["status"] == "pending"}
    assert queued == ({BINH, CUC, CHAIR} if code == 21610 else {ANH, BINH, CUC, CHAIR})

def test_unsubscribed_reported_while_the_same_stop_is_being_recorded(twilio_app, tw, register, cli, database):
    """Twilio answers 21610 for a number whose STOP is being recorded at that moment (the inbound
    webhook, or another dispatcher meeting the same 21610): the batch is still recorded, and no
    SMS of it goes out a second time when its lease ends."""
    if not database.is_postgres:
        pytest.skip("needs row locks held by two transactions at once (PostgreSQL)")
    from sqlalchemy import create_engine, text

    from coordinator.extensions import db
    from coordinator.outbox.services import dispatch_due, status_counts
    from coordinator.sms.services import opt_out

    app = twilio_app
    event_id = register()
    fire(cli, CONNECTIVITY_MINUS_1D)
    tw.reject(ANH, 21610)
    errors, results = [], []

    def dispatcher():
        try:
            with app.app_context():
                results.append(dispatch_due(now=datetime.now(UTC), channels=["sms"]))
        except Exception as exc:
            errors.append(exc)

    watcher = create_engine(database.url)
    thread = threading.Thread(target=dispatcher)
    try:
        with app.app_context():
            opt_out(ANH, "sms", note="STOP", actor_label=ANH)  # the webhook's transaction, not committed yet
            db.session.flush()
            webhook_pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
            thread.start()
            deadline = time.monotonic() + 5
            with watcher.connect() as conn:  # until the dispatcher waits for that transaction (or 5 s)
                while time.monotonic() < deadline and not conn.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                        {"pid": webhook_pid}).scalar():
                    time.sleep(0.02)
            db.session.commit()
        thread.join(30)
    finally:
        watcher.dispose()

    assert not errors, errors
    assert [(s.sent, s.failed) for s in results] == [(2, 1)]
    with app.app_context():
        assert status_counts(event_id, "sms") == {"pending": 0, "sending": 0, "sent": 2, "failed": 1, "superseded": 0}
    later = timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"] + 60)
    assert dispatch(app, later=later).handled == 0
    assert sorted(m["to"] for m in tw.messages) == [BINH, CUC]
    assert opted_out(app, ANH)


# --- 4. a restart between queuing and sending -----------------------------------------------------------

def test_a_restart_between_queuing_and_sending_delivers_once(twilio_app, tw, register, cli, database):
    from coordinator import create_app
    from coordinator.extensions import db
    from coordinator.reminders.services import enqueue_due

    app = twilio_app
    register()
    fire(cli, CONNECTIVITY_MINUS_1D)  # ... and the process stops before the dispatcher runs

    restarted = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.url,
                            "MAIL_FILE_DIR": app.config["MAIL_FILE_DIR"], **twilio_settings(tw)})
    try:
        with restarted.app_context():
            # The restarted scheduler catching up fires nothing twice ...
            runs = enqueue_due(datetime.fromisoformat(CONNECTIVITY_MINUS_1D) + timedelta(minutes=1))
            assert sum(r.queued for r in runs) == 0
        # ... and its dispatcher sends what was queued before the restart.
        stats = dispatch(restarted)
        assert (stats.sent, stats.retried, stats.failed) == (3, 0, 0)
    finally:
        with restarted.app_context():
            db.session.remove()
            db.engine.dispose()

    assert sorted(m["to"] for m in tw.messages) == TECHNICAL
    assert dispatch(app, later=timedelta(hours=2)).handled == 0  # the old process, still around, sends nothing
    assert len(tw.messages) == 3
    assert {r["provider_ref"] for r in sms_rows(app)} == {m["sid"] for m in tw.messages}


# --- 5. delivery reports ------------------------------------------------------------------------------------

def test_status_callbacks_record_what_became_of_each_sms(twilio_app, tw, register, cli, client, make_user,
                                                         token_for):
    app = twilio_app
    base = app.config["PUBLIC_BASE_URL"]
    register()
    fire(cli, CONNECTIVITY_MINUS_1D)
    dispatch(app)
    sid = {m["to"]: m["sid"] for m in tw.messages}

    def report(number, status, error_code=None, extra=None):
        url, params, signature = tw.callback(sid[number], status, error_code, extra)
        assert url == base + "/webhooks/twilio/status"
        response = post_signed(client, "/webhooks/twilio/status", params, signature, base)
        assert response.status_code == 204, response.get_data(as_text=True)[:300]

    for status in ("queued", "sent", "delivered"):
        report(ANH, status)
        assert row_for(app, ANH)["delivery_status"] == status
    report(ANH, "sent")  # a late report does not move it back
    assert row_for(app, ANH)["delivery_status"] == "delivered"

    report(BINH, "sent")
    report(BINH, "undelivered", 30003)
    assert (row_for(app, BINH)["delivery_status"], row_for(app, BINH)["delivery_error"]) == ("undelivered", "30003")

    # Twilio adds fields over time: unknown ones are accepted.
    report(CUC, "delivered", extra={"RawDlrDoneDate": "2406261401", "ChannelPrefix": "sms",
                                    "SomeFieldTwilioAddsLater": "giá trị"})
    assert row_for(app, CUC)["delivery_status"] == "delivered"
    assert all(r["status"] == "sent" for r in sms_rows(app))  # the outbox's own status is unchanged

    make_user("organizer@example.gov.vn", "organizer")
    response = client.get("/api/v1/events/nd49-2024/messages?channel=sms",
                          headers=token_for("organizer@example.gov.vn"))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    listed = {m["recipient"]: m for m in response.get_json()["items"]}
    assert {n: (m["delivery_status"], m["delivery_error"], m["provider_ref"]) for n, m in listed.items()} == {
        ANH: ("delivered", "", sid[ANH]), BINH: ("undelivered", "30003", sid[BINH]), CUC: ("delivered", "", sid[CUC])}
    assert response.get_json()["counts"]["sent"] == 3


def test_a_delivery_report_of_an_unsubscribed_number_opts_it_out(twilio_app, tw, register, cli, client):
    app = twilio_app
    base = app.config["PUBLIC_BASE_URL"]
    register(many(2))
    fire(cli, CONNECTIVITY_MINUS_1D)
    dispatch(app)
    first, second = tw.messages
    for message, code in ((first, 21610), (second, 30005)):
        url, params, signature = tw.callback(message["sid"], "failed", code)
        assert post_signed(client, "/webhooks/twilio/status", params, signature, base).status_code == 204
        assert (row_for(app, message["to"])["delivery_status"], row_for(app, message["to"])["delivery_error"]) == (
            "failed", str(code))
    assert opted_out(app, first["to"])  # 21610: the person unsubscribed
    assert not opted_out(app, second["to"])  # 30005: an unknown handset, not a refusal
    fire(cli, MAIN_MINUS_1D)
    assert {r["recipient"] for r in sms_rows(app) if r["status"] == "pending"} == {second["to"]}


# --- 6. forged webhooks ---------------------------------------------------------------------------------------

def test_forged_webhooks_are_refused_and_change_nothing(twilio_app, tw, register, cli, client):
    app = twilio_app
    base = app.config["PUBLIC_BASE_URL"]
    register(many(1))
    fire(cli, CONNECTIVITY_MINUS_1D)
    dispatch(app)
    [message] = tw.messages
    number = message["to"]
    url, params, signature = tw.callback(message["sid"], "sent")

    tampered = {**params, "MessageStatus": "failed", "SmsStatus": "failed", "ErrorCode": "21610"}
    attempts = {
        "wrong signature": (params, "bm90IGEgcmVhbCBzaWduYXR1cmU="),
        "no signature": (params, None),
        "empty signature": (params, ""),
        "signed, then a parameter changed": (tampered, signature),
        "signed with another token": (tampered, RequestValidator("another-token").compute_signature(url, tampered)),
        "signed for another URL": (tampered, tw.sign("https://attacker.example/webhooks/twilio/status", tampered)),
    }
    for what, (data, sig) in attempts.items():
        response = post_signed(client, "/webhooks/twilio/status", data, sig, base)
        assert response.status_code == 403, what
    row = row_for(app, number)
    assert (row["delivery_status"], row["delivery_error"]) == ("", "")
    assert not opted_out(app, number)

    # A forged STOP does not silence anyone.
    inbound_url = base + "/webhooks/twilio/sms"
    stop, stop_signature = tw.inbound(inbound_url, number, "STOP")
    for sig in ("bm90IGEgcmVhbCBzaWduYXR1cmU=", None,
                RequestValidator("another-token").compute_signature(inbound_url, stop)):
        assert post_signed(client, "/webhooks/twilio/sms", stop, sig, base).status_code == 403
    assert post_signed(client, "/webhooks/twilio/sms", {**stop, "From": BINH}, stop_signature,
                       base).status_code == 403
    assert not opted_out(app, number) and not opted_out(app, BINH)

    # The genuine report still goes through.
    assert post_signed(client, "/webhooks/twilio/status", params, signature, base).status_code == 204
    assert row_for(app, number)["delivery_status"] == "sent"

def test_a_delivery_report_naming_no_known_message_changes_nothing(twilio_app, tw, register, cli, client):
    app = twilio_app
    base = app.config["PUBLIC_BASE_URL"]
    register(many(2))
    fire(cli, CONNECTIVITY_MINUS_1D)  # queued, not sent yet: no SID
    url = base + "/webhooks/twilio/status"
    for params in ({"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": tw.account_sid},
                   {"MessageStatus": "failed", "ErrorCode": "21610", "AccountSid": tw.account_sid}):
        response = post_signed(client, "/webhooks/twilio/status", params, tw.sign(url, params), base)
        assert response.status_code in (204, 400)
    assert [(r["delivery_status"], r["delivery_error"]) for r in sms_rows(app)] == [("", "")] * 2
    assert not opted_out(app, "+84912100000") and not opted_out(app, "+84912100001")


# --- 7. behind a reverse proxy ----------------------------------------------------------------------------------

def test_callbacks_behind_a_reverse_proxy(app, tw, register, cli, database):
    from coordinator import create_app
    from coordinator.extensions import db

    public = "https://hoinghi.example.gov.vn"
    proxied = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.url,
                          "MAIL_FILE_DIR": app.config["MAIL_FILE_DIR"], "TRUST_PROXY_HEADERS": 1,
                          "PUBLIC_BASE_URL": public, **twilio_settings(tw)})
    try:
        register(many(1))
        fire(cli, CONNECTIVITY_MINUS_1D)
        assert dispatch(proxied).sent == 1
        [message] = tw.messages
        assert message["status_callback"] == public + "/webhooks/twilio/status"
        url, params, signature = tw.callback(message["sid"], "delivered")
        assert url == public + "/webhooks/twilio/status"
        # What the proxy forwards: plain http to an internal address, the public origin in headers.
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hoinghi.example.gov.vn",
                     "X-Forwarded-For": "54.172.60.1"}
        internal = "http://10.56.0.10:8000"

        # Without TRUST_PROXY_HEADERS the app sees http://10.56.0.10:8000/...: not what Twilio signed.
        refused = post_signed(app.test_client(), "/webhooks/twilio/status", params, signature, internal, **forwarded)
        assert refused.status_code == 403
        assert row_for(app, message["to"])["delivery_status"] == ""

        accepted = post_signed(proxied.test_client(), "/webhooks/twilio/status", params, signature, internal,
                               **forwarded)
        assert accepted.status_code == 204
        assert row_for(app, message["to"])["delivery_status"] == "delivered"
    finally:
        with proxied.app_context():
            db.session.remove()
            db.engine.dispose()


# --- 8. texts that arrive --------------------------------------------------------------------------------------------

def inbound(client, tw, app, from_: str, body: str):
    base = app.config["PUBLIC_BASE_URL"]
    params, signature = tw.inbound(base + "/webhooks/twilio/sms", from_, body)
    response = post_signed(client, "/webhooks/twilio/sms", params, signature, base)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


@pytest.mark.parametrize("word", ["STOP", "hủy"])
def test_stop_and_start_by_sms(twilio_app, tw, register, cli, client, word):
    app = twilio_app
    register()

    assert inbound(client, tw, app, ANH, word) == []  # Twilio itself confirms a STOP: no second reply
    assert opted_out(app, ANH)
    fire(cli, CONNECTIVITY_MINUS_1D)
    assert sorted(r["recipient"] for r in sms_rows(app)) == [BINH, CUC]

    assert inbound(client, tw, app, ANH, "START") == []
    assert not opted_out(app, ANH)
    fire(cli, MAIN_MINUS_1D)
    assert ANH in {r["recipient"] for r in sms_rows(app)}
    assert dispatch(app).failed == 0
    assert ANH in {m["to"] for m in tw.messages}


def test_ok_by_sms_confirms_the_next_session(twilio_app, tw, register, cli, client):
    from coordinator.events.services import get_event, move_session
    from coordinator.reminders.confirmations import confirmations

    app = twilio_app
    register()
    with app.app_context():
        event = get_event("nd49-2024")
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        move_session(event, "main", starts_at=soon + timedelta(days=1), ends_at=soon + timedelta(days=1, hours=3))
        move_session(event, "connectivity_test", starts_at=soon, ends_at=soon + timedelta(hours=3))
        test_session = event.session("connectivity_test").id

    [reply] = inbound(client, tw, app, ANH, "OK")
    assert KH_ROOM in reply and NT_ROOM in reply and "Kiểm tra đường truyền kỹ thuật" in reply
    with app.app_context():
        assert confirmations(get_event("nd49-2024")) == {test_session: 2}  # both of her endpoints

    [again] = inbound(client, tw, app, ANH, "ok.")  # twice: still confirmed once
    assert KH_ROOM in again
    assert inbound(client, tw, app, CUC, "Sẵn sàng") != []
    assert inbound(client, tw, app, "+84912999999", "OK") == []  # a stranger confirms nothing
    with app.app_context():
        assert confirmations(get_event("nd49-2024")) == {test_session: 3}

def test_a_stop_received_while_a_reminder_waits_to_be_retried_stops_it(twilio_app, tw, register, cli, client,
                                                                        monkeypatch):
    """An alphanumeric sender (as in Vietnam): Twilio does not block texts after STOP itself."""
    app = twilio_app
    monkeypatch.setitem(app.config, "TWILIO_FROM", "BoTTTT")
    register()
    fire(cli, CONNECTIVITY_MINUS_1D)
    tw.fail_next(3, 503)
    assert dispatch(app).retried == 3  # Twilio is down; the reminders wait for their next attempt

    assert inbound(client, tw, app, ANH, "STOP") == []  # meanwhile Ánh asks for no more SMS
    assert opted_out(app, ANH)
    dispatch(app, later=timedelta(hours=2))
    assert sorted(m["to"] for m in tw.messages) == [BINH, CUC]
    assert row_for(app, ANH)["status"] != "sent"


# --- 9. concurrent dispatchers --------------------------------------------------------------------------------------

def test_concurrent_dispatchers_send_each_sms_once(twilio_app, tw, register, cli, database, monkeypatch):
    if not database.is_postgres:
        pytest.skip("concurrent dispatchers need PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED)")
    from coordinator.outbox.services import dispatch_due, status_counts

    app = twilio_app
    monkeypatch.setitem(app.config, "OUTBOX_BATCH_SIZE", 5)
    event_id = register(many(30))
    fire(cli, CONNECTIVITY_MINUS_1D)
    tw.delay = 0.005  # the dispatchers overlap
    at = datetime.now(UTC)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                results.append(dispatch_due(now=at, channels=["sms"]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(s.sent for s in results) == 30 and sum(s.retried + s.failed for s in results) == 0
    numbers = [m["to"] for m in tw.messages]
    assert len(numbers) == 30 and len(set(numbers)) == 30
    with app.app_context():
        assert status_counts(event_id, "sms")["sent"] == 30


# --- 10. the rate limit ------------------------------------------------------------------------------------------------

def test_the_rate_limit_holds_with_several_connections(twilio_app, tw, register, cli, monkeypatch):
    app = twilio_app
    for key, value in {"SMS_RATE_PER_SECOND": 20.0, "SMS_CONCURRENCY": 4, "TWILIO_FROM": "BoTTTT"}.items():
        monkeypatch.setitem(app.config, key, value)
    register(many(10))
    fire(cli, CONNECTIVITY_MINUS_1D)

    started = time.monotonic()
    stats = dispatch(app)
    elapsed = time.monotonic() - started
    assert stats.sent == 10
    # 10 sends at 20 per second: the last goes at least 9 intervals of 50 ms after the first.
    assert elapsed >= 0.44, elapsed
    assert len({m["to"] for m in tw.messages}) == 10
    assert {m["from"] for m in tw.messages} == {"BoTTTT"}  # an alphanumeric sender ID
