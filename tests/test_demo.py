"""The demo data of `make run` (coordinator.demo) as services, called without the CLI."""
import pytest
from sqlalchemy import func, select

from coordinator import demo
from coordinator.auth.models import User
from coordinator.auth.services import get_user_by_email
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.events.services import get_event
from coordinator.extensions import db

from factories import login


def test_demo_users_are_created_once_and_can_sign_in(app, client):
    with app.app_context():
        assert [demo.ensure_demo_user(u) for u in demo.DEMO_USERS] == [True] * len(demo.DEMO_USERS)
        assert demo.create_demo_users() == demo.DEMO_USERS  # idempotent: nothing created twice
        emails = [u.email for u in demo.DEMO_USERS]
        assert db.session.scalar(select(func.count()).select_from(User).where(User.email.in_(emails))) == 5
        kh = get_user_by_email("khanhhoa@demo.gov.vn")
        assert (kh.role, kh.unit.code, kh.unit.structure) == ("coordinator", "56", demo.DEMO_UNIT_STRUCTURE)
        assert get_user_by_email("admin@demo.gov.vn").unit is None
    login(client, "khanhhoa@demo.gov.vn", demo.DEMO_PASSWORD)


def test_demo_endpoints_of_a_province_are_registered_once(app, nd49):
    with app.app_context():
        event = get_event(nd49)
        done = demo.register_demo_endpoints(event, "56")
        assert done.province.name == "Tỉnh Khánh Hòa" and done.districts == 9

        def counts():
            return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in
                         (Endpoint, Contact, HostedUnit))

        first = counts()
        assert first[0] == 10 and first[1] == 20 and first[2] >= 10
        again = demo.register_demo_endpoints(event, "56")
        assert (again.province.id, again.districts) == (done.province.id, done.districts)
        assert counts() == first  # idempotent
        with pytest.raises(demo.UnknownProvince, match="no province 99"):
            demo.register_demo_endpoints(event, "99")


def test_the_live_demo_has_a_connectivity_test_under_way_with_incidents_to_work(app, nd49, cli, client):
    """`make run`'s rehearsal: its connectivity test is under way now, three district endpoints are
    marked failed by an operator, and the operator finds their open incidents through the API."""
    from datetime import datetime, timezone

    result = cli("events", "demo-live", "--province", "56")
    assert result.exit_code == 0, result.output
    assert "dien-tap-nd49: connectivity test under way; failed: " in result.output
    assert cli("events", "demo-live").output.strip() == "dien-tap-nd49: already there"
    with app.app_context():
        event = get_event(demo.LIVE_SLUG)
        test = next(s for s in event.sessions if s.kind == "connectivity_test")
        now = datetime.now(timezone.utc)
        assert event.status == "published" and test.starts_at <= now < test.ends_at
        demo.create_demo_users()
    login(client, "operator@demo.gov.vn", demo.DEMO_PASSWORD)
    body = client.get(f"/api/v1/events/{demo.LIVE_SLUG}/incidents?state=open").get_json()
    assert len(body["items"]) == 3 and {i["state"] for i in body["items"]} == {"open"}
