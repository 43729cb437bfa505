"""Issue 13, point 2: one account, both structures. A coordinator's scope follows the official
succession of units into the other structure (2024 Khánh Hòa and Ninh Thuận -> 2025 Khánh Hòa);
where nothing maps, the page says which unit is missing and whom to ask (never a bare 404); an
administrator can set the unit by hand; an organizer copies an event's 2024 registrations into a
2025 event, with the endpoints of merged units listed for review, not lost."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from factories import ROOT, csrf_from, login


def load_shifted(app, name: str, first_day: date) -> str:
    from coordinator.events.plans import read_plan_file, shift_plan
    from coordinator.events.services import apply_plan

    with app.app_context():
        return apply_plan(shift_plan(read_plan_file(ROOT / "schedules" / name), first_day)).event.slug


@pytest.fixture()
def events(app):
    """The 2024 conference and a 2025 one, both ahead (registration open)."""
    return (load_shifted(app, "nd49-2024.toml", date(2027, 3, 1)),
            load_shifted(app, "example-2025-two-tier.toml", date(2027, 4, 1)))


@pytest.fixture()
def org(make_user, token_for):
    make_user("org@example.gov.vn", "organizer")
    return token_for("org@example.gov.vn")


def register(client, headers, slug, unit_code, n_contacts=1, status=201):
    body = {"unit_code": unit_code, "name": f"Phòng họp {unit_code}", "protocol": "sip",
            "dial": f"sip:{unit_code}@10.56.0.10",
            "contacts": [{"name": f"Trần Thị {unit_code}-{i}", "phone": f"0913 {int(unit_code) % 1000:03d} {i:03d}",
                          "email": f"kt{i}.{unit_code}@example.gov.vn", "role": "technical"} for i in range(n_contacts)]}
    response = client.post(f"/api/v1/events/{slug}/endpoints", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def commune_of(app, province: str, share: str = "whole") -> tuple[str, str]:
    """A 2024 commune of `province` and the 2025 commune it went into (`share`)."""
    from coordinator.extensions import db
    from coordinator.units.models import Unit, UnitSuccession

    with app.app_context():
        row = db.session.execute(
            select(UnitSuccession.from_code, UnitSuccession.to_code)
            .join(Unit, (Unit.code == UnitSuccession.from_code) & (Unit.structure == "2024"))
            .where(UnitSuccession.tier == "commune", UnitSuccession.share == share,
                   Unit.path.startswith(f"/TW/{province}/")).order_by(UnitSuccession.from_code)).first()
        return row[0], row[1]


# --- scopes follow the succession ----------------------------------------------------------------

def test_a_2024_ninh_thuan_coordinator_works_in_2025_khanh_hoa(app, client, events, make_user, token_for):
    _, e2025 = events
    make_user("nt@example.gov.vn", "coordinator", "58", "2024")
    headers = token_for("nt@example.gov.vn")
    login(client, "nt@example.gov.vn")
    page = client.get(f"/events/{e2025}/registration")
    assert page.status_code == 200
    assert "Tỉnh Khánh Hòa" in page.get_data(as_text=True)  # 2025 Khánh Hòa: Khánh Hòa + Ninh Thuận
    # A 2025 commune that was part of Ninh Thuận is in scope; Hà Nội is not.
    _, commune25 = commune_of(app, "58")
    register(client, headers, e2025, commune25)
    register(client, headers, e2025, "01", status=403)
    assert client.get(f"/events/{e2025}/registration?unit=01").status_code in (403, 404)


def test_a_2024_district_coordinator_is_told_which_unit_is_missing_and_whom_to_ask(app, client, events, make_user,
                                                                                   token_for, org):
    _, e2025 = events
    make_user("nhatrang@example.gov.vn", "coordinator", "568", "2024")
    login(client, "nhatrang@example.gov.vn")
    page = client.get(f"/events/{e2025}/registration")
    html = page.get_data(as_text=True)
    assert page.status_code == 403
    assert 'id="no-scope"' in html and 'data-unit="568"' in html and "Thành phố Nha Trang" in html
    assert "org@example.gov.vn" in html  # whom to ask
    api = client.get(f"/api/v1/events/{e2025}/endpoints", headers=token_for("nhatrang@example.gov.vn"))
    assert api.status_code == 403
    error = api.get_json()["error"]
    assert error["code"] == "no_scope" and error["details"]["unit_code"] == "568"
    assert "org@example.gov.vn" in error["details"]["ask"]
    # The 2024 event still works as before.
    assert client.get(f"/events/{events[0]}/registration").status_code == 200

    # An organizer sets the account's 2025 unit; the coordinator now lands on it.
    with app.app_context():
        from coordinator.auth.services import get_user_by_email
        user_id = get_user_by_email("nhatrang@example.gov.vn").id
    changed = client.patch(f"/api/v1/users/{user_id}", json={"scopes": {"2025": "56"}}, headers=org)
    assert changed.status_code == 200, changed.get_json()
    scopes = {s["structure"]: s for s in changed.get_json()["scopes"]}
    assert scopes["2025"]["unit_code"] == "56" and scopes["2025"]["source"] == "assigned"
    assert scopes["2024"]["unit_code"] == "568" and scopes["2024"]["source"] == "own"
    assert client.get(f"/events/{e2025}/registration").status_code == 200
    # The change is audited; a code that does not exist is refused with its field, nothing changed.
    bad = client.patch(f"/api/v1/users/{user_id}", json={"scopes": {"2025": "999"}}, headers=org)
    assert bad.status_code == 422
    assert client.get(f"/api/v1/users/{user_id}", headers=org).get_json()["scopes"][1]["unit_code"] == "56"
    with app.app_context():
        from coordinator.audit.models import AuditEntry
        from coordinator.extensions import db
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.update")).all()[-1]
        assert entry.details["changes"]["scope:2025"] == [None, "2025:56"]


def test_a_2025_province_merged_from_two_needs_its_2024_unit_chosen(app, client, events, make_user):
    e2024, _ = events
    make_user("kh25@example.gov.vn", "coordinator", "56", "2025")
    make_user("hn25@example.gov.vn", "coordinator", "01", "2025")
    login(client, "kh25@example.gov.vn")
    page = client.get(f"/events/{e2024}/registration")
    html = page.get_data(as_text=True)
    assert page.status_code == 403 and 'id="candidates"' in html
    assert "Tỉnh Ninh Thuận" in html and "(58)" in html and "(56)" in html
    client.get("/logout")
    # 2025 Hà Nội was 2024 Hà Nội alone: its coordinator works on the 2024 event.
    login(client, "hn25@example.gov.vn")
    page = client.get(f"/events/{e2024}/registration")
    assert page.status_code == 200 and "Thành phố Hà Nội" in page.get_data(as_text=True)


def test_the_account_page_shows_and_sets_the_unit_in_each_structure(app, client, make_user):
    make_user("admin@example.gov.vn", "admin")
    make_user("nt@example.gov.vn", "coordinator", "58", "2024")
    login(client, "admin@example.gov.vn")
    with app.app_context():
        from coordinator.auth.services import get_user_by_email
        user_id = get_user_by_email("nt@example.gov.vn").id
    page = client.get(f"/users/{user_id}")
    html = page.get_data(as_text=True)
    assert 'data-structure="2025" data-source="succession"' in html and "Tỉnh Khánh Hòa" in html
    refused = client.post(f"/users/{user_id}/scope", data={"structure": "2025", "unit_code": "999",
                                                           "csrf_token": csrf_from(html)})
    assert refused.status_code == 422 and "999" in refused.get_data(as_text=True)
    done = client.post(f"/users/{user_id}/scope", data={"structure": "2025", "unit_code": "01",
                                                        "csrf_token": csrf_from(html)}, follow_redirects=True)
    assert 'data-structure="2025" data-source="assigned"' in done.get_data(as_text=True)


# --- copying 2024 registrations into a 2025 event --------------------------------------------------

def test_copying_2024_registrations_into_a_2025_event(app, client, cli, events, org):
    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db

    e2024, e2025 = events
    whole24, whole25 = commune_of(app, "56")
    register(client, org, e2024, "56", n_contacts=2)
    register(client, org, e2024, "58")  # Ninh Thuận: merged into 2025 Khánh Hòa, which gets 56's room
    register(client, org, e2024, "568")  # a district: no districts in 2025
    register(client, org, e2024, whole24)
    register(client, org, e2024, "01")

    def count(slug):
        with app.app_context():
            from coordinator.events.services import get_event
            return db.session.query(Endpoint).filter_by(event_id=get_event(slug).id).count()

    preview = client.post(f"/api/v1/events/{e2025}/copy-registrations?dry_run=true", json={"source": e2024},
                          headers=org)
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert body["copied"] == 3 and body["contacts"] == 4 and count(e2025) == 0  # nothing changed
    review = {r["unit_code"]: r for r in body["review"]}
    assert set(review) == {"58", "568"}
    assert review["58"]["reason"] == "merged" and review["58"]["target_code"] == "56"
    assert review["568"]["reason"] == "no_successor"
    assert "Ninh Thuận" in review["58"]["message"]

    done = client.post(f"/api/v1/events/{e2025}/copy-registrations", json={"source": e2024}, headers=org)
    assert done.status_code == 200 and done.get_json()["copied"] == 3
    assert count(e2025) == 3
    listed = client.get(f"/api/v1/events/{e2025}/endpoints", headers=org).get_json()
    by_code = {e["unit_code"]: e for e in (listed["items"] if isinstance(listed, dict) else listed)}
    assert set(by_code) == {"56", whole25, "01"}
    assert len(by_code["56"]["contacts"]) == 2 and by_code["56"]["dial"] == "sip:56@10.56.0.10"

    # Copying again copies nothing more (the CLI says so); the district is still listed.
    result = cli("events", "copy-registrations", e2024, e2025)
    assert result.exit_code == 0 and "copied 0 endpoints" in result.output and "4 already registered" in result.output
    assert "568" in result.output and "no counterpart in the 2025 structure" in result.output
    assert count(e2025) == 3
    with app.app_context():
        from coordinator.audit.models import AuditEntry
        actions = db.session.scalars(select(AuditEntry.details).where(
            AuditEntry.action == "event.copy_registrations").order_by(AuditEntry.id)).all()
        assert [a["copied"] for a in actions] == [3, 0]


def test_copy_page_previews_then_copies(app, client, events, make_user):
    e2024, e2025 = events
    make_user("organizer@example.gov.vn", "organizer")
    login(client, "organizer@example.gov.vn")
    token = csrf_from(client.get(f"/events/{e2025}").get_data(as_text=True))
    headers = {"X-CSRFToken": token}
    register(client, headers, e2024, "56")
    register(client, headers, e2024, "58")
    page = client.get(f"/events/{e2025}/registration/copy?source={e2024}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-copied="1"' in html and 'data-review="1"' in html
    assert 'data-unit="58" data-reason="merged"' in html
    done = client.post(f"/events/{e2025}/registration/copy", data={"source": e2024, "csrf_token": csrf_from(html)})
    assert done.status_code == 200 and 'data-done="1"' in done.get_data(as_text=True)
    assert client.get(f"/events/{e2025}/registration/copy?source=nope").status_code == 404


def test_the_demo_coordinators_work_on_both_demo_events(app, client, cli, events):
    # `make run` loads a 2024 and a 2025 event: the demo accounts must reach both (a 2025 Khánh
    # Hòa account would have no single 2024 unit: Khánh Hòa and Ninh Thuận).
    assert cli("users", "demo").exit_code == 0
    for email, name in (("khanhhoa@demo.gov.vn", "Tỉnh Khánh Hòa"), ("hanoi@demo.gov.vn", "Thành phố Hà Nội")):
        login(client, email, "demo-2024")
        for slug in events:
            page = client.get(f"/events/{slug}/registration")
            assert page.status_code == 200 and name in page.get_data(as_text=True), (email, slug)
        client.get("/logout")
