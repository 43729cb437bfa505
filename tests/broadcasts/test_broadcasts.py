"""Broadcast SMS through the API and the CLI: the audience a filter chooses (unit subtree, tier,
current state, readiness, roles), one SMS per mobile number, the unreachable listed, the cost
before anything is sent, refusals that queue nothing, the coordinator's province, the outbox key
that never sends twice, Stop, the audit log, and the SMS arriving at a Twilio-speaking server."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from fakes.twilio_server import FakeTwilio

UTC = timezone.utc
SLUG = "nd49-2024"
URL = f"/api/v1/events/{SLUG}/broadcasts"
JOIN = "{event}: điểm cầu {endpoint} chưa kết nối. Đề nghị vào phòng họp ngay."

ANH = "+84905111222"  # technical at the province's endpoint and at Nha Trang's: one person, one SMS
BINH = "+84905333444"  # technical at Nha Trang
CUC = "+84987654321"  # technical at Cam Ranh (connected, confirmed)
THU = "+84912000111"  # technical in Hà Nội (failed)
CHU = "+84913100100"  # chair of the province's endpoint
STOPPED = "+84988777666"  # technical at Nha Trang, opted out of SMS
FIXED = "+842583563535"  # a fixed line at the province's endpoint

KH_ROOM = "Hội trường Sở Khánh Hòa"
NT_ROOM = "Phòng họp UBND Nha Trang"
CR_ROOM = "Phòng họp UBND Cam Ranh"
HN_ROOM = "Hội trường Sở Hà Nội"
LAYOUT = {
    "56": (KH_ROOM, [{"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"},
                     {"name": "Phòng máy Sở", "phone": "0258 3563 535", "role": "technical"},
                     {"name": "Lê Văn Chủ", "phone": "0913 100 100", "role": "chair"}]),
    "568": (NT_ROOM, [{"name": "Đỗ Thị Ánh", "phone": "0905.111.222", "role": "technical"},
                      {"name": "Trần Văn Bình", "phone": "0905 333 444", "role": "technical"},
                      {"name": "Hồ Văn Dừng", "phone": "0988 777 666", "role": "technical"}]),
    "569": (CR_ROOM, [{"name": "Nguyễn Thị Cúc", "phone": "+84 987 654 321", "role": "technical"}]),
    "01": (HN_ROOM, [{"name": "Phạm Thu", "phone": "0912 000 111", "role": "technical"}]),
}
STATES = {"56": "failed", "568": "failed", "569": "connected", "01": "failed"}


EN = {"Accept-Language": "en"}


@pytest.fixture()
def world(app, nd49):
    """nd49 published, its connectivity test under way; endpoints in Khánh Hòa (the province,
    Nha Trang, Cam Ranh) and Hà Nội with the states above (operators' checks); Cam Ranh confirmed
    ready; one Nha Trang number opted out; the incident SMS of the failures sent. Returns {unit
    code: endpoint id}."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.outbox.services import dispatch_due
    from coordinator.sms.services import opt_out
    from coordinator.status import services as status
    from coordinator.units.services import get_unit

    now = datetime.now(UTC).replace(microsecond=0)
    ids = {}
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=2))
        for i, (code, (name, contacts)) in enumerate(LAYOUT.items()):
            values = endpoints.clean_endpoint({"name": name, "protocol": "sip", "dial": f"sip:e{i}@127.0.0.1:9",
                                               "contacts": contacts})
            assert not values.problems, values.problems
            ids[code] = endpoints.save_endpoint(event, get_unit("2024", code), values, actor=SystemActor()).id
        publish(event)
        session = event.session("connectivity_test")
        from coordinator.endpoints.models import Endpoint

        for code, state in STATES.items():
            status.record(db.session.get(Endpoint, ids[code]), session, "operator", state, actor_label="operator")
        status.record(db.session.get(Endpoint, ids["569"]), session, "self", "connected", actor_label="self")
        opt_out(STOPPED, "organizer", note="test")
        db.session.commit()
        dispatch_due(channels=["sms"])  # the incident SMS the failures queued (log backend): out of the way
    return ids


@pytest.fixture()
def organizer(make_user, token_for):
    make_user("organizer@example.gov.vn", "organizer")
    return {**token_for("organizer@example.gov.vn"), **EN}  # the refusals below are read in English


def outbox_rows(app, kind="broadcast"):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        return db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                  .order_by(OutboxMessage.recipient)).all()


def body(**over):
    out = {"session": "connectivity_test", "filter": {"unit": "56", "states": ["failed"]}, "template": JOIN}
    return {**out, **over}


# --- the audience and its cost ---------------------------------------------------------------------------

def test_a_dry_run_says_whom_and_what_it_costs_and_queues_nothing(app, client, organizer, world):
    from coordinator.sms.encoding import cost

    response = client.post(URL, headers=organizer, json=body(dry_run=True))
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    # Ánh (two failed endpoints: one SMS), Bình; the fixed line and the opted-out number are listed.
    assert answer["id"] is None and answer["status"] == "dry_run"
    assert answer["recipients"] == 2 and answer["unreachable"] == 2
    assert {(u["phone"], u["reason"]) for u in answer["unreachable_contacts"]} == {
        ("0258 3563 535", "fixed_line"), ("0988 777 666", "opted_out")}
    # Ánh's SMS names both her endpoints, so it is the longest; the total adds every SMS's segments.
    event = "Hội nghị trực tuyến phổ biến Nghị định 49/2024/NĐ-CP"  # the event's short title
    texts = [JOIN.format(event=event, endpoint=f"{KH_ROOM}, {NT_ROOM}"), JOIN.format(event=event, endpoint=NT_ROOM)]
    assert answer["sample"] == texts[0]
    assert answer["encoding"] == "UCS-2" and answer["characters"] == len(texts[0])
    assert answer["segments"] == cost(texts[0]).segments == 3
    assert answer["segments_total"] == sum(cost(t).segments for t in texts) == 5
    assert outbox_rows(app) == []


def test_a_broadcast_reaches_exactly_the_failed_endpoints_of_one_province_over_twilio(app, client, organizer, world,
                                                                                      monkeypatch):
    from coordinator.outbox.services import dispatch_due

    with FakeTwilio(account_sid="AC" + "7" * 32, auth_token="broadcast-token") as tw:
        for key, value in {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": tw.account_sid,
                           "TWILIO_AUTH_TOKEN": tw.auth_token, "TWILIO_FROM": "+15005550006",
                           "TWILIO_MESSAGING_SERVICE_SID": "", "TWILIO_API_BASE_URL": tw.base_url,
                           "SMS_RATE_PER_SECOND": 0.0, "SMS_CONCURRENCY": 2, "SMS_TIMEOUT": 5.0}.items():
            monkeypatch.setitem(app.config, key, value)
        response = client.post(URL, headers=organizer, json=body())
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        assert created["status"] == "sending" and created["recipients"] == 2
        rows = outbox_rows(app)
        assert [(r.key, r.priority, r.status) for r in rows] == [
            (f"broadcast:{created['id']}:{ANH}", 5, "pending"), (f"broadcast:{created['id']}:{BINH}", 5, "pending")]
        progress = client.get(f"/api/v1/broadcasts/{created['id']}", headers=organizer).get_json()
        assert progress["status"] == "sending" and progress["counts"]["pending"] == 2
        with app.app_context():
            stats = dispatch_due(channels=["sms"])
        assert stats.sent == 2
        assert sorted(m["to"] for m in tw.messages) == [ANH, BINH]
        texts = {m["to"]: m["body"] for m in tw.messages}
        assert f"{KH_ROOM}, {NT_ROOM}" in texts[ANH] and NT_ROOM in texts[BINH] and KH_ROOM not in texts[BINH]
        with app.app_context():
            assert dispatch_due(channels=["sms"]).handled == 0  # never twice
    progress = client.get(f"/api/v1/broadcasts/{created['id']}", headers=organizer).get_json()
    assert progress["status"] == "done"
    assert progress["counts"] == {"pending": 0, "sending": 0, "sent": 2, "failed": 0, "superseded": 0}
    assert progress["recipients"] == 2 and progress["segments_total"] == created["segments_total"]
    stop = client.post(f"/api/v1/broadcasts/{created['id']}/stop", headers=organizer)
    assert stop.status_code == 409  # nothing left to stop


@pytest.mark.parametrize("flt, expected", [
    ({"states": ["failed"]}, {ANH, BINH, THU}),  # nationally
    ({"unit": "56", "states": ["failed", "connected"]}, {ANH, BINH, CUC}),
    ({"unit": "56", "confirmed": True}, {CUC}),
    ({"unit": "56", "confirmed": False}, {ANH, BINH}),
    ({"unit": "56", "tier": "district"}, {ANH, BINH, CUC}),
    ({"unit": "56", "tier": "province", "roles": ["chair"]}, {CHU}),
    ({"unit": "56", "roles": ["chair", "technical"], "states": ["failed"]}, {ANH, BINH, CHU}),
    ({"unit": "568"}, {ANH, BINH}),
])
def test_the_filters_choose_the_audience(app, client, organizer, world, flt, expected):
    from coordinator.broadcasts import services
    from coordinator.auth.permissions import SystemActor
    from coordinator.events.services import get_event

    with app.app_context():
        p = services.preview(get_event(SLUG), {"session": "connectivity_test", "filter": flt, "template": "Vào họp"},
                             SystemActor())
        assert {r.phone for r in p.recipients} == expected


def test_without_diacritics_the_text_is_gsm7_and_cheaper(client, organizer, world):
    plain = client.post(URL, headers=organizer, json=body(dry_run=True, strip_diacritics=True)).get_json()
    marked = client.post(URL, headers=organizer, json=body(dry_run=True)).get_json()
    assert plain["encoding"] == "GSM-7" and "Hoi nghi truc tuyen" in plain["sample"]
    assert plain["segments_total"] < marked["segments_total"]


# --- refusals: nothing queued ------------------------------------------------------------------------

@pytest.mark.parametrize("change, field, words", [
    ({"filter": {"unit": "79", "states": ["failed"]}}, "filter", "nobody to send to"),  # no endpoint there
    ({"filter": {"unit": "569", "states": ["failed"]}}, "filter", "nobody to send to"),  # connected
    ({"template": "Kính gửi {ten}: vào họp"}, "template", "{ten}"),
    ({"template": "Đề nghị kết nối ngay. " * 33}, "template", "segments"),  # 726 UCS-2 characters: 11 segments
    ({"filter": {"unit": "99999"}}, "filter.unit", "no unit '99999'"),
    ({"session": "rehearsal"}, "session", "no session"),
    ({"template": "Vào họp\u202e ngay"}, "template", "U+202E"),
])
def test_a_broadcast_that_cannot_go_is_refused_with_the_reason_and_queues_nothing(app, client, organizer, world,
                                                                                  change, field, words):
    for dry_run in (True, False):
        response = client.post(URL, headers=organizer, json={**body(**change), "dry_run": dry_run})
        assert response.status_code == 422, response.get_json()
        details = response.get_json()["error"]["details"]
        assert any(d["field"] == field and words in d["message"] for d in details), details
    assert outbox_rows(app) == []
    from coordinator.broadcasts.models import Broadcast
    from coordinator.extensions import db

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_the_same_broadcast_twice_in_a_row_is_a_double_submit(app, client, organizer, world):
    assert client.post(URL, headers=organizer, json=body()).status_code == 201
    again = client.post(URL, headers=organizer, json=body())
    assert again.status_code == 422 and "just sent" in again.get_json()["error"]["details"][0]["message"]
    assert len(outbox_rows(app)) == 2
    other = client.post(URL, headers=organizer, json=body(template="{event}: vào họp ngay ({unit})"))
    assert other.status_code == 201 and len(outbox_rows(app)) == 4  # a new text is a new broadcast


def test_the_api_refuses_unknown_values_before_the_service(client, organizer, world):
    for bad in ({"filter": {"states": ["green"]}}, {"filter": {"roles": ["boss"]}}, {"filter": {"tier": "ward"}},
                {"colour": "red"}, {"template": ""}):
        response = client.post(URL, headers=organizer, json={**body(), **bad})
        assert response.status_code == 422, (bad, response.get_json())


# --- who may -------------------------------------------------------------------------------------------

def test_a_coordinator_broadcasts_within_its_province_only(app, client, make_user, token_for, organizer, world):
    make_user("kh@example.gov.vn", "coordinator", unit="56")
    kh = {**token_for("kh@example.gov.vn"), **EN}
    other = client.post(URL, headers=kh, json=body(filter={"unit": "01", "states": ["failed"]}, dry_run=True))
    assert other.status_code == 403 and "outside your province" in other.get_json()["error"]["message"]
    everywhere = client.post(URL, headers=kh, json=body(filter={"states": ["failed"]}, dry_run=True)).get_json()
    assert everywhere["recipients"] == 2  # Hà Nội's failed endpoint is not its to text
    own = client.post(URL, headers=kh, json=body(filter={"unit": "568", "states": ["failed"]}))
    assert own.status_code == 201
    assert client.get(f"/api/v1/broadcasts/{own.get_json()['id']}", headers=kh).status_code == 200
    national = client.post(URL, headers=organizer, json=body(filter={"states": ["failed"]})).get_json()
    assert client.get(f"/api/v1/broadcasts/{national['id']}", headers=kh).status_code == 404
    assert client.post(f"/api/v1/broadcasts/{national['id']}/stop", headers=kh).status_code == 404
    assert client.get(f"/api/v1/broadcasts/{national['id']}", headers=organizer).status_code == 200
    make_user("op@example.gov.vn", "operator")
    assert client.post(URL, headers=token_for("op@example.gov.vn"), json=body(dry_run=True)).status_code == 200
    assert client.post(URL, json=body(dry_run=True)).status_code == 401


# --- stop ---------------------------------------------------------------------------------------------

def test_stop_drops_what_is_still_queued_and_the_log_says_so(app, client, organizer, world):
    from coordinator.audit.models import AuditEntry
    from coordinator.extensions import db
    from coordinator.history.sentences import describe_all
    from coordinator.outbox.services import dispatch_due

    created = client.post(URL, headers=organizer, json=body(filter={"states": ["failed"]})).get_json()
    assert created["recipients"] == 3
    with app.app_context():
        assert dispatch_due(max_messages=1, channels=["sms"]).sent == 1  # the log backend: one went out
    stopped = client.post(f"/api/v1/broadcasts/{created['id']}/stop", headers=organizer)
    assert stopped.status_code == 200, stopped.get_json()
    answer = stopped.get_json()
    assert answer["status"] == "stopped" and answer["dropped"] == 2 and answer["stopped_by"] == "organizer@example.gov.vn"
    assert answer["counts"] == {"pending": 0, "sending": 0, "sent": 1, "failed": 0, "superseded": 2}
    assert {r.last_error for r in outbox_rows(app) if r.status == "superseded"} == {
        "not sent: the broadcast was stopped"}
    with app.app_context():
        assert dispatch_due(channels=["sms"]).handled == 0
    again = client.post(f"/api/v1/broadcasts/{created['id']}/stop", headers=organizer)
    assert again.status_code == 200 and again.get_json()["dropped"] == 2  # stopping again changes nothing
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("broadcast.%"))
                                     .order_by(AuditEntry.id)).all()
        assert [e.action for e in entries] == ["broadcast.send", "broadcast.stop"]
        assert entries[0].details["recipients"] == 3 and entries[0].details["event"] == SLUG
        sentences = describe_all(entries, locale="en")
    assert "sent the broadcast SMS #%s" % created["id"] in sentences[0] and "3 SMS" in sentences[0]
    assert "stopped the broadcast SMS" in sentences[1] and "2 SMS not sent (1 already sent)" in sentences[1]


# --- the command line ----------------------------------------------------------------------------------

def test_the_command_previews_asks_and_sends(app, cli, world):
    from click.testing import CliRunner  # noqa: F401  (the fixture's runner)

    runner = app.test_cli_runner()
    args = ["broadcast", "send", "--event", SLUG, "--session", "connectivity_test", "--unit", "56",
            "--state", "failed", "--state", "unknown", "--template", JOIN]
    declined = runner.invoke(args=args, input="n\n")
    assert declined.exit_code == 0, declined.output
    assert "recipients: 2 mobile numbers" in declined.output and "unreachable: 2" in declined.output
    assert "0258 3563 535" in declined.output and "fixed line" in declined.output
    assert "total cost:" in declined.output and "Send 2 SMS" in declined.output and "nothing queued" in declined.output
    assert outbox_rows(app) == []
    dry = cli(*args, "--dry-run")
    assert "dry run: nothing queued" in dry.output and outbox_rows(app) == []
    sent = cli(*args, "--yes")
    assert sent.exit_code == 0 and "2 SMS queued" in sent.output, sent.output
    assert [r.recipient for r in outbox_rows(app)] == [ANH, BINH]
    broadcast_id = sent.output.split("broadcast ")[1].split(":")[0]
    status = cli("broadcast", "status", broadcast_id)
    assert "sending" in status.output and "pending 2" in status.output
    stop = cli("broadcast", "stop", broadcast_id)
    assert "2 SMS dropped" in stop.output
    refused = runner.invoke(args=["broadcast", "send", "--event", SLUG, "--unit", "79", "--state", "failed",
                                  "--template", JOIN, "--yes"])
    assert refused.exit_code == 1 and "nothing was queued" in refused.output and "nobody to send to" in refused.output
    unknown = runner.invoke(args=["broadcast", "send", "--event", SLUG, "--template", "{ten}", "--yes"])
    assert unknown.exit_code == 1 and "{ten}" in unknown.output
    assert runner.invoke(args=["broadcast", "send", "--event", SLUG, "--state", "green", "--template", "x"]).exit_code == 2
    assert runner.invoke(args=["broadcast", "status", "99999"]).exit_code == 1
