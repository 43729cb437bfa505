"""Endpoints and contacts through API v1: registration, phones, hosted communes, scope."""
from __future__ import annotations

import pytest

KH, NHA_TRANG, HA_NOI, BA_DINH = "56", "568", "01", "001"


@pytest.fixture()
def people(make_user, token_for, nd49):
    make_user("kh@example.gov.vn", "coordinator", KH)
    make_user("hn@example.gov.vn", "coordinator", HA_NOI)
    make_user("org@example.gov.vn", "organizer")
    make_user("op@example.gov.vn", "operator")
    return {name: token_for(f"{name}@example.gov.vn") for name in ("kh", "hn", "org", "op")}


def communes_of(client, headers, district):
    body = client.get(f"/api/v1/units?structure=2024&parent={district}&per_page=100", headers=headers).get_json()
    return [u["code"] for u in body["items"]]


def post(client, headers, **body):
    return client.post("/api/v1/events/nd49-2024/endpoints", json=body, headers=headers)


def test_register_an_endpoint_with_contacts(client, people):
    response = post(client, people["kh"], unit_code=KH, name="Hội trường Sở TT&TT Khánh Hòa",
                    address="Số 135 Thống Nhất, TP. Nha Trang", protocol="sip", dial="diemcau-kh@10.56.0.10",
                    contacts=[
                        {"name": "Đỗ Thị Hồng Anh", "position": "Chuyên viên", "phone": "0258.3563535",
                         "email": "ttbcxb.stttt.kh@example.gov.vn", "role": "technical"},
                        {"name": "Nguyễn Văn A", "phone": "0913 123 456", "role": "chair"},
                    ])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"] and body["unit_code"] == KH and body["tier"] == "province" and body["event"] == "nd49-2024"
    assert body["dial"] == "sip:diemcau-kh@10.56.0.10"
    phones = {c["name"]: (c["phone"], c["phone_type"]) for c in body["contacts"]}
    assert phones == {"Đỗ Thị Hồng Anh": ("+842583563535", "fixed"), "Nguyễn Văn A": ("+84913123456", "mobile")}
    again = client.get(f"/api/v1/endpoints/{body['id']}", headers=people["org"]).get_json()
    assert again == body
    assert post(client, people["kh"], unit_code=KH, name="x").status_code == 409


@pytest.mark.parametrize("phone,reason", [
    ("058.3563535", "area code from before 2017"),
    ("0236.3822.xxx", "contains letters"),
    ("0913123456 / 0905111222", "more than one number"),
    ("0511.3822123", "not a valid Vietnamese number"),
])
def test_a_bad_phone_says_why_and_saves_nothing(client, people, phone, reason):
    response = post(client, {**people["kh"], "Accept-Language": "en"}, unit_code=NHA_TRANG, name="Phòng họp UBND",
                    contacts=[{"name": "Trần B", "phone": phone, "role": "technical"}])
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert details[0]["field"] == "contacts[0].phone" and reason in details[0]["message"]
    assert client.get("/api/v1/events/nd49-2024/endpoints", headers=people["kh"]).get_json()["total"] == 0


def test_every_field_error_at_once(client, people):
    response = post(client, {**people["kh"], "Accept-Language": "en"}, unit_code=NHA_TRANG, name="",
                    protocol="skype", dial="x", contacts=[{"name": "", "phone": "0913 123 456", "role": "boss"},
                                                          {"name": "C", "phone": "0913123456", "email": "nope"}])
    fields = {d["field"] for d in response.get_json()["error"]["details"]}
    assert response.status_code == 422
    assert {"name", "protocol", "contacts[0].name", "contacts[0].role", "contacts[1].email",
            "contacts[1].phone"} <= fields


def test_district_endpoint_hosts_its_communes(client, people):
    communes = communes_of(client, people["kh"], NHA_TRANG)
    response = post(client, people["kh"], unit_code=NHA_TRANG, name="Hội trường UBND TP Nha Trang",
                    protocol="h323", dial="10.56.8.1", hosted_unit_codes=communes[:2])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["hosted_unit_codes"] == communes[:2]
    # A commune of another district cannot attend here.
    other = communes_of(client, people["kh"], "569")[0]
    bad = client.patch(f"/api/v1/endpoints/{body['id']}", json={"hosted_unit_codes": [other]}, headers=people["kh"])
    assert bad.status_code == 422
    # A hosted commune that registers its own endpoint stops being hosted.
    assert post(client, people["kh"], unit_code=communes[0], name="Nhà văn hóa phường").status_code == 201
    hosted = client.get(f"/api/v1/endpoints/{body['id']}", headers=people["kh"]).get_json()["hosted_unit_codes"]
    assert hosted == [communes[1]]


def test_patch_changes_only_what_is_given(client, people):
    created = post(client, people["kh"], unit_code=KH, name="Phòng A", protocol="webrtc",
                   dial="https://meet.example.gov.vn/kh", contacts=[{"name": "X", "phone": "0913123456"}]).get_json()
    response = client.patch(f"/api/v1/endpoints/{created['id']}", json={"name": "Phòng B"}, headers=people["kh"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "Phòng B" and body["dial"] == "https://meet.example.gov.vn/kh"
    assert [c["phone"] for c in body["contacts"]] == ["+84913123456"]
    bad = client.patch(f"/api/v1/endpoints/{created['id']}", json={"dial": "http://insecure.example"},
                       headers=people["kh"])
    assert bad.status_code == 422
    assert client.get(f"/api/v1/endpoints/{created['id']}", headers=people["kh"]).get_json()["name"] == "Phòng B"


def test_scope_khanh_hoa_cannot_touch_ha_noi(client, people):
    hn = post(client, people["hn"], unit_code=BA_DINH, name="UBND quận Ba Đình",
              contacts=[{"name": "Lê C", "phone": "0904 000 111", "role": "technical"}]).get_json()
    kh = people["kh"]
    assert post(client, kh, unit_code=BA_DINH, name="takeover").status_code == 403
    assert post(client, kh, unit_code=HA_NOI, name="takeover").status_code == 403
    assert client.get(f"/api/v1/endpoints/{hn['id']}", headers=kh).status_code == 404
    assert client.patch(f"/api/v1/endpoints/{hn['id']}", json={"name": "x"}, headers=kh).status_code == 404
    assert client.delete(f"/api/v1/endpoints/{hn['id']}", headers=kh).status_code == 404
    assert client.get("/api/v1/events/nd49-2024/endpoints", headers=kh).get_json()["total"] == 0
    assert client.get(f"/api/v1/events/nd49-2024/endpoints?unit_code={BA_DINH}", headers=kh).get_json()["total"] == 0
    after = client.get(f"/api/v1/endpoints/{hn['id']}", headers=people["org"]).get_json()
    assert after == hn  # nothing changed
    # Operators read everything and change nothing.
    assert client.get("/api/v1/events/nd49-2024/endpoints", headers=people["op"]).get_json()["total"] == 1
    assert client.patch(f"/api/v1/endpoints/{hn['id']}", json={"name": "x"}, headers=people["op"]).status_code == 403
    assert client.delete(f"/api/v1/endpoints/{hn['id']}", headers=people["hn"]).status_code == 204


def test_late_registration_is_accepted_and_marked_late(client, people, app):
    from coordinator.deadlines.services import fulfilment_map
    from coordinator.events.services import get_event

    post(client, people["kh"], unit_code=KH, name="Hội trường Sở",
         contacts=[{"name": "Đỗ Thị Hồng Anh", "phone": "0258 3563535", "role": "technical"}])
    with app.app_context():
        deadline = get_event("nd49-2024").deadlines[0]  # focal contacts, due 20/06/2024: long past
        row = next(iter(fulfilment_map(deadline).values()))
        assert row.unit.code == KH and row.fulfilled_at is not None and row.late


def test_closed_registration_refuses_changes(client, people, app):
    from coordinator.deadlines.services import set_closed
    from coordinator.events.services import get_event

    with app.app_context():
        set_closed(get_event("nd49-2024").deadlines[0], True)
    response = post(client, {**people["kh"], "Accept-Language": "en"}, unit_code=KH, name="Hội trường Sở")
    assert response.status_code == 409 and "closed registration" in response.get_json()["error"]["message"]
    # Other tiers are not governed by that deadline.
    assert post(client, people["kh"], unit_code=NHA_TRANG, name="UBND TP Nha Trang").status_code == 201


def test_api_writes_with_a_session_cookie_need_the_csrf_header(client, people, make_user):
    from factories import csrf_from, login

    login(client, "kh@example.gov.vn")
    body = {"unit_code": KH, "name": "Hội trường Sở"}
    assert client.post("/api/v1/events/nd49-2024/endpoints", json=body).status_code == 400
    token = csrf_from(client.get("/events/").get_data(as_text=True))
    response = client.post("/api/v1/events/nd49-2024/endpoints", json=body, headers={"X-CSRFToken": token})
    assert response.status_code == 201


def test_changes_are_audited(client, people, app):
    from coordinator.audit.services import recent

    created = post(client, people["kh"], unit_code=KH, name="Hội trường Sở").get_json()
    client.delete(f"/api/v1/endpoints/{created['id']}", headers=people["kh"])
    with app.app_context():
        actions = [(e.action, e.actor_label, e.details.get("unit")) for e in recent()]
    assert ("endpoint.create", "kh@example.gov.vn", KH) in actions
    assert ("endpoint.delete", "kh@example.gov.vn", KH) in actions
