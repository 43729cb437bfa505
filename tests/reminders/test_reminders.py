"""SMS reminders: the plan's rules, when they fire, whom they reach, what they cost, reschedules,
cancellations, the composer, the API and the one-tap confirmation link (SMS_BACKEND=log; the
Twilio path is in test_sms_twilio.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from factories import csrf_from, form_values

UTC = timezone.utc
SLUG = "nd49-2024"
ANH = "+84905111222"  # technical contact at Khánh Hòa's endpoint and at one of its districts
CHAIR_KH = "+84913100100"
CHAIR_HN = "+84913222333"


@pytest.fixture()
def registered(app, nd49):
    """nd49 with endpoints: Khánh Hòa (technical Ánh, a chair), one district of Khánh Hòa (Ánh again,
    and a technical contact on a fixed line), Hà Nội (a chair only: no focal contact yet)."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.units.models import Unit
    from coordinator.units.services import get_unit

    def save(event, unit, name, contacts):
        values = endpoints.clean_endpoint({"name": name, "protocol": "sip", "dial": f"sip:{unit.code}@10.0.0.1",
                                           "contacts": contacts})
        endpoints.save_endpoint(event, unit, values, actor=SystemActor())

    with app.app_context():
        event = get_event(nd49)
        kh = get_unit("2024", "56")
        district = db.session.scalars(select(Unit).where(Unit.parent_id == kh.id).order_by(Unit.code)).first()
        save(event, kh, "Hội trường Sở Khánh Hòa", [
            {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "email": "anh@example.gov.vn", "role": "technical"},
            {"name": "Lê Văn Chủ", "phone": "0913 100 100", "email": "chu@example.gov.vn", "role": "chair"}])
        save(event, district, f"Hội trường {district.name}", [
            {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"},
            {"name": "Phòng máy", "phone": "0258 3563 535", "role": "technical"}])
        save(event, get_unit("2024", "01"), "Hội trường Sở Hà Nội", [
            {"name": "Trần Chủ Trì", "phone": "0913 222 333", "role": "chair"}])
        return {"district": district.name}


@pytest.fixture()
def published(app, registered):
    from coordinator.events.services import get_event, publish

    with app.app_context():
        publish(get_event(SLUG))
    return registered


def _reminders(app, **where):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        stmt = select(OutboxMessage).where(OutboxMessage.kind == "reminder")
        for k, v in where.items():
            stmt = stmt.where(getattr(OutboxMessage, k) == v)
        rows = db.session.scalars(stmt.order_by(OutboxMessage.id)).all()
        return [(r.recipient, r.status, r.payload["body"], r.payload.get("rule_id")) for r in rows]


def _rule_id(app, anchor, offset, audience):
    from coordinator.events.models import ReminderRule
    from coordinator.extensions import db

    with app.app_context():
        return db.session.scalar(select(ReminderRule.id).where(ReminderRule.anchor == anchor,
                                                                ReminderRule.offset_seconds == offset,
                                                                ReminderRule.audience == audience))


def test_the_plan_file_carries_the_reminder_plan_with_its_fire_times(client, make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    auth = token_for("org@example.gov.vn")
    items = client.get(f"/api/v1/events/{SLUG}/reminders", headers=auth).get_json()["items"]
    got = [(i["rule"]["anchor"], i["rule"]["offset_seconds"], i["rule"]["audience"], i["fire_at"], i["state"])
           for i in items]
    assert got == [
        ("deadline:focal_contacts", -259200, "units_missing_deadline", "2024-06-17T00:00:00+07:00", "draft"),
        ("deadline:focal_contacts", -86400, "units_missing_deadline", "2024-06-19T00:00:00+07:00", "draft"),
        ("session:connectivity_test", -86400, "technical", "2024-06-26T14:00:00+07:00", "draft"),
        ("session:main", -86400, "chairs", "2024-06-27T08:30:00+07:00", "draft"),
        ("session:main", -86400, "technical", "2024-06-27T08:30:00+07:00", "draft"),
        ("session:connectivity_test", -3600, "technical", "2024-06-27T13:00:00+07:00", "draft"),
        ("session:main", -3600, "chairs", "2024-06-28T07:30:00+07:00", "draft"),
        ("session:main", -3600, "technical", "2024-06-28T07:30:00+07:00", "draft"),
    ]
    sample = items[2]
    assert "14:00 ngày 27/06/2024" in sample["sample"] and "/c/" in sample["sample"]
    # Vietnamese letters (ư, ơ, đ, ệ) make it UCS-2: 70 characters per segment.
    assert sample["cost"]["encoding"] == "UCS-2" and sample["cost"]["segments"] >= 2


def test_a_due_reminder_is_queued_once_per_mobile_number(app, cli, published):
    result = cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00")
    assert result.exit_code == 0, result.output
    assert "sent: 1 queued, 1 unreachable" in result.output  # the fixed line cannot take an SMS
    assert "1 messages queued" in result.output
    assert result.output.count("skipped: anchor_passed") == 2  # the deadline's, never sent: it had passed
    [(phone, status, body, _)] = _reminders(app)
    assert (phone, status) == (ANH, "pending")
    # One SMS for Ánh, naming both endpoints she looks after, with the time in the event's zone.
    assert "Hội trường Sở Khánh Hòa" in body and published["district"] in body
    assert "lúc 14:00 ngày 27/06/2024" in body and "http://127.0.0.1:5000/c/" in body
    # Again, at the same or a later instant: nothing new (the reminder is queued once, ever).
    assert "0 reminders fired, 0 messages queued" in cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00").output
    assert "0 messages queued" in cli("reminders", "due", "--at", "2024-06-26T18:00:00+07:00").output
    assert len(_reminders(app)) == 1


def test_nothing_fires_before_its_time_or_for_a_draft(app, cli, registered):
    assert "0 reminders fired" in cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00").output  # draft
    from coordinator.events.services import get_event, publish

    with app.app_context():
        publish(get_event(SLUG))
    assert "0 reminders fired" in cli("reminders", "due", "--at", "2024-06-16T23:59:00+07:00").output
    assert _reminders(app) == []


def test_late_reminders_go_out_unless_their_session_has_begun(app, cli, client, published, make_user, token_for):
    # The scheduler was down from before 26/06 14:00 until 27/06 13:30: the test's −1 day and −1 hour
    # reminders are both late; the session (14:00) is still ahead, so the latest goes out.
    cli("reminders", "due", "--at", "2024-06-27T13:30:00+07:00")
    test_rules = {_rule_id(app, "session:connectivity_test", offset, "technical") for offset in (-86400, -3600)}
    rows = [r for r in _reminders(app) if r[3] in test_rules]
    assert [(r[0], r[3]) for r in rows] == [(ANH, _rule_id(app, "session:connectivity_test", -3600, "technical"))]
    # (The main session's −1 day reminders were late too, and its start is ahead: they went out.)
    main_day_before = {_rule_id(app, "session:main", -86400, audience) for audience in ("chairs", "technical")}
    assert sorted(r[0] for r in _reminders(app) if r[3] in main_day_before) == sorted([ANH, CHAIR_KH, CHAIR_HN])
    # Down again until after the main session began: its reminders are recorded as skipped.
    output = cli("reminders", "due", "--at", "2024-06-28T08:45:00+07:00").output
    assert output.count("skipped: anchor_passed") == 2  # the main session's −1 hour, to chairs and technical
    assert len(_reminders(app)) == 4
    make_user("org@example.gov.vn", "organizer")
    items = client.get(f"/api/v1/events/{SLUG}/reminders", headers=token_for("org@example.gov.vn")).get_json()["items"]
    states = {(i["rule"]["anchor"], i["rule"]["offset_seconds"], i["rule"]["audience"]): (i["state"], i["reason"])
              for i in items}
    assert states[("session:connectivity_test", -86400, "technical")] == ("skipped", f"overtaken:{_rule_id(app, 'session:connectivity_test', -3600, 'technical')}")
    assert states[("session:connectivity_test", -3600, "technical")] == ("sent", "")
    assert states[("session:main", -3600, "chairs")] == ("skipped", "anchor_passed")


def test_moving_a_session_moves_its_reminders(app, cli, client, published, make_user, token_for):
    make_user("org@example.gov.vn", "organizer")
    auth = token_for("org@example.gov.vn")
    main_rules = {_rule_id(app, "session:main", offset, audience) for offset in (-86400, -3600)
                  for audience in ("chairs", "technical")}

    def main_reminders():
        return [r for r in _reminders(app) if r[3] in main_rules]

    cli("reminders", "due", "--at", "2024-06-27T08:31:00+07:00")  # main −1 day, chairs and technical
    before = main_reminders()
    assert {r[0] for r in before} == {ANH, CHAIR_KH, CHAIR_HN}
    assert all(r[1] == "pending" for r in before)
    # Before they are sent, the session moves a day later.
    response = client.patch(f"/api/v1/events/{SLUG}/sessions/main", headers=auth,
                            json={"starts_at": "2024-06-29T08:30:00", "ends_at": "2024-06-29T11:30:00"})
    assert response.status_code == 200, response.get_json()
    assert {r[1] for r in main_reminders()} == {"superseded"}  # the old time is never sent
    items = client.get(f"/api/v1/events/{SLUG}/reminders", headers=auth).get_json()["items"]
    fire = {(i["rule"]["anchor"], i["rule"]["offset_seconds"], i["rule"]["audience"]): i["fire_at"] for i in items}
    assert fire[("session:main", -86400, "chairs")] == "2024-06-28T08:30:00+07:00"
    assert fire[("session:main", -3600, "technical")] == "2024-06-29T07:30:00+07:00"
    assert "0 messages queued" in cli("reminders", "due", "--at", "2024-06-27T09:00:00+07:00").output
    cli("reminders", "due", "--at", "2024-06-28T08:31:00+07:00")
    fresh = [r for r in main_reminders() if r[1] == "pending"]
    assert sorted(r[0] for r in fresh) == sorted([ANH, CHAIR_KH, CHAIR_HN])
    assert all("08:30 ngày 29/06/2024" in r[2] for r in fresh)


def test_cancelling_drops_queued_reminders_and_tells_those_already_reminded(app, cli, published):
    from coordinator.events.services import cancel, get_event
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.outbox.services import dispatch_due

    cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00")  # the test's −1 day, to Ánh
    with app.app_context():
        assert dispatch_due(channels=["sms"]).sent == 1
    cli("reminders", "due", "--at", "2024-06-27T08:31:00+07:00")  # main −1 day: queued, not yet sent
    with app.app_context():
        cancel(get_event(SLUG), reason="Hoãn theo chỉ đạo")
        rows = db.session.execute(select(OutboxMessage.kind, OutboxMessage.recipient, OutboxMessage.status,
                                         OutboxMessage.payload).where(OutboxMessage.channel == "sms")).all()
    pending_reminders = [r for r in rows if r.kind == "reminder" and r.status == "pending"]
    assert pending_reminders == []
    cancellations = [r for r in rows if r.kind == "reminder-cancel"]
    assert [(r.recipient, r.status) for r in cancellations] == [(ANH, "pending")]  # only who was reminded by SMS
    assert "ĐÃ HỦY" in cancellations[0].payload["body"] and "Hoãn theo chỉ đạo" in cancellations[0].payload["body"]
    assert "0 reminders fired" in cli("reminders", "due", "--at", "2024-06-28T07:31:00+07:00").output


def test_a_deadline_reminder_reaches_only_units_that_have_not_met_it(app, cli, published):
    result = cli("reminders", "due", "--at", "2024-06-17T00:00:30+07:00")
    rows = _reminders(app)
    # Khánh Hòa has a technical contact (deadline met); Hà Nội has only its chair: reminded.
    assert [r[0] for r in rows] == [CHAIR_HN]
    assert "/events/nd49-2024/units/01/endpoint" in rows[0][2]
    assert "00:00 ngày 20/06/2024" in rows[0][2]
    # The 61 other provinces have nobody to write to: counted for the organizer to phone.
    assert "61 unreachable" in result.output


def test_opted_out_numbers_get_no_sms(app, cli, organizer_client, published):
    page = organizer_client.get("/sms/opt-outs")
    token = csrf_from(page.get_data(as_text=True))
    bad = organizer_client.post("/sms/opt-outs", data={"phone": "0905 111 22x", "csrf_token": token}, follow_redirects=True)
    assert "chữ cái" in bad.get_data(as_text=True)  # "contains letters": says why, in Vietnamese
    ok = organizer_client.post("/sms/opt-outs", data={"phone": "0905 111 222", "note": "xin không nhận",
                                                      "csrf_token": token}, follow_redirects=True)
    assert "0905 111 222" in ok.get_data(as_text=True)
    result = cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00")
    assert "0 messages queued" in result.output and "sent: 0 queued, 3 unreachable" in result.output
    assert cli("sms", "opt-in", "0905111222").output.strip() == "+84905111222: opted in again"
    assert "0 reminders fired" in cli("reminders", "due", "--at", "2024-06-26T14:00:30+07:00").output  # fired once


def test_reminder_rules_api_checks_everything_and_saves_nothing_wrong(client, make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    make_user("op@example.gov.vn", "operator")
    auth = token_for("org@example.gov.vn")
    url = f"/api/v1/events/{SLUG}/reminders"
    rule = {"anchor": "session:main", "offset_seconds": -7200, "channel": "sms", "audience": "all_contacts",
            "template": "Còn 2 giờ: {event}, điểm cầu {endpoint}, lúc {local_time}."}

    def problems(response) -> dict:
        return {d["field"]: d["message"] for d in response.get_json()["error"]["details"]}

    bad = client.post(url, headers=auth, json={**rule, "template": "Họp lúc {gio}"})
    assert bad.status_code == 422
    assert "{gio}" in problems(bad)["template"]
    bad = client.post(url, headers=auth, json={**rule, "audience": "units_missing_deadline"})
    assert bad.status_code == 422 and "audience" in problems(bad)
    bad = client.post(url, headers=auth, json={**rule, "anchor": "session:rehearsal"})
    assert bad.status_code == 422 and "anchor" in problems(bad)
    assert client.post(url, headers=token_for("op@example.gov.vn"), json=rule).status_code == 403
    assert len(client.get(url, headers=auth).get_json()["items"]) == 8
    created = client.post(url, headers=auth, json=rule)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["fire_at"] == "2024-06-28T06:30:00+07:00"
    assert body["sample"].endswith("/c/" + body["sample"].rsplit("/c/", 1)[1])  # the confirmation link, appended
    duplicate = client.post(url, headers=auth, json=rule)
    assert duplicate.status_code == 422
    rid = body["rule"]["id"]
    patched = client.patch(f"{url}/{rid}", headers=auth, json={"offset_seconds": -10800, "strip_diacritics": True})
    assert patched.status_code == 200
    assert patched.get_json()["fire_at"] == "2024-06-28T05:30:00+07:00"
    assert "Con 2 gio" in patched.get_json()["sample"] and patched.get_json()["cost"]["encoding"] == "GSM-7"
    assert client.delete(f"{url}/{rid}", headers=auth).status_code == 204
    assert client.get(f"{url}/{rid}", headers=auth).status_code == 404
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/events/{slug}/reminders" in spec["paths"] and "/api/v1/events/{slug}/messages" in spec["paths"]


def test_messages_api_lists_an_events_sms_with_counts(app, cli, client, make_user, token_for, published):
    from coordinator.outbox.services import dispatch_due

    make_user("org@example.gov.vn", "organizer")
    auth = token_for("org@example.gov.vn")
    cli("reminders", "due", "--at", "2024-06-27T08:31:00+07:00")
    with app.app_context():
        dispatch_due(channels=["sms"], max_messages=1)
    body = client.get(f"/api/v1/events/{SLUG}/messages?channel=sms", headers=auth).get_json()
    # The test's −1 day (Ánh) and the main session's −1 day (Ánh and both chairs) were due.
    assert body["total"] == 4 and body["counts"]["sent"] == 1 and body["counts"]["pending"] == 3
    assert sorted(m["recipient"] for m in body["items"]) == sorted([ANH, ANH, CHAIR_KH, CHAIR_HN])
    sent = client.get(f"/api/v1/events/{SLUG}/messages?channel=sms&status=sent", headers=auth).get_json()
    assert len(sent["items"]) == 1 and sent["items"][0]["provider_ref"].startswith("log-")
    assert "Hội trường" in sent["items"][0]["body"]
    assert client.get(f"/api/v1/events/{SLUG}/messages?status=nonsense", headers=auth).status_code in (400, 422)


def test_the_composer_shows_the_cost_and_offers_to_drop_diacritics(app, organizer_client, nd49):
    page = organizer_client.get(f"/events/{SLUG}/reminders/new")
    assert page.status_code == 200
    values = form_values(page.get_data(as_text=True))
    values.update({"anchor": "session:main", "amount": "2", "unit": "hours", "direction": "before",
                   "channel": "sms", "audience": "technical",
                   "template": "Đề nghị điểm cầu {endpoint} kết nối trước {local_time} để kiểm tra âm thanh, hình ảnh."})
    preview = organizer_client.post(f"/events/{SLUG}/reminders/preview", data=values).get_json()
    assert preview["cost"]["encoding"] == "UCS-2"
    assert preview["plain"]["encoding"] == "GSM-7" and preview["plain"]["segments"] < preview["cost"]["segments"]
    assert preview["saves"] is True
    assert preview["fire_at"] == "28/06/2024 06:30"
    shown = organizer_client.post(f"/events/{SLUG}/reminders/new", data={**values, "preview": "1"})
    html = shown.get_data(as_text=True)
    assert "UCS-2" in html and "GSM-7" in html
    values["strip_diacritics"] = "y"
    saved = organizer_client.post(f"/events/{SLUG}/reminders/new", data=values)
    assert saved.status_code == 302
    plan = organizer_client.get(f"/events/{SLUG}/reminders").get_data(as_text=True)
    assert "De nghi diem cau" in plan and "28/06/2024 06:30" in plan
    # An unknown placeholder is refused with the reason, and nothing is saved.
    values["template"] = "Họp lúc {gio}"
    refused = organizer_client.post(f"/events/{SLUG}/reminders/new", data=values)
    assert refused.status_code == 200 and "{gio}" in refused.get_data(as_text=True)
    with app.app_context():
        from coordinator.events.models import ReminderRule
        from coordinator.extensions import db

        assert db.session.scalar(select(func.count()).select_from(ReminderRule)) == 9


def test_the_reminders_page_shows_the_plan_and_whether_the_scheduler_runs(organizer_client, nd49):
    html = organizer_client.get(f"/events/{SLUG}/reminders").get_data(as_text=True)
    assert 'data-state="missing"' in html
    assert "26/06/2024 14:00" in html and "Kiểm tra đường truyền kỹ thuật" in html


def _future_sessions(app):
    """Move the sessions ahead of the real clock (the confirmation link expires after its session)."""
    from coordinator.events.services import get_event, move_session

    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event(SLUG)
        move_session(event, "connectivity_test", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        move_session(event, "main", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3))


def test_the_confirmation_link_confirms_once(app, client, cli, published):
    from coordinator.extensions import db
    from coordinator.reminders.models import Confirmation
    from coordinator.reminders.confirmations import confirm_link

    _future_sessions(app)
    now = datetime.now(UTC)
    cli("reminders", "due", "--at", (now + timedelta(hours=2)).isoformat())  # the test's −1 day
    [(_, _, body, _)] = _reminders(app)
    path = "/c/" + body.rsplit("/c/", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and 'id="confirm-form"' in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Confirmation)) == 0  # a preview confirms nothing
    first = client.post(path)
    assert first.status_code == 200 and 'data-state="confirmed"' in first.get_data(as_text=True)
    again = client.post(path)
    assert 'data-state="already"' in again.get_data(as_text=True)
    with app.app_context():
        # Ánh's two endpoints, once each.
        assert db.session.scalar(select(func.count()).select_from(Confirmation)) == 2
        assert confirm_link(path[3:], now=now + timedelta(days=1, hours=4)).state == "expired"
    assert client.post(path[:-1] + ("a" if path[-1] != "a" else "b")).status_code == 404
    assert client.get("/c/not-a-token").status_code == 404


def test_an_email_reminder_goes_to_each_address_once(app, cli, client, make_user, token_for, published):
    from email import message_from_bytes, policy
    from pathlib import Path

    from coordinator.outbox.services import dispatch_due

    make_user("org@example.gov.vn", "organizer")
    auth = token_for("org@example.gov.vn")
    created = client.post(f"/api/v1/events/{SLUG}/reminders", headers=auth, json={
        "anchor": "session:main", "offset_seconds": -2 * 86400, "channel": "email", "audience": "all_contacts",
        "template": "Kính gửi đồng chí: {event} diễn ra lúc {local_time} tại điểm cầu {endpoint}."})
    assert created.status_code == 201, created.get_json()
    result = cli("reminders", "due", "--at", "2024-06-26T08:31:00+07:00")
    # Two contacts have an email address (Ánh at Khánh Hòa, the chair); the others are listed as unreachable.
    assert "sent: 2 queued, 3 unreachable" in result.output
    with app.app_context():
        files_before = set(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))
        dispatch_due(channels=["email"])
        new = set(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml")) - files_before
    messages = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in new]
    reminders = [m for m in messages if "Nhắc lịch" in str(m["Subject"])]
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in reminders) == ["anh@example.gov.vn", "chu@example.gov.vn"]
    body = reminders[0].get_body(("plain",)).get_content()
    assert "lúc 08:30 ngày 28/06/2024" in body and "/c/" in body
