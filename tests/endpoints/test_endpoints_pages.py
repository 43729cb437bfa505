"""The coordinator's registration pages, through HTTP forms."""
from __future__ import annotations

import re
from html import unescape

import pytest
from factories import csrf_from, form_values, login

EN = {"Accept-Language": "en"}


@pytest.fixture()
def kh_client(client, make_user, nd49):
    make_user("kh@example.gov.vn", "coordinator", "56")
    login(client, "kh@example.gov.vn")
    return client


def test_coordinator_sees_its_province_tree(kh_client):
    html = unescape(kh_client.get("/events/nd49-2024/registration").get_data(as_text=True))
    assert "Tỉnh Khánh Hòa" in html and "Thành phố Nha Trang" in html
    assert "Thành phố Hà Nội" not in html and "Quận Ba Đình" not in html
    assert kh_client.get("/events/nd49-2024/registration?unit=01").status_code == 404
    assert kh_client.get("/events/nd49-2024/units/001/endpoint").status_code == 404


def test_register_a_commune_endpoint_through_the_form(kh_client, app):
    page = kh_client.get("/events/nd49-2024/units/22333/endpoint").get_data(as_text=True)
    form = form_values(page, "")
    form.update({"name": "Hội trường UBND phường", "protocol": "webrtc", "dial": "https://meet.example.gov.vn/22333",
                 "contacts-0-role": "chair", "contacts-0-name": "Phạm Văn D", "contacts-0-phone": "0905 111 222",
                 "contacts-1-role": "technical", "contacts-1-name": "Lý Thị E", "contacts-1-phone": "0258.3822.123"})
    response = kh_client.post("/events/nd49-2024/units/22333/endpoint", data=form)
    assert response.status_code == 302, unescape(response.get_data(as_text=True))[:3000]
    body = kh_client.get("/api/v1/events/nd49-2024/endpoints?unit_code=22333").get_json()
    assert body["total"] == 1
    contacts = {c["name"]: c for c in body["items"][0]["contacts"]}
    assert contacts["Phạm Văn D"]["phone"] == "+84905111222" and contacts["Lý Thị E"]["phone_type"] == "fixed"


def test_a_bad_phone_is_shown_beside_the_field(kh_client):
    page = kh_client.get("/events/nd49-2024/units/568/endpoint", headers=EN).get_data(as_text=True)
    form = form_values(page, "")
    form.update({"name": "UBND TP Nha Trang", "contacts-1-name": "Trần F", "contacts-1-phone": "058.3563535"})
    response = kh_client.post("/events/nd49-2024/units/568/endpoint", data=form, headers=EN)
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    block = html[html.index('name="contacts-1-phone"'):][:600]
    assert "area code from before 2017" in block
    assert kh_client.get("/api/v1/events/nd49-2024/endpoints").get_json()["total"] == 0


def test_commune_attends_at_its_district(kh_client):
    token = csrf_from(kh_client.get("/events/nd49-2024/registration").get_data(as_text=True))
    # Without a district endpoint there is nothing to attend at.
    kh_client.post("/events/nd49-2024/units/22333/attend-at-parent", data={"csrf_token": token})
    assert kh_client.get("/api/v1/events/nd49-2024/endpoints").get_json()["total"] == 0
    page = kh_client.get("/events/nd49-2024/units/568/endpoint").get_data(as_text=True)
    form = form_values(page, "")
    form.update({"name": "Hội trường UBND TP Nha Trang"})
    assert kh_client.post("/events/nd49-2024/units/568/endpoint", data=form).status_code == 302
    kh_client.post("/events/nd49-2024/units/22333/attend-at-parent", data={"csrf_token": token})
    district = kh_client.get("/api/v1/events/nd49-2024/endpoints?unit_code=568").get_json()["items"][0]
    assert district["hosted_unit_codes"] == ["22333"]
    html = unescape(kh_client.get("/events/nd49-2024/registration").get_data(as_text=True))
    row = html[html.index('id="u-22333"'):][:800]
    assert "Hội trường UBND TP Nha Trang" in row
    kh_client.post("/events/nd49-2024/units/22333/attend-at-parent", data={"csrf_token": token, "stop": "1"})
    district = kh_client.get("/api/v1/events/nd49-2024/endpoints?unit_code=568").get_json()["items"][0]
    assert district["hosted_unit_codes"] == []


def test_operator_reads_but_cannot_post(client, make_user, nd49):
    make_user("op@example.gov.vn", "operator")
    login(client, "op@example.gov.vn")
    assert client.get("/events/nd49-2024/registration?unit=56").status_code == 200
    page = client.get("/events/nd49-2024/units/56/endpoint").get_data(as_text=True)
    response = client.post("/events/nd49-2024/units/56/endpoint", data={**form_values(page, ""), "name": "x"})
    assert response.status_code == 403


def test_demo_registrations_command_is_idempotent(cli, client, make_user, token_for, nd49):
    make_user("org@example.gov.vn", "organizer")
    headers = token_for("org@example.gov.vn")
    for _ in range(2):
        result = cli("events", "demo-registrations", "nd49-2024", "--province", "56")
        assert result.exit_code == 0 and "Tỉnh Khánh Hòa" in result.output
        body = client.get("/api/v1/events/nd49-2024/endpoints", headers=headers).get_json()
        assert body["total"] == 10 and all(len(e["contacts"]) == 2 for e in body["items"])
        assert sum(len(e["hosted_unit_codes"]) for e in body["items"]) >= 10


def test_every_registration_route_refuses_another_province(client, make_user, token_for, nd49, app):
    """Khánh Hòa's coordinator against Hà Nội's data, route by route: 403 or 404, nothing changes."""
    make_user("hn@example.gov.vn", "coordinator", "01")
    make_user("kh@example.gov.vn", "coordinator", "56")
    hn = token_for("hn@example.gov.vn")
    created = client.post("/api/v1/events/nd49-2024/endpoints", headers=hn, json={
        "unit_code": "001", "name": "UBND quận Ba Đình", "hosted_unit_codes": ["00001"],
        "contacts": [{"name": "Lê C", "phone": "0904 000 111", "role": "technical"}]}).get_json()
    before = client.get(f"/api/v1/endpoints/{created['id']}", headers=hn).get_json()

    login(client, "kh@example.gov.vn")
    token = csrf_from(client.get("/events/nd49-2024/registration").get_data(as_text=True))
    kh_api = token_for("kh@example.gov.vn")
    refused = [
        client.get("/events/nd49-2024/registration?unit=01"),
        client.get("/events/nd49-2024/units/001/endpoint"),
        client.post("/events/nd49-2024/units/001/endpoint", data={"csrf_token": token, "name": "x"}),
        client.post("/events/nd49-2024/units/001/endpoint/delete", data={"csrf_token": token}),
        client.post("/events/nd49-2024/units/00001/attend-at-parent", data={"csrf_token": token, "stop": "1"}),
        client.post("/events/nd49-2024/units/00004/attend-at-parent", data={"csrf_token": token}),
        client.get(f"/api/v1/endpoints/{created['id']}", headers=kh_api),
        client.patch(f"/api/v1/endpoints/{created['id']}", json={"name": "x"}, headers=kh_api),
        client.delete(f"/api/v1/endpoints/{created['id']}", headers=kh_api),
        client.post("/api/v1/events/nd49-2024/endpoints", json={"unit_code": "00004", "name": "x"}, headers=kh_api),
        client.get("/events/nd49-2024/progress"),
        client.get("/api/v1/events/nd49-2024/registration", headers=kh_api),
    ]
    assert [r.status_code for r in refused] == [404, 404, 404, 404, 404, 404, 404, 404, 404, 403, 403, 403]
    exported = client.get("/events/nd49-2024/endpoints/export.csv").get_data(as_text=True)
    focal = client.get("/events/nd49-2024/focal-contacts.csv").get_data(as_text=True)
    assert "Ba Đình" not in exported and "Lê C" not in focal
    assert client.get(f"/api/v1/endpoints/{created['id']}", headers=hn).get_json() == before


def test_late_only_lists_the_units_that_missed_or_met_a_deadline_late(kh_client):
    """The "late" filter and badge read deadline fulfilment (registered by coordinator.deadlines into
    the list, which does not import it): nd49's province deadline (20/6/2024) has passed, so
    Khánh Hòa missed it, then met it late; its districts and communes have no deadline."""
    def late_rows():
        html = kh_client.get("/events/nd49-2024/registration", query_string={"late": "1"}, headers=EN)
        return re.findall(r'<tr id="u-([0-9A-Z]+)"', html.get_data(as_text=True))

    assert late_rows() == ["56"]
    page = kh_client.get("/events/nd49-2024/units/56/endpoint").get_data(as_text=True)
    form = form_values(page, "")
    form.update({"name": "Hội trường UBND tỉnh", "contacts-1-role": "technical", "contacts-1-name": "Lý Thị E",
                 "contacts-1-phone": "0905 111 223"})
    assert kh_client.post("/events/nd49-2024/units/56/endpoint", data=form).status_code == 302
    assert late_rows() == ["56"]  # met, but after the due date


def test_the_form_shows_the_endpoints_history_and_the_units_calendar_as_page_parts(kh_client, app):
    """History (coordinator.history) and the unit's calendar feed (coordinator.invitations) come as
    page parts; the feed only once the event is no longer a draft."""
    from coordinator.events.services import get_event
    from coordinator.extensions import db

    url = "/events/nd49-2024/units/568/endpoint"
    page = kh_client.get(url, headers=EN).get_data(as_text=True)
    assert 'id="audit-history"' not in page  # no endpoint yet: no history
    form = form_values(page, "")
    form.update({"name": "Hội trường UBND TP Nha Trang"})
    assert kh_client.post(url, data=form).status_code == 302
    page = kh_client.get(url, headers=EN).get_data(as_text=True)
    history = page[page.index('id="audit-history"'):]
    assert "<li>" in history and "Nothing recorded" not in history
    for status, shown in (("published", True), ("draft", False)):
        with app.app_context():
            get_event("nd49-2024").status = status
            db.session.commit()
        page = kh_client.get(url).get_data(as_text=True)
        assert ('id="unit-calendar"' in page) is shown and ('href="webcal://' in page) is shown
