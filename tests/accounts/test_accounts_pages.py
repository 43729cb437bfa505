"""The accounts pages (/users): list with search, filters, pagination and last sign-in, the create
and edit forms, the set-password link button, the spreadsheet upload and template, who may see
them; the sign-in page's "forgot password" link."""
from __future__ import annotations

import io
import re
from datetime import datetime, timezone

from openpyxl import load_workbook
from sqlalchemy import func, select

from factories import csrf_from, form_values, login

ENGLISH = {"Accept-Language": "en"}


def admin_client(client, make_user):
    make_user("admin@example.gov.vn", "admin")
    login(client, "admin@example.gov.vn")
    return client


def outbox_count(app, kind="account") -> int:
    from coordinator.extensions import db
    from coordinator.outbox.models import OutboxMessage

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == kind))


def test_only_admins_and_organizers_see_the_accounts_pages(client, app, make_user):
    make_user("kh@example.gov.vn", "coordinator", "56")
    make_user("operator@example.gov.vn", "operator")
    make_user("organizer@example.gov.vn", "organizer")
    make_user("admin@example.gov.vn", "admin")
    assert client.get("/users/").status_code == 302  # anonymous: to the sign-in page
    for email, status in (("kh@example.gov.vn", 403), ("operator@example.gov.vn", 403),
                          ("organizer@example.gov.vn", 200), ("admin@example.gov.vn", 200)):
        browser = app.test_client()
        login(browser, email)
        assert browser.get("/users/").status_code == status, email
        nav = browser.get("/events/").get_data(as_text=True)
        assert ('href="/users/"' in nav) == (status == 200), email
        assert browser.get("/users/template.xlsx").status_code == status


def test_list_search_filters_and_last_sign_in(client, app, make_user):
    from coordinator.auth.services import get_user_by_email
    from coordinator.extensions import db

    admin_client(client, make_user)
    make_user("kh@example.gov.vn", "coordinator", "56")
    make_user("hanoi@example.gov.vn", "coordinator", "01")
    make_user("operator@example.gov.vn", "operator")
    with app.app_context():
        user = get_user_by_email("kh@example.gov.vn")
        user.display_name = "Sở Thông tin và Truyền thông Khánh Hòa"
        user.last_login_at = datetime(2024, 6, 27, 7, 5, tzinfo=timezone.utc)  # 14:05 in Viet Nam
        db.session.commit()

    page = client.get("/users/", headers=ENGLISH).get_data(as_text=True)
    assert "4 accounts" in page
    row = re.search(r'<tr data-email="kh@example.gov.vn">(.*?)</tr>', page, re.S).group(1)
    assert "27/06/2024 14:05" in row and "Tỉnh Khánh Hòa" in row and "Coordinator" in row
    hanoi = re.search(r'<tr data-email="hanoi@example.gov.vn">(.*?)</tr>', page, re.S).group(1)
    assert "never" in hanoi

    def listed(**params):
        html = client.get("/users/", query_string=params).get_data(as_text=True)
        return sorted(re.findall(r'<tr data-email="([^"]+)"', html))

    assert listed(q="khanh hoa") == ["kh@example.gov.vn"]
    assert listed(q="SỞ THÔNG TIN") == ["kh@example.gov.vn"]
    assert listed(role="coordinator") == ["hanoi@example.gov.vn", "kh@example.gov.vn"]
    assert listed(unit="01") == ["hanoi@example.gov.vn"]
    assert listed(active="0") == []
    assert listed(role="nonsense") == listed()  # an unknown filter value is ignored

    from coordinator.accounts import user_views

    original = user_views.PAGE_SIZE
    user_views.PAGE_SIZE = 3
    try:
        first = client.get("/users/?role=", headers=ENGLISH).get_data(as_text=True)
        assert "Page 1 of 2" in first and len(re.findall(r"<tr data-email=", first)) == 3
        assert len(re.findall(r"<tr data-email=", client.get("/users/?page=2").get_data(as_text=True))) == 1
    finally:
        user_views.PAGE_SIZE = original


def test_create_edit_disable_and_send_a_link_through_the_forms(client, app, make_user):
    admin_client(client, make_user)
    page = client.get("/users/").get_data(as_text=True)
    values = form_values(page, "/users/")
    assert values["role"]  # a role is preselected
    bad = client.post("/users/", data={**values, "email": "kh@example.gov.vn", "role": "coordinator",
                                        "unit_code": ""}, headers=ENGLISH)
    assert bad.status_code == 422 and "A coordinator needs a unit" in bad.get_data(as_text=True)
    created = client.post("/users/", data={**values, "email": "kh@example.gov.vn", "name": "Sở Khánh Hòa",
                                            "role": "coordinator", "unit_code": "56", "structure": "2024"})
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    assert outbox_count(app) == 1  # the set-password link
    edit_url = created.headers["Location"]
    edit = client.get(edit_url, headers=ENGLISH).get_data(as_text=True)
    assert "No password yet" in edit and "Sở Khánh Hòa" in edit
    duplicate = client.post("/users/", data={**values, "email": "KH@example.gov.vn", "role": "operator"})
    assert duplicate.status_code == 409

    form = form_values(edit, edit_url)
    assert (form["role"], form["unit_code"], form["structure"], form.get("active")) == ("coordinator", "56", "2024", "y")
    saved = client.post(edit_url, data={**form, "unit_code": "568", "name": "Phòng VH-TT Nha Trang"})
    assert saved.status_code == 302
    assert "Nha Trang" in client.get(edit_url).get_data(as_text=True)
    form = form_values(client.get(edit_url).get_data(as_text=True), edit_url)
    form.pop("active")  # unticked: disable
    assert client.post(edit_url, data=form).status_code == 302
    assert "Disabled" in client.get(edit_url, headers=ENGLISH).get_data(as_text=True)

    link_form = form_values(client.get(edit_url).get_data(as_text=True), "/link")
    refused = client.post(edit_url + "/link", data=link_form, headers=ENGLISH)
    assert refused.status_code == 302
    assert "enable it first" in client.get(edit_url, headers=ENGLISH).get_data(as_text=True)
    assert outbox_count(app) == 1
    form = form_values(client.get(edit_url).get_data(as_text=True), edit_url)
    assert client.post(edit_url, data={**form, "active": "y"}).status_code == 302
    assert client.post(edit_url + "/link", data=link_form).status_code == 302
    assert outbox_count(app) == 2

    # One's own account: the form says why, nothing changes.
    from coordinator.auth.services import get_user_by_email

    with app.app_context():
        own = get_user_by_email("admin@example.gov.vn").id
    own_url = f"/users/{own}"
    own_form = form_values(client.get(own_url).get_data(as_text=True), own_url)
    own_form.pop("active")
    response = client.post(own_url, data=own_form, headers=ENGLISH)
    assert response.status_code == 422 and "You cannot disable your own account." in response.get_data(as_text=True)
    assert client.get("/users/999999").status_code == 404


def test_organizers_cannot_open_admin_accounts(client, app, make_user):
    from coordinator.auth.services import get_user_by_email

    make_user("admin@example.gov.vn", "admin")
    make_user("kh@example.gov.vn", "coordinator", "56")
    make_user("organizer@example.gov.vn", "organizer")
    login(client, "organizer@example.gov.vn")
    with app.app_context():
        admin_id = get_user_by_email("admin@example.gov.vn").id
        kh_id = get_user_by_email("kh@example.gov.vn").id
    page = client.get("/users/").get_data(as_text=True)
    assert f'href="/users/{kh_id}"' in page and f'href="/users/{admin_id}"' not in page
    roles = re.search(r'<select[^>]*name="role"[^>]*>(.*?)</select>', page.split('class="account-create"')[1], re.S)
    assert re.findall(r'value="([^"]+)"', roles.group(1)) == ["coordinator", "operator"]
    assert client.get(f"/users/{admin_id}").status_code == 403
    token = csrf_from(page)
    assert client.post(f"/users/{admin_id}/link", data={"csrf_token": token}).status_code == 403
    forged = client.post("/users/", data={"csrf_token": token, "email": "x@example.gov.vn", "role": "admin"})
    assert forged.status_code == 400  # not one of the form's choices


def test_upload_shows_every_problem_and_then_imports(client, app, make_user):
    admin_client(client, make_user)
    template = client.get("/users/template.xlsx")
    assert template.status_code == 200 and "attachment" in template.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(template.data)).worksheets[0]
    assert [c.value for c in sheet[1]] == ["Thư điện tử", "Họ và tên", "Vai trò", "Mã đơn vị", "Cấu trúc"]
    csv_template = client.get("/users/template.csv")
    assert csv_template.data.startswith("\ufeffThư điện tử".encode())

    token = csrf_from(client.get("/users/").get_data(as_text=True))
    bad = ("Thư điện tử,Họ và tên,Vai trò,Mã đơn vị\r\nkh@example.gov.vn,A,Điều phối,\r\n"
           "op@example.gov.vn,B,vua,\r\n").encode()
    response = client.post("/users/import", data={"csrf_token": token, "file": (io.BytesIO(bad), "ds.csv")},
                           content_type="multipart/form-data", headers=ENGLISH)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Nothing was saved" in html and "ds.csv" in html
    assert re.search(r"<td>2</td><td>Mã đơn vị</td>", html) and re.search(r"<td>3</td><td>Vai trò</td>", html)

    # The template's own example rows import as they are.
    response = client.post("/users/import", data={"csrf_token": token,
                                                  "file": (io.BytesIO(template.data), "mau.xlsx")},
                           content_type="multipart/form-data", headers=ENGLISH)
    assert response.status_code == 302
    assert "2 accounts created" in client.get("/users/", headers=ENGLISH).get_data(as_text=True)
    assert outbox_count(app) == 2
    nothing = client.post("/users/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert nothing.status_code == 422


def test_the_sign_in_page_links_to_forgot_password(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in page
    forgot = client.get("/password/forgot")
    assert forgot.status_code == 200 and 'name="email"' in forgot.get_data(as_text=True)
