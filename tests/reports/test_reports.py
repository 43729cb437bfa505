"""The organizer's view of registration: progress per province, provinces that have not met a
deadline, the compiled focal-contact list, closing and reopening registration; pages and API.

The data is registered through the real services (clean_endpoint + save_endpoint), as the
organizer, so fulfilment rows and lateness are what the application itself records."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from factories import ROOT, csrf_from, form_values, login

EN = {"Accept-Language": "en"}
ORGANIZER = "organizer@example.gov.vn"
OPERATOR = "operator@example.gov.vn"
KH = "kh@example.gov.vn"  # coordinator of Khánh Hòa (56)
FORMULA = '=HYPERLINK("http://evil.example","Phó Giám đốc")'


def register(app, slug: str, email: str, unit_code: str, contacts: list[dict], hosted: list[str] | None = None):
    """Register the unit's endpoint as `email` through the real services."""
    from coordinator.auth.services import get_user_by_email
    from coordinator.endpoints.services import clean_endpoint, resolve_unit, save_endpoint
    from coordinator.events.services import get_event

    with app.app_context():
        event, user = get_event(slug), get_user_by_email(email)
        unit = resolve_unit(event, unit_code, user)
        values = clean_endpoint({"name": f"Phòng họp trực tuyến {unit.name}", "protocol": "sip",
                                 "dial": f"sip:{unit_code}@10.0.0.5", "contacts": contacts,
                                 "hosted_unit_codes": hosted})
        assert not values.problems, values.problems
        save_endpoint(event, unit, values, actor=user)


def technical(name: str, phone: str, position: str = "Chuyên viên") -> dict:
    return {"name": name, "phone": phone, "role": "kỹ thuật", "position": position, "email": ""}


def chair(name: str, phone: str) -> dict:
    return {"name": name, "phone": phone, "role": "chủ trì", "position": "Giám đốc Sở"}


def seed(app, slug: str) -> None:
    """TW with a chair; Hà Nội and Khánh Hòa with focal contacts; Nha Trang (568) hosting two
    communes; Đà Nẵng with a chair only (so it has not met the focal-contact deadline)."""
    register(app, slug, ORGANIZER, "TW", [chair("Lãnh đạo Bộ", "0243 9436 666")])
    register(app, slug, ORGANIZER, "01", [technical("Nguyễn Văn An", "0904 000 111")])
    register(app, slug, ORGANIZER, "56", [
        technical("Trần Thị Bình", "0913 123 456", position="Phó Giám đốc"),
        chair("Lê Văn Cường", "0258.3563535"),
    ])
    legacy_formula(app, slug, "56", "Trần Thị Bình")
    register(app, slug, ORGANIZER, "568", [technical("Phạm Minh Dũng", "0258 3822 123")], hosted=["22327", "22330"])
    register(app, slug, ORGANIZER, "48", [chair("Võ Thị Em", "0236 3822 111")])


def legacy_formula(app, slug: str, unit_code: str, contact_name: str) -> None:
    """A position saved before formulas were refused at entry (issue 13): the exports must still
    write it as text. Today's services refuse it, so it goes into the database directly."""
    from coordinator.endpoints.models import Contact
    from coordinator.endpoints.services import clean_endpoint
    from coordinator.extensions import db

    refused = clean_endpoint({"name": "x", "protocol": "sip", "dial": "sip:1@10.0.0.5",
                              "contacts": [technical(contact_name, "0913 123 456", position=FORMULA)]})
    assert [p.field for p in refused.problems] == ["contacts[0].position"]
    with app.app_context():
        contact = db.session.scalars(select(Contact).where(Contact.name == contact_name)).one()
        contact.position = FORMULA
        db.session.commit()


def communes_of(app, province: str) -> int:
    from coordinator.extensions import db
    from coordinator.units.models import Unit

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Unit).where(
            Unit.structure == "2024", Unit.tier == "commune", Unit.path.startswith(f"/TW/{province}/")))


@pytest.fixture()
def users(make_user):
    make_user(ORGANIZER, "organizer")
    make_user(OPERATOR, "operator")
    make_user(KH, "coordinator", "56")


@pytest.fixture()
def seeded(app, nd49, users):
    seed(app, nd49)
    return nd49


def progress_of(app, slug):
    from coordinator.events.services import get_event
    from coordinator.reports import services

    event = get_event(slug)
    progress = services.province_progress(event)
    return event, progress, {line.code: line for line in progress.lines}


# --- services ------------------------------------------------------------------------------------

def test_progress_counts_per_tier_contacts_and_late_deadline(app, seeded):
    from coordinator.reports import services

    with app.app_context():
        event, progress, lines = progress_of(app, seeded)
        assert [line.code for line in progress.provinces] == sorted(line.code for line in progress.provinces)
        assert len(progress.provinces) == 63 and progress.central.code == "TW"
        assert set(progress.central.tiers) == {"central"}
        assert progress.central.tiers["central"].registered == 1 and progress.central.contacts == 1

        kh = lines["56"]
        assert set(kh.tiers) == {"province", "district", "commune"}
        assert (kh.tiers["province"].total, kh.tiers["province"].registered, kh.tiers["province"].missing) == (1, 1, 0)
        assert (kh.tiers["district"].total, kh.tiers["district"].registered) == (9, 1)
        communes = communes_of(app, "56")
        commune = kh.tiers["commune"]
        assert (commune.total, commune.registered, commune.hosted, commune.missing) == (communes, 0, 2, communes - 2)
        assert (kh.contacts, kh.technical_contacts, kh.mobile_contacts) == (3, 2, 1)

        # nd49's provincial focal-contact deadline (20/06/2024) is past: registrations are late.
        deadline = event.deadlines[0]
        assert (deadline.kind, deadline.tier) == ("focal_contacts", "province")
        assert kh.for_deadline(deadline).status == services.LATE
        assert lines["01"].for_deadline(deadline).status == services.LATE
        assert lines["48"].for_deadline(deadline).status == services.MISSING  # a chair is not a focal contact
        assert lines["02"].for_deadline(deadline).status == services.MISSING
        assert progress.central.for_deadline(deadline) is None  # a provincial deadline

        totals = progress.totals
        assert totals.tiers["province"].total == 63 and totals.tiers["province"].registered == 3
        assert totals.tiers["commune"].hosted == 2 and totals.tiers["commune"].total == 10599
        assert (totals.contacts, totals.technical_contacts) == (6, 3)
        total_deadline = totals.for_deadline(deadline)
        assert (total_deadline.on_time, total_deadline.late, total_deadline.missing) == (0, 2, 61)


def test_provinces_missing_a_deadline(app, seeded):
    from coordinator.reports import services

    with app.app_context():
        event, progress, _ = progress_of(app, seeded)
        deadline = event.deadlines[0]
        missing = services.provinces_missing(event, deadline)
        assert services.provinces_missing(event, deadline, progress) == missing
        codes = [m.code for m in missing]
        assert len(codes) == 61 and "48" in codes and "01" not in codes and "56" not in codes
        danang = next(m for m in missing if m.code == "48")
        assert (danang.name, danang.missing, danang.total) == ("Thành phố Đà Nẵng", 1, 1)


def test_lower_tier_deadline_counts_units_per_province(app, cli, users):
    """A deadline of the district tier: a province line counts its districts; provinces_missing
    lists the provinces with at least one district missing, with how many."""
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.reports import services

    # Same plan, with the deadline moved to the district tier and to the future.
    future = (date.today() + timedelta(days=60)).isoformat()
    cli("schedules", "load", str(ROOT / "schedules" / "nd49-2024.toml"), "--shift-to", future)
    with app.app_context():
        event = get_event("nd49-2024")
        event.deadlines[0].tier = "district"
        db.session.commit()
    register(app, "nd49-2024", ORGANIZER, "568", [technical("Phạm Minh Dũng", "0258 3822 123")])
    register(app, "nd49-2024", ORGANIZER, "569", [chair("Ngô Văn Phúc", "0258 3854 111")])
    with app.app_context():
        event, progress, lines = progress_of(app, "nd49-2024")
        deadline = event.deadlines[0]
        kh = lines["56"].for_deadline(deadline)
        assert kh.status is None and (kh.total, kh.on_time, kh.late, kh.missing) == (9, 1, 0, 8)
        missing = {m.code: m for m in services.provinces_missing(event, deadline, progress)}
        assert missing["56"].missing == 8 and missing["56"].total == 9
        assert len(missing) == 63  # every province still has districts without focal contacts


def test_on_time_when_the_plan_is_shifted_to_the_future(app, cli, users):
    from coordinator.reports import services

    future = (date.today() + timedelta(days=30)).isoformat()
    result = cli("schedules", "load", str(ROOT / "schedules" / "nd49-2024.toml"), "--shift-to", future)
    assert result.exit_code == 0, result.output
    register(app, "nd49-2024", ORGANIZER, "56", [technical("Trần Thị Bình", "0913 123 456")])
    with app.app_context():
        event, progress, lines = progress_of(app, "nd49-2024")
        deadline = event.deadlines[0]
        assert lines["56"].for_deadline(deadline).status == services.ON_TIME
        assert lines["01"].for_deadline(deadline).status == services.MISSING
        total = progress.totals.for_deadline(deadline)
        assert (total.on_time, total.late, total.missing) == (1, 0, 62)


def test_progress_on_the_2025_structure(app, cli, users):
    """Tiers are data: 34 provinces, communes directly below them, a commune-tier deadline whose
    fulfilment counts communes attending at the province's endpoint."""
    from coordinator.reports import services

    future = (date.today() + timedelta(days=30)).isoformat()
    result = cli("schedules", "load", str(ROOT / "schedules" / "example-2025-two-tier.toml"), "--shift-to", future)
    assert result.exit_code == 0, result.output
    slug = "example-2025-two-tier"
    register(app, slug, ORGANIZER, "56", [technical("Trần Thị Bình", "0913 123 456")], hosted=["22333", "22366"])
    register(app, slug, ORGANIZER, "22390", [chair("Lê Văn Cường", "0258 3563 535")])
    with app.app_context():
        event, progress, lines = progress_of(app, slug)
        assert len(progress.provinces) == 34 and set(lines["56"].tiers) == {"province", "commune"}
        commune = lines["56"].tiers["commune"]
        assert (commune.total, commune.registered, commune.hosted, commune.missing) == (65, 1, 2, 62)
        focal, endpoints = sorted(event.deadlines, key=lambda d: d.tier != "province")
        assert lines["56"].for_deadline(focal).status == services.ON_TIME
        communes = lines["56"].for_deadline(endpoints)
        assert communes.status is None and (communes.on_time, communes.late, communes.missing) == (3, 0, 62)
        assert [m.code for m in services.provinces_missing(event, endpoints, progress)].count("56") == 1


def test_unit_status(app, seeded):
    from coordinator.events.services import get_event
    from coordinator.reports import services
    from coordinator.units.services import get_unit

    with app.app_context():
        event = get_event(seeded)
        units = [get_unit("2024", code) for code in ("56", "568", "22327", "22333")]
        status = services.unit_status(event, units)
        assert list(status) == [u.id for u in units]
        kh, nha_trang, hosted, missing = status.values()
        assert kh.has_endpoint and (kh.contacts, kh.technical_contacts) == (2, 1)
        assert nha_trang.has_endpoint and (nha_trang.contacts, nha_trang.technical_contacts) == (1, 1)
        assert hosted.is_hosted and hosted.host.code == "568" and hosted.host_endpoint_id == nha_trang.endpoint_id
        assert missing.is_missing and not missing.has_endpoint and missing.host is None


def test_focal_contacts_compiled_list(app, seeded):
    from coordinator.auth.services import get_user_by_email
    from coordinator.events.services import get_event
    from coordinator.reports import services

    with app.app_context():
        event = get_event(seeded)
        rows = services.focal_contacts(event, get_user_by_email(ORGANIZER))
        assert [r.unit_code for r in rows] == ["01", "56", "568"]  # technical contacts only, by code
        kh = rows[1]
        assert (kh.name, kh.phone, kh.phone_e164, kh.phone_type) == ("Trần Thị Bình", "0913 123 456", "+84913123456", "mobile")
        assert kh.province_name == "Tỉnh Khánh Hòa" and rows[2].province_name == "Tỉnh Khánh Hòa"
        assert rows[2].phone == "0258 3822 123" and rows[2].phone_type == "fixed"
        scoped = services.focal_contacts(event, get_user_by_email(KH))
        assert [r.unit_code for r in scoped] == ["56", "568"]


# --- exports -------------------------------------------------------------------------------------

def test_focal_contact_exports(client, app, seeded):
    login(client, ORGANIZER)
    response = client.get(f"/events/{seeded}/focal-contacts.xlsx")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and "no-store" in response.headers["Cache-Control"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Danh sách cán bộ đầu mối - nd49-2024.xlsx"
    # Old clients get an ASCII name that keeps every word (đ -> d, not dropped).
    assert 'filename="Danh sach can bo dau moi - nd49-2024.xlsx"' in disposition
    ws = load_workbook(io.BytesIO(response.data)).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("STT", "Mã đơn vị", "Tên đơn vị") and "Số điện thoại" in rows[0]
    header = rows[0]
    col = {name: header.index(name) for name in header}
    assert [r[col["Mã đơn vị"]] for r in rows[1:]] == ["01", "56", "568"]
    kh = rows[2]
    assert kh[col["Họ và tên"]] == "Trần Thị Bình" and kh[col["Số điện thoại"]] == "0913 123 456"
    assert kh[col["Loại số"]] == "Di động" and rows[3][col["Loại số"]] == "Cố định"
    assert kh[col["Tỉnh, thành phố"]] == "Tỉnh Khánh Hòa"
    cell = ws.cell(row=3, column=col["Chức vụ"] + 1)
    assert cell.value == FORMULA and cell.data_type == "s"  # text, never a formula

    response = client.get(f"/events/{seeded}/focal-contacts.csv")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert unquote(response.headers["Content-Disposition"].split("filename*=UTF-8''")[1]).endswith(".csv")
    assert response.data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the diacritics right
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert table[0][1] == "Mã đơn vị" and [r[1] for r in table[1:]] == ["01", "56", "568"]
    assert table[2][table[0].index("Chức vụ")] == "'" + FORMULA
    assert table[2][table[0].index("Số điện thoại")] == "0913 123 456"


def test_coordinator_export_is_limited_to_its_province(client, seeded):
    login(client, KH)
    for extension in ("xlsx", "csv"):
        response = client.get(f"/events/{seeded}/focal-contacts.{extension}")
        assert response.status_code == 200
    ws = load_workbook(io.BytesIO(client.get(f"/events/{seeded}/focal-contacts.xlsx").data)).worksheets[0]
    codes = [row[1] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert codes == ["56", "568"]
    text = client.get(f"/events/{seeded}/focal-contacts.csv").data.decode("utf-8-sig")
    assert "Nguyễn Văn An" not in text and "Hà Nội" not in text and "Trần Thị Bình" in text


def test_exports_need_sign_in_and_an_event(client, seeded):
    assert client.get(f"/events/{seeded}/focal-contacts.xlsx").status_code == 302  # to the login form
    login(client, ORGANIZER)
    assert client.get("/events/no-such-event/focal-contacts.xlsx").status_code == 404
    assert client.get(f"/events/{seeded}/focal-contacts.pdf").status_code == 404


# --- pages ---------------------------------------------------------------------------------------

def test_progress_page_for_the_organizer(client, seeded):
    login(client, ORGANIZER)
    response = client.get(f"/events/{seeded}/progress", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Tỉnh Khánh Hòa" in html and "Thành phố Hà Nội" in html
    assert "2 attend at the district" in html
    assert "20/06/2024 00:00" in html  # the due time in the event's zone
    assert "Close registration" in html and "/close" in html
    assert f"/events/{seeded}/focal-contacts.xlsx" in html and f"/events/{seeded}/focal-contacts.csv" in html
    section = html.split('id="deadline-')[1]
    assert "Thành phố Đà Nẵng" in section and "Not met yet: 61" in section
    vi = client.get(f"/events/{seeded}/progress").get_data(as_text=True)  # Vietnamese by default
    assert "Tỉnh Khánh Hòa" in vi


def test_progress_page_for_the_operator_is_read_only(client, seeded):
    login(client, OPERATOR)
    response = client.get(f"/events/{seeded}/progress", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Tỉnh Khánh Hòa" in html and "Close registration" not in html and "/close" not in html
    with client.application.app_context():
        from coordinator.events.services import get_event

        deadline_id = get_event(seeded).deadlines[0].id
    response = client.post(f"/events/{seeded}/deadlines/{deadline_id}/close", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 403


def test_progress_page_and_close_are_refused_to_coordinators(client, app, seeded):
    with app.app_context():
        from coordinator.events.services import get_event

        deadline_id = get_event(seeded).deadlines[0].id
    assert client.get(f"/events/{seeded}/progress").status_code == 302  # anonymous: to the login form
    login(client, KH)
    assert client.get(f"/events/{seeded}/progress").status_code == 403
    token = csrf_from(client.get("/events/").get_data(as_text=True))
    response = client.post(f"/events/{seeded}/deadlines/{deadline_id}/close", data={"csrf_token": token})
    assert response.status_code == 403
    with app.app_context():
        from coordinator.events.services import get_event

        assert not get_event(seeded).deadlines[0].is_closed


def test_close_and_reopen_registration(client, app, seeded):
    from coordinator.deadlines.services import RegistrationClosed
    from coordinator.reports import services

    login(client, ORGANIZER)
    html = client.get(f"/events/{seeded}/progress", headers=EN).get_data(as_text=True)
    form = form_values(html, "/close")
    action = next(a for a in html.split('action="')[1:] if a.split('"')[0].endswith("/close")).split('"')[0]
    assert client.post(action, data={}).status_code == 400  # no CSRF token
    response = client.post(action, data=form, headers=EN)
    assert response.status_code == 302 and "/progress" in response.headers["Location"]
    html = client.get(f"/events/{seeded}/progress", headers=EN).get_data(as_text=True)
    assert "Registration closed on" in html and "Reopen registration" in html

    # Closed: a coordinator can no longer register for the province tier; other tiers stay open.
    with pytest.raises(RegistrationClosed):
        register(app, seeded, KH, "56", [technical("Trần Thị Bình", "0913 999 888")])
    register(app, seeded, KH, "569", [technical("Ngô Văn Phúc", "0914 111 222")])

    reopen = next(a for a in html.split('action="')[1:] if a.split('"')[0].endswith("/reopen")).split('"')[0]
    response = client.post(reopen, data=form_values(html, "/reopen"), headers=EN)
    assert response.status_code == 302
    # Reopened: accepted again, and marked late (the due time has passed).
    register(app, seeded, KH, "56", [technical("Trần Thị Bình", "0913 999 888")])
    with app.app_context():
        event, _, lines = progress_of(app, seeded)
        assert not event.deadlines[0].is_closed
        assert lines["56"].for_deadline(event.deadlines[0]).status == services.LATE
        from coordinator.audit.models import AuditEntry
        from coordinator.extensions import db

        actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("deadline.%"))
                                          .order_by(AuditEntry.id)))
        assert actions == ["deadline.close", "deadline.reopen"]


def test_close_unknown_deadline_is_404(client, seeded):
    login(client, ORGANIZER)
    token = csrf_from(client.get(f"/events/{seeded}/progress").get_data(as_text=True))
    assert client.post(f"/events/{seeded}/deadlines/999999/close", data={"csrf_token": token}).status_code == 404


# --- API -----------------------------------------------------------------------------------------

def test_registration_api(client, seeded, token_for):
    response = client.get(f"/api/v1/events/{seeded}/registration", headers=token_for(ORGANIZER))
    assert response.status_code == 200
    body = response.get_json()
    assert body["event"] == "nd49-2024"
    assert body["central"]["code"] == "TW" and body["central"]["tiers"]["central"]["registered"] == 1
    assert len(body["provinces"]) == 63
    kh = next(p for p in body["provinces"] if p["code"] == "56")
    assert kh["name"] == "Tỉnh Khánh Hòa" and kh["tier"] == "province"
    assert kh["tiers"]["commune"]["hosted"] == 2 and kh["tiers"]["district"] == {
        "total": 9, "registered": 1, "hosted": 0, "missing": 8}
    assert (kh["contacts"], kh["technical_contacts"], kh["mobile_contacts"]) == (3, 2, 1)
    [deadline] = kh["deadlines"]
    assert deadline["kind"] == "focal_contacts" and deadline["tier"] == "province"
    assert deadline["due_at"] == "2024-06-20T00:00:00+07:00" and deadline["status"] == "late"
    assert deadline["closed"] is False
    danang = next(p for p in body["provinces"] if p["code"] == "48")
    assert danang["deadlines"][0]["status"] == "missing"
    totals = body["totals"]
    assert totals["tiers"]["province"]["registered"] == 3 and totals["technical_contacts"] == 3
    assert totals["deadlines"][0]["late"] == 2 and totals["deadlines"][0]["missing"] == 61
    assert totals["deadlines"][0]["status"] is None

    operator = client.get(f"/api/v1/events/{seeded}/registration", headers=token_for(OPERATOR))
    assert operator.status_code == 200 and operator.get_json() == body


def test_registration_api_refusals(client, seeded, token_for):
    response = client.get(f"/api/v1/events/{seeded}/registration", headers=token_for(KH))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert client.get(f"/api/v1/events/{seeded}/registration").status_code == 401
    response = client.get("/api/v1/events/nothing/registration", headers=token_for(ORGANIZER))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_registration_api_in_openapi(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/events/{slug}/registration" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert {"event", "central", "provinces", "totals"} <= set(schemas["RegistrationProgress"]["properties"])
    assert {"code", "name", "tiers", "contacts", "technical_contacts", "deadlines"} <= set(
        schemas["ProvinceProgress"]["properties"])
    assert {"kind", "tier", "due_at", "status", "on_time", "late", "missing"} <= set(
        schemas["DeadlineProgress"]["properties"])
