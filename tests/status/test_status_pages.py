"""The connection-status pages: the national dashboard (tiles, totals, incidents), its live
fragment (ETag/304), a province's view with its filters, the endpoint page with the operator's
check form and the probe button, the wall screen, a coordinator's scope, and a constant number of
queries whatever the number of endpoints."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from factories import csrf_from, form_values, login, vi

UTC = timezone.utc
SLUG = "nd49-2024"
VI = {"Accept-Language": "vi-VN,vi;q=0.9"}


def t(app, message: str, **values) -> str:
    """`message` as the Vietnamese page shows it (itself until it is translated)."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale("vi"):
        return gettext(message, **values)


@pytest.fixture()
def live(app, nd49):
    """nd49 published, its connectivity test under way now (the main session tomorrow), with
    endpoints for Khánh Hòa (56), one of its districts (hosting two communes) and Hà Nội (01)."""
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
        communes = db.session.scalars(select(Unit.code).where(Unit.parent_id == district.id).order_by(Unit.code)).all()
        for unit, name, contacts, hosted in [
            (kh, "Hội trường Sở Khánh Hòa", [
                {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"},
                {"name": "Lê Văn Chủ", "phone": "0913 100 100", "role": "chair"}], None),
            (district, f"Hội trường {district.name}", [
                {"name": "Trần Văn Bình", "phone": "0905 333 444", "role": "technical"},
                {"name": "Phòng máy", "phone": "0258 3563 535", "role": "technical"}], communes[:2]),
            (get_unit("2024", "01"), "Hội trường Sở Hà Nội", [
                {"name": "Phạm Thu", "phone": "0987 654 321", "role": "technical"}], None),
        ]:
            data = {"name": name, "protocol": "sip", "dial": f"sip:{unit.code}@127.0.0.1:9", "contacts": contacts}
            if hosted:
                data["hosted_unit_codes"] = hosted
            ids[unit.code] = endpoints.save_endpoint(event, unit, endpoints.clean_endpoint(data),
                                                     actor=SystemActor()).id
        publish(event)
        ids["district"] = district.code
        ids["district_name"] = district.name
    return ids


def record(app, endpoint_id, state, session="connectivity_test", **kwargs):
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.status import services as status

    with app.app_context():
        event = get_event(SLUG)
        status.record(db.session.get(Endpoint, endpoint_id), event.session(session), "operator", state, **kwargs)


@pytest.fixture()
def checked(app, live):
    """Khánh Hòa connected, its district failed (an incident: the test is under way), Hà Nội degraded."""
    record(app, live["56"], "connected", audio=True, video=True, content=True)
    record(app, live[live["district"]], "failed", note="Không có hình")
    record(app, live["01"], "degraded", audio=True, video=False, note="Mất tiếng lúc đầu")
    return live


@pytest.fixture()
def operator_client(client, make_user):
    make_user("op@example.gov.vn", "operator")
    login(client, "op@example.gov.vn")
    return client


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def tile(html: str, code: str) -> str:
    match = re.search(rf'<a class="st-tile[^"]*" data-tile="{code}".*?</a>', html, re.S)
    assert match, f"no tile {code}"
    return match.group(0)


def count(fragment: str, state: str) -> int:
    return int(re.search(rf'data-count="{state}">(\d+)<', fragment).group(1))


def totals(html: str) -> str:
    return re.search(r'<section class="st-totals".*?</section>', html, re.S).group(0)


def rows(html: str) -> list[tuple[str, str]]:
    """(unit code, state) of the unit table's rows, in order."""
    return re.findall(r'<tr class="st-row[^"]*" data-endpoint="\d+" data-unit="([^"]+)" data-state="([^"]+)"', html)


# --- the national dashboard ----------------------------------------------------------------------------

def test_the_national_dashboard_shows_a_tile_per_province_with_its_counts(app, operator_client, checked):
    html = html_of(operator_client.get(f"/events/{SLUG}/status", headers=VI))
    assert '<html lang="vi">' in html and vi(app, "Sign out") in html  # Vietnamese by default
    assert t(app, "Connection status") in html
    assert len(re.findall(r'data-tile="', html)) == 64  # 63 provinces and the central tile
    assert html.index('data-tile="TW"') < html.index('data-tile="01"') < html.index('data-tile="56"')
    kh = tile(html, "56")
    assert (count(kh, "connected"), count(kh, "failed"), count(kh, "unknown")) == (1, 1, 0)
    # Coloured by the share reachable (1 of 2: under the amber threshold), not by "any failure".
    assert 'data-endpoints>2<' in kh and 'data-reachable>50%<' in kh and "st-mood-red" in kh
    assert '⚠ 1' in kh  # the district's incident
    assert f'href="/events/{SLUG}/status/56?session=connectivity_test"' in kh
    hn = tile(html, "01")
    assert count(hn, "degraded") == 1 and "st-mood-green" in hn  # degraded is reachable
    assert t(app, "No endpoint registered") in tile(html, "79")
    total = totals(html)
    assert (count(total, "connected"), count(total, "degraded"), count(total, "failed"), count(total, "unknown")) == (1, 1, 1, 0)
    assert "data-reachable>66%<" in total and "data-incidents>1<" in total and "data-confirmed>0<" in total
    # The open incident on top: endpoint, unit, since, cause.
    incidents = re.search(r'<section class="st-incidents".*?</section>', html, re.S).group(0)
    assert f"Hội trường {checked['district_name']}" in incidents and t(app, "reported failed") in incidents
    assert html.index('class="st-incidents"') < html.index('class="st-tiles"')
    # The session picker: the test is under way, the main session one link away.
    assert 'aria-current="page" data-session="connectivity_test"' in html
    assert f'href="/events/{SLUG}/status?session=main"' in html


def test_another_session_has_its_own_status(app, operator_client, checked):
    html = html_of(operator_client.get(f"/events/{SLUG}/status?session=main"))
    total = totals(html)
    assert count(total, "connected") == 0 and count(total, "unknown") == 3
    assert 'class="st-incidents"' not in html
    assert operator_client.get(f"/events/{SLUG}/status?session=gala").status_code == 404


def test_the_event_page_links_to_the_dashboard(app, operator_client, live):
    html = html_of(operator_client.get(f"/events/{SLUG}"))
    assert f'href="/events/{SLUG}/status"' in html and t(app, "Connection status") in html


def test_the_dashboard_links_to_the_reports(app, operator_client, live):
    html = operator_client.get(f"/events/{SLUG}/status").get_data(as_text=True)
    for path in (f"/events/{SLUG}/reports/readiness", f"/events/{SLUG}/reports/attendance"):
        assert f'href="{path}"' in html
        assert operator_client.get(path).status_code == 200


def test_signed_out_the_dashboard_asks_to_sign_in(client, live):
    response = client.get(f"/events/{SLUG}/status")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- live updates ----------------------------------------------------------------------------------------

def test_the_live_fragment_answers_304_until_something_changes(app, operator_client, checked, monkeypatch):
    from coordinator.status import services as status

    page = html_of(operator_client.get(f"/events/{SLUG}/status"))
    box = re.search(r'<div id="status-live" data-live="([^"]+)" data-etag="([^"]+)" data-poll="([^"]+)"', page)
    url, etag, poll = box.group(1).replace("&amp;", "&"), box.group(2).replace("&#34;", '"'), box.group(3)
    assert url == f"/events/{SLUG}/status/live?session=connectivity_test" and float(poll) == 5.0
    first = operator_client.get(url)
    assert first.status_code == 200 and first.headers["ETag"] == etag  # the page's ETag: its first poll gets a 304
    assert first.headers["X-Status-Fragment"] == "1" and "no-cache" in first.headers["Cache-Control"]
    fragment = first.get_data(as_text=True)
    assert "<html" not in fragment and count(tile(fragment, "56"), "connected") == 1

    def no_rollup(*args, **kwargs):
        raise AssertionError("a 304 must not compute the roll-up")

    monkeypatch.setattr(status, "rollup", no_rollup)
    again = operator_client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    monkeypatch.undo()
    # A change (Hà Nội's operator now hears and sees it): a new ETag and the new counts.
    record(app, checked["01"], "connected", audio=True, video=True)
    changed = operator_client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    fragment = changed.get_data(as_text=True)
    assert count(tile(fragment, "01"), "connected") == 1 and count(totals(fragment), "connected") == 2
    assert operator_client.get(url, headers={"If-None-Match": changed.headers["ETag"]}).status_code == 304
    # The query is part of the ETag: a unit's fragment is another resource.
    unit = operator_client.get(f"/events/{SLUG}/status/live?session=connectivity_test&unit=56",
                               headers={"If-None-Match": changed.headers["ETag"]})
    assert unit.status_code == 200 and rows(unit.get_data(as_text=True))[0] == ("56", "connected")


def test_the_poll_interval_comes_from_the_configuration(app, operator_client, live, monkeypatch):
    monkeypatch.setitem(app.config, "DASHBOARD_POLL_SECONDS", 0.5)
    html = html_of(operator_client.get(f"/events/{SLUG}/status"))
    assert 'data-poll="0.5"' in html and "/static/status.js" in html


# --- a province's view -------------------------------------------------------------------------------------

def test_a_province_shows_its_endpoints_in_tree_order_with_filters(app, operator_client, checked):
    district = checked["district"]
    html = html_of(operator_client.get(f"/events/{SLUG}/status/56"))
    # Grouped by district: the province's own endpoint, then one row per district (its endpoint, and
    # its communes collapsed into counts), each district listed whether it registered or not.
    assert rows(html) == [("56", "connected"), (district, "failed")]
    assert 'class="st-row st-depth-0 tier-province"' in html and 'class="st-row st-depth-1 tier-district st-group"' in html
    with app.app_context():
        from coordinator.units.models import Unit
        from coordinator.units.services import get_unit
        from coordinator.extensions import db as _db

        districts = _db.session.scalar(select(_db.func.count()).select_from(Unit).where(
            Unit.parent_id == get_unit("2024", "56").id))
    assert len(re.findall(r'data-group="', html)) == districts
    total = totals(html)
    assert (count(total, "connected"), count(total, "failed")) == (1, 1) and "data-reachable>50%<" in total
    assert f"Hội trường {checked['district_name']}" in re.search(r'<section class="st-incidents".*?</section>', html, re.S).group(0)
    # Last check with its flags and note; the hosted communes; the incident flag.
    district_row = re.search(rf'data-unit="{district}".*?</tr>', html, re.S).group(0)
    assert "Không có hình" in district_row and "st-incident-flag" in district_row
    assert re.search(r'<td class="num"><span[^>]*>2</span></td>', district_row)
    assert f'href="/events/{SLUG}/status/{district}?session=connectivity_test"' in district_row  # drill down
    filters = {
        "failed": [(district, "failed")], "unknown": [], "not_confirmed": [("56", "connected"), (district, "failed")],
        "confirmed_unreachable": [], "hosting": [(district, "failed")], "incident": [(district, "failed")],
    }
    for name, expected in filters.items():
        page = html_of(operator_client.get(f"/events/{SLUG}/status/56?filter={name}"))
        assert rows(page) == expected, name
        assert re.search(rf'class="st-filter st-filter-on" data-filter="{name}"\s+aria-current="page">', page), name
        assert count(totals(page), "connected") == 1  # the counts are the whole province's
    assert t(app, "No endpoint matches.") in html_of(operator_client.get(f"/events/{SLUG}/status/56?filter=unknown"))
    # A district: its own subtree only.
    assert rows(html_of(operator_client.get(f"/events/{SLUG}/status/{district}"))) == [(district, "failed")]
    assert operator_client.get(f"/events/{SLUG}/status/99999").status_code == 404


def test_the_centre_lists_the_central_and_provincial_endpoints_and_no_page_is_endless(app, operator_client, checked,
                                                                                     monkeypatch):
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event
    from coordinator.units.services import get_unit

    with app.app_context():
        endpoints.save_endpoint(get_event(SLUG), get_unit("2024", "TW"), endpoints.clean_endpoint(
            {"name": "Hội trường Bộ", "protocol": "sip", "dial": "sip:tw@127.0.0.1:9"}), actor=SystemActor())
    html = html_of(operator_client.get(f"/events/{SLUG}/status/TW"))
    # The centre's page: its own endpoint, then one row per province (its own endpoint, the rest counted).
    assert rows(html) == [("TW", "unknown"), ("01", "degraded"), ("56", "connected")]  # not the district's
    assert len(re.findall(r'data-group="', html)) == 63
    kh = re.search(r'<tr[^>]*data-group="56">.*?</tr>', html, re.S).group(0)
    assert "<small>0/1</small>" in kh  # its district, below it: 0 of 1 connected
    assert count(totals(html), "failed") == 1  # the counts are the whole country's
    assert rows(html_of(operator_client.get(f"/events/{SLUG}/status/TW?filter=failed"))) == [
        ("01", "degraded"), (checked["district"], "failed")]
    from coordinator.status import queries
    monkeypatch.setattr(queries, "PER_PAGE", 2)  # a filtered list comes a page at a time, never endless
    html = html_of(operator_client.get(f"/events/{SLUG}/status/TW?filter=not_confirmed"))
    assert len(rows(html)) == 2 and 'class="st-pager"' in html
    assert t(app, "Showing %(from)s–%(to)s of %(total)s endpoints.", **{"from": 1, "to": 2, "total": 4}) in html
    second = html_of(operator_client.get(f"/events/{SLUG}/status/TW?filter=not_confirmed&page=2"))
    assert [code for code, _ in rows(second)] == ["56", checked["district"]]


def test_the_filter_links_count_what_they_would_show(app, operator_client, checked):
    html = html_of(operator_client.get(f"/events/{SLUG}/status/56"))
    got = dict(re.findall(r'data-filter="(\w+)"[^>]*>[^<]*<span class="st-count">(\d+)</span>', html))
    assert got == {"all": "2", "failed": "1", "unknown": "0", "not_confirmed": "2", "confirmed_unreachable": "0",
                   "hosting": "1", "incident": "1"}


# --- the endpoint page ----------------------------------------------------------------------------------------

def test_the_endpoint_page_shows_status_contacts_and_timeline(app, operator_client, checked):
    district_endpoint = checked[checked["district"]]
    html = html_of(operator_client.get(f"/events/{SLUG}/status/endpoints/{district_endpoint}"))
    assert f"Hội trường {checked['district_name']}" in html and "sip:" in html
    assert 'id="current-state" data-state="failed"' in html
    assert 'id="incident"' in html and t(app, "reported failed") in html
    assert '<a class="st-tel" href="tel:+84905333444">0905 333 444</a>' in html
    assert '<a class="st-tel" href="tel:+842583563535">0258 3563 535</a>' in html
    timeline = re.search(r'<table class="list" id="timeline">.*?</table>', html, re.S).group(0)
    assert timeline.count("<tr data-source=") == 1 and "Không có hình" in timeline
    assert 'id="probe-now"' in html and 'id="check-form"' in html


def test_an_operator_records_a_check_and_it_appears_on_the_timeline(app, operator_client, checked):
    from coordinator.events.services import get_event
    from coordinator.status import services as status

    endpoint_id = checked["01"]
    page = html_of(operator_client.get(f"/events/{SLUG}/status/endpoints/{endpoint_id}"))
    values = form_values(page, "/check")
    # Nothing assumed: no verdict chosen, audio / video / content "not checked".
    assert values["session"] == "connectivity_test" and values["state"] == ""
    assert (values["audio"], values["video"], values["content"]) == ("", "", "")
    values.update(state="connected", audio="yes", video="yes", content="no", note="Đã khắc phục: cắm lại micro")
    response = operator_client.post(f"/events/{SLUG}/status/endpoints/{endpoint_id}/check", data=values)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/status/endpoints/{endpoint_id}?session=connectivity_test")
    html = html_of(operator_client.get(response.headers["Location"]))
    assert t(app, "Check recorded: %(state)s.", state=t(app, "Connected")) in html
    timeline = re.search(r'<table class="list" id="timeline">.*?</table>', html, re.S).group(0)
    sources = re.findall(r'<tr data-source="(\w+)" data-state="(\w+)">', timeline)
    assert sources == [("operator", "connected"), ("operator", "degraded")]  # newest first
    assert "Đã khắc phục: cắm lại micro" in timeline and "op@example.gov.vn" in timeline
    with app.app_context():
        event = get_event(SLUG)
        row = status.status_of(endpoint_id, event.session("connectivity_test").id)
        assert (row.state, row.audio, row.video, row.content) == ("connected", True, True, False)
    # A check for another session goes to that session.
    values = form_values(html_of(operator_client.get(f"/events/{SLUG}/status/endpoints/{endpoint_id}?session=main")), "/check")
    assert values["session"] == "main"
    values.update(state="failed", note="")
    operator_client.post(f"/events/{SLUG}/status/endpoints/{endpoint_id}/check", data=values)
    with app.app_context():
        main = status.status_of(endpoint_id, get_event(SLUG).session("main").id)
        assert main.state == "failed" and (main.audio, main.video, main.content) == (None, None, None)
    # Without the CSRF token: refused, nothing recorded.
    before = len(_timeline(app, endpoint_id))
    assert operator_client.post(f"/events/{SLUG}/status/endpoints/{endpoint_id}/check",
                                data={"state": "failed", "session": "connectivity_test"}).status_code == 400
    assert len(_timeline(app, endpoint_id)) == before


def _timeline(app, endpoint_id):
    from coordinator.events.services import get_event
    from coordinator.status import services as status

    with app.app_context():
        return status.timeline(endpoint_id, get_event(SLUG).session("connectivity_test").id)


def test_an_invalid_check_is_refused_with_the_form(app, operator_client, checked):
    endpoint_id = checked["01"]
    values = form_values(html_of(operator_client.get(f"/events/{SLUG}/status/endpoints/{endpoint_id}")), "/check")
    values["state"] = "splendid"
    response = operator_client.post(f"/events/{SLUG}/status/endpoints/{endpoint_id}/check", data=values)
    assert response.status_code == 400 and 'id="check-form"' in response.get_data(as_text=True)
    assert len(_timeline(app, endpoint_id)) == 1


def test_a_contact_confirmation_shows_who_confirmed(app, operator_client, live):
    from coordinator.endpoints.models import Contact
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.reminders import links
    from coordinator.reminders.confirmations import confirm_link

    with app.app_context():
        session = get_event(SLUG).session("connectivity_test")
        contact = db.session.scalar(select(Contact).where(Contact.endpoint_id == live["01"]))
        assert confirm_link(links.token(session.id, contact.id)).state == "confirmed"
    html = html_of(operator_client.get(f"/events/{SLUG}/status/endpoints/{live['01']}"))
    timeline = re.search(r'<table class="list" id="timeline">.*?</table>', html, re.S).group(0)
    # On the timeline as readiness; the facts keep it apart from the connection, which nobody observed.
    assert '<tr data-source="self" data-state="ready">' in timeline and "Phạm Thu" in timeline
    assert 'id="current-state" data-state="unknown"' in html and 'id="readiness"' in html
    readiness = re.search(r'<dd id="readiness">.*?</dd>', html, re.S).group(0)
    assert "✓" in readiness and t(app, "by the link") in readiness
    kh = tile(html_of(operator_client.get(f"/events/{SLUG}/status")), "01")
    assert count(kh, "connected") == 0 and count(kh, "unknown") == 1 and "data-confirmed>1<" in kh


def test_probe_now_probes_the_endpoint_and_says_what_it_found(app, operator_client, live):
    from fakes.probe_responders import TcpListener

    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event
    from coordinator.status import services as status
    from coordinator.units.services import get_unit

    with TcpListener() as gatekeeper:
        with app.app_context():
            endpoint = endpoints.save_endpoint(get_event(SLUG), get_unit("2024", "79"), endpoints.clean_endpoint(
                {"name": "Hội trường TP.HCM", "protocol": "h323", "dial": f"127.0.0.1:{gatekeeper.port}"}),
                actor=SystemActor())
            endpoint_id = endpoint.id
        page = html_of(operator_client.get(f"/events/{SLUG}/status/endpoints/{endpoint_id}"))
        response = operator_client.post(f"/events/{SLUG}/status/endpoints/{endpoint_id}/probe",
                                        data={"csrf_token": csrf_from(page), "session": "connectivity_test"})
        assert response.status_code == 302
    html = html_of(operator_client.get(response.headers["Location"]))
    assert "flash-success" in html and t(app, "answered") in html
    assert '<tr data-source="probe" data-state="connected">' in html
    with app.app_context():
        row = status.status_of(endpoint_id, get_event(SLUG).session("connectivity_test").id)
        assert (row.probe_state, row.probe_layer) == ("connected", "ok")
    # Nothing to probe without a dial address.
    page = html_of(operator_client.get(f"/events/{SLUG}/status/endpoints/{live['01']}"))
    with app.app_context():
        from coordinator.endpoints.models import Endpoint
        from coordinator.extensions import db

        db.session.get(Endpoint, live["01"]).dial = ""
        db.session.commit()
    response = operator_client.post(f"/events/{SLUG}/status/endpoints/{live['01']}/probe",
                                    data={"csrf_token": csrf_from(page), "session": "connectivity_test"})
    assert "flash-warning" in html_of(operator_client.get(response.headers["Location"]))


# --- wall screen -------------------------------------------------------------------------------------------------

def test_the_wall_screen_has_no_navigation(app, operator_client, checked):
    html = html_of(operator_client.get(f"/events/{SLUG}/status?wall=1", headers=VI))
    assert 'class="topbar"' not in html and '<body class="st-wall">' in html
    assert 'id="status-clock"' in html and len(re.findall(r'data-tile="', html)) == 64
    assert '<noscript><meta http-equiv="refresh"' in html
    assert "/static/status.js" in html and "wall=1" in re.search(r'data-live="([^"]+)"', html).group(1)
    assert count(tile(html, "56"), "connected") == 1
    assert ">Khánh Hòa<" in tile(html, "56")  # short names, readable from afar
    province = html_of(operator_client.get(f"/events/{SLUG}/status/56?wall=1"))
    assert 'class="topbar"' not in province and rows(province)[0] == ("56", "connected")
    # The normal page has the navigation, and a link to the wall screen.
    normal = html_of(operator_client.get(f"/events/{SLUG}/status"))
    assert 'class="topbar"' in normal and "wall=1" in normal and "<noscript>" not in normal


# --- a coordinator's scope ------------------------------------------------------------------------------------

def test_a_coordinator_sees_its_province_only(app, client, make_user, checked):
    make_user("kh@example.gov.vn", "coordinator", unit="56")
    login(client, "kh@example.gov.vn")
    national = client.get(f"/events/{SLUG}/status?session=main&wall=1")
    assert national.status_code == 302
    assert national.headers["Location"].endswith(f"/events/{SLUG}/status/56?session=main&wall=1")
    assert client.get(f"/events/{SLUG}/status").headers["Location"].endswith(f"/events/{SLUG}/status/56")
    html = html_of(client.get(f"/events/{SLUG}/status/56"))
    assert [code for code, _ in rows(html)] == ["56", checked["district"]]
    assert html_of(client.get(f"/events/{SLUG}/status/{checked['district']}"))
    for path in ("/status/01", "/status/TW", f"/status/endpoints/{checked['01']}",
                 "/status/live?session=connectivity_test", "/status/live?unit=01"):
        assert client.get(f"/events/{SLUG}{path}").status_code == 404, path
    assert client.get(f"/events/{SLUG}/status/live?unit=56").status_code == 200
    # Its own endpoints: it may check them, but not run probes (operators and organizers do).
    page = html_of(client.get(f"/events/{SLUG}/status/endpoints/{checked['56']}"))
    assert 'id="check-form"' in page and 'id="probe-now"' not in page
    values = form_values(page, "/check")
    values.update(state="degraded", note="Tiếng nhỏ")
    assert client.post(f"/events/{SLUG}/status/endpoints/{checked['56']}/check", data=values).status_code == 302
    values = form_values(page, "/check")
    assert client.post(f"/events/{SLUG}/status/endpoints/{checked['01']}/check", data=values).status_code == 404
    assert client.post(f"/events/{SLUG}/status/endpoints/{checked['56']}/probe",
                       data={"csrf_token": values["csrf_token"]}).status_code == 403


# --- queries ----------------------------------------------------------------------------------------------------

def _queries(app, client, path) -> int:
    from coordinator.extensions import db

    with app.app_context():
        engine = db.engine
    statements = []

    def count_it(conn, cursor, statement, *args):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count_it)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa_event.remove(engine, "before_cursor_execute", count_it)
    return len(statements)


def test_the_pages_take_as_many_queries_for_three_endpoints_as_for_a_dozen(app, operator_client, checked):
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.units.models import Unit
    from coordinator.units.services import get_unit

    paths = [f"/events/{SLUG}/status", f"/events/{SLUG}/status/live?session=connectivity_test",
             f"/events/{SLUG}/status/TW", f"/events/{SLUG}/status/56?filter=failed",
             f"/events/{SLUG}/status/live?unit=56&filter=not_confirmed"]
    before = [_queries(app, operator_client, p) for p in paths]
    with app.app_context():
        event = get_event(SLUG)
        kh = get_unit("2024", "56")
        districts = db.session.scalars(select(Unit).where(Unit.parent_id == kh.id).order_by(Unit.code)).all()[1:5]
        for unit in districts + [get_unit("2024", c) for c in ("79", "48", "31", "92", "TW")]:
            endpoints.save_endpoint(event, unit, endpoints.clean_endpoint(
                {"name": f"Hội trường {unit.name}", "protocol": "sip", "dial": f"sip:{unit.code}@127.0.0.1:9"}),
                actor=SystemActor())
        ids = db.session.scalars(select(Endpoint.id).where(Endpoint.event_id == event.id)).all()
    for i, endpoint_id in enumerate(ids):
        record(app, endpoint_id, ("connected", "failed", "degraded")[i % 3], note=f"kiểm tra {i}")
    assert len(ids) == 12
    after = [_queries(app, operator_client, p) for p in paths]
    assert after == before


def test_a_provinces_grouped_page_changes_only_with_what_it_shows(app, operator_client, checked):
    """A commune's note is on its district's page, not on its province's (where communes are counts)."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.units.models import Unit
    from coordinator.units.services import get_unit

    district = checked["district"]
    with app.app_context():
        commune = db.session.scalars(select(Unit).where(Unit.parent_id == get_unit("2024", district).id)
                                     .order_by(Unit.code.desc())).first()
        commune_id = endpoints.save_endpoint(get_event(SLUG), commune, endpoints.clean_endpoint(
            {"name": "Hội trường xã", "protocol": "sip", "dial": "sip:x@127.0.0.1:9"}), actor=SystemActor()).id
    record(app, commune_id, "connected", note="lần 1")

    def etag(code):
        page = html_of(operator_client.get(f"/events/{SLUG}/status/{code}"))
        url = re.search(r'data-live="([^"]+)"', page).group(1).replace("&amp;", "&")
        return url, operator_client.get(url).headers["ETag"]

    province_url, province_tag = etag("56")
    district_url, district_tag = etag(district)
    record(app, commune_id, "connected", note="lần 2: vẫn tốt")  # no count changes
    assert operator_client.get(province_url, headers={"If-None-Match": province_tag}).status_code == 304
    assert operator_client.get(district_url, headers={"If-None-Match": district_tag}).status_code == 200
    record(app, commune_id, "failed")  # a count changes: the province's page too
    assert operator_client.get(province_url, headers={"If-None-Match": province_tag}).status_code == 200
