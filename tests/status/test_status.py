"""Connection status through the API and the services: check-ins, the derived current status, the
national roll-up and a unit's view, scope, confirmations turning an endpoint green, incidents and
their escalation by SMS (once per incident)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

UTC = timezone.utc
SLUG = "nd49-2024"


@pytest.fixture()
def live(app, nd49):
    """nd49 published with its sessions moved around the real clock: the test under way now, the
    main session tomorrow; endpoints for Khánh Hòa (56), one of its districts, and Hà Nội (01)."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.units.models import Unit
    from coordinator.units.services import get_unit

    now = datetime.now(UTC).replace(microsecond=0)
    ids = {}
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=2))
        move_session(event, "main", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        kh = get_unit("2024", "56")
        district = db.session.scalars(select(Unit).where(Unit.parent_id == kh.id).order_by(Unit.code)).first()
        for unit, name, contacts in [
            (kh, "Hội trường Sở Khánh Hòa", [
                {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"},
                {"name": "Lê Văn Chủ", "phone": "0913 100 100", "role": "chair"}]),
            (district, f"Hội trường {district.name}", [
                {"name": "Trần Văn Bình", "phone": "0905 333 444", "role": "technical"},
                {"name": "Phòng máy", "phone": "0258 3563 535", "role": "technical"}]),
            (get_unit("2024", "01"), "Hội trường Sở Hà Nội", [
                {"name": "Phạm Thu", "phone": "0987 654 321", "role": "technical"}]),
        ]:
            values = endpoints.clean_endpoint({"name": name, "protocol": "sip", "dial": f"sip:{unit.code}@127.0.0.1:9",
                                               "contacts": contacts})
            ids[unit.code] = endpoints.save_endpoint(event, unit, values, actor=SystemActor()).id
        publish(event)
        ids["district"] = district.code
    return ids


@pytest.fixture()
def operator(client, make_user, token_for):
    make_user("op@example.gov.vn", "operator")
    return token_for("op@example.gov.vn")


def _tile(body, code):
    return next(t for t in body["provinces"] if t["code"] == code)


def test_a_check_in_is_recorded_and_counted(client, operator, live):
    response = client.post(f"/api/v1/endpoints/{live['56']}/checks", headers=operator,
                           json={"state": "connected", "audio": True, "video": True, "content": False,
                                 "note": "Hình tốt, chưa thấy slide"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["session"] == "connectivity_test" and response.get_json()["source"] == "operator"
    national = client.get(f"/api/v1/events/{SLUG}/status", headers=operator)
    body = national.get_json()
    assert body["session"]["kind"] == "connectivity_test"
    assert len(body["provinces"]) == 64  # 63 provinces and the central tile
    kh = _tile(body, "56")
    assert (kh["endpoints"], kh["counts"]["connected"], kh["counts"]["unknown"]) == (2, 1, 1)
    assert kh["ready"] == 0.5 and body["total"]["endpoints"] == 3
    assert _tile(body, "79")["endpoints"] == 0
    # Nothing changed: the same ETag, 304 and no body.
    etag = national.headers["ETag"]
    again = client.get(f"/api/v1/events/{SLUG}/status", headers={**operator, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    unit = client.get(f"/api/v1/events/{SLUG}/status?unit=56", headers=operator).get_json()
    [province, district] = unit["endpoints"]
    assert province["state"] == "connected" and district["state"] == "unknown"
    assert province["last_check"]["audio"] is True and province["last_check"]["content"] is False
    assert province["last_check"]["note"] == "Hình tốt, chưa thấy slide"
    assert client.get(f"/api/v1/events/{SLUG}/status", headers={**operator, "If-None-Match": etag}).status_code == 304
    # Among other tags, as a cache or a browser may send them.
    assert client.get(f"/api/v1/events/{SLUG}/status",
                      headers={**operator, "If-None-Match": f'"other", {etag}'}).status_code == 304


def test_status_events_are_appended_never_overwritten(app, client, operator, live):
    from coordinator.extensions import db
    from coordinator.status.models import StatusEvent

    for state in ("connected", "degraded", "connected"):
        assert client.post(f"/api/v1/endpoints/{live['01']}/checks", headers=operator,
                           json={"state": state}).status_code == 201
    with app.app_context():
        states = db.session.scalars(select(StatusEvent.state).where(StatusEvent.endpoint_id == live["01"])
                                    .order_by(StatusEvent.id)).all()
    assert states == ["connected", "degraded", "connected"]
    tile = _tile(client.get(f"/api/v1/events/{SLUG}/status", headers=operator).get_json(), "01")
    assert tile["counts"] == {"connected": 1, "degraded": 0, "failed": 0, "unknown": 0}


def test_a_bad_check_is_refused_and_changes_nothing(app, client, operator, live, make_user, token_for):
    from coordinator.extensions import db
    from coordinator.status.models import StatusEvent

    url = f"/api/v1/endpoints/{live['56']}/checks"
    assert client.post(url, headers=operator, json={"state": "green"}).status_code == 422
    assert client.post(url, headers=operator, json={"state": "connected", "colour": "x"}).status_code == 422
    assert client.post(url, headers=operator, json={"state": "connected", "session": "rehearsal"}).status_code == 404
    assert client.post("/api/v1/endpoints/999999/checks", headers=operator, json={"state": "connected"}).status_code == 404
    make_user("hanoi@example.gov.vn", "coordinator", unit="01")
    hanoi = token_for("hanoi@example.gov.vn")
    assert client.post(url, headers=hanoi, json={"state": "connected"}).status_code == 404  # not its province
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StatusEvent)) == 0
    assert client.post(f"/api/v1/endpoints/{live['01']}/checks", headers=hanoi, json={"state": "connected"}).status_code == 201


def test_a_coordinator_sees_only_its_province(client, live, make_user, token_for):
    make_user("kh@example.gov.vn", "coordinator", unit="56")
    kh = token_for("kh@example.gov.vn")
    body = client.get(f"/api/v1/events/{SLUG}/status", headers=kh).get_json()
    assert [t["code"] for t in body["provinces"]] == ["56"] and body["total"] is None
    assert client.get(f"/api/v1/events/{SLUG}/status?unit=56", headers=kh).status_code == 200
    assert client.get(f"/api/v1/events/{SLUG}/status?unit={live['district']}", headers=kh).status_code == 200
    assert client.get(f"/api/v1/events/{SLUG}/status?unit=01", headers=kh).status_code == 404


def test_the_confirmation_link_confirms_readiness_but_connects_nothing(app, client, operator, live):
    from coordinator.endpoints.models import Contact
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.reminders import links

    with app.app_context():
        session_id = get_event(SLUG).session("connectivity_test").id
        contact_id = db.session.scalar(select(Contact.id).where(Contact.phone == "+84905111222"))
        token = links.token(session_id, contact_id)
    before = client.get(f"/api/v1/events/{SLUG}/status", headers=operator)
    assert client.post(f"/c/{token}").status_code == 200
    after = client.get(f"/api/v1/events/{SLUG}/status", headers={**operator, "If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    kh = _tile(after.get_json(), "56")
    # Readiness is counted apart; the connection state is what probes and operators say: nothing yet.
    assert kh["confirmed"] == 1 and kh["counts"] == {"connected": 0, "degraded": 0, "failed": 0, "unknown": 2}
    [province, _] = client.get(f"/api/v1/events/{SLUG}/status?unit=56", headers=operator).get_json()["endpoints"]
    assert province["confirmed"] is True and province["state"] == "unknown"
    assert province["readiness"]["via"] == "link" and province["reachability"] == "unknown"


def _incident_sms(app):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        return sorted(db.session.execute(select(OutboxMessage.recipient, OutboxMessage.payload).where(
            OutboxMessage.kind == "incident")).all(), key=lambda r: r[0])


def test_a_failure_texts_the_endpoint_once_and_the_province_one_digest_per_window(app, client, operator, live):
    from coordinator.status import services as status

    url = f"/api/v1/endpoints/{live[live['district']]}/checks"
    first = client.post(url, headers=operator, json={"state": "failed", "note": "Mất hình"})
    assert first.get_json()["incident_open"] is True
    sms = dict(_incident_sms(app))
    # The district's own technical contact (its fixed line cannot take SMS) is told of its incident;
    # the province's focal contact gets the province's digest (the first of the window goes at once).
    assert sorted(sms) == ["+84905111222", "+84905333444"]
    assert "cán bộ kỹ thuật báo mất kết nối" in sms["+84905333444"]["body"]
    assert "Hội trường" in sms["+84905333444"]["body"]
    assert "Khánh Hòa: 1 điểm cầu mất kết nối (1 huyện), xem: " in sms["+84905111222"]["body"]
    assert sms["+84905111222"]["body"].endswith("/events/nd49-2024/status/56?filter=failed")
    client.post(url, headers=operator, json={"state": "failed", "note": "Vẫn mất hình"})
    assert len(_incident_sms(app)) == 2  # the same incident: nobody is texted twice
    body = client.get(f"/api/v1/events/{SLUG}/status", headers=operator).get_json()
    assert _tile(body, "56")["incidents"] == 1 and body["total"]["incidents"] == 1
    client.post(url, headers=operator, json={"state": "connected"})  # fixed: the incident is resolved, no SMS
    assert _tile(client.get(f"/api/v1/events/{SLUG}/status", headers=operator).get_json(), "56")["incidents"] == 0
    assert len(_incident_sms(app)) == 2
    client.post(url, headers=operator, json={"state": "failed"})  # a new incident within the window
    body = client.get(f"/api/v1/events/{SLUG}/status", headers=operator).get_json()
    assert _tile(body, "56")["incidents"] == 1
    assert len(_incident_sms(app)) == 2  # a flapping line texts nobody again; the digest waits for the window
    with app.app_context():
        window = app.config["ESCALATION_DIGEST_SECONDS"]
        assert status.tick(datetime.now(UTC) + timedelta(seconds=window / 2))[1] == 0
        assert status.tick(datetime.now(UTC) + timedelta(seconds=window + 1))[1] == 1
    assert sorted(r[0] for r in _incident_sms(app)) == ["+84905111222", "+84905111222", "+84905333444"]


def test_no_escalation_outside_a_sessions_window(app, client, operator, live):
    # The main session is tomorrow: a failure reported for it now is recorded but texts nobody.
    response = client.post(f"/api/v1/endpoints/{live['01']}/checks", headers=operator,
                           json={"state": "failed", "session": "main"})
    assert response.status_code == 201 and response.get_json()["incident_open"] is False
    assert _incident_sms(app) == []


def test_openapi_describes_the_status_api(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/events/{slug}/status" in paths and "/api/v1/endpoints/{endpoint_id}/checks" in paths


def test_a_batch_of_checks_is_recorded_whole_or_not_at_all(app, client, operator, live):
    from coordinator.extensions import db
    from coordinator.status.models import StatusEvent

    url = f"/api/v1/events/{SLUG}/checks"
    bad = client.post(url, headers=operator, json={"checks": [{"endpoint_id": live["56"], "state": "connected"},
                                                              {"endpoint_id": 999999, "state": "connected"}]})
    assert bad.status_code == 404
    assert client.post(url, headers=operator, json={"checks": [{"endpoint_id": live["56"], "state": "on"}]}).status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StatusEvent)) == 0
    ok = client.post(url, headers=operator, json={"checks": [
        {"endpoint_id": live["56"], "state": "connected", "audio": True},
        {"endpoint_id": live["01"], "state": "degraded", "note": "Tiếng rè"}]})
    assert ok.status_code == 201 and ok.get_json()["recorded"] == 2
    body = client.get(f"/api/v1/events/{SLUG}/status", headers=operator).get_json()
    assert _tile(body, "56")["counts"]["connected"] == 1 and _tile(body, "01")["counts"]["degraded"] == 1


def test_a_batch_opens_and_resolves_incidents_like_single_checks(app, client, operator, live):
    url = f"/api/v1/events/{SLUG}/checks"
    district = live[live["district"]]
    first = client.post(url, headers=operator, json={"checks": [
        {"endpoint_id": district, "state": "connected"}, {"endpoint_id": district, "state": "failed", "note": "Mất tiếng"},
        {"endpoint_id": live["01"], "state": "failed"}]})
    assert first.status_code == 201 and first.get_json()["incidents_open"] == 2
    # The district's last check counts: failed; its own contact and Hà Nội's province endpoint's are
    # texted once each, Khánh Hòa's focal contact gets its province's digest.
    assert sorted(r[0] for r in _incident_sms(app)) == ["+84905111222", "+84905333444", "+84987654321"]
    client.post(url, headers=operator, json={"checks": [{"endpoint_id": district, "state": "failed"}]})
    assert len(_incident_sms(app)) == 3
    client.post(url, headers=operator, json={"checks": [{"endpoint_id": district, "state": "connected"}]})
    body = client.get(f"/api/v1/events/{SLUG}/status", headers=operator).get_json()
    assert _tile(body, "56")["incidents"] == 0 and _tile(body, "01")["incidents"] == 1
    [_, row] = client.get(f"/api/v1/events/{SLUG}/status?unit=56", headers=operator).get_json()["endpoints"]
    assert row["state"] == "connected" and row["last_check"]["note"] == "Mất tiếng"  # an empty note keeps the last


# --- freshness -----------------------------------------------------------------------------------------

def _heartbeat(app, at):
    from coordinator.extensions import db
    from coordinator.leases.models import SchedulerLease

    with app.app_context():
        row = db.session.get(SchedulerLease, "scheduler") or SchedulerLease(name="scheduler", holder="test",
                                                                            acquired_at=at, heartbeat_at=at,
                                                                            expires_at=at)
        row.heartbeat_at = at
        db.session.merge(row)
        db.session.commit()


def test_the_roll_up_says_how_fresh_it_is_and_when_it_is_stale(app, client, operator, live):
    from coordinator.events.services import get_event
    from coordinator.probes import services as probes

    url = f"/api/v1/events/{SLUG}/status"
    fresh = client.get(url, headers=operator).get_json()["freshness"]
    # No scheduler has ever run and no sweep during a session under way: stale.
    assert fresh["stale"] is True and fresh["scheduler_seen_at"] is None and fresh["last_sweep_finished_at"] is None
    _heartbeat(app, datetime.now(UTC))
    with app.app_context():  # a real sweep of the event (the dials answer nothing: refused on port 9)
        event = get_event(SLUG)
        probes.sweep(event, session=event.session("connectivity_test"), origin="scheduler")
    fresh = client.get(url, headers=operator).get_json()["freshness"]
    assert fresh["stale"] is False and fresh["probed"] == 3 and fresh["sweep_seconds"] is not None
    assert fresh["last_sweep_started_at"] <= fresh["last_sweep_finished_at"]
    # The scheduler silent for more than three heartbeats: stale again, and said on the page.
    _heartbeat(app, datetime.now(UTC) - timedelta(seconds=4 * app.config["SCHEDULER_HEARTBEAT_SECONDS"]))
    assert client.get(url, headers=operator).get_json()["freshness"]["stale"] is True


def test_a_sweep_older_than_two_intervals_makes_it_stale(app, client, operator, live, monkeypatch):
    from coordinator.events.services import get_event
    from coordinator.probes import services as probes

    _heartbeat(app, datetime.now(UTC))
    with app.app_context():
        event = get_event(SLUG)
        probes.sweep(event, session=event.session("connectivity_test"))
    monkeypatch.setitem(app.config, "PROBE_INTERVAL_SECONDS", 0.5)
    import time

    time.sleep(1.1)
    _heartbeat(app, datetime.now(UTC))
    assert client.get(f"/api/v1/events/{SLUG}/status", headers=operator).get_json()["freshness"]["stale"] is True


# --- ETags follow what the response shows ----------------------------------------------------------------

def test_a_check_that_changes_no_count_keeps_the_national_etag(app, client, operator, live):
    url = f"/api/v1/events/{SLUG}/status"
    check = f"/api/v1/endpoints/{live['56']}/checks"
    assert client.post(check, headers=operator, json={"state": "connected"}).status_code == 201
    etag = client.get(url, headers=operator).headers["ETag"]
    unit_etag = client.get(f"{url}?unit=56", headers=operator).headers["ETag"]
    # Still connected, now with a note and flags: no national count changes.
    assert client.post(check, headers=operator, json={"state": "connected", "audio": True, "note": "ổn"}).status_code == 201
    assert client.get(url, headers={**operator, "If-None-Match": etag}).status_code == 304
    # The province's view shows the check itself: it changed.
    assert client.get(f"{url}?unit=56", headers={**operator, "If-None-Match": unit_etag}).status_code == 200
    # Hà Nội's page is another province: unchanged.
    hn = client.get(f"{url}?unit=01", headers=operator).headers["ETag"]
    client.post(check, headers=operator, json={"state": "connected", "note": "vẫn ổn"})
    assert client.get(f"{url}?unit=01", headers={**operator, "If-None-Match": hn}).status_code == 304
    # A count that moves moves the national ETag.
    client.post(check, headers=operator, json={"state": "failed"})
    assert client.get(url, headers={**operator, "If-None-Match": etag}).status_code == 200


def test_a_304_is_answered_without_loading_the_event(app, client, operator, live, monkeypatch):
    from coordinator.events import lookup

    url = f"/api/v1/events/{SLUG}/status"
    etag = client.get(url, headers=operator).headers["ETag"]

    def no_event(*args, **kwargs):
        raise AssertionError("the event was loaded for a 304")

    monkeypatch.setattr("coordinator.api.status.event_or_404", no_event)
    monkeypatch.setattr(lookup, "event_or_404", no_event)
    assert client.get(url, headers={**operator, "If-None-Match": etag}).status_code == 304


def test_responses_are_compressed(client, operator, live):
    response = client.get(f"/api/v1/events/{SLUG}/status", headers={**operator, "Accept-Encoding": "gzip"})
    assert response.headers.get("Content-Encoding") == "gzip"
    import gzip
    import json

    assert len(json.loads(gzip.decompress(response.data))["provinces"]) == 64


# --- the incident list --------------------------------------------------------------------------------------

def test_the_incident_list_filters_and_pages_on_the_server(app, client, operator, live, make_user, token_for):
    checks = f"/api/v1/events/{SLUG}/checks"
    district = live[live["district"]]
    assert client.post(checks, headers=operator, json={"checks": [
        {"endpoint_id": district, "state": "failed", "note": "Mất hình"},
        {"endpoint_id": live["01"], "state": "failed"}, {"endpoint_id": live["56"], "state": "failed"}]}).status_code == 201
    url = f"/api/v1/events/{SLUG}/incidents"
    body = client.get(url, headers=operator).get_json()
    assert body["total"] == 3 and body["page"] == 1 and len(body["items"]) == 3
    item = next(i for i in body["items"] if i["endpoint_id"] == district)
    assert item["unit_code"] == live["district"] and item["province"] == {"code": "56", "name": "Tỉnh Khánh Hòa"}
    assert item["tier"] == "district" and item["cause"] == "operator" and item["state"] == "open"
    assert item["cause_text"] and item["age_seconds"] >= 0 and item["notified"] == 1 and item["detail"] == "Mất hình"
    assert item["endpoint"]["id"] == district and item["opened_at"].endswith("+07:00")
    assert [i["unit_code"] for i in client.get(f"{url}?province=56", headers=operator).get_json()["items"]] in (
        [live["district"], "56"], ["56", live["district"]])
    assert client.get(f"{url}?tier=district", headers=operator).get_json()["total"] == 1
    assert client.get(f"{url}?cause=probe", headers=operator).get_json()["total"] == 0
    first = client.get(f"{url}?per_page=2", headers=operator).get_json()
    second = client.get(f"{url}?per_page=2&page=2", headers=operator).get_json()
    assert first["total"] == 3 and len(first["items"]) == 2 and len(second["items"]) == 1
    assert {i["id"] for i in first["items"]} | {i["id"] for i in second["items"]} == {i["id"] for i in body["items"]}
    # Resolved ones on request; newest first.
    client.post(checks, headers=operator, json={"checks": [{"endpoint_id": live["01"], "state": "connected"}]})
    assert client.get(url, headers=operator).get_json()["total"] == 2
    resolved = client.get(f"{url}?open=false", headers=operator).get_json()["items"]
    assert [i["endpoint_id"] for i in resolved] == [live["01"]] and resolved[0]["state"] == "resolved"
    assert client.get(f"{url}?open=all", headers=operator).get_json()["total"] == 3
    assert client.get(f"{url}?tier=village", headers=operator).status_code == 400  # a bad query string
    # A coordinator sees its province's only.
    make_user("hn@example.gov.vn", "coordinator", unit="01")
    hanoi = client.get(f"{url}?open=all", headers=token_for("hn@example.gov.vn")).get_json()
    assert [i["endpoint_id"] for i in hanoi["items"]] == [live["01"]] and hanoi["total"] == 1


def test_the_incident_page_lists_and_exports_every_incident(app, client, operator, live, make_user):
    import io

    from openpyxl import load_workbook

    from factories import login

    client.post(f"/api/v1/events/{SLUG}/checks", headers=operator, json={"checks": [
        {"endpoint_id": live[live["district"]], "state": "failed"}, {"endpoint_id": live["01"], "state": "failed"}]})
    make_user("op2@example.gov.vn", "operator")
    login(client, "op2@example.gov.vn")
    html = client.get(f"/events/{SLUG}/status/incidents").get_data(as_text=True)
    assert 'data-total="2"' in html and html.count("<tr data-incident=") == 2
    only = client.get(f"/events/{SLUG}/status/incidents?province=01").get_data(as_text=True)
    assert only.count("<tr data-incident=") == 1 and "Hội trường Sở Hà Nội" in only
    xlsx = client.get(f"/events/{SLUG}/status/incidents.xlsx?province=56")
    assert xlsx.status_code == 200 and "filename*=UTF-8''S%E1%BB%B1%20c%E1%BB%91" in xlsx.headers["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("STT", "Mã tỉnh", "Tỉnh, thành phố") and len(rows) == 2 and rows[1][3] == live["district"]
    csv = client.get(f"/events/{SLUG}/status/incidents.csv").get_data(as_text=True)
    assert csv.startswith("\ufeffSTT,") and csv.count("\r\n") == 3
    # The dashboard links to it instead of listing every incident.
    page = client.get(f"/events/{SLUG}/status").get_data(as_text=True)
    assert f'href="/events/{SLUG}/status/incidents?session=connectivity_test" data-incident-list' in page


def test_a_hold_that_ended_gives_way_to_the_probes_even_without_a_scheduler(app, client, operator, live):
    from types import SimpleNamespace

    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.status import services as status

    now = datetime.now(UTC)
    with app.app_context():
        event = get_event(SLUG)
        session = event.session("connectivity_test")
        hold = app.config["STATUS_HUMAN_HOLD_SECONDS"]
        status.record(db.session.get(Endpoint, live["01"]), session, "operator", "connected",
                      now=now - timedelta(seconds=hold + 60))
        status.record_probes(event, session, [SimpleNamespace(key=live["01"], state="failed", layer="timeout", code=None,
                                                              rtt_ms=None, target="t", detail="x")],
                             now=now - timedelta(seconds=hold - 30))  # during the hold: the operator's word stood
    [row] = client.get(f"/api/v1/events/{SLUG}/status?unit=01", headers=operator).get_json()["endpoints"]
    assert (row["state"], row["source"], row["hold_until"]) == ("failed", "probe", None)
