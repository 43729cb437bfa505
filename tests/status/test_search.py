"""Finding an endpoint from the dashboards (issue 16, point 3), through HTTP: the API
`GET /api/v1/events/<slug>/search?q=` and the search box of every dashboard page. By a unit's name
with or without diacritics, its code, the room, the dial address, a contact's name, a phone as
officials write it; best first; a coordinator only in its province; bounded results and search;
the index follows the registration as it changes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from factories import csrf_from, login

UTC = timezone.utc
SLUG = "nd49-2024"
API = f"/api/v1/events/{SLUG}/search"


@pytest.fixture()
def world(app, nd49, make_user, token_for):
    """nd49 published, its connectivity test under way; endpoints for Khánh Hòa (56), Nha Trang
    (568, hosting two of its wards) and Hà Nội (01); an operator and Khánh Hòa's coordinator."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.units.services import get_unit

    now = datetime.now(UTC).replace(microsecond=0)
    ids = {}
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=2))
        for code, name, dial, contacts, hosted in [
            ("56", "Hội trường Sở Khánh Hòa", "sip:diemcau-kh@10.56.0.10", [
                {"name": "Đỗ Thị Hồng Anh", "phone": "0913 123 456", "role": "technical"},
                {"name": "Lê Văn Chủ", "phone": "0905 100 100", "role": "chair"}], None),
            ("568", "Phòng họp UBND thành phố", "sip:nhatrang@10.56.8.1", [
                {"name": "Trần Văn Bình", "phone": "0905 333 444", "role": "technical"}], ["22327", "22330"]),
            ("01", "Phòng họp trực tuyến Hà Nội", "https://hop.example.gov.vn/hanoi", [
                {"name": "Phạm Thu Hà", "phone": "0987 654 321", "role": "technical"}], None),
        ]:
            data = {"name": name, "protocol": "webrtc" if dial.startswith("https") else "sip", "dial": dial,
                    "contacts": contacts}
            if hosted:
                data["hosted_unit_codes"] = hosted
            ids[code] = endpoints.save_endpoint(event, get_unit("2024", code), endpoints.clean_endpoint(data),
                                                actor=SystemActor()).id
        publish(event)
    make_user("op@example.gov.vn", "operator")
    make_user("kh@example.gov.vn", "coordinator", "56")
    ids["op"] = token_for("op@example.gov.vn")
    ids["kh"] = token_for("kh@example.gov.vn")
    return ids


def found(client, headers, q, **params):
    response = client.get(API, headers=headers, query_string={"q": q, **params})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def first_id(client, headers, q):
    items = found(client, headers, q)["items"]
    assert items, f"nothing found for {q!r}"
    return items[0]["id"]


@pytest.mark.parametrize("q", ["0913 123 456", "0913.123.456", "+84913123456", "+84 913 123 456", "0913-123-456",
                               "(+84) 913 123 456", "913123456"])
def test_a_contacts_phone_as_officials_write_it_finds_its_endpoint(client, world, q):
    body = found(client, world["op"], q)
    top = body["items"][0]
    assert top["id"] == world["56"]
    assert (top["unit_code"], top["unit_name"], top["state"]) == ("56", "Tỉnh Khánh Hòa", "unknown")
    assert top["match"] == "whole_phone" and "0913 123 456" in top["matched"]
    assert top["page"] == f"/events/{SLUG}/status/endpoints/{world['56']}?session=connectivity_test"


@pytest.mark.parametrize("q, key", [
    ("Khánh Hòa", "56"), ("khanh hoa", "56"), ("KHANH HOA", "56"), ("Khánh Hoà", "56"),  # either accent placement
    ("56", "56"), ("nha trang", "568"), ("568", "568"),
    ("hội trường sở", "56"), ("phong hop truc tuyen", "01"),  # the room's name
    ("10.56.0.10", "56"), ("diemcau-kh", "56"), ("hop.example.gov.vn/hanoi", "01"),  # the dial address
    ("do thi hong anh", "56"), ("Phạm Thu", "01"),  # a contact's name
    ("Vĩnh Hải", "568"),  # a ward attending at Nha Trang's endpoint
])
def test_a_unit_name_code_room_dial_or_contact_finds_the_endpoint(client, world, q, key):
    assert first_id(client, world["op"], q) == world[key]


def test_the_best_match_comes_first_and_says_what_matched(client, world):
    # "khanh hoa" is the province's name; Nha Trang's endpoint is in Khánh Hòa but not named so.
    items = found(client, world["op"], "khanh hoa")["items"]
    assert [i["id"] for i in items] == [world["56"]]
    assert items[0]["match"] == "unit"
    # A piece of a phone number: every endpoint with such a contact, the code of a unit first.
    items = found(client, world["op"], "0905")["items"]
    assert {i["id"] for i in items} == {world["56"], world["568"]}
    assert all(i["match"] == "phone" for i in items)
    # Words must start words of one text, in order: "hong anh do" is not "Đỗ Thị Hồng Anh".
    assert found(client, world["op"], "hong anh do")["items"] == []
    assert found(client, world["op"], "vinh hai")["items"][0]["match"] == "hosted"
    # A whole dial address (or its host) ranks with a code; a piece of one with a room.
    items = found(client, world["op"], "10.56.8.1")["items"]
    assert [(i["id"], i["match"], i["matched"]) for i in items] == [(world["568"], "dial", "sip:nhatrang@10.56.8.1")]
    items = found(client, world["op"], "10.56.0.1")["items"]
    assert [(i["id"], i["match"]) for i in items] == [(world["56"], "dial_part")]


def test_the_state_and_incident_are_those_of_the_session(client, world):
    response = client.post(f"/api/v1/endpoints/{world['56']}/checks", headers=world["op"],
                           json={"state": "failed", "note": "không có tiếng"})
    assert response.status_code == 201
    top = found(client, world["op"], "0913123456")["items"][0]
    assert (top["id"], top["state"], top["state_text"], top["incident"]) == (world["56"], "failed",
                                                                           top["state_text"], True)
    assert top["heard_at"] is None  # an operator's "failed" is not hearing from it
    client.post(f"/api/v1/endpoints/{world['56']}/checks", headers=world["op"], json={"state": "connected"})
    top = found(client, world["op"], "0913123456")["items"][0]
    assert top["state"] == "connected" and top["incident"] is False
    assert top["heard_at"].endswith("+07:00")
    # Another session: nothing recorded there.
    assert found(client, world["op"], "0913123456", session="main")["items"][0]["state"] == "unknown"


def test_a_coordinator_searches_only_its_province(client, world):
    assert found(client, world["kh"], "Hà Nội")["items"] == []
    assert found(client, world["kh"], "0987 654 321")["items"] == []
    assert first_id(client, world["kh"], "0913 123 456") == world["56"]
    assert {i["id"] for i in found(client, world["kh"], "0905")["items"]} == {world["56"], world["568"]}


def test_results_and_the_search_are_bounded(client, world):
    body = found(client, world["op"], "phong", limit=1)
    assert len(body["items"]) == 1 and body["more"] is True
    assert found(client, world["op"], "phong", limit=50)["more"] is False
    for params in ({"q": "x" * 101}, {"q": "a", "limit": 51}, {"q": "a", "limit": 0}, {}):
        response = client.get(API, headers=world["op"], query_string=params)
        assert response.status_code == 400, params  # the API's answer to a query string it cannot take
        assert response.get_json()["error"]["code"] == "bad_request"
        assert set(response.get_json()["error"]["details"]["query"]) <= {"q", "limit"}
    assert found(client, world["op"], "")["items"] == []
    assert found(client, world["op"], "   ")["items"] == []
    assert found(client, world["op"], "%_*\\")["items"] == []  # no wildcard: the search is not SQL
    response = client.get(f"/api/v1/events/no-such-event/search", headers=world["op"], query_string={"q": "a"})
    assert response.status_code == 404
    assert client.get(API, query_string={"q": "a"}).status_code == 401


def test_the_index_follows_the_registration(app, client, world):
    """A contact's new number is found at once, the old one no more; a removed endpoint neither."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import get_event
    from coordinator.extensions import db

    assert first_id(client, world["op"], "0987 654 321") == world["01"]
    with app.app_context():
        ep = db.session.get(Endpoint, world["01"])
        endpoints.update_endpoint(ep, {"contacts": [{"name": "Phạm Thu Hà", "phone": "0977 111 222",
                                                     "role": "technical"}]}, actor=SystemActor())
    assert found(client, world["op"], "0987 654 321")["items"] == []
    assert first_id(client, world["op"], "0977.111.222") == world["01"]
    with app.app_context():
        endpoints.delete_endpoint(get_event(SLUG), db.session.get(Endpoint, world["568"]), actor=SystemActor())
    assert found(client, world["op"], "nha trang")["items"] == []


# --- the search box of the pages ---------------------------------------------------------------------

def test_every_dashboard_page_has_the_search_box(client, world, make_user):
    login(client, "op@example.gov.vn")
    for path in (f"/events/{SLUG}/status", f"/events/{SLUG}/status/56", f"/events/{SLUG}/status/568",
                 f"/events/{SLUG}/status/endpoints/{world['56']}", f"/events/{SLUG}/status/incidents"):
        html = client.get(path).get_data(as_text=True)
        assert 'id="st-search"' in html and f'action="/events/{SLUG}/status/search"' in html, path
        assert f'data-api="/api/v1/events/{SLUG}/search"' in html, path


def test_the_search_page_jumps_to_the_one_endpoint_found_and_lists_several(client, world):
    login(client, "op@example.gov.vn")
    response = client.get(f"/events/{SLUG}/status/search", query_string={"q": "0913.123.456",
                                                                         "session": "connectivity_test"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/events/{SLUG}/status/endpoints/{world['56']}?session=connectivity_test"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "Hội trường Sở Khánh Hòa" in page.get_data(as_text=True)
    html = client.get(f"/events/{SLUG}/status/search", query_string={"q": "phong hop"}).get_data(as_text=True)
    assert f'data-endpoint="{world["568"]}"' in html and f'data-endpoint="{world["01"]}"' in html
    assert 'data-found="2"' in html
    html = client.get(f"/events/{SLUG}/status/search", query_string={"q": "không có đâu"}).get_data(as_text=True)
    assert 'data-found="0"' in html
    assert client.get(f"/events/{SLUG}/status/search", query_string={"q": "x" * 5000}).status_code == 200


def test_a_coordinators_search_page_stays_in_its_province(client, world):
    login(client, "kh@example.gov.vn")
    html = client.get(f"/events/{SLUG}/status/search", query_string={"q": "phong hop"})
    assert html.status_code == 302  # only Nha Trang's room is theirs
    assert html.headers["Location"].startswith(f"/events/{SLUG}/status/endpoints/{world['568']}")
    html = client.get(f"/events/{SLUG}/status/search", query_string={"q": "Hà Nội"}).get_data(as_text=True)
    assert 'data-found="0"' in html


def test_the_search_at_national_scale_is_one_build_then_memory(app, world):
    """Searching twice reads the registration once (then one query to know it is current, and two
    for the states of what was found)."""
    from sqlalchemy import event as sa_event

    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.status import search as finder

    with app.app_context():
        event = get_event(SLUG)
        session = event.session("connectivity_test")
        finder.search(event, "khanh hoa", session=session)
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa_event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert [h.id for h in finder.search(event, "0913 123 456", session=session).items] == [world["56"]]
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", listener)
        assert len(statements) == 3, statements
        assert not any("FROM contacts" in s for s in statements)
