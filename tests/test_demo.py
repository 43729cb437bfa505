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
