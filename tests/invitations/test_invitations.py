"""Calendar invitations by email, end to end: publish, move, cancel and contact changes through the
API; the outbox dispatched by the CLI; what a real SMTP server on 127.0.0.1 receives, read with
Python's email parser, `icalendar` and an independent parser (`vobject`)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import icalendar
import pytest
import vobject

from factories import PROVINCE_CONTACTS, csrf_from, login, publish, register
from fakes.smtp_server import SmtpServer

KH, NHA_TRANG, CAM_RANH = "56", "568", "569"
UTC = timezone.utc


@pytest.fixture()
def smtp(app, monkeypatch):
    server = SmtpServer().start()
    for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port,
                       "SMTP_STARTTLS": False, "SMTP_SSL": False, "SMTP_TIMEOUT": 5.0,
                       "MAIL_FROM": "Cục Thông tin cơ sở <no-reply@ttcs.example.gov.vn>",
                       "MAIL_FROM_ADDRESS": "no-reply@ttcs.example.gov.vn"}.items():
        monkeypatch.setitem(app.config, key, value)
    yield server
    server.stop()


@pytest.fixture()
def org(make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    return token_for("org@example.gov.vn")


def dispatch(cli):
    result = cli("outbox", "dispatch", "--once")
    assert result.exit_code == 0, result.output
    return result.output


def counts(client, headers):
    body = client.get("/api/v1/events/nd49-2024/invitations", headers=headers).get_json()
    return {s["kind"]: s["counts"] for s in body["sessions"]}


def calendar_part(message):
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return parts[0]


def calendar_of(received):
    part = calendar_part(received.message)
    raw = part.get_payload(decode=True)
    return raw, icalendar.Calendar.from_ical(raw), vobject.readOne(raw.decode("utf-8"))


def vevent(cal):
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1
    return events[0]


def by_session(received_list, nd49_uids):
    out = {}
    for r in received_list:
        _, cal, _ = calendar_of(r)
        out[nd49_uids[str(vevent(cal)["UID"])]] = r
    return out


@pytest.fixture()
def uids(client, org):
    body = client.get("/api/v1/events/nd49-2024", headers=org).get_json()
    return {s["ical_uid"]: s["kind"] for s in body["sessions"]}


def test_publishing_sends_each_contact_one_correct_invitation_per_session(client, org, cli, smtp, uids):
    register(client, org, KH, PROVINCE_CONTACTS)
    body = publish(client, org)
    assert body["status"] == "published"
    assert body["invitations"]["main"]["pending"] == 2 and body["invitations"]["connectivity_test"]["pending"] == 2

    output = dispatch(cli)
    assert "sent 4" in output
    assert len(smtp.received) == 4
    assert smtp.handler.connections == 1  # the batch shared one SMTP connection
    for address in ("hong.anh@khanhhoa.example.gov.vn", "duc.nv@khanhhoa.example.gov.vn"):
        mine = smtp.to(address)
        assert len(mine) == 2, address
        assert all(r.rcpt_tos == [address] for r in mine)  # one recipient per message
        assert set(by_session(mine, uids)) == {"connectivity_test", "main"}
    assert counts(client, org) == {"connectivity_test": {"current": 2, "pending": 0, "failed": 0, "withdrawn": 0},
                                   "main": {"current": 2, "pending": 0, "failed": 0, "withdrawn": 0}}

    main = by_session(smtp.to("duc.nv@khanhhoa.example.gov.vn"), uids)["main"]
    message = main.message
    # MIME: multipart/mixed [ multipart/alternative [plain, html, calendar], invite.ics ]
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html", "text/calendar"]
    cal_part = alternative.get_payload()[2]
    assert cal_part.get_param("method") == "REQUEST" and cal_part.get_param("charset") == "UTF-8"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_payload(decode=True) == cal_part.get_payload(decode=True)

    raw, cal, vcal = calendar_of(main)
    assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF everywhere, no bare LF
    assert cal["METHOD"] == "REQUEST" and vcal.method.value == "REQUEST"
    event = vevent(cal)
    # 28/6/2024 08:30 in Hà Nội/HCM time (+07:00) is 01:30 UTC, by both parsers
    assert event.DTSTART.astimezone(UTC) == datetime(2024, 6, 28, 1, 30, tzinfo=UTC)
    assert vcal.vevent.dtstart.value.astimezone(UTC) == datetime(2024, 6, 28, 1, 30, tzinfo=UTC)
    assert vcal.vevent.dtend.value.astimezone(UTC) == datetime(2024, 6, 28, 4, 30, tzinfo=UTC)
    assert cal.get_missing_tzids() == set()
    assert {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")} == {"Asia/Ho_Chi_Minh"}
    assert event["SEQUENCE"] == 0 and str(event["STATUS"]) == "CONFIRMED"
    assert event.DTSTAMP.tzinfo is not None and event.DTSTAMP.utcoffset() == timedelta(0)
    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert [str(a).lower() for a in attendees] == ["mailto:duc.nv@khanhhoa.example.gov.vn"]
    assert attendees[0].params["CN"] == "Nguyễn Văn Đức" and attendees[0].params["ROLE"] == "CHAIR"
    assert str(event["ORGANIZER"]).startswith("mailto:")
    alarms = list(event.walk("VALARM"))
    assert len(alarms) == 1 and alarms[0]["TRIGGER"].dt == timedelta(minutes=-30)
    assert str(event["LOCATION"]) == "Phòng họp trực tuyến 56, Số 1 Trần Phú, Nha Trang"
    description = str(event["DESCRIPTION"])
    for expected in ("sip:diemcau-56@10.56.0.10", "Lãnh đạo Sở Thông tin và Truyền thông", "Nghị định số 49/2024/NĐ-CP"):
        assert expected in description
    assert vcal.vevent.summary.value == str(event["SUMMARY"])

    # Diacritics survive the Subject (RFC 2047) and the bodies.
    assert "Hội nghị trực tuyến toàn quốc" in message["Subject"] and "28/06/2024" in message["Subject"]
    assert message["To"].addresses[0].display_name == "Nguyễn Văn Đức"
    plain = alternative.get_payload()[0].get_content()
    assert "Kính gửi Nguyễn Văn Đức" in plain and "Thứ Sáu 28/06/2024" in plain
    html = alternative.get_payload()[1].get_content()
    assert "Phòng họp trực tuyến 56" in html
    assert re.fullmatch(r"<[0-9a-f]{32}@ttcs\.example\.gov\.vn>", message["Message-ID"])
    assert message["Content-Language"] == "vi" and message["Auto-Submitted"] == "auto-generated"

    # Nothing is queued or sent twice.
    assert publish(client, org)["status"] == "published"
    assert "sent 0" in dispatch(cli)
    assert len(smtp.received) == 4


def test_a_moved_session_goes_out_as_an_update_and_a_cancelled_event_as_cancel(client, org, cli, smtp, uids):
    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)
    dispatch(cli)
    first = by_session(smtp.received, uids)
    _, first_cal, _ = calendar_of(first["main"])
    first_stamp = vevent(first_cal).DTSTAMP

    response = client.patch("/api/v1/events/nd49-2024/sessions/main", headers=org,
                            json={"starts_at": "2024-06-28T09:00:00", "ends_at": "2024-06-28T11:30:00+07:00"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["sequence"] == 1 and response.get_json()["starts_at"] == "2024-06-28T09:00:00+07:00"
    assert counts(client, org)["main"]["pending"] == 1 and counts(client, org)["connectivity_test"]["pending"] == 0
    dispatch(cli)
    assert len(smtp.received) == 3  # only the moved session is sent again
    update = smtp.received[2]
    _, cal, vcal = calendar_of(update)
    event = vevent(cal)
    assert str(event["UID"]) == str(vevent(first_cal)["UID"]) and uids[str(event["UID"])] == "main"
    assert event["SEQUENCE"] == 1 and event.DTSTAMP >= first_stamp
    assert vcal.vevent.dtstart.value.astimezone(UTC) == datetime(2024, 6, 28, 2, 0, tzinfo=UTC)
    assert cal["METHOD"] == "REQUEST"

    response = client.post("/api/v1/events/nd49-2024/cancel", headers=org, json={"reason": "Hoãn hội nghị"})
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    dispatch(cli)
    cancels = smtp.received[3:]
    assert len(cancels) == 2
    sequences = {}
    for r in cancels:
        assert calendar_part(r.message).get_param("method") == "CANCEL"
        _, cal, vcal = calendar_of(r)
        event = vevent(cal)
        assert cal["METHOD"] == "CANCEL" and vcal.method.value == "CANCEL"
        assert str(event["STATUS"]) == "CANCELLED" and not list(event.walk("VALARM"))
        sequences[uids[str(event["UID"])]] = event["SEQUENCE"]
        assert "Hủy" in r.message["Subject"]
    assert sequences == {"main": 2, "connectivity_test": 1}
    assert counts(client, org)["main"] == {"current": 0, "pending": 0, "failed": 0, "withdrawn": 1}
    # A cancelled event cannot be moved.
    assert client.patch("/api/v1/events/nd49-2024/sessions/main", headers=org,
                        json={"location": "x"}).status_code == 409


def test_a_bad_move_changes_nothing(client, org, cli, smtp):
    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)
    response = client.patch("/api/v1/events/nd49-2024/sessions/main", headers={**org, "Accept-Language": "en"},
                            json={"starts_at": "2024-06-28T12:00:00", "ends_at": "2024-06-28T11:00:00"})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "ends_at"
    assert client.patch("/api/v1/events/nd49-2024/sessions/plenary", headers=org, json={}).status_code == 404
    body = client.get("/api/v1/events/nd49-2024", headers=org).get_json()
    assert {s["kind"]: s["sequence"] for s in body["sessions"]} == {"connectivity_test": 0, "main": 0}
    assert "sent 2" in dispatch(cli)  # the first invitations only


def test_contacts_added_removed_or_changed_after_publishing(client, org, cli, smtp, uids):
    endpoint = register(client, org, KH, PROVINCE_CONTACTS[:2])
    publish(client, org)
    dispatch(cli)
    assert len(smtp.received) == 4

    # A district registered later: its contact gets theirs then.
    register(client, org, NHA_TRANG, [{"name": "Phạm Thị Ngọc", "phone": "0914 222 333",
                                       "email": "ngoc.pt@nhatrang.example.gov.vn", "role": "technical"}])
    dispatch(cli)
    assert len(smtp.to("ngoc.pt@nhatrang.example.gov.vn")) == 2 and len(smtp.received) == 6

    # The chair removed and the technical contact's email changed: cancel to both old addresses,
    # invitations to the new one, nothing to anyone else.
    changed = [{**PROVINCE_CONTACTS[0], "email": "anh.dth@khanhhoa.example.gov.vn"}]
    response = client.patch(f"/api/v1/endpoints/{endpoint['id']}", headers=org, json={"contacts": changed})
    assert response.status_code == 200, response.get_json()
    dispatch(cli)
    new = smtp.received[6:]
    methods = sorted((r.rcpt_tos[0], calendar_part(r.message).get_param("method")) for r in new)
    assert methods == sorted([("duc.nv@khanhhoa.example.gov.vn", "CANCEL")] * 2
                             + [("hong.anh@khanhhoa.example.gov.vn", "CANCEL")] * 2
                             + [("anh.dth@khanhhoa.example.gov.vn", "REQUEST")] * 2)
    for r in new:
        _, cal, _ = calendar_of(r)
        event = vevent(cal)
        if cal["METHOD"] == "CANCEL":
            assert event["SEQUENCE"] == 1 and str(event["STATUS"]) == "CANCELLED"
    # The room moved: everyone at that endpoint gets an update with the new LOCATION.
    response = client.patch(f"/api/v1/endpoints/{endpoint['id']}", headers=org, json={"name": "Hội trường tầng 3"})
    assert response.status_code == 200
    dispatch(cli)
    updates = smtp.received[12:]
    assert [r.rcpt_tos[0] for r in updates] == ["anh.dth@khanhhoa.example.gov.vn"] * 2
    assert all(str(vevent(calendar_of(r)[1])["LOCATION"]).startswith("Hội trường tầng 3") for r in updates)
    # Deleting the district endpoint withdraws its contact's invitations.
    district = client.get(f"/api/v1/events/nd49-2024/endpoints?unit_code={NHA_TRANG}", headers=org).get_json()
    assert client.delete(f"/api/v1/endpoints/{district['items'][0]['id']}", headers=org).status_code == 204
    dispatch(cli)
    last = smtp.to("ngoc.pt@nhatrang.example.gov.vn")[2:]
    assert len(last) == 2 and all(calendar_part(r.message).get_param("method") == "CANCEL" for r in last)


def test_one_invitation_per_session_for_a_person_listed_at_two_endpoints(client, org, cli, smtp):
    person = {"name": "Trần Kỹ Thuật", "phone": "0905 999 888", "email": "kt@khanhhoa.example.gov.vn",
              "role": "technical"}
    register(client, org, KH, [person])
    register(client, org, CAM_RANH, [{**person, "phone": "0905 999 777"}])
    publish(client, org)
    dispatch(cli)
    mine = smtp.to("kt@khanhhoa.example.gov.vn")
    assert len(mine) == 2  # one per session, at the province's endpoint (the higher tier)
    assert all(str(vevent(calendar_of(r)[1])["LOCATION"]).startswith("Phòng họp trực tuyến 56") for r in mine)


def test_a_refusing_server_is_retried_and_each_message_arrives_exactly_once(app, client, org, cli, smtp):
    register(client, org, KH, PROVINCE_CONTACTS[:2])
    publish(client, org)
    smtp.handler.refuse_next = 3
    output = dispatch(cli)
    assert "sent 1, to retry 3" in output and "451" in output
    assert len(smtp.received) == 1
    body = counts(client, org)
    assert sum(c["pending"] for c in body.values()) == 3
    # Not due yet: a second run right away sends nothing.
    assert "sent 0" in dispatch(cli)
    with app.app_context():
        from coordinator.outbox.services import dispatch_due

        stats = dispatch_due(now=datetime.now(UTC) + timedelta(hours=2))
    assert (stats.sent, stats.retried, stats.failed) == (3, 0, 0)
    assert len(smtp.received) == 4 and smtp.handler.refused_total == 3
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == sorted(["hong.anh@khanhhoa.example.gov.vn",
                                                                    "duc.nv@khanhhoa.example.gov.vn"] * 2)
    assert len({r.message["Message-ID"] for r in smtp.received}) == 4


def test_a_permanent_refusal_fails_at_once_with_the_servers_reason(client, org, cli, smtp, make_user):
    register(client, org, KH, PROVINCE_CONTACTS[:2])
    smtp.handler.reject = {"duc.nv@khanhhoa.example.gov.vn"}
    publish(client, org)
    output = dispatch(cli)
    assert "sent 2, to retry 0, failed 2" in output
    assert counts(client, org)["main"] == {"current": 1, "pending": 0, "failed": 1, "withdrawn": 0}
    # The organizer sees who and why, and can send again once the address is fixed.
    make_user("organizer@example.gov.vn", "organizer")
    login(client, "organizer@example.gov.vn")
    page = client.get("/events/nd49-2024/invitations").get_data(as_text=True)
    assert "duc.nv@khanhhoa.example.gov.vn" in page and "550 5.1.1" in page and "User unknown" in page
    smtp.handler.reject = set()
    response = client.post("/events/nd49-2024/invitations/retry", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert "sent 2" in dispatch(cli)
    assert len(smtp.to("duc.nv@khanhhoa.example.gov.vn")) == 2


def test_server_down_then_up_and_the_last_attempt(app, client, org, cli, smtp, monkeypatch):
    from fakes.smtp_server import free_port

    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # nobody listens there
    output = dispatch(cli)
    assert "sent 0, to retry 2" in output and "Connection refused" in output
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp.port)
    with app.app_context():
        from coordinator.outbox.services import dispatch_due

        assert dispatch_due(now=datetime.now(UTC) + timedelta(hours=2)).sent == 2
    assert len(smtp.received) == 2

    # A server that keeps refusing: after OUTBOX_MAX_ATTEMPTS the message is failed, with the reason.
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 2)
    smtp.handler.refuse_next = 100
    assert client.patch("/api/v1/events/nd49-2024/sessions/main", headers=org,
                        json={"location": "Hội trường Bộ, 18 Nguyễn Du, Hà Nội"}).status_code == 200
    with app.app_context():
        from coordinator.outbox.services import dispatch_due

        first = dispatch_due()
        second = dispatch_due(now=datetime.now(UTC) + timedelta(hours=2))
    assert (first.retried, second.failed) == (1, 1)
    assert counts(client, org)["main"]["failed"] == 1
    assert len(smtp.received) == 2


def test_the_file_backend_keeps_eml_files_listed_for_organizers(app, client, org, cli, make_user):
    register(client, org, KH, PROVINCE_CONTACTS[:1])
    publish(client, org)
    dispatch(cli)
    make_user("organizer@example.gov.vn", "organizer")
    login(client, "organizer@example.gov.vn")
    page = client.get("/outbox/?event=nd49-2024").get_data(as_text=True)
    links = re.findall(r'href="(/outbox/\d+\.eml)"', page)
    assert len(links) == 2 and "hong.anh@khanhhoa.example.gov.vn" in page
    response = client.get(links[0])
    assert response.status_code == 200 and response.mimetype == "message/rfc822"
    import email
    import email.policy

    message = email.message_from_bytes(response.data, policy=email.policy.default)
    assert calendar_part(message).get_param("method") == "REQUEST"
    assert "Hội nghị" in message["Subject"]


def test_calendar_feeds(app, client, org, make_user):
    endpoint = register(client, org, NHA_TRANG, PROVINCE_CONTACTS[:1], name="Hội trường UBND TP. Nha Trang")
    assert client.get("/events/nd49-2024/calendar.ics").status_code == 404  # a draft is not public
    publish(client, org)

    public = client.get("/events/nd49-2024/calendar.ics")  # no sign-in needed
    assert public.status_code == 200 and public.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(public.data)
    assert "METHOD" not in cal and cal.get_missing_tzids() == set()
    assert public.data.count(b"X-WR-CALNAME:") == 1
    events = list(cal.walk("VEVENT"))
    assert len(events) == 2 and not any("ATTENDEE" in e for e in events)
    assert b"hong.anh" not in public.data  # no personal data in the public feed
    vcal = vobject.readOne(public.data.decode())
    assert len(vcal.vevent_list) == 2
    assert client.get("/events/nd49-2024/calendar.ics", headers={"If-None-Match": public.headers["ETag"]}).status_code == 304

    # The unit's secret feed, linked (webcal://) from its endpoint page.
    make_user("kh@example.gov.vn", "coordinator", KH)
    login(client, "kh@example.gov.vn")
    page = client.get(f"/events/nd49-2024/units/{NHA_TRANG}/endpoint").get_data(as_text=True)
    webcal = re.search(r'href="(webcal://[^"]+)"', page).group(1)
    path = "/" + webcal.split("://", 1)[1].split("/", 1)[1]
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    feed = client.get(path)
    assert feed.status_code == 200
    assert "Nha Trang" in feed.headers["Content-Disposition"] or "nha-trang" in feed.headers["Content-Disposition"]
    locations = {str(e["LOCATION"]) for e in icalendar.Calendar.from_ical(feed.data).walk("VEVENT")}
    assert locations == {"Hội trường UBND TP. Nha Trang, Số 1 Trần Phú, Nha Trang"}
    assert client.get(path.replace(".ics", "x.ics")).status_code == 404  # a wrong secret
    assert client.get(path.replace(f"/unit/{NHA_TRANG}/", f"/unit/{CAM_RANH}/")).status_code == 404

    # The contact's feed is the link in their invitation.
    with app.app_context():
        from coordinator.invitations.feed_links import contact_feed_url
        from coordinator.events.services import get_event

        url = contact_feed_url(get_event("nd49-2024"), endpoint["contacts"][0]["id"])
    contact_feed = client.get(url.split("127.0.0.1:5000", 1)[1])
    assert contact_feed.status_code == 200
    assert len(list(icalendar.Calendar.from_ical(contact_feed.data).walk("VEVENT"))) == 2


def test_who_may_publish_move_and_see_invitations(client, org, make_user, token_for):
    make_user("kh@example.gov.vn", "coordinator", KH)
    make_user("op@example.gov.vn", "operator")
    kh, op = token_for("kh@example.gov.vn"), token_for("op@example.gov.vn")
    for headers in (kh, op):
        assert client.post("/api/v1/events/nd49-2024/publish", headers=headers).status_code == 403
        assert client.post("/api/v1/events/nd49-2024/cancel", headers=headers, json={}).status_code == 403
        assert client.patch("/api/v1/events/nd49-2024/sessions/main", headers=headers,
                            json={"location": "x"}).status_code == 403
        assert client.get("/api/v1/events/nd49-2024/invitations", headers=headers).status_code == 403
    assert client.get("/api/v1/events/nd49-2024", headers=org).get_json()["status"] == "draft"
    assert client.post("/api/v1/events/nd49-2024/publish", headers={"Authorization": "Bearer forged"}).status_code == 401
