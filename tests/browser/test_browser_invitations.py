"""In headless Chromium: the organizer publishes the event, is told how many invitations go out,
follows them on the invitations page, and opens what the file backend wrote from the outbox page."""
from __future__ import annotations

import re

from factories import ARTIFACTS, sign_in, vi


def test_organizer_publishes_and_follows_the_invitations(app, page, context, make_user, nd49):
    from playwright.sync_api import expect

    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event
    from coordinator.outbox.services import dispatch_due
    from coordinator.units.services import get_unit

    with app.app_context():
        values = endpoints.clean_endpoint({"name": "Hội trường Sở", "address": "Số 135 Thống Nhất, Nha Trang",
                                           "protocol": "sip", "dial": "kh@10.56.0.1", "contacts": [
            {"name": "Đỗ Thị Hồng Ánh", "phone": "0905 111 222", "email": "anh@example.gov.vn", "role": "technical"},
            {"name": "Nguyễn Văn Đức", "phone": "0913 123 456", "email": "duc@example.gov.vn", "role": "chair"}]})
        endpoints.save_endpoint(get_event(nd49), get_unit("2024", "56"), values, actor=SystemActor())
    make_user("organizer@example.gov.vn", "organizer")
    sign_in(page, "organizer@example.gov.vn")

    page.goto(f"/events/{nd49}")
    page.get_by_role("link", name=vi(app, "Publish"), exact=True).click()
    # First what publishing will do (2 contacts with email × 2 sessions), then the confirmation.
    expect(page.locator("#consequences")).to_have_attribute("data-invitations", "4")
    expect(page.locator("#consequences")).to_have_attribute("data-recipients", "2")
    page.get_by_role("button", name=vi(app, "Publish and send"), exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("4")
    expect(page.locator(".flash-success")).to_contain_text(vi(app, "Event published: %(n)s invitations are being sent "
                                                                   "(one per contact with an email address and session).")
                                                           .split("%(n)s")[0].strip())

    page.get_by_role("link", name=vi(app, "Calendar invitations"), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/events/{nd49}/invitations$"))
    rows = page.locator("#invitation-counts tbody tr")
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i).locator("[data-count=pending]")).to_have_text("2")
        expect(rows.nth(i).locator("[data-count=current]")).to_have_text("0")

    with app.app_context():  # what the scheduler process does every few seconds
        assert dispatch_due().sent == 4
    page.reload()
    for i in range(2):
        expect(rows.nth(i).locator("[data-count=current]")).to_have_text("2")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "invitations.png"), full_page=True)

    page.get_by_role("link", name=vi(app, "Outbox"), exact=True).first.click()
    links = page.locator("a[href$='.eml']")
    expect(links).to_have_count(4)
    with page.expect_download() as download:
        links.first.click()
    assert download.value.suggested_filename.endswith(".eml")
    data = open(download.value.path(), "rb").read()
    assert b"text/calendar; method=\"REQUEST\"" in data or b"method=REQUEST" in data
