"""In headless Chromium: the organizer composes an SMS reminder and watches its cost change as
they type; a contact taps the link in their SMS and their endpoint is confirmed in one tap."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from factories import ARTIFACTS, sign_in, vi

UTC = timezone.utc


def test_the_composer_counts_segments_as_the_organizer_types(app, page, make_user, nd49):
    from playwright.sync_api import expect

    make_user("organizer@example.gov.vn", "organizer")
    sign_in(page, "organizer@example.gov.vn")
    page.goto(f"/events/{nd49}/reminders")
    expect(page.locator("#reminder-plan tbody tr")).to_have_count(8)
    page.get_by_role("link", name=vi(app, "New reminder"), exact=True).click()
    page.locator("[name=anchor]").select_option("session:main")
    page.locator("[name=amount]").fill("2")
    page.locator("[name=unit]").select_option("hours")
    page.locator("[name=template]").fill("Đề nghị điểm cầu {endpoint} kết nối trước {local_time} để kiểm tra âm thanh.")
    cost = page.locator("[data-preview=cost]")
    expect(cost).to_contain_text("UCS-2")
    expect(page.locator("[data-preview=plain]")).to_contain_text("GSM-7")
    expect(page.locator("[data-preview=fire]")).to_contain_text("28/06/2024 06:30")
    expect(page.locator("[data-preview=text]")).to_contain_text("Hội trường Ủy ban nhân dân tỉnh")  # no endpoint yet
    # A shorter text: the count follows without a reload.
    before = cost.inner_text()
    page.locator("[name=template]").fill("Họp lúc {local_time}.")
    expect(cost).not_to_have_text(before)
    page.locator("[name=template]").fill("Họp lúc {gio}.")
    expect(page.locator("[data-preview=error]")).to_contain_text("{gio}")
    page.locator("[name=template]").fill("Đề nghị điểm cầu {endpoint} kết nối trước {local_time} để kiểm tra âm thanh.")
    page.locator("[name=strip_diacritics]").check()
    expect(page.locator("[data-preview=text]")).to_contain_text("De nghi diem cau")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reminder-composer.png"), full_page=True)
    page.get_by_role("button", name=vi(app, "Save"), exact=True).click()
    expect(page.locator(".flash-success")).to_have_text(vi(app, "The reminder was added."))
    expect(page.locator("#reminder-plan tbody tr")).to_have_count(9)


def test_a_contact_confirms_readiness_in_one_tap(app, page, cli, nd49):
    from playwright.sync_api import expect

    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.reminders.models import Confirmation
    from coordinator.units.services import get_unit

    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event(nd49)
        values = endpoints.clean_endpoint({"name": "Hội trường Sở", "protocol": "sip", "dial": "kh@10.56.0.1", "contacts": [
            {"name": "Đỗ Thị Ánh", "phone": "0905 111 222", "role": "technical"}]})
        endpoints.save_endpoint(event, get_unit("2024", "56"), values, actor=SystemActor())
        move_session(event, "connectivity_test", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=3))
        move_session(event, "main", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3))
        publish(event)
    cli("reminders", "due", "--at", (now + timedelta(hours=1)).isoformat())
    with app.app_context():
        body = db.session.scalar(select(OutboxMessage.payload).where(OutboxMessage.kind == "reminder"))["body"]
    link = body.rsplit(" ", 1)[1]
    assert link.startswith("http://127.0.0.1:5000/c/")
    page.goto("/c/" + link.rsplit("/c/", 1)[1])  # the tap (on the live test server, not port 5000)
    expect(page.locator("#confirm-result")).to_have_attribute("data-state", "confirmed")
    expect(page.locator("main")).to_contain_text("Hội trường Sở")
    page.reload()  # the browser asks to resend the form: a second confirmation changes nothing
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Confirmation)) == 1
