"""Endpoints and contacts as spreadsheets: template, all-or-nothing import (page and API), export,
formula safety and scope."""
from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from factories import csrf_from, login

SLUG = "nd49-2024"
KH, NHA_TRANG, CAM_RANH, VINH_PHUOC, HA_NOI, BA_DINH = "56", "568", "569", "22333", "01", "001"
# The first template's layout (2024): files of that time must keep importing.
HEADERS = ["Mã đơn vị", "Tên điểm cầu", "Địa chỉ", "Giao thức", "Địa chỉ kết nối", "Họ và tên", "Chức vụ",
           "Số điện thoại", "Thư điện tử", "Vai trò"]
# The template's layout now: the unit's name beside its code, attendance, the focal mark.
TEMPLATE = ["Mã đơn vị", "Tên đơn vị", "Tên điểm cầu", "Địa chỉ", "Giao thức", "Địa chỉ kết nối", "Số người dự kiến",
            "Họ và tên", "Chức vụ", "Số điện thoại", "Thư điện tử", "Vai trò", "Đầu mối tỉnh"]
EN = {"Accept-Language": "en"}

GOOD_ROWS = [
    [KH, "Hội trường Sở TT&TT Khánh Hòa", "Số 135 Thống Nhất, TP. Nha Trang", "sip", "diemcau-kh@10.56.0.10",
     "Nguyễn Văn A", "Phó Giám đốc Sở", "0913 123 456", "nva@khanhhoa.gov.vn", "Chủ trì"],
    [KH, "", "", "", "", "Đỗ Thị Hồng Anh", "Chuyên viên", "0258.3563535", "", "Kỹ thuật"],
    # Excel dropped the leading 0 of a number typed into a General cell: openpyxl gives an int.
    [NHA_TRANG, "Hội trường UBND TP Nha Trang", "", "h323", "10.56.8.1", "Lê Văn C", "", 905111222, "", "technical"],
    [VINH_PHUOC, "UBND phường Vĩnh Phước", "", "webrtc", "https://meet.khanhhoa.gov.vn/vinhphuoc", "Phạm D", "",
     "0987654321", "", "chair"],
]


def xlsx(rows, headers=HEADERS) -> bytes:
    from coordinator.spreadsheets.safe import write_xlsx  # text cells stay text ("=..." included), ints stay ints

    return write_xlsx(headers, rows)


def csv_file(rows, delimiter=",", bom=True, headers=HEADERS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([["" if v is None else str(v) for v in r] for r in rows])
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


@pytest.fixture()
def people(make_user, token_for, nd49):
    make_user("kh@example.gov.vn", "coordinator", KH)
    make_user("hn@example.gov.vn", "coordinator", HA_NOI)
    make_user("org@example.gov.vn", "organizer")
    make_user("op@example.gov.vn", "operator")
    return {name: token_for(f"{name}@example.gov.vn") for name in ("kh", "hn", "org", "op")}


def api_import(client, headers, data: bytes, name="diem-cau.xlsx"):
    return client.post(f"/api/v1/events/{SLUG}/endpoints/import", headers=headers,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def page_import(client, data: bytes, name="diem-cau.xlsx", headers=None):
    token = csrf_from(client.get(f"/events/{SLUG}/import", headers=headers).get_data(as_text=True))
    return client.post(f"/events/{SLUG}/import", headers=headers, content_type="multipart/form-data",
                       data={"csrf_token": token, "file": (io.BytesIO(data), name)})


def snapshot(app):
    """Every endpoint and contact row with its timestamps: what "nothing changed" compares."""
    from sqlalchemy import select

    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.extensions import db

    with app.app_context():
        endpoints = db.session.execute(select(Endpoint.id, Endpoint.unit_id, Endpoint.name, Endpoint.protocol,
                                              Endpoint.dial, Endpoint.updated_at).order_by(Endpoint.id)).all()
        contacts = db.session.execute(select(Contact.id, Contact.endpoint_id, Contact.name, Contact.phone,
                                             Contact.phone_type, Contact.role, Contact.updated_at)
                                      .order_by(Contact.id)).all()
        return [tuple(r) for r in endpoints], [tuple(r) for r in contacts]


def contacts_by_name(app):
    from sqlalchemy import select

    from coordinator.endpoints.models import Contact
    from coordinator.extensions import db

    with app.app_context():
        return {c.name: (c.endpoint.unit.code, c.phone, c.phone_type, c.role)
                for c in db.session.scalars(select(Contact))}


# --- template --------------------------------------------------------------------------------------

def test_template_has_the_columns_in_order_on_the_first_sheet(client, people):
    response = client.get(f"/events/{SLUG}/endpoints/template.xlsx", headers=people["org"])
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["Điểm cầu", "Hướng dẫn"]
    sheet = wb.worksheets[0]
    assert [c.value for c in sheet[1]] == TEMPLATE
    assert all(c.font.b for c in sheet[1]) and sheet.freeze_panes == "A2"
    phone = chr(ord("A") + TEMPLATE.index("Số điện thoại"))
    assert sheet.column_dimensions["A"].number_format == "@" and sheet.column_dimensions[phone].number_format == "@"
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [KH, KH]  # two example rows
    guide = " ".join(str(c.value) for row in wb.worksheets[1].iter_rows() for c in row if c.value)
    assert all(word in guide for word in ("sip", "h323", "webrtc", "Chủ trì", "Kỹ thuật", "Tham dự", "SĐT"))

    csv_response = client.get(f"/events/{SLUG}/endpoints/template.csv", headers=people["org"])
    assert csv_response.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset, not two
    text = csv_response.data.decode("utf-8")
    assert text.startswith("\ufeff") and text[1:].splitlines()[0] == ",".join(TEMPLATE)


def test_the_template_as_downloaded_is_refused_for_its_example_rows(client, people):
    template = client.get(f"/events/{SLUG}/endpoints/template.xlsx", headers=people["org"]).data
    response = api_import(client, {**people["org"], **EN}, template)
    assert response.status_code == 422
    assert [(d["row"], "example row" in d["message"]) for d in response.get_json()["error"]["details"]] == [
        (2, True), (3, True)]
    # The first template's example rows (a file downloaded before) are refused too.
    from coordinator.imports.endpoints_io import EXAMPLE_ROWS

    response = api_import(client, {**people["org"], **EN}, xlsx([list(r) for r in EXAMPLE_ROWS]))
    assert [(d["row"], "example row" in d["message"]) for d in response.get_json()["error"]["details"]] == [
        (2, True), (3, True)]
    # A coordinator's template lists its units, without examples: as downloaded, it holds nothing to save.
    prefilled = client.get(f"/events/{SLUG}/endpoints/template.xlsx", headers=people["kh"]).data
    response = api_import(client, {**people["kh"], **EN}, prefilled)
    assert response.status_code == 422
    assert "no rows below the header" in response.get_json()["error"]["details"][0]["message"]


# --- import ----------------------------------------------------------------------------------------

def test_xlsx_import_creates_endpoints_and_contacts_and_again_changes_nothing(client, people, app):
    login(client, "kh@example.gov.vn")
    response = page_import(client, xlsx(GOOD_ROWS), headers=EN)
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "7 created, 0 updated, 0 unchanged" in page  # 3 endpoints + 4 contacts

    assert contacts_by_name(app) == {
        "Nguyễn Văn A": (KH, "+84913123456", "mobile", "chair"),
        "Đỗ Thị Hồng Anh": (KH, "+842583563535", "fixed", "technical"),
        "Lê Văn C": (NHA_TRANG, "+84905111222", "mobile", "technical"),
        "Phạm D": (VINH_PHUOC, "+84987654321", "mobile", "chair"),
    }
    endpoints, _ = before = snapshot(app)
    assert [(e[2], e[3], e[4]) for e in endpoints] == [
        ("Hội trường Sở TT&TT Khánh Hòa", "sip", "sip:diemcau-kh@10.56.0.10"),
        ("Hội trường UBND TP Nha Trang", "h323", "10.56.8.1"),
        ("UBND phường Vĩnh Phước", "webrtc", "https://meet.khanhhoa.gov.vn/vinhphuoc")]

    again = page_import(client, xlsx(GOOD_ROWS), headers=EN)
    page = client.get(again.headers["Location"], headers=EN).get_data(as_text=True)
    assert "0 created, 0 updated, 7 unchanged" in page
    assert snapshot(app) == before  # not one row written, not one updated_at moved


def test_a_changed_row_updates_only_what_changed(client, people, app):
    api_import(client, people["kh"], xlsx(GOOD_ROWS))
    before_endpoints, before_contacts = snapshot(app)
    rows = [list(r) for r in GOOD_ROWS]
    rows[1][6] = "Trưởng phòng"  # a position changes
    rows[2][1] = "Phòng họp trực tuyến UBND TP Nha Trang"  # an endpoint is renamed
    rows.append([CAM_RANH, "UBND TP Cam Ranh", "", "", "", "", "", "", "", ""])  # an endpoint without people
    # The row of 56's chair is left out: 56's only row names no endpoint fields, so its endpoint stays.
    body = api_import(client, people["kh"], xlsx(rows[1:])).get_json()
    assert body == {"created": 1, "updated": 2, "unchanged": 4,
                    "endpoints": {"created": 1, "updated": 1, "unchanged": 2},
                    "contacts": {"created": 0, "updated": 1, "unchanged": 2}}
    endpoints, contacts = snapshot(app)
    assert len(contacts) == 4  # the contact not in the file is kept
    changed = {c[2] for c, b in zip(contacts, before_contacts) if c != b}
    assert changed == {"Đỗ Thị Hồng Anh"}
    assert [e[2] for e, b in zip(endpoints, before_endpoints) if e != b] == ["Phòng họp trực tuyến UBND TP Nha Trang"]


BAD_ROWS = [
    [KH, "Hội trường Sở", "", "sip", "diemcau@10.56.0.10", "Nguyễn Văn A", "", "0913 123 456", "", "chair"],  # row 2 ok
    [KH, "", "", "", "", "Trần B", "", "058.3563535", "", "technical"],  # 3: pre-2017 area code
    [NHA_TRANG, "UBND TP Nha Trang", "", "h323", "10.56.8.1", "Lê C", "", "0236.3822.xxx", "", "technical"],  # 4
    ["99999", "Không có", "", "", "", "", "", "", "", ""],  # 5: no such unit
    [BA_DINH, "UBND quận Ba Đình", "", "sip", "sip:badinh@10.1.0.1", "Hà E", "", "0912 000 001", "", "chair"],  # 6
    [CAM_RANH, "UBND TP Cam Ranh", "", "skype", "", "Võ F", "", "0912 000 002", "", "chair"],  # 7: protocol
    [KH, "Phòng họp khác", "", "", "", "Ngô G", "", "0912 000 003", "", "attendee"],  # 8: differs from row 2
    [KH, "", "", "", "", "Đinh H", "", "0913123456", "", "attendee"],  # 9: same phone as row 2 for 56
]
EXPECTED_ERRORS = [
    (3, "Số điện thoại", "before 2017"),
    (4, "Số điện thoại", "contains letters"),
    (5, "Mã đơn vị", "no unit with code '99999'"),
    (6, "Mã đơn vị", "outside your area"),
    (7, "Giao thức", "unknown protocol 'skype'"),
    (8, "Tên điểm cầu", "differs from row 2"),
    (9, "Số điện thoại", "row 2"),
]


def assert_expected_errors(details):
    found = [(d["row"], d["column"], d["message"]) for d in details]
    for row, column, fragment in EXPECTED_ERRORS:
        assert any(r == row and c == column and fragment in m for r, c, m in found), (row, column, fragment, found)
    assert {r for r, _, _ in found} == {row for row, _, _ in EXPECTED_ERRORS}  # row 2 itself is fine


def test_a_file_with_errors_lists_every_one_and_saves_nothing(client, people, app):
    api_import(client, people["kh"], xlsx(GOOD_ROWS[:2]))
    before = snapshot(app)
    response = api_import(client, {**people["kh"], **EN}, xlsx(BAD_ROWS))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and isinstance(error["details"], list)
    assert_expected_errors(error["details"])
    assert snapshot(app) == before


def test_the_upload_page_shows_the_errors_in_a_table(client, people, app):
    login(client, "kh@example.gov.vn")
    response = page_import(client, xlsx(BAD_ROWS), name="Danh sách điểm cầu.xlsx", headers=EN)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was saved" in html and "Danh sách điểm cầu.xlsx" in html
    cells = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>(?:[A-Z]+ · )?([^<]*)</td>\s*<td>([^<]*)</td>", html)
    import html as html_lib

    assert_expected_errors([{"row": int(r), "column": c, "message": html_lib.unescape(m)} for r, c, m in cells])
    assert snapshot(app) == ([], [])


def test_errors_are_in_vietnamese_by_default(client, people):
    response = api_import(client, people["kh"], xlsx([["99999", "X", "", "", "", "", "", "", "", ""]]))
    detail = response.get_json()["error"]["details"][0]
    assert detail["row"] == 2 and detail["column"] == "Mã đơn vị" and "99999" in detail["message"]


@pytest.mark.parametrize("delimiter,bom", [(",", True), (";", True), (";", False)])
def test_csv_import(client, people, app, delimiter, bom):
    response = api_import(client, people["kh"], csv_file(GOOD_ROWS, delimiter, bom), name="diem-cau.csv")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["endpoints"]["created"] == 3 and response.get_json()["contacts"]["created"] == 4
    assert contacts_by_name(app)["Lê Văn C"] == (NHA_TRANG, "+84905111222", "mobile", "technical")
    # the same rows as .xlsx: the same endpoints and contacts
    assert api_import(client, people["kh"], xlsx(GOOD_ROWS)).get_json()["unchanged"] == 7


def test_csv_errors_too(client, people, app):
    response = api_import(client, {**people["kh"], **EN}, csv_file(BAD_ROWS, ";"), name="x.csv")
    assert response.status_code == 422
    assert_expected_errors(response.get_json()["error"]["details"])
    assert snapshot(app) == ([], [])


@pytest.mark.parametrize("name,data,fragment", [
    ("list.pdf", b"%PDF-1.4", "not an .xlsx or .csv file"),
    ("list.xlsx", b"not a zip", "could not be read as an Excel workbook"),
    ("list.csv", b"M\xe3 \xf0\xf5n v\xef;T\xean\r\n", "not in UTF-8"),  # Windows-1258, as old Excel saves
])
def test_unreadable_files(client, people, name, data, fragment):
    response = api_import(client, {**people["kh"], **EN}, data, name=name)
    assert response.status_code == 422
    [detail] = response.get_json()["error"]["details"]
    assert detail["row"] is None and detail["column"] is None and fragment in detail["message"]


def test_what_excel_does_to_numbers_and_sizes(client, people, app):
    import zipfile

    rows = [[int(KH), "Hội trường", "", "", "", "Nguyễn Văn A", "", 913123456.0, "", "Chủ trì"],  # 56 is fine
            [1, "UBND", "", "", "", "", "", "", "", ""]]  # "01"? "001"? "00001"? cannot be told
    response = api_import(client, {**people["kh"], **EN}, xlsx(rows))
    [detail] = response.get_json()["error"]["details"]
    assert detail["row"] == 3 and "leading zeros" in detail["message"]
    # A file that declares a smaller size than it has (some programs do) is read whole.
    data = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx(rows[:1] + GOOD_ROWS[2:]))) as zin, zipfile.ZipFile(data, "w") as zout:
        for item in zin.infolist():
            body = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body, n = re.subn(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:B2"', body)
                assert n == 1
            zout.writestr(item, body)
    body = api_import(client, people["kh"], data.getvalue()).get_json()
    assert body["contacts"]["created"] == 3, body
    assert contacts_by_name(app)["Nguyễn Văn A"][1] == "+84913123456"
    # A header without rows is refused.
    response = api_import(client, {**people["kh"], **EN}, xlsx([]))
    assert response.status_code == 422 and "no rows" in response.get_json()["error"]["details"][0]["message"]


def test_columns_in_another_order_are_read_by_their_headers(client, people, app):
    order = [7, 0, 5, 9, 1, 2, 3, 4, 6, 8]  # phone first, the unit code second, …
    headers = [HEADERS[i] for i in order]
    rows = [[r[i] for i in order] for r in GOOD_ROWS]
    response = api_import(client, people["kh"], xlsx(rows, headers=headers))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == 7
    assert contacts_by_name(app)["Lê Văn C"] == (NHA_TRANG, "+84905111222", "mobile", "technical")
    # English headers (and decorations such as "(*)") are fine, and it is the same file.
    english = ["Unit code", "Endpoint name", "Address", "Protocol", "Dial address", "Contact name (*)",
               "Contact position", "Contact phone", "Contact email", "Contact role"]
    assert api_import(client, people["kh"], xlsx(GOOD_ROWS, headers=english)).get_json()["unchanged"] == 7


def test_organizer_imports_for_any_province(client, people, app):
    rows = GOOD_ROWS + [[HA_NOI, "Hội trường Sở TT&TT Hà Nội", "", "sip", "sip:hn@10.1.0.1", "Hà E", "",
                         "0912 000 001", "", "technical"]]
    response = api_import(client, people["org"], xlsx(rows))
    assert response.status_code == 200 and response.get_json()["endpoints"]["created"] == 4


def test_who_may_import(client, people, app):
    assert api_import(client, people["op"], xlsx(GOOD_ROWS)).status_code == 403
    assert api_import(client, {"Authorization": "Bearer wrong"}, xlsx(GOOD_ROWS)).status_code == 401
    assert api_import(client, people["kh"], xlsx(GOOD_ROWS)).status_code == 200
    assert client.post("/api/v1/events/no-such/endpoints/import", headers=people["kh"],
                       data={"file": (io.BytesIO(xlsx(GOOD_ROWS)), "x.xlsx")}).status_code == 404
    missing = client.post(f"/api/v1/events/{SLUG}/endpoints/import", headers=people["kh"], data={},
                          content_type="multipart/form-data")
    assert missing.status_code == 422 and missing.get_json()["error"]["details"][0]["row"] is None
    # pages: the operator may download, not upload
    login(client, "op@example.gov.vn")
    assert client.get(f"/events/{SLUG}/import").status_code == 403
    assert client.get(f"/events/{SLUG}/endpoints/export.xlsx").status_code == 200
    assert client.get(f"/events/{SLUG}/endpoints/export.ods").status_code == 404


def test_a_browser_calling_the_api_sends_the_csrf_header(client, people):
    login(client, "kh@example.gov.vn")
    data = {"file": (io.BytesIO(xlsx(GOOD_ROWS)), "x.xlsx")}
    assert client.post(f"/api/v1/events/{SLUG}/endpoints/import", data=data).status_code == 400
    token = csrf_from(client.get(f"/events/{SLUG}/import").get_data(as_text=True))
    data = {"file": (io.BytesIO(xlsx(GOOD_ROWS)), "x.xlsx")}
    response = client.post(f"/api/v1/events/{SLUG}/endpoints/import", data=data, headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_the_page_refuses_an_upload_without_file_or_csrf_token(client, people):
    login(client, "kh@example.gov.vn")
    page = client.get(f"/events/{SLUG}/import").get_data(as_text=True)
    assert client.post(f"/events/{SLUG}/import", data={"csrf_token": csrf_from(page)},
                       content_type="multipart/form-data").status_code == 422
    assert client.post(f"/events/{SLUG}/import", data={"file": (io.BytesIO(xlsx(GOOD_ROWS)), "x.xlsx")},
                       content_type="multipart/form-data").status_code == 400


def test_a_too_large_file_is_refused(client, people, app):
    login(client, "kh@example.gov.vn")
    limit = app.config["MAX_CONTENT_LENGTH"]
    try:
        app.config["MAX_CONTENT_LENGTH"] = 50_000
        response = page_import(client, b"x" * 60_000, name="big.csv")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 413


def test_closed_registration_refuses_the_rows_of_its_tier(client, people, app):
    from coordinator.deadlines.services import set_closed
    from coordinator.events.services import get_event

    with app.app_context():
        set_closed(get_event(SLUG).deadlines[0], True)  # focal contacts of provinces
    response = api_import(client, {**people["kh"], **EN}, xlsx(GOOD_ROWS))
    assert response.status_code == 422
    assert [(d["row"], d["column"]) for d in response.get_json()["error"]["details"]] == [
        (2, "Mã đơn vị"), (3, "Mã đơn vị")]
    assert "closed registration" in response.get_json()["error"]["details"][0]["message"]
    assert api_import(client, people["kh"], xlsx(GOOD_ROWS[2:])).status_code == 200  # other tiers


def test_deadline_fulfilment_and_one_audit_entry(client, people, app):
    from coordinator.audit.services import recent
    from coordinator.deadlines.services import fulfilment_map
    from coordinator.events.services import get_event

    api_import(client, people["kh"], xlsx(GOOD_ROWS), name="Khánh Hòa.xlsx")
    api_import(client, people["kh"], xlsx(GOOD_ROWS), name="Khánh Hòa.xlsx")
    with app.app_context():
        deadline = get_event(SLUG).deadlines[0]  # provincial focal contacts, due 20/06/2024: long past
        [row] = fulfilment_map(deadline).values()
        assert row.unit.code == KH and row.fulfilled_at is not None and row.late
        entries = [e for e in recent() if e.action == "endpoints.import"]
    assert len(entries) == 2 and entries[0].actor_label == "kh@example.gov.vn"
    assert entries[1].details["filename"] == "Khánh Hòa.xlsx"
    assert entries[1].details["contacts"] == {"created": 4, "updated": 0, "unchanged": 0}
    assert entries[0].details["contacts"] == {"created": 0, "updated": 0, "unchanged": 4}


def test_a_hosted_commune_that_registers_its_own_endpoint_stops_being_hosted(client, people, app):
    from sqlalchemy import select

    from coordinator.endpoints.models import HostedUnit
    from coordinator.extensions import db

    district = client.post(f"/api/v1/events/{SLUG}/endpoints", headers=people["kh"], json={
        "unit_code": "568", "name": "Hội trường UBND TP Nha Trang", "hosted_unit_codes": [VINH_PHUOC]})
    assert district.status_code == 201, district.get_json()
    response = api_import(client, people["kh"], xlsx([GOOD_ROWS[3]]))
    assert response.get_json()["endpoints"] == {"created": 1, "updated": 0, "unchanged": 0}
    with app.app_context():
        assert db.session.scalars(select(HostedUnit)).all() == []


# --- export ----------------------------------------------------------------------------------------

def test_export_round_trip(client, people, app):
    api_import(client, people["kh"], xlsx(GOOD_ROWS))
    before = snapshot(app)
    exported = client.get(f"/events/{SLUG}/endpoints/export.xlsx", headers=people["kh"])
    assert exported.status_code == 200
    # the Vietnamese name, RFC 5987
    assert "filename*=UTF-8''Danh%20s%C3%A1ch" in exported.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(exported.data)).worksheets[0]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0] == TEMPLATE
    assert [r[0] for r in rows[1:]] == [KH, KH, NHA_TRANG, VINH_PHUOC]
    assert [r[1] for r in rows[1:]] == ["Tỉnh Khánh Hòa", "Tỉnh Khánh Hòa", "Thành phố Nha Trang", "Phường Vĩnh Phước"]
    assert [r[TEMPLATE.index("Số điện thoại")] for r in rows[1:]] == [
        "0913 123 456", "0258 3563 535", "0905 111 222", "0987 654 321"]
    assert api_import(client, people["kh"], exported.data).get_json()["unchanged"] == 7

    exported_csv = client.get(f"/events/{SLUG}/endpoints/export.csv", headers=people["kh"])
    assert exported_csv.data.startswith("\ufeff".encode())
    assert exported_csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    body = api_import(client, people["kh"], exported_csv.data, name="export.csv").get_json()
    assert body["created"] == body["updated"] == 0 and body["unchanged"] == 7
    assert snapshot(app) == before


FORMULAS = ['=HYPERLINK("http://evil.example","bấm vào đây")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]
NOT_FORMULAS = ["+cmd", "- ghi chú", "@nguyenvana"]  # begin like one, are words: kept, and escaped on export


def test_formulas_are_refused_and_what_only_starts_like_one_is_exported_safely(client, people, app):
    rows = [[KH, "Hội trường", FORMULAS[1], "sip", "kh@10.56.0.10", FORMULAS[0], FORMULAS[2], "0913 123 456", "",
             "chair"],
            [KH, "", "", "", "", FORMULAS[3], "", "0913 123 457", "", "attendee"]]
    response = api_import(client, {**people["kh"], **EN}, xlsx(rows))
    assert response.status_code == 422
    found = [(d["row"], d["letter"], d["column"], "would be run as a formula" in d["message"])
             for d in response.get_json()["error"]["details"]]
    assert found == [(2, "C", "Địa chỉ", True), (2, "F", "Họ và tên", True), (2, "G", "Chức vụ", True),
                     (3, "F", "Họ và tên", True)]
    assert snapshot(app) == ([], [])

    rows = [[KH, "Hội trường", NOT_FORMULAS[0], "sip", "kh@10.56.0.10", "Nguyễn Văn A", NOT_FORMULAS[1],
             "+84 913 123 456", "", "chair"],
            [KH, "", "", "", "", NOT_FORMULAS[2], "", "0913 123 457", "", "attendee"]]
    assert api_import(client, people["kh"], xlsx(rows)).status_code == 200
    # Values stored before formulas were refused are still written safely.
    from sqlalchemy import update

    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.extensions import db

    with app.app_context():
        db.session.execute(update(Endpoint).values(address=FORMULAS[3]))
        db.session.execute(update(Contact).where(Contact.name == "Nguyễn Văn A").values(name=FORMULAS[0],
                                                                                          position=FORMULAS[2]))
        db.session.commit()

    values = {NOT_FORMULAS[2], FORMULAS[0], FORMULAS[2], FORMULAS[3]}
    sheet = load_workbook(io.BytesIO(client.get(f"/events/{SLUG}/endpoints/export.xlsx",
                                                headers=people["kh"]).data)).worksheets[0]
    cells = {c.value: c.data_type for r in sheet.iter_rows(min_row=2) for c in r if c.value in values}
    assert cells == {value: "s" for value in values}

    text = client.get(f"/events/{SLUG}/endpoints/export.csv", headers=people["kh"]).data.decode("utf-8-sig")
    cells = [v for r in csv.reader(io.StringIO(text)) for v in r]
    assert all("'" + value in cells for value in values)
    assert not any(v.startswith(("=", "+", "-", "@")) for v in cells)
    # The apostrophes come off on the way back in: what only looked like a formula is unchanged,
    # the old formulas are refused where they are.
    response = api_import(client, {**people["kh"], **EN}, text.encode("utf-8"), name="export.csv")
    assert [(d["row"], d["column"]) for d in response.get_json()["error"]["details"]] == [
        (2, "Địa chỉ"), (2, "Họ và tên"), (2, "Chức vụ"), (3, "Địa chỉ")]
    with app.app_context():
        db.session.execute(update(Endpoint).values(address=NOT_FORMULAS[0]))
        db.session.execute(update(Contact).where(Contact.name == FORMULAS[0]).values(name="Nguyễn Văn A",
                                                                                       position=""))
        db.session.commit()
    text = client.get(f"/events/{SLUG}/endpoints/export.csv", headers=people["kh"]).data
    body = api_import(client, people["kh"], text, name="export.csv").get_json()
    assert body["unchanged"] == 3 and body["updated"] == 0


def test_each_coordinator_exports_only_its_area(client, people, app):
    rows = GOOD_ROWS + [[HA_NOI, "Hội trường Sở TT&TT Hà Nội", "", "", "", "Hà E", "", "0912 000 001", "", "chair"],
                        [BA_DINH, "UBND quận Ba Đình", "", "", "", "", "", "", "", ""]]
    assert api_import(client, people["org"], xlsx(rows)).status_code == 200

    def codes(who, fmt="xlsx"):
        data = client.get(f"/events/{SLUG}/endpoints/export.{fmt}", headers=people[who]).data
        if fmt == "csv":
            return {r[0] for r in list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]}
        return {r[0].value for r in load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(min_row=2)}

    assert codes("kh") == codes("kh", "csv") == {KH, NHA_TRANG, VINH_PHUOC}
    assert codes("hn") == {HA_NOI, BA_DINH}
    assert codes("org") == codes("op") == {KH, NHA_TRANG, VINH_PHUOC, HA_NOI, BA_DINH}


def test_import_page_links_and_explains(client, people):
    login(client, "kh@example.gov.vn")
    html = client.get(f"/events/{SLUG}/import", headers=EN).get_data(as_text=True)
    for path in ("template.xlsx", "template.csv", "export.xlsx", "export.csv"):
        assert f"/events/{SLUG}/endpoints/{path}" in html
    assert all(h in html for h in HEADERS) and 'enctype="multipart/form-data"' in html
    assert "deadline for Province units has passed" in html  # nd49's provincial deadline is in 2024


def test_openapi_documents_the_import(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/events/{slug}/endpoints/import"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"200", "422"} <= set(post["responses"])


def test_deadline_fulfilment_is_what_refresh_would_compute(client, people, app):
    """After an import each unit meets (on time or late) exactly the deadlines it should, and
    recomputing the fulfilment afterwards changes nothing."""
    from datetime import datetime

    from sqlalchemy import select

    from factories import ROOT
    from coordinator.deadlines.models import DeadlineFulfilment
    from coordinator.deadlines.services import refresh
    from coordinator.events.plans import DeadlineSpec, read_plan_file
    from coordinator.events.services import apply_plan, get_event
    from coordinator.extensions import db
    from coordinator.units.models import Unit

    with app.app_context():
        plan = read_plan_file(ROOT / "schedules" / "nd49-2024.toml")
        for tier in ("province", "district", "commune"):
            plan.deadlines.append(DeadlineSpec(kind="endpoints", tier=tier, due_at=datetime(2099, 6, 20)))
        plan.deadlines.append(DeadlineSpec(kind="focal_contacts", tier="district", due_at=datetime(2099, 6, 20)))
        apply_plan(plan)
    communes = [u["code"] for u in client.get("/api/v1/units?structure=2024&parent=568&per_page=100",
                                              headers=people["kh"]).get_json()["items"]]
    hosted = [c for c in communes if c != VINH_PHUOC][:1] + [VINH_PHUOC]
    assert client.post(f"/api/v1/events/{SLUG}/endpoints", headers=people["kh"], json={
        "unit_code": NHA_TRANG, "name": "Hội trường", "hosted_unit_codes": hosted}).status_code == 201

    def fulfilment():
        with app.app_context():
            return {(f.unit.code, d.kind, d.tier): (f.fulfilled_at, f.late)
                    for d in get_event(SLUG).deadlines for f in db.session.scalars(
                        select(DeadlineFulfilment).where(DeadlineFulfilment.deadline_id == d.id))}

    def refreshed():
        with app.app_context():
            units = db.session.scalars(select(Unit).where(Unit.structure == "2024", Unit.path.startswith("/TW/56/")))
            refresh(get_event(SLUG), units)
            db.session.commit()
        return fulfilment()

    rows = [list(r) for r in GOOD_ROWS]
    rows[2][1:5] = ["", "", "", ""]  # 568 has its endpoint: the row only adds a person
    assert api_import(client, people["kh"], xlsx(rows)).status_code == 200
    after = fulfilment()
    assert {k: late for k, (at, late) in after.items() if at} == {
        (KH, "focal_contacts", "province"): True,  # due 20/06/2024
        (KH, "endpoints", "province"): False,
        (NHA_TRANG, "endpoints", "district"): False,
        (NHA_TRANG, "focal_contacts", "district"): False,
        (hosted[0], "endpoints", "commune"): False,  # attends at Nha Trang's endpoint
        (VINH_PHUOC, "endpoints", "commune"): False,  # its own endpoint now
    }
    assert refreshed() == after

    rows[2][9] = "chair"  # Nha Trang's only technical contact becomes its chair
    assert api_import(client, people["kh"], xlsx(rows)).get_json()["contacts"]["updated"] == 1
    after = fulfilment()
    assert after[(NHA_TRANG, "focal_contacts", "district")] == (None, False)
    assert refreshed() == after
