"""In headless Chromium, under the Content-Security-Policy every response carries: the main pages
load and work without one violation (the composer's live preview, the dashboard's polling, the
one-tap confirmation), and the questions asked before deleting still come up."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from factories import sign_in, vi

UTC = timezone.utc
SLUG = "nd49-2024"


@pytest.fixture()
def violations(page):
    """Every CSP violation the page reports: the browser's console message and the DOM event."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', function (e) {"
                         "  console.error('Content Security Policy violation: ' + e.violatedDirective + ' '"
                         "                + e.blockedURI); });")
    return seen


@pytest.fixture()
def published(app, nd49):
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.units.services import get_unit

    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event(nd49)
        values = endpoints.clean_endpoint({"name": "Hội trường Sở Khánh Hòa", "protocol": "sip", "dial": "kh@10.56.0.1",
                                           "contacts": [{"name": "Đỗ Thị Ánh", "phone": "0905 111 222",
                                                         "role": "technical"}]})
        endpoints.save_endpoint(event, get_unit("2024", "56"), values, actor=SystemActor())
        move_session(event, "connectivity_test", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        move_session(event, "main", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3))
        publish(event)
    return nd49


def test_the_main_pages_run_under_the_policy_without_a_violation(app, page, make_user, published, violations,
                                                                   monkeypatch):
    from playwright.sync_api import expect

    from coordinator.endpoints.models import Contact
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.reminders import links

    monkeypatch.setitem(app.config, "DASHBOARD_POLL_SECONDS", 0.3)
    make_user("admin@example.gov.vn", "admin")
    sign_in(page, "admin@example.gov.vn")
    for path in ("/events/", f"/events/{SLUG}", f"/events/{SLUG}/registration", f"/events/{SLUG}/progress",
                 f"/events/{SLUG}/reminders", "/users/", "/audit/", f"/events/{SLUG}/reports/attendance",
                 "/account/sessions"):
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state("load")
    # The dashboard's script polls its live part (an external script: allowed).
    page.goto(f"/events/{SLUG}/status")
    expect(page.locator("#status-sync")).to_have_attribute("data-state", "ok")
    # The composer's inline script (with the page's nonce) fills the preview as the organizer types.
    page.goto(f"/events/{SLUG}/reminders/new")
    page.locator("[name=anchor]").select_option("session:main")
    page.locator("[name=template]").fill("Họp lúc {local_time}.")
    expect(page.locator("[data-preview=cost]")).to_contain_text("SMS")
    # The print button of a report still prints.
    page.goto(f"/events/{SLUG}/reports/attendance")
    page.evaluate("window.print = function () { window.__printed = true; }")
    page.locator("button[data-print]").click()
    assert page.evaluate("window.__printed === true")
    # The one-tap confirmation posts itself.
    with app.app_context():
        event = get_event(SLUG)
        token = links.token(event.session("connectivity_test").id, db.session.query(Contact.id).scalar())
    page.goto(f"/c/{token}")
    expect(page.locator("#confirm-result")).to_have_attribute("data-state", "confirmed")
    assert violations == []


def test_deleting_still_asks_first(app, page, make_user, nd49, violations):
    from playwright.sync_api import expect

    from coordinator.events.services import get_event

    with app.app_context():
        rules = len(get_event(nd49).reminder_rules)
        rule_id = get_event(nd49).reminder_rules[0].id
    make_user("organizer@example.gov.vn", "organizer")
    sign_in(page, "organizer@example.gov.vn")
    page.goto(f"/events/{nd49}/reminders/{rule_id}")
    asked: list[str] = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.get_by_role("button", name=vi(app, "Delete"), exact=True).click()
    expect(page).to_have_url(f"{page.url}")  # Cancel: nothing sent
    page.wait_for_timeout(200)
    assert asked == [vi(app, "Delete this reminder?")]
    with app.app_context():
        assert len(get_event(nd49).reminder_rules) == rules
    page.once("dialog", lambda d: answer(d, True))
    page.get_by_role("button", name=vi(app, "Delete"), exact=True).click()
    expect(page.locator(".flash-success")).to_have_text(vi(app, "The reminder was deleted."))
    with app.app_context():
        assert len(get_event(nd49).reminder_rules) == rules - 1
    assert violations == []
