"""In headless Chromium: an admin creates a coordinator's account on the accounts page; the
coordinator opens the set-password link from the email the outbox wrote, chooses a password and
is signed in; the admin's list then shows the last sign-in, and stays usable on a 390 px phone."""
from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

from factories import ARTIFACTS, sign_in

ADMIN = "admin@example.gov.vn"
NEW = "dieuphoi.kh@khanhhoa.example.gov.vn"
PASSWORD_CHOSEN = "mua-xuan-khanh-hoa-2024"


def mailed_link(app, recipient: str) -> str:
    from sqlalchemy import select

    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    result = app.test_cli_runner().invoke(args=["outbox", "dispatch", "--once"])
    assert result.exit_code == 0 and "sent 1" in result.output, result.output
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "account",
                                                            OutboxMessage.recipient == recipient))
        path = Path(app.config["MAIL_FILE_DIR"]) / row.provider_ref
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://\S+/password/\S+", text).group(0)


def test_admin_creates_a_coordinator_who_sets_a_password_through_the_link(app, page, browser, base_url, make_user,
                                                                          monkeypatch):
    from playwright.sync_api import expect

    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", base_url)  # the link must reach this live server
    make_user(ADMIN, "admin")
    sign_in(page, ADMIN)
    page.locator('nav a[href="/users/"]').click()
    expect(page).to_have_url(re.compile(r"/users/$"))
    expect(page.locator("html")).to_have_attribute("lang", "vi")

    create = page.locator("form.account-create")
    create.locator("[name=email]").fill(NEW)
    create.locator("[name=name]").fill("Sở Thông tin và Truyền thông Khánh Hòa")
    create.locator("[name=role]").select_option("coordinator")
    create.locator("[name=unit_code]").fill("56")
    create.locator("[name=structure]").select_option("2024")
    create.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/users/\d+$"))
    expect(page.locator(".flash-success")).to_contain_text(NEW)
    expect(page.locator("main h1")).to_have_text("Sở Thông tin và Truyền thông Khánh Hòa")

    link = mailed_link(app, NEW)
    assert link.startswith(base_url + "/password/")

    # The coordinator, in another browser (no cookies shared with the admin).
    other = browser.new_context(locale="vi-VN", viewport={"width": 390, "height": 844})
    try:
        coordinator = other.new_page()
        coordinator.goto(link)
        expect(coordinator.locator("main")).to_contain_text(NEW)
        coordinator.locator("[name=password]").fill(PASSWORD_CHOSEN)
        coordinator.locator("[name=confirm]").fill(PASSWORD_CHOSEN)
        coordinator.locator("form.set-password-form button[type=submit]").click()
        expect(coordinator).to_have_url(re.compile(r"/events/$"))
        expect(coordinator.locator(".who")).to_contain_text("Khánh Hòa")
        # The link is spent: opening it again explains why, in a page of its own.
        response = coordinator.goto(link)
        assert response.status == 410
        expect(coordinator.locator(".link-unusable")).to_have_attribute("data-state", "used")
    finally:
        other.close()

    # The admin's list shows the sign-in, on a phone too: one card per account, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/users/?q=khanh")
    row = page.locator(f'tr[data-email="{NEW}"]')
    expect(row.locator("td.last-login")).to_have_text(re.compile(r"\d\d/\d\d/\d{4} \d\d:\d\d"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("table.users thead").is_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "accounts-390px.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/users/")
    page.screenshot(path=str(ARTIFACTS / "accounts.png"), full_page=True)
