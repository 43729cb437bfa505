"""The composer and progress pages through HTTP (real CSRF tokens): reachable from the dashboards,
a live preview, a review step before anything is queued, a confirmation that must match what was
reviewed, progress and Stop."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from factories import csrf_from, login

UTC = timezone.utc
SLUG = "nd49-2024"
COMPOSER = f"/events/{SLUG}/broadcasts"
TEXT = "{event}: điểm cầu {endpoint} chưa kết nối. Đề nghị vào phòng họp ngay."


@pytest.fixture()
def failing(app, nd49):
    """nd49 published, its test under way; Khánh Hòa's endpoint and Nha Trang's failed, Hà Nội's
    connected (operators' checks); the incident SMS sent."""
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
        for code, phone, state in (("56", "0905 111 222", "failed"), ("568", "0905 333 444", "failed"),
                                   ("01", "0912 000 111", "connected")):
            values = endpoints.clean_endpoint({"name": f"Phòng họp {code}", "protocol": "sip",
                                               "dial": f"sip:{code}@127.0.0.1:9",
                                               "contacts": [{"name": f"Kỹ thuật {code}", "phone": phone,
                                                             "role": "technical"}]})
            ids[code] = endpoints.save_endpoint(event, get_unit("2024", code), values, actor=SystemActor()).id
        publish(event)
        session = event.session("connectivity_test")
        for code, _phone, state in (("56", "", "failed"), ("568", "", "failed"), ("01", "", "connected")):
            status.record(db.session.get(Endpoint, ids[code]), session, "operator", state, actor_label="operator")
        dispatch_due(channels=["sms"])
    return ids


def _form(html: str) -> dict:
    """The composer's fields as the page sends them (checked boxes, selected options)."""
    data = {"csrf_token": csrf_from(html)}
    for tag in re.findall(r'<input[^>]*name="(?:states|roles)"[^>]*>', html):
        if re.search(r"\bchecked\b", tag):
            name, value = re.search(r'name="(\w+)"', tag).group(1), re.search(r'value="([^"]+)"', tag).group(1)
            data.setdefault(name, []).append(value)
    return data


def test_the_composer_previews_reviews_and_sends_only_once_confirmed(app, client, make_user, failing):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    make_user("op@example.gov.vn", "operator")
    login(client, "op@example.gov.vn")
    dashboard = client.get(f"/events/{SLUG}/status").get_data(as_text=True)
    assert 'id="broadcast-link"' in dashboard and f'{COMPOSER}?session=connectivity_test' in dashboard
    page = client.get(f"{COMPOSER}?session=connectivity_test")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'<option selected value="connectivity_test">', html)
    base = {**_form(html), "session": "connectivity_test", "unit": "56", "tier": "", "confirmed": "",
            "template": TEXT}
    assert base["states"] == ["failed", "unknown"] and base["roles"] == ["technical"]
    # The live preview.
    preview = client.post(f"{COMPOSER}/preview", data=base).get_json()
    assert preview["recipients"] == 2 and preview["problems"] == [] and preview["encoding"] == "UCS-2"
    assert "Phòng họp 56" in preview["sample"]
    bad = client.post(f"{COMPOSER}/preview", data={**base, "template": "Vào họp {gio}"}).get_json()
    assert "{gio}" in bad["problems"][0]["message"]
    # Review: the figures and a confirmation; nothing queued yet.
    review = client.post(COMPOSER, data=base).get_data(as_text=True)
    assert 'id="confirm-box"' in review and 'name="expected" value="2"' in review
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "broadcast")) is None
    # Confirmed for another number of recipients than the audience has now: shown again, not sent.
    stale = client.post(COMPOSER, data={**base, "confirm": "1", "expected": "7"}).get_data(as_text=True)
    assert 'id="confirm-box"' in stale and 'name="expected" value="2"' in stale
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "broadcast")) is None
    sent = client.post(COMPOSER, data={**base, "confirm": "1", "expected": "2"})
    assert sent.status_code == 302
    show = sent.headers["Location"]
    with app.app_context():
        assert sorted(db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.kind == "broadcast"))) == [
            "+84905111222", "+84905333444"]
    progress = client.get(f"{show}/progress").get_json()
    assert progress["status"] == "sending" and progress["counts"]["pending"] == 2
    page = client.get(show).get_data(as_text=True)
    assert 'id="stop"' in page and 'data-count="pending">2<' in page
    stopped = client.post(f"{show}/stop", data={"csrf_token": csrf_from(page)})
    assert stopped.status_code == 302
    assert client.get(f"{show}/progress").get_json() == {
        "id": progress["id"], "status": "stopped", "recipients": 2, "dropped": 2,
        "counts": {"pending": 0, "sending": 0, "sent": 0, "failed": 0, "superseded": 2}}
    listing = client.get(COMPOSER).get_data(as_text=True)
    assert f'data-broadcast="{progress["id"]}"' in listing


def test_a_refusal_on_the_page_names_the_reason_and_queues_nothing(app, client, make_user, failing):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    make_user("op@example.gov.vn", "operator")
    login(client, "op@example.gov.vn")
    html = client.get(COMPOSER).get_data(as_text=True)
    data = {**_form(html), "session": "connectivity_test", "unit": "01", "template": TEXT, "confirm": "1",
            "expected": "0"}
    page = client.post(COMPOSER, data=data).get_data(as_text=True)  # Hà Nội is connected: nobody
    assert 'id="confirm-box"' not in page and 'data-field="filter"' in page
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "broadcast")) is None


def test_a_coordinator_composes_for_its_province(client, make_user, failing):
    make_user("kh@example.gov.vn", "coordinator", unit="56")
    login(client, "kh@example.gov.vn")
    province = client.get(f"/events/{SLUG}/status/56").get_data(as_text=True)
    assert 'id="broadcast-link"' in province and "unit=56" in province
    html = client.get(COMPOSER).get_data(as_text=True)
    assert 'name="unit" ' in html and 'value="56"' in html
    data = {**_form(html), "session": "connectivity_test", "unit": "01", "template": TEXT}
    preview = client.post(f"{COMPOSER}/preview", data=data).get_json()
    # In the page's language (Vietnamese by default), with the unit named.
    assert preview["recipients"] == 0 and "nằm ngoài tỉnh của bạn" in preview["problems"][0]["message"]
    assert client.get(f"{COMPOSER}/99999").status_code == 404
