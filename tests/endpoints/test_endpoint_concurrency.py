"""Concurrent saves of one endpoint (issue 14, point 3): real threads against a live server.

Ten coordinators saving the same endpoint at once must end with exactly one of the lists they
sent, never a merge of all of them; with the version they read (If-Match, the form's hidden field)
one wins and the others are told what the winner saved. Runs on SQLite and on PostgreSQL
(TEST_DATABASE_URL).
"""
from __future__ import annotations

import io
import threading
import time
from datetime import date
from html import unescape
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from factories import csrf_from, form_values, login
from liveserver import live_server

KH, NHA_TRANG, CAM_RANH = "56", "568", "569"
SLUG = "nd49-2024"
N = 10
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(app):
    with live_server(app) as url:
        yield url


@pytest.fixture()
def kh(make_user, token_for, nd49):
    make_user("kh@example.gov.vn", "coordinator", KH)
    return token_for("kh@example.gov.vn")


def people(i: int) -> list[dict]:
    """Three people of submitter `i`, each with a phone of their own."""
    return [{"name": f"Người {i}-{j}", "phone": f"0913 {i:03d} {j:03d}", "role": "technical",
             "email": f"nguoi{i}.{j}@example.gov.vn"} for j in range(3)]


def e164(i: int) -> set[str]:
    return {f"+84913{i:03d}{j:03d}" for j in range(3)}


def run_together(n: int, work) -> list:
    """`work(i)` in n threads released at the same moment; their results (an exception is a result)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a request never returned (a lock never released?)"
    return results


def create(server, headers, unit_code=KH, contacts=None, **fields) -> dict:
    response = requests.post(f"{server}/api/v1/events/{SLUG}/endpoints", headers=headers, timeout=30,
                             json={"unit_code": unit_code, "name": f"Hội trường {unit_code}", **fields,
                                   "contacts": people(99) if contacts is None else contacts})
    assert response.status_code == 201, response.text
    return response.json()


def stored_contacts(app, endpoint_id: int) -> set[str]:
    """The contact rows of the endpoint in the database (not what a response says)."""
    from coordinator.endpoints.models import Contact
    from coordinator.extensions import db

    with app.app_context():
        phones = set(db.session.scalars(select(Contact.phone).where(Contact.endpoint_id == endpoint_id)))
        db.session.remove()
    return phones


def scalar(app, stmt):
    from coordinator.extensions import db

    with app.app_context():
        value = db.session.scalar(stmt)
        db.session.remove()
    return value


def audit_count(app, action: str) -> int:
    from coordinator.audit.models import AuditEntry

    return scalar(app, select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


# --- (a) without If-Match: one at a time, the last writer wins, never a merge --------------------

def test_ten_patches_without_if_match_end_with_one_submitted_list(server, kh, app):
    created = create(server, kh)
    url = f"{server}/api/v1/endpoints/{created['id']}"

    def patch(i):
        return requests.patch(url, json={"contacts": people(i)}, headers=kh, timeout=120)

    started = time.perf_counter()
    responses = run_together(N, patch)
    elapsed = time.perf_counter() - started
    print(f"\n{N} concurrent PATCHes of one endpoint: {elapsed * 1000:.0f} ms")
    assert [getattr(r, "status_code", r) for r in responses] == [200] * N
    phones = stored_contacts(app, created["id"])
    assert len(phones) == 3 and any(phones == e164(i) for i in range(N)), sorted(phones)
    final = requests.get(url, headers=kh, timeout=30)
    assert {c["phone"] for c in final.json()["contacts"]} == phones
    # Each save saw the one before: every one changed the list, so every one moved the version.
    assert final.json()["version"] == 1 + N and final.headers["ETag"].startswith(f'"{1 + N}')
    # The winner is the last one served, and what each response said was true when it was sent.
    versions = sorted(r.json()["version"] for r in responses)
    assert versions == list(range(2, 2 + N))
    last = next(r for r in responses if r.json()["version"] == 1 + N)
    assert {c["phone"] for c in last.json()["contacts"]} == phones


# --- (b) with the If-Match they all read: one wins, the others get 412 and the winner's version ----

def test_ten_patches_with_the_same_if_match_one_wins_the_others_get_412(server, kh, app):
    created = create(server, kh)
    url = f"{server}/api/v1/endpoints/{created['id']}"
    etag = requests.get(url, headers=kh, timeout=30).headers["ETag"]
    assert etag.split(":")[0].strip('"') == "1"

    def patch(i):
        return requests.patch(url, json={"contacts": people(i)}, headers={**kh, "If-Match": etag}, timeout=120)

    responses = run_together(N, patch)
    codes = sorted(getattr(r, "status_code", r) for r in responses)
    assert codes == [200] + [412] * (N - 1), codes
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    assert stored_contacts(app, created["id"]) == e164(winner)
    for r in responses:
        if r.status_code != 412:
            continue
        error = r.json()["error"]
        assert error["code"] == "precondition_failed" and "meanwhile" in error["message"]
        current = error["details"]["current"]
        assert current["version"] == 2 and {c["phone"] for c in current["contacts"]} == e164(winner)
        assert error["details"]["expected"] == [1]
        assert r.headers["ETag"] == '"2"'
    # The losers can retry with the winner's version.
    retry = requests.patch(url, json={"contacts": people(50)}, headers={**kh, "If-Match": '"2"'}, timeout=30)
    assert retry.status_code == 200 and retry.json()["version"] == 3
    assert stored_contacts(app, created["id"]) == e164(50)


# --- (c) the form: a stale hidden version shows their version and overwrites nothing -------------

@pytest.fixture()
def two_coordinators(app, make_user, nd49):
    make_user("kh@example.gov.vn", "coordinator", KH)
    make_user("kh2@example.gov.vn", "coordinator", KH)
    first, second = app.test_client(), app.test_client()
    login(first, "kh@example.gov.vn")
    login(second, "kh2@example.gov.vn")
    return first, second


FORM_URL = f"/events/{SLUG}/units/{NHA_TRANG}/endpoint"


def filled(page: str, i: int) -> dict:
    form = form_values(page, "")
    form.update({"name": f"Phòng họp {i}", "contacts-0-role": "chair", "contacts-0-name": f"Chủ trì {i}",
                 "contacts-0-phone": f"0913 {i:03d} 001", "contacts-1-role": "technical",
                 "contacts-1-name": f"Kỹ thuật {i}", "contacts-1-phone": f"0913 {i:03d} 002"})
    return form


def endpoint_json(client, unit_code=NHA_TRANG):
    items = client.get(f"/api/v1/events/{SLUG}/endpoints?unit_code={unit_code}").get_json()["items"]
    return items[0] if items else None


def test_a_stale_form_shows_their_version_and_overwrites_nothing(two_coordinators, app):
    first, second = two_coordinators
    first.post(FORM_URL, data=filled(first.get(FORM_URL).get_data(as_text=True), 1))  # version 1
    page_a = first.get(FORM_URL, headers={"Accept-Language": "en"}).get_data(as_text=True)
    page_b = second.get(FORM_URL).get_data(as_text=True)
    assert form_values(page_a, "")["version"] == form_values(page_b, "")["version"] == "1"
    assert second.post(FORM_URL, data=filled(page_b, 2)).status_code == 302  # B saves first: version 2

    mine = filled(page_a, 3)
    response = first.post(FORM_URL, data=mine, headers={"Accept-Language": "en"})
    assert response.status_code == 409
    html = unescape(response.get_data(as_text=True))
    notice = html[html.index('id="conflict"'):html.index("</section>", html.index('id="conflict"'))]
    assert "Someone else changed this endpoint while you were editing it" in notice and "Nothing was saved" in notice
    assert "Kỹ thuật 2" in notice and "Chủ trì 2" in notice and "0913 002 002" in notice  # their contacts
    assert "Phòng họp 2" in notice
    # What A typed is kept in the form, which now carries B's version.
    kept = form_values(html, "")
    assert kept["name"] == "Phòng họp 3" and kept["contacts-1-name"] == "Kỹ thuật 3" and kept["version"] == "2"
    # Nothing of A's was saved.
    saved = endpoint_json(first)
    assert saved["version"] == 2 and {c["name"] for c in saved["contacts"]} == {"Chủ trì 2", "Kỹ thuật 2"}
    # Having seen theirs, A saves again: now A's replaces B's, knowingly.
    assert first.post(FORM_URL, data=kept).status_code == 302
    saved = endpoint_json(first)
    assert saved["version"] == 3 and {c["name"] for c in saved["contacts"]} == {"Chủ trì 3", "Kỹ thuật 3"}


def test_the_form_requires_its_version(two_coordinators, app):
    first, _ = two_coordinators
    page = first.get(FORM_URL).get_data(as_text=True)
    assert first.post(FORM_URL, data=filled(page, 1)).status_code == 302
    page = first.get(FORM_URL).get_data(as_text=True)
    form = filled(page, 4)
    del form["version"]  # an old page, or a script
    response = first.post(FORM_URL, data=form)
    assert response.status_code == 409 and 'id="conflict"' in response.get_data(as_text=True)
    assert endpoint_json(first)["name"] == "Phòng họp 1"
    # A new endpoint: version 0 is "none yet"; a form for a new endpoint when one was created meanwhile
    # is stale too.
    page = first.get(f"/events/{SLUG}/units/{CAM_RANH}/endpoint").get_data(as_text=True)
    assert form_values(page, "")["version"] == "0"
    assert first.post(f"/events/{SLUG}/units/{CAM_RANH}/endpoint", data=filled(page, 5)).status_code == 302
    again = first.post(f"/events/{SLUG}/units/{CAM_RANH}/endpoint", data=filled(page, 6))
    assert again.status_code == 409 and "Kỹ thuật 5" in unescape(again.get_data(as_text=True))
    assert endpoint_json(first, CAM_RANH)["name"] == "Phòng họp 5"


def test_a_form_saved_after_the_endpoint_was_removed_says_so(two_coordinators):
    first, second = two_coordinators
    first.post(FORM_URL, data=filled(first.get(FORM_URL).get_data(as_text=True), 1))
    page_a = first.get(FORM_URL, headers={"Accept-Language": "en"}).get_data(as_text=True)
    page_b = second.get(FORM_URL).get_data(as_text=True)
    second.post(f"{FORM_URL}/delete", data=form_values(page_b, "/delete"))
    assert endpoint_json(first) is None
    response = first.post(FORM_URL, data=filled(page_a, 2), headers={"Accept-Language": "en"})
    assert response.status_code == 409
    html = unescape(response.get_data(as_text=True))
    assert "Someone else removed this endpoint while you were editing it" in html
    assert form_values(html, "")["version"] == "0"
    assert endpoint_json(first) is None
    assert first.post(FORM_URL, data=form_values(html, "")).status_code == 302  # registered anew
    assert endpoint_json(first)["version"] == 1


def test_removing_from_a_stale_page_removes_nothing(two_coordinators):
    first, second = two_coordinators
    first.post(FORM_URL, data=filled(first.get(FORM_URL).get_data(as_text=True), 1))
    page_a = first.get(FORM_URL).get_data(as_text=True)
    page_b = second.get(FORM_URL).get_data(as_text=True)
    assert second.post(FORM_URL, data=filled(page_b, 2)).status_code == 302
    response = first.post(f"{FORM_URL}/delete", data=form_values(page_a, "/delete"))
    assert response.status_code == 302 and response.headers["Location"].endswith(FORM_URL)
    assert endpoint_json(first)["name"] == "Phòng họp 2"


def test_ten_forms_posted_at_once_with_the_same_version(server, two_coordinators, app):
    """The form against the live server: one save wins, the others see the notice."""
    first, _ = two_coordinators
    first.post(FORM_URL, data=filled(first.get(FORM_URL).get_data(as_text=True), 1))
    session, _ = signed_in(server, "kh@example.gov.vn")
    page = session.get(f"{server}{FORM_URL}", timeout=30).text  # version 1, read by all ten

    def post(i):
        s = requests.Session()
        s.cookies.update(session.cookies)
        return s.post(f"{server}{FORM_URL}", data=filled(page, 10 + i), allow_redirects=False, timeout=120)

    responses = run_together(N, post)
    codes = sorted(getattr(r, "status_code", r) for r in responses)
    assert codes == [302] + [409] * (N - 1), codes
    winner = next(i for i, r in enumerate(responses) if r.status_code == 302)
    saved = endpoint_json(first)
    assert saved["version"] == 2 and {c["name"] for c in saved["contacts"]} == {f"Chủ trì {10 + winner}",
                                                                               f"Kỹ thuật {10 + winner}"}
    for r in responses:
        if r.status_code == 409:
            assert f"Kỹ thuật {10 + winner}" in unescape(r.text) and 'id="conflict"' in r.text


# --- (d) removal and attend-at-parent under concurrency ------------------------------------------

def test_one_delete_among_patches_leaves_nothing_behind(server, kh, app):
    from coordinator.endpoints.models import Contact, Endpoint, HostedUnit

    created = create(server, kh)
    url = f"{server}/api/v1/endpoints/{created['id']}"

    def work(i):
        if i == 0:
            return requests.delete(url, headers=kh, timeout=120)
        return requests.patch(url, json={"contacts": people(i)}, headers=kh, timeout=120)

    responses = run_together(7, work)
    codes = [getattr(r, "status_code", r) for r in responses]
    assert codes[0] == 204 and set(codes[1:]) <= {200, 404}, codes
    assert requests.get(url, headers=kh, timeout=30).status_code == 404
    # No contact saved for a removed endpoint (SQLite does not enforce the foreign key: it would stay).
    assert stored_contacts(app, created["id"]) == set()
    orphans = scalar(app, select(func.count()).select_from(Contact).outerjoin(Endpoint).where(Endpoint.id.is_(None)))
    assert orphans == 0
    assert scalar(app, select(func.count()).select_from(HostedUnit)) == 0
    assert audit_count(app, "endpoint.delete") == 1


def test_concurrent_deletes_remove_once(server, kh, app):
    created = create(server, kh)
    url = f"{server}/api/v1/endpoints/{created['id']}"
    responses = run_together(5, lambda i: requests.delete(url, headers=kh, timeout=120))
    codes = [getattr(r, "status_code", r) for r in responses]
    assert set(codes) <= {204, 404} and 204 in codes, codes
    assert audit_count(app, "endpoint.delete") == 1


def communes_of(server, headers, district: str) -> list[str]:
    body = requests.get(f"{server}/api/v1/units?structure=2024&parent={district}&per_page=100", headers=headers,
                        timeout=30).json()
    return [u["code"] for u in body["items"]]


def signed_in(server, email: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(f"{server}/login", timeout=30).text
    response = session.post(f"{server}/login", data={"email": email, "password": "correct-horse-9",
                                                     "csrf_token": csrf_from(page)}, timeout=30)
    assert response.ok
    token = csrf_from(session.get(f"{server}/events/{SLUG}/registration", timeout=30).text)
    return session, token


def test_communes_attending_at_once_all_stay(server, kh, app):
    district = create(server, kh, NHA_TRANG, contacts=[])
    communes = communes_of(server, kh, NHA_TRANG)[:8]
    session, token = signed_in(server, "kh@example.gov.vn")

    def attend(i):
        s = requests.Session()
        s.cookies.update(session.cookies)
        return s.post(f"{server}/events/{SLUG}/units/{communes[i]}/attend-at-parent", data={"csrf_token": token},
                      allow_redirects=False, timeout=120)

    responses = run_together(len(communes), attend)
    assert [getattr(r, "status_code", r) for r in responses] == [302] * len(communes)
    after = requests.get(f"{server}/api/v1/endpoints/{district['id']}", headers=kh, timeout=30).json()
    assert sorted(after["hosted_unit_codes"]) == sorted(communes)  # none lost
    assert after["version"] == 1 + len(communes)

    # And all leaving at once.
    def leave(i):
        s = requests.Session()
        s.cookies.update(session.cookies)
        return s.post(f"{server}/events/{SLUG}/units/{communes[i]}/attend-at-parent",
                      data={"csrf_token": token, "stop": "1"}, allow_redirects=False, timeout=120)

    responses = run_together(len(communes), leave)
    assert [getattr(r, "status_code", r) for r in responses] == [302] * len(communes)
    after = requests.get(f"{server}/api/v1/endpoints/{district['id']}", headers=kh, timeout=30).json()
    assert after["hosted_unit_codes"] == [] and after["version"] == 1 + 2 * len(communes)


def test_attending_while_the_host_is_removed_leaves_no_ghost(server, kh, app):
    from coordinator.endpoints.models import Endpoint, HostedUnit

    district = create(server, kh, NHA_TRANG, contacts=[])
    communes = communes_of(server, kh, NHA_TRANG)[:6]
    session, token = signed_in(server, "kh@example.gov.vn")

    def work(i):
        if i == len(communes):
            return requests.delete(f"{server}/api/v1/endpoints/{district['id']}", headers=kh, timeout=120)
        s = requests.Session()
        s.cookies.update(session.cookies)
        return s.post(f"{server}/events/{SLUG}/units/{communes[i]}/attend-at-parent", data={"csrf_token": token},
                      allow_redirects=False, timeout=120)

    responses = run_together(len(communes) + 1, work)
    codes = [getattr(r, "status_code", r) for r in responses]
    assert codes == [302] * len(communes) + [204], codes
    ghosts = scalar(app, select(func.count()).select_from(HostedUnit).outerjoin(
        Endpoint, HostedUnit.endpoint_id == Endpoint.id).where(Endpoint.id.is_(None)))
    assert ghosts == 0
    assert scalar(app, select(func.count()).select_from(HostedUnit)) == 0


# --- (e) ETag and If-Match ------------------------------------------------------------------------

def test_etag_and_if_match_basics(client, kh, app):
    created = client.post(f"/api/v1/events/{SLUG}/endpoints", headers=kh,
                          json={"unit_code": KH, "name": "Phòng A", "contacts": people(1)})
    assert created.status_code == 201 and created.headers["ETag"] == '"1"' and created.get_json()["version"] == 1
    url = f"/api/v1/endpoints/{created.get_json()['id']}"
    got = client.get(url, headers=kh)
    assert got.headers["ETag"] == '"1"' and got.get_json()["version"] == 1

    # A match: saved, with the new ETag.
    ok = client.patch(url, json={"name": "Phòng B"}, headers={**kh, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"' and ok.get_json()["version"] == 2
    # The old one no longer matches: 412, nothing changed, the current version given.
    stale = client.patch(url, json={"name": "Phòng C"}, headers={**kh, "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == '"2"'
    body = stale.get_json()["error"]
    assert body["code"] == "precondition_failed" and body["details"]["current"]["name"] == "Phòng B"
    assert client.get(url, headers=kh).get_json()["name"] == "Phòng B"
    # Several tags, one current: a match. The coding suffix a gzipped response adds: a match. `*`: any.
    assert client.patch(url, json={"name": "Phòng D"}, headers={**kh, "If-Match": '"7", "2"'}).status_code == 200
    assert client.patch(url, json={"name": "Phòng E"}, headers={**kh, "If-Match": '"3:gzip"'}).status_code == 200
    assert client.patch(url, json={"name": "Phòng F"}, headers={**kh, "If-Match": "*"}).status_code == 200
    # Not an ETag of ours, or a weak one: 400 saying what to send (not 412: nobody changed anything).
    for bad in ("abc", '"x1"', "", 'W/"5"'):
        response = client.patch(url, json={"name": "Phòng G"}, headers={**kh, "If-Match": bad})
        assert response.status_code == 400, (bad, response.get_json())
        assert "If-Match" in response.get_json()["error"]["message"]
    assert "weak" in client.patch(url, json={}, headers={**kh, "If-Match": 'W/"5"'}).get_json()["error"]["message"]
    # Without If-Match a PATCH still works (the last writer wins, one at a time).
    assert client.patch(url, json={"name": "Phòng H"}, headers=kh).get_json()["version"] == 6
    # A PATCH that changes nothing does not move the version (nobody else's If-Match is spoiled).
    same = client.patch(url, json={"name": "Phòng H"}, headers=kh)
    assert same.status_code == 200 and same.get_json()["version"] == 6 and same.headers["ETag"] == '"6"'
    # DELETE honours If-Match too.
    assert client.delete(url, headers={**kh, "If-Match": '"5"'}).status_code == 412
    assert client.delete(url, headers={**kh, "If-Match": '"6"'}).status_code == 204
    assert client.patch(url, json={"name": "x"}, headers={**kh, "If-Match": '"6"'}).status_code == 404


def test_a_gzipped_response_etag_works_as_if_match(server, kh):
    created = create(server, kh, contacts=people(1) + people(2))  # big enough to be gzipped
    url = f"{server}/api/v1/endpoints/{created['id']}"
    got = requests.get(url, headers={**kh, "Accept-Encoding": "gzip"}, timeout=30)
    assert got.headers.get("Content-Encoding") == "gzip" and got.headers["ETag"] == '"1:gzip"'
    patched = requests.patch(url, json={"name": "Phòng gzip"}, headers={**kh, "If-Match": got.headers["ETag"]},
                             timeout=30)
    assert patched.status_code == 200 and patched.json()["version"] == 2


def test_openapi_documents_etag_if_match_and_412(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    patch = spec["paths"]["/api/v1/endpoints/{endpoint_id}"]["patch"]
    header = next(p for p in patch["parameters"] if p["in"] == "header")
    assert header["name"] == "If-Match" and not header.get("required")
    assert "ETag" in patch["responses"]["200"]["headers"] and "412" in patch["responses"]
    assert "400" in patch["responses"]
    get = spec["paths"]["/api/v1/endpoints/{endpoint_id}"]["get"]
    assert "ETag" in get["responses"]["200"]["headers"]
    delete = spec["paths"]["/api/v1/endpoints/{endpoint_id}"]["delete"]
    assert any(p["name"] == "If-Match" for p in delete["parameters"]) and "412" in delete["responses"]
    assert "version" in spec["components"]["schemas"]["Endpoint"]["properties"]


# --- every change moves the version ----------------------------------------------------------------

def version_of(client, headers, unit_code):
    items = client.get(f"/api/v1/events/{SLUG}/endpoints?unit_code={unit_code}", headers=headers).get_json()["items"]
    return items[0]["version"]


def test_hosting_changes_move_the_hosts_version(client, kh):
    district = client.post(f"/api/v1/events/{SLUG}/endpoints", headers=kh,
                           json={"unit_code": NHA_TRANG, "name": "UBND TP Nha Trang"}).get_json()
    commune = client.get(f"/api/v1/units?structure=2024&parent={NHA_TRANG}&per_page=1", headers=kh).get_json()
    commune = commune["items"][0]["code"]
    client.patch(f"/api/v1/endpoints/{district['id']}", json={"hosted_unit_codes": [commune]}, headers=kh)
    assert version_of(client, kh, NHA_TRANG) == 2
    # The commune registers its own endpoint: it leaves its host, whose version moves.
    assert client.post(f"/api/v1/events/{SLUG}/endpoints", headers=kh,
                       json={"unit_code": commune, "name": "Nhà văn hóa"}).status_code == 201
    assert version_of(client, kh, NHA_TRANG) == 3
    stale = client.patch(f"/api/v1/endpoints/{district['id']}", json={"name": "x"}, headers={**kh, "If-Match": '"2"'})
    assert stale.status_code == 412 and stale.get_json()["error"]["details"]["current"]["hosted_unit_codes"] == []


IMPORT_HEADERS = ["Mã đơn vị", "Tên điểm cầu", "Địa chỉ", "Giao thức", "Địa chỉ kết nối", "Họ và tên", "Chức vụ",
                  "Số điện thoại", "Thư điện tử", "Vai trò"]


def import_csv(rows) -> bytes:
    lines = [",".join(IMPORT_HEADERS)] + [",".join(r) for r in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def post_import(post, headers, data: bytes):
    return post(f"/api/v1/events/{SLUG}/endpoints/import", headers=headers,
                files={"file": ("diem-cau.csv", io.BytesIO(data), "text/csv")})


def test_the_import_moves_versions_of_what_it_changes(client, kh):
    created = client.post(f"/api/v1/events/{SLUG}/endpoints", headers=kh,
                          json={"unit_code": KH, "name": "Hội trường", "contacts": people(1)}).get_json()
    same = import_csv([[KH, "Hội trường", "", "", "", "Người 1-0", "", "0913 001 000", "nguoi1.0@example.gov.vn",
                        "technical"]])

    def upload(data):
        return client.post(f"/api/v1/events/{SLUG}/endpoints/import", headers=kh, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), "diem-cau.csv")})

    assert upload(same).status_code == 200
    assert version_of(client, kh, KH) == 1  # nothing changed: the version stays
    added = import_csv([[KH, "", "", "", "", "Người mới", "", "0905 777 888", "", "technical"]])
    body = upload(added).get_json()
    assert body["contacts"]["created"] == 1
    assert version_of(client, kh, KH) == 2  # a contact added by the import: the version moved
    stale = client.patch(f"/api/v1/endpoints/{created['id']}", json={"contacts": people(3)},
                         headers={**kh, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert len(stale.get_json()["error"]["details"]["current"]["contacts"]) == 4


def test_imports_and_patches_at_once_stay_consistent(server, kh, app):
    """An import adds people to what is there; a PATCH replaces the list. Whatever the order, the
    end is a PATCH's list, with or without the file's person: never two PATCHes mixed."""
    created = create(server, kh)
    url = f"{server}/api/v1/endpoints/{created['id']}"
    added = import_csv([[KH, "", "", "", "", "Người của tệp", "", "0905 777 888", "", "technical"]])

    def work(i):
        if i % 2:
            return requests.post(f"{server}/api/v1/events/{SLUG}/endpoints/import", headers=kh, timeout=120,
                                 files={"file": ("diem-cau.csv", io.BytesIO(added), "text/csv")})
        return requests.patch(url, json={"contacts": people(i)}, headers=kh, timeout=120)

    responses = run_together(8, work)
    assert [getattr(r, "status_code", r) for r in responses] == [200] * 8, [getattr(r, "text", r) for r in responses]
    phones = stored_contacts(app, created["id"])
    file_phone = {"+84905777888"}
    assert any(phones in (e164(i), e164(i) | file_phone) for i in range(0, 8, 2)), sorted(phones)


def test_copied_registrations_start_at_version_1(client, kh, make_user, token_for, app):
    from coordinator.events.plans import read_plan_file, shift_plan
    from coordinator.events.services import apply_plan

    make_user("org@example.gov.vn", "organizer")
    org = token_for("org@example.gov.vn")
    with app.app_context():
        target = apply_plan(shift_plan(read_plan_file(ROOT / "schedules" / "example-2025-two-tier.toml"),
                                       date(2027, 4, 1))).event.slug
    source = client.post(f"/api/v1/events/{SLUG}/endpoints", headers=kh,
                         json={"unit_code": KH, "name": "Hội trường", "contacts": people(1)}).get_json()
    client.patch(f"/api/v1/endpoints/{source['id']}", json={"name": "Hội trường lớn"}, headers=kh)
    assert version_of(client, kh, KH) == 2
    done = client.post(f"/api/v1/events/{target}/copy-registrations", json={"source": SLUG}, headers=org)
    assert done.status_code == 200 and done.get_json()["copied"] == 1, done.get_json()
    copied = client.get(f"/api/v1/events/{target}/endpoints?unit_code={KH}", headers=org).get_json()["items"][0]
    assert copied["version"] == 1 and copied["name"] == "Hội trường lớn"
    url = f"/api/v1/endpoints/{copied['id']}"
    assert client.get(url, headers=org).headers["ETag"] == '"1"'
    assert client.patch(url, json={"contacts": people(2)}, headers={**org, "If-Match": '"1"'}).status_code == 200
    assert client.get(url, headers=org).get_json()["version"] == 2
