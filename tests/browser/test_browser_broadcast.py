"""In headless Chromium: from the national dashboard an operator opens the broadcast composer,
chooses the failed endpoints of Khánh Hòa, watches the recipients and the cost before sending,
reviews, confirms, and sees the progress move as the SMS reach a Twilio-speaking server; then
stops a second broadcast while it waits."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from factories import ARTIFACTS, sign_in
from fakes.twilio_server import FakeTwilio

UTC = timezone.utc
SLUG = "nd49-2024"
LAYOUT = {  # unit code -> (endpoint, technical contact's phone, state)
    "56": ("Hội trường Sở Khánh Hòa", "0905 111 222", "failed"),
    "568": ("Phòng họp UBND Nha Trang", "0905 333 444", "failed"),
    "569": ("Phòng họp UBND Cam Ranh", "0987 654 321", "connected"),
    "01": ("Hội trường Sở Hà Nội", "0912 000 111", "failed"),
}


def _seed(app, nd49) -> None:
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import get_event, move_session, publish
    from coordinator.extensions import db
    from coordinator.outbox.services import dispatch_due
    from coordinator.status import services as status
    from coordinator.units.services import get_unit

    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        event = get_event(nd49)
        move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=2))
        ids = {}
        for i, (code, (name, phone, _state)) in enumerate(LAYOUT.items()):
            values = endpoints.clean_endpoint({"name": name, "protocol": "sip", "dial": f"sip:e{i}@127.0.0.1:9",
                                               "contacts": [{"name": f"Kỹ thuật {code}", "phone": phone,
                                                             "role": "technical"}]})
            ids[code] = endpoints.save_endpoint(event, get_unit("2024", code), values, actor=SystemActor()).id
        publish(event)
        session = event.session("connectivity_test")
        for code, (_name, _phone, state) in LAYOUT.items():
            status.record(db.session.get(Endpoint, ids[code]), session, "operator", state, actor_label="operator")
        dispatch_due(channels=["sms"])  # the incident SMS (log backend) out of the way


def test_an_operator_sends_a_broadcast_from_the_composer_and_watches_it_arrive(app, page, make_user, nd49,
                                                                                 monkeypatch):
    from playwright.sync_api import expect

    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.outbox.services import dispatch_due

    _seed(app, nd49)
    make_user("op@example.gov.vn", "operator")
    sign_in(page, "op@example.gov.vn")
    page.goto(f"/events/{nd49}/status")
    page.locator("#broadcast-link").click()
    page.wait_for_url(lambda url: "/broadcasts" in url)
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.locator("[name=unit]").fill("56")
    page.locator("[name=states][value=unknown]").uncheck()
    page.locator("[name=template]").fill("{event}: điểm cầu {endpoint} chưa kết nối. Đề nghị vào phòng họp ngay.")
    # The live preview: the failed endpoints of Khánh Hòa, two mobiles; the cost in segments.
    expect(page.locator("[data-preview=recipients]")).to_have_text("2")
    expect(page.locator("[data-preview=cost]")).to_contain_text("UCS-2")
    expect(page.locator("[data-preview=sample]")).to_contain_text("Hội trường Sở Khánh Hòa")
    total = page.locator("[data-preview=total]")
    expect(total).not_to_have_text("0")
    marked = int(total.inner_text())
    page.locator("[name=strip_diacritics]").check()
    expect(page.locator("[data-preview=cost]")).to_contain_text("GSM-7")
    expect(total).not_to_have_text(str(marked))
    assert int(total.inner_text()) < marked
    page.locator("[name=template]").fill("Vào họp {gio}")
    expect(page.locator("[data-preview=problems]")).to_contain_text("{gio}")
    page.locator("[name=template]").fill("{event}: điểm cầu {endpoint} chưa kết nối. Đề nghị vào phòng họp ngay.")
    expect(page.locator("[data-preview=problems] li")).to_have_count(0)
    page.locator("#review").click()
    expect(page.locator("#confirm-box")).to_be_visible()
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "broadcast")) is None
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "broadcast-composer.png"), full_page=True)
    with FakeTwilio(account_sid="AC" + "8" * 32, auth_token="browser-broadcast") as tw:
        for key, value in {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": tw.account_sid,
                           "TWILIO_AUTH_TOKEN": tw.auth_token, "TWILIO_FROM": "+15005550006",
                           "TWILIO_MESSAGING_SERVICE_SID": "", "TWILIO_API_BASE_URL": tw.base_url,
                           "SMS_RATE_PER_SECOND": 0.0, "SMS_CONCURRENCY": 2, "SMS_TIMEOUT": 5.0}.items():
            monkeypatch.setitem(app.config, key, value)
        page.locator("#confirm-send").click()
        page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1].isdigit())
        progress = page.locator("#progress")
        expect(progress).to_have_attribute("data-state", "sending")
        expect(page.locator("[data-count=pending]")).to_have_text("2")
        with app.app_context():
            assert dispatch_due(channels=["sms"]).sent == 2
        # The page follows without a reload.
        expect(progress).to_have_attribute("data-state", "done", timeout=10_000)
        expect(page.locator("[data-count=sent]")).to_have_text("2")
        expect(page.locator("#stop")).to_have_count(0)
        assert sorted(m["to"] for m in tw.messages) == ["+84905111222", "+84905333444"]
        assert all(m["body"].startswith("Hoi nghi truc tuyen") for m in tw.messages)
    page.screenshot(path=str(ARTIFACTS / "broadcast-progress.png"), full_page=True)

    # A second broadcast, nationally, stopped while it waits.
    page.goto(f"/events/{nd49}/broadcasts?session=connectivity_test")
    page.locator("[name=states][value=unknown]").uncheck()
    page.locator("[name=template]").fill("Đề nghị kiểm tra đường truyền của {unit}.")
    expect(page.locator("[data-preview=recipients]")).to_have_text("3")
    page.locator("#review").click()
    page.locator("#confirm-send").click()
    page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1].isdigit())
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#stop").click()
    expect(page.locator("#progress")).to_have_attribute("data-state", "stopped")
    expect(page.locator("[data-count=superseded]")).to_have_text("3")
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "broadcast")).all()
        assert sorted(r.status for r in rows) == ["sent", "sent", "superseded", "superseded", "superseded"]
