"""Issue 13 as a ministry lives it: the 2025 structure by default and never a trap, the official
succession of units, consequences shown before they happen, deadlines read as they are now,
links that reach the server that sent them, mail from the organizer's office, long lists
searched on the server."""
from __future__ import annotations

import email
import email.policy
import re
from datetime import date

import pytest

from factories import ROOT, login

EN = {"Accept-Language": "en"}


# --- helpers -----------------------------------------------------------------------------------

def register(client, headers, slug, unit_code, contacts, **fields):
    body = {"unit_code": unit_code, "name": f"Phòng họp trực tuyến {unit_code}", "protocol": "sip",
            "dial": f"diemcau-{unit_code}@10.56.0.10", "contacts": contacts, **fields}
    response = client.post(f"/api/v1/events/{slug}/endpoints", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def contacts_for(code: str, n: int = 2) -> list[dict]:
    return [{"name": f"Nguyễn Văn {code}-{i}", "phone": f"0913 {int(code) % 1000:03d} {i:03d}",
             "email": f"kt{i}.{code}@example.gov.vn", "role": "technical" if i == 0 else "chair"}
            for i in range(n)]


@pytest.fixture()
def org(make_user, token_for):
    make_user("org@example.gov.vn", "organizer")
    return token_for("org@example.gov.vn")


def load_shifted(app, name: str, first_day: date, organizer_email: str = ""):
    from coordinator.events.plans import read_plan_file, shift_plan
    from coordinator.events.services import apply_plan

    plan = shift_plan(read_plan_file(ROOT / "schedules" / name), first_day)
    if organizer_email:
        plan = plan.model_copy(update={"organizer": plan.organizer.model_copy(update={"email": organizer_email})})
    with app.app_context():
        return apply_plan(plan).event.slug


def outbox_count(app) -> int:
    from sqlalchemy import func, select

    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        return db.session.scalar(select(func.count(OutboxMessage.id)))


# --- 1. the 2025 structure is the default, and never a trap ---------------------------------------

def test_the_event_form_defaults_to_the_2025_structure(organizer_client):
    page = organizer_client.get("/events/new", headers=EN).get_data(as_text=True)
    select = re.search(r'<select[^>]*name="unit_structure".*?</select>', page, re.S).group(0)
    assert re.search(r'<option selected value="2025"|<option value="2025" selected', select), select


@pytest.fixture(scope="module")
def app_without_2025(database):
    """A second server whose database has the 2024 units only (nobody ran `units load --structure 2025`)."""
    from flask_migrate import upgrade

    from coordinator import create_app
    from coordinator.units.services import load_structure

    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.new_empty_url(),
                        "MAIL_FILE_DIR": str(database.tmp_path / "mail-without-2025")})
    with other.app_context():
        upgrade()
        load_structure("2024")
    return other


def test_an_event_on_a_structure_without_units_is_not_published_and_nothing_looks_done(app_without_2025):
    from coordinator.auth.services import create_user, issue_token

    app = app_without_2025
    slug = load_shifted(app, "example-2025-two-tier.toml", date(2027, 3, 1))
    with app.app_context():
        token = {"Authorization": f"Bearer {issue_token(create_user('org2@example.gov.vn', 'correct-horse-9', 'organizer'))}"}
    client = app.test_client()

    refused = client.post(f"/api/v1/events/{slug}/publish", headers={**EN, **token})
    assert refused.status_code == 409, refused.get_json()
    assert "flask --app app units load --structure 2025" in refused.get_json()["error"]["message"]
    assert client.post(f"/api/v1/events/{slug}/publish?dry_run=true", headers=token).status_code == 409
    assert client.get(f"/api/v1/events/{slug}", headers=token).get_json()["status"] == "draft"
    login(client, "org2@example.gov.vn")
    page = client.get(f"/events/{slug}/publish", headers=EN).get_data(as_text=True)
    assert "flask --app app units load --structure 2025" in page

    progress = client.get(f"/events/{slug}/progress", headers=EN).get_data(as_text=True)
    assert 'id="no-units"' in progress and "nothing is done" in progress
    assert "Every province has met this deadline" not in progress
    body = client.get(f"/api/v1/events/{slug}/registration").get_json()
    assert body["units_loaded"] is False and body["provinces"] == []


def test_the_structure_cannot_change_once_published(app, org, client):
    from coordinator.events.plans import read_plan_file, shift_plan
    from coordinator.problems import Invalid
    from coordinator.events.services import apply_plan, get_event

    slug = load_shifted(app, "example-2025-two-tier.toml", date(2027, 3, 1))
    assert client.post(f"/api/v1/events/{slug}/publish", headers=org).status_code == 200
    plan = shift_plan(read_plan_file(ROOT / "schedules" / "example-2025-two-tier.toml"), date(2027, 3, 1))
    plan = plan.model_copy(update={"unit_structure": "2024"})
    with app.app_context():
        with pytest.raises(Invalid) as raised:
            apply_plan(plan)
        assert "unit_structure" in str([p.field for p in raised.value.problems])
        assert get_event(slug).unit_structure == "2025"


# --- 2. the official succession ----------------------------------------------------------------

def test_2024_khanh_hoa_and_ninh_thuan_are_2025_khanh_hoa(app_ctx):
    from coordinator.units.services import get_unit
    from coordinator.units.succession import equivalent, mapping, predecessors, successors

    kh24, nt24 = get_unit("2024", "56"), get_unit("2024", "58")
    kh25 = equivalent(kh24, "2025")
    assert kh25 is not None and kh25.name.endswith("Khánh Hòa") and kh25.tier == "province"
    assert equivalent(nt24, "2025") == kh25
    assert {u.code for u, _ in predecessors(kh25, "2025" if False else "2024")} == {"56", "58"}
    assert successors(kh24, "2024") == [(kh24, "whole")]
    provinces = mapping("2024", "2025", ("province",))
    assert len(provinces) == 63 and len({t for targets in provinces.values() for t, _ in targets}) == 34
    # A 2024 district has no 2025 equivalent: there are no districts since 1/7/2025.
    assert equivalent(get_unit("2024", "568"), "2025") is None


# --- 4. deadline fulfilment computed, not frozen --------------------------------------------------

def test_moving_a_deadline_later_turns_late_into_on_time(app, client, org, nd49):
    from coordinator.events.plans import read_plan_file
    from coordinator.events.services import apply_plan, get_event
    from coordinator.reports.services import province_progress

    register(client, org, nd49, "56", contacts_for("56"))  # today: long after 20/6/2024

    def province_status():
        with app.app_context():
            event = get_event(nd49)
            line = next(p for p in province_progress(event).provinces if p.code == "56")
            return next(dc for dc in line.deadlines if dc.kind == "focal_contacts").status

    assert province_status() == "late"
    plan = read_plan_file(ROOT / "schedules" / "nd49-2024.toml")
    deadlines = [d.model_copy(update={"due_at": d.due_at.replace(year=2099)}) if d.kind == "focal_contacts" else d
                 for d in plan.deadlines]
    with app.app_context():
        apply_plan(plan.model_copy(update={"deadlines": deadlines}))
    assert province_status() == "on_time"
    body = client.get(f"/api/v1/events/{nd49}/registration", headers=org).get_json()
    kh = next(p for p in body["provinces"] if p["code"] == "56")
    assert next(d for d in kh["deadlines"] if d["kind"] == "focal_contacts")["status"] == "on_time"


# --- 5. consequences before they happen -----------------------------------------------------------

def test_publish_dry_run_says_what_will_go_out_and_changes_nothing(app, client, org):
    slug = load_shifted(app, "nd49-2024.toml", date(2027, 6, 27))
    for code in ("56", "01"):
        register(client, org, slug, code, contacts_for(code))
    preview = client.post(f"/api/v1/events/{slug}/publish?dry_run=true", headers=org)
    assert preview.status_code == 200
    body = preview.get_json()
    assert body["invitations"] == {"connectivity_test": 4, "main": 4}
    assert body["recipients"] == 4
    assert body["reminders"] >= 1 and body["first_reminder_at"].startswith("2027-06-")
    assert client.get(f"/api/v1/events/{slug}", headers=org).get_json()["status"] == "draft"
    assert outbox_count(app) == 0

    # The page says the same before the organizer confirms.
    login(client, "org@example.gov.vn")
    page = client.get(f"/events/{slug}/publish", headers=EN).get_data(as_text=True)
    assert "8 calendar invitations to 4 addresses" in page

    assert client.post(f"/api/v1/events/{slug}/publish", headers=org).status_code == 200
    assert outbox_count(app) == 8


def test_moving_a_session_dry_run_counts_the_updates_and_changes_nothing(app, client, org):
    slug = load_shifted(app, "nd49-2024.toml", date(2027, 6, 27))
    register(client, org, slug, "56", contacts_for("56", 3))
    client.post(f"/api/v1/events/{slug}/publish", headers=org)
    before = client.get(f"/api/v1/events/{slug}", headers=org).get_json()
    queued = outbox_count(app)
    moved = {"starts_at": "2027-06-28T09:00:00", "ends_at": "2027-06-28T12:00:00"}
    preview = client.patch(f"/api/v1/events/{slug}/sessions/main?dry_run=true", json=moved, headers=org)
    assert preview.status_code == 200 and preview.get_json()["updates"] == 3
    assert client.get(f"/api/v1/events/{slug}", headers=org).get_json()["sessions"] == before["sessions"]
    assert outbox_count(app) == queued
    done = client.patch(f"/api/v1/events/{slug}/sessions/main", json=moved, headers=org)
    assert done.status_code == 200
    assert outbox_count(app) == queued + 3


def test_cancelling_needs_a_reason_which_the_mail_carries_with_the_event_name(app, client, org, tmp_path):
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage
    from coordinator.invitations.mail import compose

    slug = load_shifted(app, "nd49-2024.toml", date(2027, 6, 27))
    register(client, org, slug, "56", contacts_for("56", 1))
    client.post(f"/api/v1/events/{slug}/publish", headers=org)
    refused = client.post(f"/api/v1/events/{slug}/cancel", json={}, headers=org)
    assert refused.status_code == 422
    assert client.get(f"/api/v1/events/{slug}", headers=org).get_json()["status"] == "published"
    reason = "Trùng lịch họp Chính phủ; Bộ sẽ thông báo ngày mới"
    assert client.post(f"/api/v1/events/{slug}/cancel", json={"reason": reason}, headers=org).status_code == 200
    with app.app_context():
        rows = db.session.query(OutboxMessage).filter(OutboxMessage.kind == "invitation").all()
        cancels = [r for r in rows if r.payload["method"] == "CANCEL"]
        assert len(cancels) == 2
        message = email.message_from_bytes(compose(cancels[0]).data, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    assert reason in text
    assert "Hội nghị trực tuyến" in str(message["Subject"])


def test_an_event_created_from_the_form_gets_the_default_reminder_plan(organizer_client):
    from factories import new_event_form, post_new

    response = post_new(organizer_client, new_event_form(**{
        "sessions-0-starts_at": "27/06/2027 14:00", "sessions-0-ends_at": "27/06/2027 17:00",
        "sessions-1-starts_at": "28/06/2027 08:30", "sessions-1-ends_at": "28/06/2027 11:30",
        "deadlines-0-due_at": "20/06/2027 00:00"}))
    assert response.status_code == 302
    rules = organizer_client.get("/api/v1/events/tap-huan-kh/reminders").get_json()
    items = rules["items"] if isinstance(rules, dict) else rules
    assert len(items) >= 3
    assert {p["rule"]["channel"] for p in items} == {"sms"}
    assert {p["rule"]["anchor"] for p in items} >= {"session:connectivity_test", "session:main"}
    assert all(p["state"] == "draft" and p["fire_at"].startswith("2027-06-") for p in items)  # until published


# --- 6. links reach the server that sent them --------------------------------------------------

def test_links_follow_the_port_the_server_runs_on(monkeypatch, tmp_path):
    from coordinator.config import load_config

    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("PORT", "5101")
    monkeypatch.setenv("HOST", "0.0.0.0")
    config = load_config(tmp_path)
    assert config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5101" and config["PUBLIC_BASE_URL_SET"] is False
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://hoinghi.example.gov.vn/")
    config = load_config(tmp_path)
    assert config["PUBLIC_BASE_URL"] == "https://hoinghi.example.gov.vn" and config["PUBLIC_BASE_URL_SET"] is True


def test_production_start_warns_when_links_would_point_at_this_machine(monkeypatch, caplog, database):
    from coordinator import create_app

    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("MAIL_FROM", raising=False)
    monkeypatch.setenv("FLASK_ENV", "production")
    with caplog.at_level("WARNING", logger="coordinator"):
        create_app({"SQLALCHEMY_DATABASE_URI": database.url})
    assert "PUBLIC_BASE_URL is not set" in caplog.text and "MAIL_FROM is not set" in caplog.text


# --- 11. mail from the organizer's office ----------------------------------------------------------

def test_event_mail_is_from_the_organizers_office_and_answers_reach_it(app, client, org, monkeypatch):
    from coordinator.extensions import db
    from coordinator.invitations.mail import compose
    from coordinator.outbox.models import OutboxMessage

    slug = load_shifted(app, "nd49-2024.toml", date(2027, 6, 27), organizer_email="ttcs@mic.example.gov.vn")
    register(client, org, slug, "56", contacts_for("56", 1))
    preview = client.post(f"/api/v1/events/{slug}/publish?dry_run=true", headers=org).get_json()
    assert preview["sender"] == "Cục Thông tin cơ sở <ttcs@mic.example.gov.vn>"
    client.post(f"/api/v1/events/{slug}/publish", headers=org)
    with app.app_context():
        row = db.session.query(OutboxMessage).filter(OutboxMessage.kind == "invitation").first()
        unset = email.message_from_bytes(compose(row).data, policy=email.policy.default)
        monkeypatch.setitem(app.config, "MAIL_FROM", "Hệ thống hội nghị <hoinghi@mail.example.gov.vn>")
        monkeypatch.setitem(app.config, "MAIL_FROM_ADDRESS", "hoinghi@mail.example.gov.vn")
        monkeypatch.setitem(app.config, "MAIL_FROM_SET", True)
        relayed = email.message_from_bytes(compose(row).data, policy=email.policy.default)
    office = "Cục Thông tin cơ sở"
    # No MAIL_FROM: from the office itself, at its address.
    assert office in str(unset["From"]) and "localhost" not in str(unset["From"])
    assert unset["From"].addresses[0].addr_spec == "ttcs@mic.example.gov.vn"
    # A configured relay address: the office's name at it, answers to the office.
    assert relayed["From"].addresses[0].addr_spec == "hoinghi@mail.example.gov.vn"
    assert office in relayed["From"].addresses[0].display_name
    assert relayed["Reply-To"].addresses[0].addr_spec == "ttcs@mic.example.gov.vn"


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.data[:4] == b"\x00\x00\x01\x00"
    page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon"' in page


# --- 7. long lists: search without diacritics, filters, pages ---------------------------------------

@pytest.fixture()
def hanoi(app, client, org, nd49):
    """Hà Nội (2024: 1 province, 30 districts, 579 communes) with a few endpoints registered."""
    register(client, org, nd49, "01", contacts_for("01"))
    register(client, org, nd49, "001", [{"name": "Trần Thị Ánh", "phone": "0904 555 001", "role": "technical"}],
             name="Phòng họp UBND quận Ba Đình")
    register(client, org, nd49, "00001", [{"name": "Lê Văn Phúc", "phone": "0904 555 002", "role": "technical"}])
    return nd49


def test_the_registration_list_is_searched_without_diacritics_filtered_and_paged(organizer_client, hanoi):
    def page(**args):
        response = organizer_client.get(f"/events/{hanoi}/registration", query_string={"unit": "01", **args},
                                        headers=EN)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def rows(html):
        return re.findall(r'<tr id="u-([0-9A-Z]+)"', html)

    full = page()
    assert len(rows(full)) == 50 and "Page 1 of 13" in full  # 610 units, 50 a page
    assert len(full.encode()) < 150_000
    found = rows(page(q="ba dinh"))
    assert "001" in found and all(code.startswith("00") for code in found)
    assert rows(page(q="0904 555 002")) == ["00001"]  # a contact's phone, as people write it
    assert rows(page(q="tran thi anh")) == ["001"]  # a contact's name, without diacritics
    assert rows(page(q="phong hop ubnd quan")) == ["001"]  # the room's name
    assert set(rows(page(status="registered"))) == {"01", "001", "00001"}
    districts = rows(page(tier="district"))
    assert len(districts) == 30
    in_ba_dinh = rows(page(district="001"))
    assert in_ba_dinh[0] == "001" and len(in_ba_dinh) > 5 and all(c.startswith("000") or c == "001" for c in in_ba_dinh)
    # The province's own deadline (20/6/2024) was met late: "late only" shows it.
    assert "01" in rows(page(late="1", tier="province"))
    # Saving a unit's endpoint comes back to the page the unit is on.
    last = rows(page(page="13"))[-1]
    assert last in rows(page(focus=last))


def test_the_endpoints_api_takes_the_same_search(client, org, hanoi):
    def codes(**args):
        body = client.get(f"/api/v1/events/{hanoi}/endpoints", query_string=args, headers=org).get_json()
        return [e["unit_code"] for e in body["items"]], body["total"]

    assert codes() == (["00001", "001", "01"], 3)
    assert codes(q="ba dinh")[0] == ["001"]
    assert codes(q="Lê Văn Phúc")[0] == ["00001"]
    assert codes(q="+84904555001")[0] == ["001"]
    assert codes(tier="district")[0] == ["001"]
    assert codes(page=2, per_page=2) == (["01"], 3)


def test_the_outbox_is_searched_by_recipient(app, organizer_client, client, org):
    slug = load_shifted(app, "nd49-2024.toml", date(2027, 6, 27))
    register(client, org, slug, "56", contacts_for("56", 2))
    client.post(f"/api/v1/events/{slug}/publish", headers=org)
    html = organizer_client.get("/outbox/", query_string={"q": "kt1.56@"}, headers=EN).get_data(as_text=True)
    assert "kt1.56@example.gov.vn" in html and "kt0.56@example.gov.vn" not in html
    assert "2 messages to a recipient" in html


def test_progress_is_filtered_to_the_provinces_behind(organizer_client, client, org, nd49):
    register(client, org, nd49, "56", contacts_for("56"))
    html = organizer_client.get(f"/events/{nd49}/progress", query_string={"q": "khanh hoa"}, headers=EN)
    body = html.get_data(as_text=True)
    assert "Khánh Hòa" in body and "Ninh Thuận" not in body.split("<tfoot>")[0].split("<tbody>")[1]


# --- 11. a document request from the form, with several file slots ----------------------------------

def test_a_document_request_from_the_form_asks_for_several_files(organizer_client, app):
    from factories import new_event_form, post_new

    from coordinator.events.services import get_event

    files = "Báo cáo kết quả triển khai (pdf, docx)\nDanh sách đại biểu | xlsx\nẢnh hội trường"
    response = post_new(organizer_client, new_event_form(**{
        "deadlines-1-kind": "documents", "deadlines-1-tier": "province", "deadlines-1-due_at": "25/06/2024 17:00",
        "deadlines-1-files": files}))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        request = next(d for d in get_event("tap-huan-kh").deadlines if d.kind == "documents")
        assert request.required_files == [
            {"label": "Báo cáo kết quả triển khai", "types": ["pdf", "docx"]},
            {"label": "Danh sách đại biểu", "types": ["xlsx"]},
            {"label": "Ảnh hội trường", "types": ["pdf", "jpg", "jpeg", "png", "doc", "docx"]}]
    # The edit form shows them as typed, and keeps them on save.
    page = organizer_client.get("/events/tap-huan-kh/edit").get_data(as_text=True)
    assert "Danh sách đại biểu (xlsx)" in page

    bad = post_new(organizer_client, new_event_form(**{
        "slug": "tap-huan-kh-2", "deadlines-1-kind": "documents", "deadlines-1-tier": "province",
        "deadlines-1-due_at": "25/06/2024 17:00", "deadlines-1-files": "Báo cáo (exe)"}), headers=EN)
    assert bad.status_code == 400 and "unknown file type &#39;exe&#39;" in bad.get_data(as_text=True)


# --- 10. each endpoint's history on its page -------------------------------------------------------

def test_an_endpoint_page_shows_its_history_as_sentences(app, client, make_user, org, nd49):
    make_user("organizer@example.gov.vn", "organizer")
    created = register(client, org, nd49, "56", contacts_for("56"))
    changed = client.patch(f"/api/v1/endpoints/{created['id']}", json={"name": "Hội trường Sở TT&TT Khánh Hòa"},
                           headers=org)
    assert changed.status_code == 200, changed.get_json()
    login(client, "organizer@example.gov.vn")
    html = client.get(f"/events/{nd49}/units/56/endpoint").get_data(as_text=True)
    section = html[html.index('id="audit-history"'):]
    items = re.findall(r"<li><time[^>]*>[^<]*</time>\s*([^<]+)</li>", section)
    assert len(items) == 2, items  # newest first: the change, then the registration
    assert "Tỉnh Khánh Hòa (56)" in items[0] and "Tỉnh Khánh Hòa (56)" in items[1]
    status_page = client.get(f"/events/{nd49}/status/endpoints/{created['id']}").get_data(as_text=True)
    assert 'id="audit-history"' in status_page and len(re.findall(r"<li><time", status_page.split('id="audit-history"')[1])) == 2
    # A unit not registered yet has no history section to show.
    assert 'id="audit-history"' not in client.get(f"/events/{nd49}/units/01/endpoint").get_data(as_text=True)
