"""Escalation is hierarchy-aware: during a session, each failed endpoint's own technical contacts
get one SMS per incident that says what failed, the province's focal contacts one digest per
province and escalation window ("Hà Nội: 125 điểm cầu mất kết nối (12 huyện, 113 xã), xem: …"),
national operators a national digest only when set; recoveries send nothing; every SMS fits two
segments; all of it queued as urgent in the outbox."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

UTC = timezone.utc
SLUG = "nd49-2024"
FOCAL = "+84904000001"


def result(endpoint_id: int, state: str = "failed", layer: str = "timeout", code=None):
    return SimpleNamespace(key=endpoint_id, state=state, layer=layer, code=code, rtt_ms=None,
                           target="SIP/UDP 127.0.0.1:9", detail=f"{layer}")


@pytest.fixture()
def hanoi(app, nd49, monkeypatch):
    """nd49 under way (its test started 30 minutes ago); Hà Nội's province endpoint (technical
    contact: the focal contact), 12 of its districts and 113 of their communes, each with a technical
    mobile contact of its own; Khánh Hòa's province endpoint with a focal contact. One failed probe
    opens an incident (PROBE_FAILURES_TO_ESCALATE=1)."""
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.units.models import Unit
    from coordinator.units.services import get_unit

    monkeypatch.setitem(app.config, "PROBE_FAILURES_TO_ESCALATE", 1)
    # These tests are about the first SMS and the digests: nobody's acknowledgement is awaited here
    # (an incident nobody acknowledges escalates once more: tests/status/test_incident_lifecycle.py).
    monkeypatch.setitem(app.config, "INCIDENT_ACK_SECONDS", 24 * 3600)
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=5))
        move_session(event, "main", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        publish(event)
        hn = get_unit("2024", "01")
        districts = db.session.scalars(select(Unit).where(Unit.parent_id == hn.id).order_by(Unit.code).limit(12)).all()
        communes = db.session.scalars(select(Unit).where(Unit.parent_id.in_([d.id for d in districts]))
                                      .order_by(Unit.path).limit(113)).all()
        assert len(communes) == 113
        units = [hn, get_unit("2024", "56")] + districts + communes
        rows = [{"event_id": event.id, "unit_id": u.id, "name": f"Điểm cầu {u.name}", "protocol": "sip",
                 "dial": f"sip:{u.code}@127.0.0.1:9", "address": "", "upstream_bridge": "", "provider": ""}
                for u in units]
        db.session.execute(insert(Endpoint), rows)
        ids = dict(db.session.execute(select(Endpoint.unit_id, Endpoint.id).where(Endpoint.event_id == event.id)).all())
        contacts = [{"endpoint_id": ids[hn.id], "role": "technical", "name": "Cán bộ đầu mối Hà Nội", "phone": FOCAL,
                     "phone_type": "mobile", "position": "", "email": "", "language": "vi", "sms_opt_out": False,
                     "focal": False},
                    {"endpoint_id": ids[units[1].id], "role": "technical", "name": "Đầu mối Khánh Hòa",
                     "phone": "+84905000056", "phone_type": "mobile", "position": "", "email": "", "language": "vi",
                     "sms_opt_out": False, "focal": False}]
        for i, u in enumerate(districts + communes):
            contacts.append({"endpoint_id": ids[u.id], "role": "technical", "name": f"Kỹ thuật {u.code}",
                             "phone": f"+8491{i:07d}", "phone_type": "mobile", "position": "", "email": "",
                             "language": "vi", "sms_opt_out": False, "focal": False})
        db.session.execute(insert(Contact), contacts)
        db.session.commit()
        return SimpleNamespace(event=event.id, session=event.session("connectivity_test").id, t0=now,
                               province=ids[hn.id], kh=ids[units[1].id], districts=[ids[d.id] for d in districts],
                               communes=[ids[c.id] for c in communes])


def sweep(app, w, results, seconds=0):
    from coordinator.events.models import Event, EventSession
    from coordinator.extensions import db
    from coordinator.status import services as status

    with app.app_context():
        return status.record_probes(db.session.get(Event, w.event), db.session.get(EventSession, w.session), results,
                                    now=w.t0 + timedelta(seconds=seconds))


def tick(app, w, seconds):
    from coordinator.status import services as status

    with app.app_context():
        return status.tick(w.t0 + timedelta(seconds=seconds))


def sms(app, to=None):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        stmt = select(OutboxMessage.recipient, OutboxMessage.payload, OutboxMessage.priority, OutboxMessage.key).where(
            OutboxMessage.kind == "incident").order_by(OutboxMessage.id)
        if to:
            stmt = stmt.where(OutboxMessage.recipient == to)
        return db.session.execute(stmt).all()


def test_a_provincial_outage_is_one_digest_to_the_focal_contact_and_one_sms_per_endpoint(app, hanoi):
    from coordinator.sms.encoding import cost

    failing = hanoi.districts + hanoi.communes
    summary = sweep(app, hanoi, [result(e) for e in failing])
    assert summary.incidents == 125
    messages = sms(app)
    to_focal = [m for m in messages if m[0] == FOCAL]
    assert len(to_focal) == 1  # not 125
    body = to_focal[0][1]["body"]
    assert "125 diem cau mat ket noi (12 huyen, 113 xa)" in body or "125 điểm cầu mất kết nối (12 huyện, 113 xã)" in body
    assert body.endswith(f"/events/{SLUG}/status/01?filter=failed")
    own = [m for m in messages if m[0] != FOCAL]
    assert len(own) == 125 and len({m[0] for m in own}) == 125  # each endpoint's contact once
    for recipient, payload, priority, key in messages:
        assert cost(payload["body"]).segments <= 2, payload["body"]
        assert priority == 10  # urgent: before any queued reminder
    assert all("khong tra loi SIP" in m[1]["body"] or "không trả lời SIP" in m[1]["body"] for m in own)
    assert not sms(app, "+84905000056")  # Khánh Hòa: nothing new, nothing sent
    # The next sweep finds the same outage: nothing more to anyone.
    sweep(app, hanoi, [result(e) for e in failing], seconds=300)
    assert len(sms(app)) == 126


def test_later_incidents_wait_for_the_end_of_the_window_and_recoveries_send_nothing(app, hanoi):
    window = app.config["ESCALATION_DIGEST_SECONDS"]
    sweep(app, hanoi, [result(e) for e in hanoi.communes[:10]])
    assert len(sms(app, FOCAL)) == 1
    sweep(app, hanoi, [result(e) for e in hanoi.communes[10:15]], seconds=120)  # 5 more, within the window
    assert len(sms(app, FOCAL)) == 1
    assert tick(app, hanoi, window - 1)[1] == 0
    assert tick(app, hanoi, window + 1)[1] == 1  # the window is over: one digest for the 5 new ones
    digests = sms(app, FOCAL)
    assert len(digests) == 2 and ": 5 " in digests[1][1]["body"]
    # Everything recovers: incidents closed, no SMS at all.
    before = len(sms(app))
    sweep(app, hanoi, [result(e, "connected", "ok") for e in hanoi.communes[:15]], seconds=window + 60)
    assert len(sms(app)) == before
    # New failures that recover before their digest is due are never reported to the province.
    sweep(app, hanoi, [result(e) for e in hanoi.communes[20:23]], seconds=window + 120)
    sweep(app, hanoi, [result(e, "connected", "ok") for e in hanoi.communes[20:23]], seconds=window + 180)
    assert tick(app, hanoi, 3 * window)[1] == 0
    assert len(sms(app, FOCAL)) == 2


def test_the_province_endpoints_own_failure_texts_its_contacts_directly(app, hanoi):
    sweep(app, hanoi, [result(hanoi.province, layer="refused")])
    [(recipient, payload, _, key)] = sms(app)
    assert recipient == FOCAL and key.startswith("incident:") and "từ chối kết nối SIP" in payload["body"]


def test_a_contact_marked_focal_gets_the_digest_not_every_incident(app, hanoi):
    from coordinator.endpoints.models import Contact
    from coordinator.extensions import db

    with app.app_context():
        marked = db.session.scalar(select(Contact).where(Contact.endpoint_id == hanoi.communes[0]))
        marked.focal = True
        phone = marked.phone
        db.session.commit()
    sweep(app, hanoi, [result(e) for e in hanoi.communes[:6]])
    mine = sms(app, phone)
    assert len(mine) == 1 and mine[0][3].startswith("digest:") and ": 6 " in mine[0][1]["body"]


def test_a_person_at_several_failed_endpoints_gets_one_sms(app, hanoi):
    from coordinator.endpoints.models import Contact
    from coordinator.extensions import db

    with app.app_context():
        for endpoint_id in hanoi.communes[:3]:
            db.session.add(Contact(endpoint_id=endpoint_id, role="technical", name="Kỹ thuật VNPT", phone="+84919999999",
                                   phone_type="mobile"))
        db.session.commit()
    sweep(app, hanoi, [result(e) for e in hanoi.communes[:3]])
    [(_, payload, _, _)] = sms(app, "+84919999999")
    assert "3 " in payload["body"]


def test_a_national_digest_only_when_national_phones_are_set(app, hanoi, monkeypatch):
    sweep(app, hanoi, [result(e) for e in hanoi.communes[:4]])
    assert not sms(app, "+84988000000")
    monkeypatch.setitem(app.config, "ESCALATION_NATIONAL_PHONES", "+84988000000")
    sweep(app, hanoi, [result(e) for e in hanoi.communes[4:6]], seconds=60)
    [(_, payload, priority, key)] = sms(app, "+84988000000")
    assert key.startswith("digest:") and priority == 10 and "6 " in payload["body"]  # every open incident


def test_an_opted_out_focal_contact_gets_nothing(app, hanoi):
    from coordinator.extensions import db
    from coordinator.sms.services import opt_out

    with app.app_context():
        opt_out(FOCAL, "organizer")
        db.session.commit()
    sweep(app, hanoi, [result(e) for e in hanoi.communes[:2]])
    assert not sms(app, FOCAL) and len(sms(app)) == 2


@pytest.mark.parametrize("cause, layer, code, protocol, words", [
    ("probe", "timeout", None, "sip", "không trả lời SIP"),
    ("probe", "refused", None, "h323", "từ chối kết nối H.323"),
    ("probe", "sip_error", 503, "sip", "báo lỗi SIP 503"),
    ("probe", "http_error", 404, "webrtc", "trang web báo lỗi 404"),
    ("probe", "dns", None, "sip", "không tìm thấy tên miền"),
    ("probe", "tls", None, "webrtc", "lỗi chứng chỉ TLS"),
    ("operator", "", None, "sip", "cán bộ kỹ thuật báo mất kết nối"),
])
def test_the_sms_says_what_failed_in_words(cause, layer, code, protocol, words):
    from coordinator.status import texts

    assert texts.failure_words(cause, layer, code, protocol) == words
    body = texts.incident_text(hhmm="14:05", endpoint="Hội trường UBND xã", cause=cause, layer=layer, code=code,
                               protocol=protocol)
    assert words in body  # short enough to keep its diacritics


def test_a_long_sms_drops_its_diacritics_then_shortens_the_name():
    from coordinator.sms.encoding import cost
    from coordinator.status import texts

    long_name = "Hội trường Ủy ban nhân dân xã Quảng Phú Cầu, huyện Ứng Hòa, thành phố Hà Nội (phòng họp tầng 3)"
    body = texts.incident_text(hhmm="14:05", endpoint=long_name, cause="probe", layer="timeout", code=None,
                               protocol="sip", support=" Hỗ trợ: 0243 9436 666.")
    assert cost(body).segments <= 2 and body.isascii() and "khong tra loi SIP" in body
    longer = texts.incident_text(hhmm="14:05", endpoint=long_name * 4, cause="probe", layer="timeout", code=None,
                                 protocol="sip")
    assert cost(longer).segments <= 2 and "..." in longer and "khong tra loi SIP" in longer
    digest = texts.digest_text(hhmm="08:35", place="Hà Nội", total=125, by_tier={"district": 12, "commune": 113},
                               link="https://hoinghi.example.gov.vn/events/nd49-2024/status/01?filter=failed")
    assert cost(digest).segments <= 2 and "(12 huyen, 113 xa)" in digest
