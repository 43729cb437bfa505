"""In headless Chromium, the operations room (issue 16): an operator types a contact's phone, as
officials write it, into the search box of the dashboard and lands on the endpoint's page; the
feed shows a new failure after a check is posted, without reloading, and with the alert turned on
(remembered for the account) the title bar counts the new incident and a beep is played."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import requests

from factories import ARTIFACTS, bearer, sign_in

UTC = timezone.utc
SLUG = "nd49-2024"


@pytest.fixture()
def room(app, nd49, make_user, monkeypatch):
    """nd49 published, its connectivity test under way; endpoints for Khánh Hòa (56) and Hà Nội
    (01); an operator; the dashboard asking every half second."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.units.services import get_unit

    monkeypatch.setitem(app.config, "DASHBOARD_POLL_SECONDS", 0.5)
    now = datetime.now(UTC).replace(microsecond=0)
    ids = {}
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=20), ends_at=now + timedelta(hours=2))
        for code, name, phone in [("56", "Hội trường Sở Khánh Hòa", "0913 123 456"),
                                  ("01", "Phòng họp trực tuyến Hà Nội", "0987 654 321")]:
            values = endpoints.clean_endpoint({"name": name, "protocol": "sip", "dial": f"sip:{code}@127.0.0.1:9",
                                               "contacts": [{"name": "Kỹ thuật viên", "phone": phone,
                                                             "role": "technical"}]})
            ids[code] = endpoints.save_endpoint(event, get_unit("2024", code), values, actor=SystemActor()).id
        publish(event)
    make_user("op@example.gov.vn", "operator")
    ids["token"] = bearer(app, "op@example.gov.vn")
    return ids


def test_an_operator_types_a_phone_into_the_search_box_and_lands_on_the_endpoint(page, room):
    from playwright.sync_api import expect

    sign_in(page, "op@example.gov.vn")
    page.goto(f"/events/{SLUG}/status")
    box = page.locator("#st-search-q")
    box.press_sequentially("0913.123.456", delay=20)
    option = page.locator("#st-search-list [role=option]")
    expect(option).to_have_count(1)
    expect(option).to_contain_text("Hội trường Sở Khánh Hòa")
    expect(option).to_contain_text("0913 123 456")
    expect(box).to_have_attribute("aria-expanded", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-search.png"))
    box.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    page.wait_for_url(re.compile(rf"/events/{SLUG}/status/endpoints/{room['56']}\?session=connectivity_test$"))
    expect(page.locator("h1")).to_have_text("Hội trường Sở Khánh Hòa")
    # From a province's page, the number in its international form, Enter at once: the same endpoint.
    page.goto(f"/events/{SLUG}/status/01")
    page.locator("#st-search-q").fill("+84913123456")
    page.locator("#st-search-q").press("Enter")
    page.wait_for_url(re.compile(rf"/events/{SLUG}/status/endpoints/{room['56']}\?session=connectivity_test$"))
    # And from the endpoint's page itself: a unit's name without diacritics, several found: the list.
    page.locator("#st-search-q").fill("phong hop truc tuyen ha noi")
    page.locator("#st-search-q").press("Enter")
    page.wait_for_url(re.compile(rf"/events/{SLUG}/status/endpoints/{room['01']}"))


def test_the_feed_shows_a_new_failure_and_the_alert_counts_it_in_the_title_bar(page, room, base_url):
    from playwright.sync_api import expect

    sign_in(page, "op@example.gov.vn")
    page.goto(f"/events/{SLUG}/status")
    alert = page.locator("#st-alert")
    expect(alert).to_have_attribute("data-on", "0")  # off until the person turns it on
    expect(page.locator("#feed")).to_be_visible()
    expect(page.locator('#feed [data-feed="failure"]')).to_have_count(0)
    title = page.title()
    alert.locator("button").click()
    expect(alert).to_have_attribute("data-on", "1")
    expect(alert.locator("button")).to_have_attribute("aria-pressed", "true")
    expect(alert).to_have_attribute("data-beeps", "1")  # what it will sound like
    page.evaluate("window.notReloaded = true")
    # A check is posted (a script, another operator): Hà Nội failed.
    response = requests.post(f"{base_url}/api/v1/endpoints/{room['01']}/checks", headers=room["token"],
                             json={"state": "failed", "note": "Không có tiếng"}, timeout=10)
    assert response.status_code == 201 and response.json()["incident_open"] is True
    failure = page.locator(f'#feed [data-feed="failure"][data-endpoint="{room["01"]}"]')
    expect(failure).to_be_visible()
    expect(failure).to_contain_text("Không có tiếng")
    expect(failure.locator("time[data-age]")).to_have_text(re.compile(r"^\d+ s$"))
    expect(page).to_have_title(f"(1) {title}")
    expect(alert).to_have_attribute("data-beeps", "2")
    assert page.evaluate("window.notReloaded") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-feed.png"), full_page=True)
    # The operator looks (a click on the page): the count is read.
    page.locator("h1").click()
    expect(page).to_have_title(title)
    # Remembered on the server: a new page (or another browser) starts with it on.
    page.reload()
    expect(page.locator("#st-alert")).to_have_attribute("data-on", "1")
    # Recovered: the feed says so, and nothing new is counted.
    requests.post(f"{base_url}/api/v1/endpoints/{room['01']}/checks", headers=room["token"],
                  json={"state": "connected", "audio": True, "video": True}, timeout=10)
    expect(page.locator(f'#feed [data-feed="recovery"][data-endpoint="{room["01"]}"]')).to_be_visible()
    expect(page.locator('#feed [data-feed="failure"]')).to_have_count(0)
    expect(page).to_have_title(title)
    # Hà Nội's page: when each endpoint was last heard from, the longest silent first.
    page.goto(f"/events/{SLUG}/status/01?sort=silent")
    expect(page.locator(f'tr[data-endpoint="{room["01"]}"] .st-heard')).to_have_text(re.compile(r"^\d+ s$"))
    expect(page.locator('#unit-sort strong[data-sort="silent"]')).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "status-unit-silent.png"), full_page=True)
