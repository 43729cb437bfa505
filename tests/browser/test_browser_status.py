"""In headless Chromium: an operator watches the national dashboard (and the wall screen) and sees,
without reloading, a contact's confirmation counted as readiness (not as a connection), an endpoint
turn green when a probe reaches it or an operator records a check; a lost connection is said
discreetly and mended by itself; the wall screen keeps its 64 tiles on one 1920×1080 screen with
thousands of incidents."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from factories import ARTIFACTS, sign_in

UTC = timezone.utc
SLUG = "nd49-2024"


@pytest.fixture()
def demo(app, nd49, make_user, monkeypatch):
    """nd49 published with its sessions moved into the coming days (the connectivity test is the
    session to watch), endpoints for Khánh Hòa (56) and Hà Nội (01), an operator, and the dashboard
    asking every half second."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.endpoints.models import Contact
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.units.services import get_unit

    monkeypatch.setitem(app.config, "DASHBOARD_POLL_SECONDS", 0.5)
    now = datetime.now(UTC).replace(microsecond=0)
    ids = {}
    with app.app_context():
        event = get_event(nd49)
        for code, name, phone in [("56", "Hội trường Sở Khánh Hòa", "0905 111 222"),
                                  ("01", "Hội trường Sở Hà Nội", "0987 654 321")]:
            values = endpoints.clean_endpoint({"name": name, "protocol": "sip", "dial": f"sip:{code}@127.0.0.1:9",
                                               "contacts": [{"name": "Kỹ thuật viên", "phone": phone,
                                                             "role": "technical"}]})
            ids[code] = endpoints.save_endpoint(event, get_unit("2024", code), values, actor=SystemActor()).id
        move_session(event, "connectivity_test", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        move_session(event, "main", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3))
        publish(event)
        ids["session"] = event.session("connectivity_test").id
        ids["contact_56"] = db.session.scalar(select(Contact.id).where(Contact.endpoint_id == ids["56"]))
    make_user("op@example.gov.vn", "operator")
    return ids


def _probe_result(endpoint_id: int, state: str, layer: str):
    from types import SimpleNamespace

    return SimpleNamespace(key=endpoint_id, state=state, layer=layer, code=None, rtt_ms=12.0 if state == "connected"
                           else None, target="SIP/UDP 127.0.0.1:9", detail=layer)


def test_a_confirmation_is_readiness_and_a_tile_turns_green_when_a_probe_reaches_it(app, page, demo):
    from playwright.sync_api import expect

    from coordinator.events.services import get_event
    from coordinator.reminders import links
    from coordinator.reminders.confirmations import confirm_link
    from coordinator.status import services as status

    sign_in(page, "op@example.gov.vn")
    page.goto(f"/events/{SLUG}/status")
    live = page.locator("#status-live")
    expect(live).to_have_attribute("data-poll", "0.5")
    kh = page.locator('[data-tile="56"]')
    expect(kh.locator('[data-count="connected"]')).to_have_text("0")
    expect(kh.locator('[data-count="unknown"]')).to_have_text("1")
    expect(page.locator("#totals [data-reachable]")).to_have_text("0%")
    page.evaluate("window.notReloaded = true")
    # The first polls: nothing changed (304), the page says it is current.
    expect(page.locator("#status-sync")).to_have_text(re.compile(r"\d\d:\d\d:\d\d"))
    # The contact taps the link in their SMS: counted as confirmed, still not connected.
    with app.app_context():
        assert confirm_link(links.token(demo["session"], demo["contact_56"])).state == "confirmed"
    expect(kh.locator("[data-confirmed]")).to_have_text("1")
    expect(kh.locator('[data-count="connected"]')).to_have_text("0")
    expect(kh).to_have_attribute("data-mood", "red")
    # A probe reaches it: now it is connected, and the tile green.
    with app.app_context():
        event = get_event(SLUG)
        status.record_probes(event, event.session("connectivity_test"), [_probe_result(demo["56"], "connected", "ok")])
    expect(kh.locator('[data-count="connected"]')).to_have_text("1")
    expect(kh).to_have_class(re.compile(r"\bst-mood-green\b"))
    expect(page.locator("#totals [data-reachable]")).to_have_text("50%")
    expect(page.locator('#totals [data-count="connected"]')).to_have_text("1")
    expect(page.locator("#freshness .st-sweep")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True  # updated in place, not reloaded
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-dashboard.png"), full_page=True)
    # The tile leads to the province, where the endpoint is connected and confirmed.
    kh.click()
    row = page.locator('tr[data-endpoint="%d"]' % demo["56"])
    expect(row).to_have_attribute("data-state", "connected")
    expect(row.locator('[data-confirmed="1"]')).to_have_count(1)


def test_the_wall_screen_follows_operator_checks_and_says_when_the_connection_is_lost(app, page, demo):
    from playwright.sync_api import expect

    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.status import services as status

    sign_in(page, "op@example.gov.vn")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"/events/{SLUG}/status?wall=1")
    expect(page.locator(".topbar")).to_have_count(0)
    expect(page.locator("#status-clock")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    hn = page.locator('[data-tile="01"]')
    expect(hn.locator('[data-count="connected"]')).to_have_text("0")
    page.evaluate("window.notReloaded = true")
    with app.app_context():
        event = get_event(SLUG)
        status.record(db.session.get(Endpoint, demo["01"]), event.session("connectivity_test"), "operator",
                      "connected", audio=True, video=True, content=True, note="Hình và tiếng tốt")
        status.record(db.session.get(Endpoint, demo["56"]), event.session("connectivity_test"), "operator",
                      "failed", audio=False, video=True, note="Chưa có tiếng")
    expect(hn.locator('[data-count="connected"]')).to_have_text("1")
    expect(hn).to_have_class(re.compile(r"\bst-mood-green\b"))
    expect(page.locator('[data-tile="56"] [data-count="failed"]')).to_have_text("1")
    expect(page.locator('[data-tile="56"]')).to_have_class(re.compile(r"\bst-mood-red\b"))
    assert page.evaluate("window.notReloaded") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-wall.png"))
    # The server cannot be reached: a discreet notice, the last picture stays; then it mends itself.
    page.route("**/status/live*", lambda route: route.abort())
    sync = page.locator("#status-sync")
    expect(sync).to_have_attribute("data-state", "lost")
    expect(hn.locator('[data-count="connected"]')).to_have_text("1")
    page.unroute("**/status/live*")
    expect(sync).to_have_attribute("data-state", "ok", timeout=10_000)


def test_an_operator_checks_an_endpoint_from_its_page(app, page, demo):
    from playwright.sync_api import expect

    sign_in(page, "op@example.gov.vn")
    page.goto(f"/events/{SLUG}/status/56")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-province.png"), full_page=True)
    page.locator(f'tr[data-endpoint="{demo["56"]}"] a[href*="/status/endpoints/"]').click()
    expect(page.locator('a[href="tel:+84905111222"]')).to_have_text("0905 111 222")
    # Nothing is chosen for the operator: the verdict and each of audio, video and content.
    expect(page.locator("#check-form [name=state]")).to_have_value("")
    expect(page.locator("#check-form input[name=audio][value='']")).to_be_checked()
    page.locator("#check-form [name=state]").select_option("failed")
    page.locator("#check-form input[name=video][value=yes]").check()
    page.locator("#check-form input[name=audio][value=no]").check()
    page.locator("#check-form [name=note]").fill("Không nghe được tiếng")
    page.locator("#check-form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("#current-state")).to_have_attribute("data-state", "failed")
    expect(page.locator("#timeline tbody tr").first).to_contain_text("Không nghe được tiếng")
    check = page.locator("#last-check")
    expect(check.locator(".st-flag-no")).to_have_count(1)  # audio: no
    expect(check.locator(".st-flag-yes")).to_have_count(1)  # video: yes
    expect(check.locator(".st-flag-na")).to_have_count(1)  # content: not checked
    page.screenshot(path=str(ARTIFACTS / "status-endpoint.png"), full_page=True)


def test_the_wall_screen_keeps_64_tiles_on_one_screen_with_2274_incidents(app, page, nd49, make_user, monkeypatch):
    """2,274 endpoints fail in one sweep during the test (a fifth of the country): the incident box
    has its own column and never pushes a tile off the 1920×1080 screen."""
    from playwright.sync_api import expect
    from sqlalchemy import func, insert

    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.status import services as status
    from coordinator.status.models import Incident
    from coordinator.units.models import Unit

    monkeypatch.setitem(app.config, "PROBE_FAILURES_TO_ESCALATE", 1)
    monkeypatch.setitem(app.config, "DASHBOARD_POLL_SECONDS", 0.5)
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=3))
        move_session(event, "main", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        publish(event)
        # Communes of every province, taken in turn, so that every tile has some.
        communes = db.session.execute(select(Unit.id, Unit.path).where(
            Unit.structure == "2024", Unit.tier == "commune").order_by(Unit.path)).all()
        by_province: dict[str, list[int]] = {}
        for unit_id, path in communes:
            by_province.setdefault(path.split("/")[2], []).append(unit_id)
        chosen = []
        while len(chosen) < 2843:
            for ids in by_province.values():
                if ids:
                    chosen.append(ids.pop(0))
        chosen = chosen[:2843]  # 2,274 fail, 569 answer (a fifth dead)
        db.session.execute(insert(Endpoint), [{"event_id": event.id, "unit_id": u, "name": f"Điểm cầu {u}",
                                               "protocol": "sip", "dial": f"sip:{u}@127.0.0.1:9", "address": "",
                                               "upstream_bridge": "", "provider": ""} for u in chosen])
        db.session.commit()
        ids = db.session.scalars(select(Endpoint.id).where(Endpoint.event_id == event.id).order_by(Endpoint.id)).all()
        dead = set([ids[i] for i in range(len(ids)) if i % 5 != 4][:2274])
        results = [_probe_result(e, "failed", "timeout") if e in dead else _probe_result(e, "connected", "ok")
                   for e in ids]
        failed = sum(1 for r in results if r.state == "failed")
        status.record_probes(event, event.session("connectivity_test"), results)
        assert db.session.scalar(select(func.count()).select_from(Incident)) == failed == 2274
    make_user("op@example.gov.vn", "operator")
    sign_in(page, "op@example.gov.vn")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"/events/{SLUG}/status?wall=1")
    tiles = page.locator(".st-tile")
    expect(tiles).to_have_count(64)
    expect(page.locator("#incidents [data-incidents]")).to_have_text("2274")
    for i in range(64):
        box = tiles.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["y"] >= 0, i
        assert box["x"] + box["width"] <= 1920 and box["y"] + box["height"] <= 1080, (i, box)
    side = page.locator(".st-board-side").bounding_box()
    assert side["y"] + side["height"] <= 1080 and side["x"] >= tiles.nth(0).bounding_box()["x"] + 100
    assert page.evaluate("document.documentElement.scrollHeight") <= 1080  # nothing below the screen
    # Sorted worst first: the reddest tiles lead.
    shares = page.evaluate("""[...document.querySelectorAll('.st-tile:not([data-mood=empty])')]
                              .map(t => parseFloat(t.dataset.reachable))""")
    assert len(shares) == 63 and shares == sorted(shares)  # the centre registered nothing: last
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-wall-2274-incidents.png"))
