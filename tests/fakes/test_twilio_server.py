"""The fake Twilio server answers the real twilio client as Twilio would."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from fakes.twilio_server import FakeTwilio, num_segments

SID = "AC" + "0" * 32
TOKEN = "secret"
SENDER = "+15550001111"
HOOK = "http://127.0.0.1:5999/sms/status"


@pytest.fixture
def tw():
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as server:
        yield server


def client_for(tw: FakeTwilio, token: str = TOKEN) -> Client:
    client = Client(SID, token)
    client.api.base_url = tw.base_url
    return client


def test_send_returns_the_message_and_records_it(tw):
    msg = client_for(tw).messages.create(to="+15551230000", from_=SENDER, body="Hello", status_callback=HOOK)
    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    assert msg.status == "queued"
    assert (msg.to, msg.from_, msg.body, msg.num_segments, msg.direction) == ("+15551230000", SENDER, "Hello", "1", "outbound-api")
    assert msg.date_created is not None and msg.account_sid == SID
    [req] = tw.requests
    assert req["method"] == "POST" and req["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert req["form"] == {"To": "+15551230000", "From": SENDER, "Body": "Hello", "StatusCallback": HOOK}
    [rec] = tw.messages
    assert rec["sid"] == msg.sid
    assert {k: rec[k] for k in ("to", "from", "messaging_service_sid", "body", "status_callback")} == {
        "to": "+15551230000", "from": SENDER, "messaging_service_sid": None, "body": "Hello", "status_callback": HOOK}
    assert client_for(tw).messages(msg.sid).fetch().status == "queued"


def test_fail_next_then_success(tw):
    client = client_for(tw)
    tw.fail_next(1, status=429)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="+15551230000", from_=SENDER, body="one")
    assert exc.value.status == 429 and exc.value.code == 20429
    assert tw.messages == []
    assert client.messages.create(to="+15551230000", from_=SENDER, body="one").status == "queued"
    assert len(tw.messages) == 1 and [r["status"] for r in tw.requests] == [429, 201]


def test_rejected_number_is_rejected_every_time(tw):
    tw.reject("+15557770000", 21614)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as exc:
            client_for(tw).messages.create(to="+15557770000", from_=SENDER, body="x")
        assert exc.value.status == 400 and exc.value.code == 21614
    assert tw.messages == []


def test_missing_body_and_wrong_token(tw):
    with pytest.raises(TwilioRestException) as exc:
        client_for(tw).messages.create(to="+15551230000", from_=SENDER)
    assert exc.value.status == 400 and exc.value.code == 21602
    with pytest.raises(TwilioRestException) as exc:
        client_for(tw, token="wrong").messages.create(to="+15551230000", from_=SENDER, body="x")
    assert exc.value.status == 401 and exc.value.code == 20003
    assert tw.messages == [] and len(tw.requests) == 2


def test_messaging_service_and_segments(tw):
    msg = client_for(tw).messages.create(to="+15551230000", messaging_service_sid="MG" + "1" * 32, body="ż" * 71)
    assert (msg.status, msg.from_, msg.num_segments) == ("accepted", None, "2")
    assert num_segments("a" * 160) == 1 and num_segments("a" * 161) == 2 and num_segments("€" * 80) == 1


def test_callback_signature(tw):
    msg = client_for(tw).messages.create(to="+15551230000", from_=SENDER, body="Hi", status_callback=HOOK)
    url, params, signature = tw.callback(msg.sid, "undelivered", error_code=30003, extra={"RawDlrDoneDate": "2401011200"})
    assert url == HOOK
    assert params["MessageSid"] == params["SmsSid"] == msg.sid and params["MessageStatus"] == "undelivered"
    assert params["ErrorCode"] == "30003" and params["ApiVersion"] == "2010-04-01" and params["RawDlrDoneDate"] == "2401011200"
    assert RequestValidator(TOKEN).validate(url, params, signature)
    assert not RequestValidator("another-token").validate(url, params, signature)
    params, signature = tw.inbound("http://127.0.0.1:5999/sms/inbound", "+15551230000", "STOP")
    assert params["Body"] == "STOP" and params["NumMedia"] == "0"
    assert RequestValidator(TOKEN).validate("http://127.0.0.1:5999/sms/inbound", params, signature)


def test_post_callback_reaches_the_status_callback_url(tw):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.headers["X-Twilio-Signature"], dict(parse_qsl(body))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{hook.server_address[1]}/sms/status"
        msg = client_for(tw).messages.create(to="+15551230000", from_=SENDER, body="Hi", status_callback=url)
        assert tw.post_callback(msg.sid, "delivered").status_code == 204
    finally:
        hook.shutdown()
        hook.server_close()
        thread.join()
    [(signature, params)] = received
    assert params["MessageStatus"] == "delivered" and RequestValidator(TOKEN).validate(url, params, signature)
    assert client_for(tw).messages(msg.sid).fetch().status == "delivered"


# --- the list, as the client's list()/stream() reads it -----------------------------------------------

def test_list_filters_by_to_from_and_date_sent_as_twilio_does(tw):
    from datetime import datetime, timedelta, timezone

    client = client_for(tw)
    tw.hand_off_seconds = 0  # handed to the carrier at once: date_sent is set
    first = client.messages.create(to="+15551230000", from_=SENDER, body="one")
    client.messages.create(to="+15559990000", from_=SENDER, body="other number")
    client.messages.create(to="+15551230000", from_="+15550002222", body="other sender")
    last = client.messages.create(to="+15551230000", from_=SENDER, body="two")
    found = client.messages.list(to="+15551230000", from_=SENDER)
    assert [m.sid for m in found] == [last.sid, first.sid]  # newest first
    assert found[0].status == "sent" and found[0].date_sent is not None and found[0].body == "two"
    now = datetime.now(timezone.utc)
    assert len(client.messages.list(to="+15551230000", date_sent_after=now - timedelta(minutes=1))) == 3
    assert client.messages.list(to="+15551230000", date_sent_after=now + timedelta(minutes=1)) == []
    assert len(client.messages.list(to="+15551230000", date_sent_before=now + timedelta(minutes=1))) == 3
    assert client.messages.list(date_sent_before=now - timedelta(minutes=1)) == []
    [req] = [r for r in tw.requests if r["method"] == "GET"][-1:]
    assert "DateSent<" in req["query"] and req["query"]["DateSent<"].endswith("Z")
    assert len(client.messages.list(date_sent=now.strftime("%Y-%m-%d"))) == 4  # a whole GMT day


def test_a_queued_message_has_no_date_sent_and_matches_no_date_filter(tw):
    from datetime import datetime, timedelta, timezone

    client = client_for(tw)
    msg = client.messages.create(to="+15551230000", from_=SENDER, body="queued")  # hand_off_seconds None: never sent
    assert [m.sid for m in client.messages.list(to="+15551230000")] == [msg.sid]
    assert client.messages.list(to="+15551230000",
                                date_sent_after=datetime.now(timezone.utc) - timedelta(hours=1)) == []
    assert client.messages(msg.sid).fetch().status == "queued"


def test_list_pages_follow_next_page_uri(tw):
    client = client_for(tw)
    tw.hand_off_seconds = 0
    sids = [client.messages.create(to="+15551230000", from_=SENDER, body=f"n{i}").sid for i in range(7)]
    listed = [m.sid for m in client.messages.stream(to="+15551230000", page_size=3)]
    assert sorted(listed) == sorted(sids) and len(listed) == 7
    pages = [r for r in tw.requests if r["method"] == "GET"]
    assert len(pages) == 3 and pages[1]["query"]["PageToken"].startswith("PASM")
    page = client.messages.page(to="+15551230000", page_size=3)
    assert page.next_page_url and len(list(page)) == 3
    assert len(client.messages.list(to="+15551230000", limit=5)) == 5


def test_a_failing_list(tw):
    from twilio.base.exceptions import TwilioException

    tw.fail_next(1, status=503, method="GET")
    with pytest.raises(TwilioException):
        client_for(tw).messages.list(to="+15551230000")
    assert client_for(tw).messages.list(to="+15551230000") == []


# --- a slow provider, a dropped connection ---------------------------------------------------------------

def test_a_stalled_answer_after_the_client_timeout_still_created_the_message(tw):
    import requests
    from twilio.http.http_client import TwilioHttpClient

    client = Client(SID, TOKEN, http_client=TwilioHttpClient(timeout=0.3))
    client.api.base_url = tw.base_url
    tw.stall_next(1, seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.messages.create(to="+15551230000", from_=SENDER, body="slow")
    assert [m["body"] for m in tw.received("+15551230000")] == ["slow"]  # the provider took it
    tw.stall_next(1, seconds=1.0, accept=False)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.messages.create(to="+15551230000", from_=SENDER, body="not taken")
    assert len(tw.messages) == 1
    assert client.messages.create(to="+15551230000", from_=SENDER, body="fast").status == "queued"


def test_a_dropped_connection_after_accepting(tw):
    import requests

    tw.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        client_for(tw).messages.create(to="+15551230000", from_=SENDER, body="dropped")
    assert [m["body"] for m in tw.messages] == ["dropped"]
    assert client_for(tw).messages.create(to="+15551230000", from_=SENDER, body="next").status == "queued"
