"""What changed (issue 16, point 2), through HTTP: the feed of the dashboards and its API
(`GET /api/v1/events/<slug>/feed`: new failures first, then recoveries, then confirmations), the
time since each endpoint was last heard from (any source; a timeout or an operator's "failed" is
silence), the unit lists sorted by worst or by longest silent, and the person's choice of a sound
and title-bar count for new incidents, kept on the server."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from factories import csrf_from, login

UTC = timezone.utc
SLUG = "nd49-2024"
FEED = f"/api/v1/events/{SLUG}/feed"


@pytest.fixture()
def world(app, nd49, make_user, token_for):
    """nd49 published, its connectivity test under way: endpoints for Khánh Hòa (56), two of its
    districts (Nha Trang 568, Cam Ranh 569) and Hà Nội (01); an operator, Khánh Hòa's coordinator."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.units.services import get_unit

    now = datetime.now(UTC).replace(microsecond=0)
    ids = {}
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=2))
        for i, code in enumerate(("56", "568", "569", "01")):
            values = endpoints.clean_endpoint({"name": f"Phòng họp {code}", "protocol": "sip",
                                               "dial": f"sip:{code}@127.0.0.1:9", "contacts": [
                                                   {"name": f"Kỹ thuật {code}", "phone": f"0905 000 {i:03d}",
                                                    "role": "technical"}]})
            ids[code] = endpoints.save_endpoint(event, get_unit("2024", code), values, actor=SystemActor()).id
        publish(event)
    make_user("op@example.gov.vn", "operator")
    make_user("kh@example.gov.vn", "coordinator", "56")
    ids["op"] = token_for("op@example.gov.vn")
    ids["kh"] = token_for("kh@example.gov.vn")
    return ids


def check(client, headers, endpoint_id, state, **more):
    response = client.post(f"/api/v1/endpoints/{endpoint_id}/checks", headers=headers, json={"state": state, **more})
    assert response.status_code == 201, response.get_json()


def probe(app, results, now=None):
    """A sweep's results, as the probes package hands them to status: [(endpoint id, state, layer)]."""
    from coordinator.events.services import get_event
    from coordinator.status import services as status

    with app.app_context():
        event = get_event(SLUG)
        status.record_probes(event, event.session("connectivity_test"), [
            SimpleNamespace(key=eid, state=state, layer=layer, code=None, rtt_ms=10.0 if state == "connected" else None,
                            target="SIP/UDP 127.0.0.1:9", detail=layer) for eid, state, layer in results], now=now)


def confirm(app, endpoint_id):
    from coordinator.events.services import get_event
    from coordinator.status import services as status

    with app.app_context():
        event = get_event(SLUG)
        status.record_many(event, event.session("connectivity_test"), [{"endpoint_id": endpoint_id, "state": "connected"}],
                           source="sms")


def feed(client, headers, **params):
    response = client.get(FEED, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids_of(items):
    return [i["endpoint_id"] for i in items]


def test_the_feed_shows_new_failures_first_then_recoveries_and_confirmations(app, client, world):
    op = world["op"]
    assert feed(client, op) | {"session": None} == {"session": None, "unit": None, "failures": [], "recoveries": [],
                                                     "confirmations": [], "incidents": {"ids": [], "newest": 0}}
    check(client, op, world["568"], "failed", note="Không có hình")
    probe(app, [(world["01"], "failed", "timeout")])
    body = feed(client, op)
    assert ids_of(body["failures"]) == [world["01"], world["568"]]  # newest first
    hanoi, nha_trang = body["failures"]
    assert (nha_trang["state"], nha_trang["source"], nha_trang["note"], nha_trang["incident"]) == (
        "failed", "operator", "Không có hình", True)  # an operator's "failed" in the window opens an incident
    assert (hanoi["source"], hanoi["layer"], hanoi["incident"]) == ("probe", "timeout", False)  # one probe: no incident yet
    assert hanoi["at"].endswith("+07:00") and hanoi["unit_code"] == "01" and hanoi["endpoint"] == "Phòng họp 01"
    assert body["incidents"]["ids"] == [body["incidents"]["newest"]] and body["incidents"]["newest"] > 0
    # Nha Trang connected again: a recovery, no longer a failure; Cam Ranh connected at once: no recovery.
    check(client, op, world["568"], "connected", audio=True, video=True)
    check(client, op, world["569"], "connected")
    confirm(app, world["56"])
    body = feed(client, op)
    assert ids_of(body["failures"]) == [world["01"]]
    assert ids_of(body["recoveries"]) == [world["568"]]
    assert body["recoveries"][0]["state"] == "connected"
    assert ids_of(body["confirmations"]) == [world["56"]] and body["confirmations"][0]["via"] == "sms"
    assert body["incidents"] == {"ids": [], "newest": 0}  # the incident resolved by the recovery


def test_the_feed_of_a_unit_and_of_a_coordinator(app, client, world):
    check(client, world["op"], world["568"], "failed")
    check(client, world["op"], world["01"], "failed")
    assert ids_of(feed(client, world["op"], unit="56")["failures"]) == [world["568"]]
    assert ids_of(feed(client, world["op"], unit="568")["failures"]) == [world["568"]]
    assert ids_of(feed(client, world["op"], unit="TW")["failures"]) == [world["01"], world["568"]]
    mine = feed(client, world["kh"])
    assert mine["unit"]["code"] == "56" and ids_of(mine["failures"]) == [world["568"]]
    assert len(mine["incidents"]["ids"]) == 1
    response = client.get(FEED, headers=world["kh"], query_string={"unit": "01"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert client.get(FEED, headers=world["op"], query_string={"unit": "nope"}).status_code == 404
    assert client.get(FEED, headers=world["op"], query_string={"session": "nope"}).status_code == 404


def test_the_dashboard_shows_the_feed_in_its_live_part(app, client, world):
    login(client, "op@example.gov.vn")
    page = client.get(f"/events/{SLUG}/status").get_data(as_text=True)
    box = re.search(r'<div id="status-live" data-live="([^"]+)" data-etag="([^"]+)"', page)
    url, etag = box.group(1).replace("&amp;", "&"), box.group(2).replace("&#34;", '"')
    assert 'id="feed"' in page and 'data-feed=' not in page
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    check(client, world["op"], world["01"], "failed", note="Mất tiếng")
    fragment = client.get(url, headers={"If-None-Match": etag})
    assert fragment.status_code == 200  # a new failure moves the national ETag
    html = fragment.get_data(as_text=True)
    item = re.search(rf'<li class="st-feed-item st-feed-failure" data-feed="failure" data-endpoint="{world["01"]}".*?</li>',
                     html, re.S)
    assert item and "Mất tiếng" in item.group(0) and "data-age=" in item.group(0)
    newest = feed(client, world["op"])["incidents"]["newest"]
    assert f'id="st-incident-mark" hidden data-newest="{newest}" data-ids="{newest}"' in html
    # A province's page and fragment show its own changes only.
    kh = client.get(f"/events/{SLUG}/status/56").get_data(as_text=True)
    kh_feed = kh.split('id="feed"')[1].split("</section>")[0]
    assert f'data-endpoint="{world["01"]}"' not in kh_feed and 'data-feed="failure"' not in kh_feed
    # The wall screen has no room for it, but still tells the alert what is new.
    wall = client.get(f"/events/{SLUG}/status?wall=1").get_data(as_text=True)
    assert 'id="feed"' not in wall and f'data-newest="{newest}"' in wall


# --- heard from, silent, worst ------------------------------------------------------------------------------

def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="st-row st-depth-\d[^"]*" data-endpoint="\d+" data-unit="([^"]+)"', html)


def test_heard_from_counts_answers_checks_and_confirmations_never_silence(app, client, world):
    from coordinator.extensions import db
    from coordinator.status.models import EndpointStatus

    earlier = datetime.now(UTC) - timedelta(minutes=5)
    probe(app, [(world["56"], "connected", "ok"), (world["568"], "failed", "timeout")], now=earlier)
    probe(app, [(world["56"], "failed", "timeout"), (world["568"], "failed", "timeout")])
    check(client, world["op"], world["569"], "failed")
    confirm(app, world["01"])
    with app.app_context():
        heard = dict(db.session.execute(select(EndpointStatus.endpoint_id, EndpointStatus.heard_at)).all())
    assert heard[world["56"]] == earlier  # its answer five minutes ago, not the timeout since
    assert heard[world["568"]] is None and heard[world["569"]] is None  # never answered; an operator's "failed"
    assert heard[world["01"]] is not None  # its contact confirmed
    rows = client.get(f"/api/v1/events/{SLUG}/status", headers=world["op"], query_string={"unit": "56"}).get_json()
    by_id = {r["id"]: r["heard_at"] for r in rows["endpoints"]}
    assert by_id[world["568"]] is None and by_id[world["56"]].endswith("+07:00")
    login(client, "op@example.gov.vn")
    page = client.get(f"/events/{SLUG}/status/endpoints/{world['56']}").get_data(as_text=True)
    assert re.search(r'<dd id="last-heard"><time class="st-heard" datetime="[^"]+" data-heard=', page)
    page = client.get(f"/events/{SLUG}/status/endpoints/{world['568']}").get_data(as_text=True)
    assert re.search(r'<dd id="last-heard"><span class="st-heard st-never" data-heard=""', page)


def test_a_units_list_sorted_by_worst_or_longest_silent(app, client, world):
    earlier = datetime.now(UTC) - timedelta(minutes=10)
    probe(app, [(world["56"], "connected", "ok"), (world["568"], "connected", "ok")], now=earlier)
    probe(app, [(world["568"], "failed", "timeout")])
    check(client, world["op"], world["56"], "connected")  # heard now
    login(client, "op@example.gov.vn")
    # Khánh Hòa of 2024 is grouped by district: the groups are sorted.
    default = client.get(f"/events/{SLUG}/status/56").get_data(as_text=True)
    order = [g for g in re.findall(r'data-group="(\d+)"', default)]
    assert order.index("568") < order.index("569")  # tree order
    silent = client.get(f"/events/{SLUG}/status/56?sort=silent").get_data(as_text=True)
    groups = re.findall(r'data-group="(\d+)"', silent)
    assert groups[:2] == ["569", "568"]  # never heard from; silent for ten minutes; then those without endpoints
    assert '<strong aria-current="true" data-sort="silent">' in silent
    assert 'data-never-heard="1"' in silent
    worst = client.get(f"/events/{SLUG}/status/56?sort=worst").get_data(as_text=True)
    assert re.findall(r'data-group="(\d+)"', worst)[:2] == ["568", "569"]  # failed; not checked
    # A filtered (flat) list: rows sorted in SQL.
    flat = client.get(f"/events/{SLUG}/status/TW?filter=not_confirmed&sort=silent").get_data(as_text=True)
    assert rows(flat) == ["01", "569", "568", "56"]  # never heard (tree order), ten minutes ago, just now
    flat = client.get(f"/events/{SLUG}/status/TW?filter=not_confirmed&sort=worst").get_data(as_text=True)
    assert rows(flat) == ["568", "01", "569", "56"]  # failed, not checked (tree order), connected
    # The live fragment keeps the order (it is part of its address and ETag).
    live = re.search(r'data-live="([^"]+)"', silent).group(1).replace("&amp;", "&")
    assert "sort=silent" in live
    assert re.findall(r'data-group="(\d+)"', client.get(live).get_data(as_text=True)) == groups
    # The national tiles: most endpoints never heard from first.
    national = client.get(f"/events/{SLUG}/status?sort=silent").get_data(as_text=True)
    tiles = re.findall(r'data-tile="(\w+)"', national)
    assert tiles[:2] == ["01", "56"]  # one never heard from each; Hà Nội never heard at all


# --- the alert: a person's choice -----------------------------------------------------------------------------

def test_the_alert_is_off_by_default_and_remembered_per_person(app, client, world, make_user):
    from coordinator.audit.models import AuditEntry
    from coordinator.auth.models import User
    from coordinator.extensions import db

    login(client, "op@example.gov.vn")
    page = client.get(f"/events/{SLUG}/status").get_data(as_text=True)
    assert re.search(r'<form class="st-alert" id="st-alert" method="post" action="/status/alert" data-on="0"', page)
    token = csrf_from(page)
    # The script's POST: JSON back.
    response = client.post("/status/alert", data={"alert_sound": "1", "csrf_token": token},
                           headers={"X-Requested-With": "status.js", "Accept": "application/json"})
    assert response.status_code == 200 and response.get_json() == {"alert_sound": True}
    for path in (f"/events/{SLUG}/status", f"/events/{SLUG}/status/56", f"/events/{SLUG}/status?wall=1"):
        assert 'id="st-alert" method="post" action="/status/alert" data-on="1"' in client.get(path).get_data(as_text=True)
    # Saved on the account: another browser of the same person sees it; another person does not.
    other = app.test_client()
    login(other, "op@example.gov.vn")
    assert 'data-on="1"' in other.get(f"/events/{SLUG}/status").get_data(as_text=True)
    make_user("op2@example.gov.vn", "operator")
    third = app.test_client()
    login(third, "op2@example.gov.vn")
    assert 'id="st-alert" method="post" action="/status/alert" data-on="0"' in third.get(
        f"/events/{SLUG}/status").get_data(as_text=True)
    # The plain form (no script): back to the page it was sent from.
    response = client.post("/status/alert", data={"alert_sound": "0", "csrf_token": token,
                                                  "next": f"/events/{SLUG}/status/56"})
    assert response.status_code == 302 and response.headers["Location"] == f"/events/{SLUG}/status/56"
    response = client.post("/status/alert", data={"alert_sound": "1", "csrf_token": token, "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil" not in response.headers["Location"]
    # Without the page's token: refused, nothing changed.
    assert client.post("/status/alert", data={"alert_sound": "0"}).status_code == 400
    assert app.test_client().post("/status/alert", data={"alert_sound": "1"}).status_code in (302, 400, 401)
    with app.app_context():
        assert db.session.scalar(select(User.alert_sound).where(User.email == "op@example.gov.vn")) is True
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.preferences")
                                     .order_by(AuditEntry.id)).all()
        assert [e.details["alert_sound"] for e in entries] == [True, False, True]
