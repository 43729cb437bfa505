"""In headless Chromium: an operator watches the national dashboard (and the wall screen) and sees,
without reloading, an endpoint turn green when its contact taps the confirmation link or an
operator records a check; a lost connection is said discreetly and mended by itself."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from conftest import ARTIFACTS, sign_in

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


def test_a_tile_turns_green_when_its_contact_taps_the_confirmation_link(app, page, demo):
    from playwright.sync_api import expect

    from coordinator.reminders import links
    from coordinator.reminders.services import confirm_link

    sign_in(page, "op@example.gov.vn")
    page.goto(f"/events/{SLUG}/status")
    live = page.locator("#status-live")
    expect(live).to_have_attribute("data-poll", "0.5")
    kh = page.locator('[data-tile="56"]')
    expect(kh.locator('[data-count="connected"]')).to_have_text("0")
    expect(kh.locator('[data-count="unknown"]')).to_have_text("1")
    expect(page.locator("#totals [data-ready]")).to_have_text("0%")
    page.evaluate("window.notReloaded = true")
    # The first polls: nothing changed (304), the page says it is current.
    expect(page.locator("#status-sync")).to_have_text(re.compile(r"\d\d:\d\d:\d\d"))
    # The contact taps the link in their SMS.
    with app.app_context():
        assert confirm_link(links.token(demo["session"], demo["contact_56"])).state == "confirmed"
    expect(kh.locator('[data-count="connected"]')).to_have_text("1")
    expect(kh).to_have_class(re.compile(r"\bst-mood-connected\b"))
    expect(kh.locator("[data-confirmed]")).to_have_text("1")
    expect(page.locator("#totals [data-ready]")).to_have_text("50%")
    expect(page.locator('#totals [data-count="connected"]')).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True  # updated in place, not reloaded
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-dashboard.png"), full_page=True)
    # The tile leads to the province, where the endpoint is green too.
    kh.click()
    expect(page.locator('tr[data-endpoint="%d"]' % demo["56"])).to_have_attribute("data-state", "connected")


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
                      "degraded", audio=False, video=True, note="Chưa có tiếng")
    expect(hn.locator('[data-count="connected"]')).to_have_text("1")
    expect(page.locator('[data-tile="56"] [data-count="degraded"]')).to_have_text("1")
    expect(page.locator('[data-tile="56"]')).to_have_class(re.compile(r"\bst-mood-degraded\b"))
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
    page.locator("#check-form [name=state]").select_option("failed")
    page.locator("#check-form [name=video]").check()
    page.locator("#check-form [name=note]").fill("Không nghe được tiếng")
    page.locator("#check-form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("#current-state")).to_have_attribute("data-state", "failed")
    expect(page.locator("#timeline tbody tr").first).to_contain_text("Không nghe được tiếng")
    page.screenshot(path=str(ARTIFACTS / "status-endpoint.png"), full_page=True)
