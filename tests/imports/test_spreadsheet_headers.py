"""Spreadsheets as officials write them: headers matched by meaning (case, diacritics and
punctuation folded, usual synonyms), in any order, below a title, on two rows; the optional
"Đầu mối tỉnh" and attendance columns; columns a file lacks leave what is stored; text that would
act as a formula and cells that are formulas refused with their row and column (imports, the
endpoint form, the API); the template pre-filled with a province's units; one charset per CSV.

Every file here is a real one: .xlsx written with openpyxl (merged cells, formula cells), .csv
with Vietnamese headers, with and without a BOM, separated by commas or semicolons."""
from __future__ import annotations

import csv
import io
from html import unescape

import pytest
from openpyxl import Workbook, load_workbook

from factories import form_values, login

SLUG = "nd49-2024"
KH, NHA_TRANG, VINH_PHUOC, HA_NOI = "56", "568", "22333", "01"
EN = {"Accept-Language": "en"}
LEGACY = ["Mã đơn vị", "Tên điểm cầu", "Địa chỉ", "Giao thức", "Địa chỉ kết nối", "Họ và tên", "Chức vụ",
          "Số điện thoại", "Thư điện tử", "Vai trò"]
EXPECTED_CONTACTS = {
    "Nguyễn Văn A": (KH, "+84913123456", "mobile", "chair"),
    "Đỗ Thị Hồng Anh": (KH, "+842583563535", "fixed", "technical"),
    "Lê Văn C": (NHA_TRANG, "+84905111222", "mobile", "technical"),
    "Phạm D": (VINH_PHUOC, "+84987654321", "mobile", "chair"),
}


@pytest.fixture()
def people(make_user, token_for, nd49):
    make_user("kh@example.gov.vn", "coordinator", KH)
    make_user("org@example.gov.vn", "organizer")
    return {name: token_for(f"{name}@example.gov.vn") for name in ("kh", "org")}


def workbook(rows, *, merges=(), text_cells=()) -> bytes:
    """An .xlsx as Excel saves it: a value starting with "=" is a formula cell unless its
    coordinate is in `text_cells` (typed with a leading apostrophe: text)."""
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    for ref in merges:
        ws.merge_cells(ref)
    for ref in text_cells:
        ws[ref].data_type = "s"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows, delimiter=",", bom=True) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def upload(client, headers, data: bytes, name="diem-cau.xlsx"):
    return client.post(f"/api/v1/events/{SLUG}/endpoints/import", headers=headers,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def details(response):
    assert response.status_code == 422, response.get_json()
    return response.get_json()["error"]["details"]


def contacts(app):
    from sqlalchemy import select

    from coordinator.endpoints.models import Contact
    from coordinator.extensions import db

    with app.app_context():
        return {c.name: (c.endpoint.unit.code, c.phone, c.phone_type, c.role) for c in db.session.scalars(select(Contact))}


def stored(app):
    from sqlalchemy import select

    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.extensions import db

    with app.app_context():
        endpoints = {e.unit.code: (e.name, e.address, e.protocol, e.dial, e.expected_attendance)
                     for e in db.session.scalars(select(Endpoint))}
        people = {c.name: (c.role, c.position, c.email, c.focal) for c in db.session.scalars(select(Contact))}
        return endpoints, people


# --- header matching --------------------------------------------------------------------------------

@pytest.mark.parametrize("header,key", [
    ("Họ tên", "contact_name"), ("Họ và tên", "contact_name"), ("Tên cán bộ", "contact_name"),
    ("HỌ VÀ TÊN", "contact_name"), ("Ho va ten", "contact_name"), ("Họ và tên (*)", "contact_name"),
    ("Họ tên cán bộ đầu mối", "contact_name"), ("1. Họ tên", "contact_name"), ("Họ tên:", "contact_name"),
    ("Điện thoại", "contact_phone"), ("Số điện thoại", "contact_phone"), ("SĐT", "contact_phone"),
    ("Di động", "contact_phone"), ("S.Đ.T", "contact_phone"), ("sdt", "contact_phone"),
    ("Số điện thoại liên hệ", "contact_phone"), ("Ðiện thoại", "contact_phone"),  # Icelandic eth for Đ
    ("Email", "contact_email"), ("Thư điện tử", "contact_email"), ("E-mail", "contact_email"),
    ("E-MAIL", "contact_email"), ("Địa chỉ email", "contact_email"),
    ("Mã ĐV", "unit_code"), ("Mã đơn vị", "unit_code"), ("MÃ ĐƠN VỊ (*)", "unit_code"), ("Unit code", "unit_code"),
    ("Tên đơn vị", "unit_name"), ("Đơn vị", "unit_name"),
    ("Tên điểm cầu", "name"), ("Điểm cầu", "name"), ("Phòng họp", "name"),
    ("Địa chỉ", "address"), ("Giao thức", "protocol"), ("Loại kết nối", "protocol"),
    ("Địa chỉ kết nối", "dial"), ("Địa chỉ kết nối (SIP/H.323/link)", "dial"), ("Địa chỉ IP", "dial"),
    ("Chức vụ", "contact_position"), ("Chức danh", "contact_position"),
    ("Vai trò", "contact_role"), ("Đầu mối tỉnh", "focal"), ("Đầu mối", "focal"),
    ("Số người dự kiến", "expected_attendance"), ("Số đại biểu", "expected_attendance"),
])
def test_headers_are_matched_by_meaning(header, key):
    from coordinator.imports.endpoints_io import field_of_header

    assert field_of_header(header) == key


def test_every_synonym_of_the_table_means_its_column():
    from coordinator.imports.endpoints_io import COLUMNS, field_of_header
    from coordinator.text import strip_diacritics

    for column in COLUMNS:
        for header in (column.label, column.english, *column.synonyms):
            for variant in (header, header.upper(), strip_diacritics(header).lower(), f" {header} (*) "):
                assert field_of_header(variant) == column.key, (variant, column.key)


@pytest.mark.parametrize("header,meaning", [
    ("STT", "-"), ("Số TT", "-"), ("Ghi chú", "-"), ("Tỉnh, thành phố", "-"),  # known, nothing to save
    ("Địa chỉ liên hệ", "?"),  # a person's address is not the room's
    ("Zalo", "?"), ("Tên", "?"), ("(1)", "?"), ("", ""),
])
def test_other_headers(header, meaning):
    from coordinator.imports.endpoints_io import field_of_header

    assert field_of_header(header) == meaning


# --- files as officials write them ----------------------------------------------------------------

OFFICIAL_HEADER = ["STT", "Mã ĐV", "Đơn vị", "Họ tên", "SĐT", "E-mail", "Chức danh", "Vai trò", "Điểm cầu",
                   "Giao thức", "Địa chỉ kết nối (SIP/H.323/link)", "Ghi chú"]
OFFICIAL_ROWS = [
    [1, KH, "Tỉnh Khánh Hòa", "Nguyễn Văn A", "0913 123 456", "nva@khanhhoa.gov.vn", "Phó Giám đốc Sở", "Chủ trì",
     "Hội trường Sở TT&TT Khánh Hòa", "SIP", "diemcau-kh@10.56.0.10", "- ghi chú: dự phòng"],
    [2, KH, "Tỉnh Khánh Hòa", "Đỗ Thị Hồng Anh", "0258.3563535", None, "Chuyên viên", "kĩ thuật", None, None, None,
     None],
    # Excel dropped the leading 0 of a number typed into a General cell: openpyxl gives an int.
    [3, NHA_TRANG, "Thành phố Nha Trang", "Lê Văn C", 905111222, None, None, "KỸ THUẬT", "Hội trường UBND TP Nha Trang",
     "H.323", "10.56.8.1", None],
    [4, VINH_PHUOC, "Phường Vĩnh Phước", "Phạm D", "+84 987 654 321", None, None, "chair", "UBND phường Vĩnh Phước",
     "webrtc", "https://meet.khanhhoa.gov.vn/vinhphuoc", None],
]


def test_a_workbook_with_a_title_synonyms_and_another_order_imports(client, people, app):
    rows = [["DANH SÁCH ĐIỂM CẦU VÀ CÁN BỘ ĐẦU MỐI"], ["(Kèm theo Công văn số 123/STTTT-BCVT)"], [],
            OFFICIAL_HEADER, *OFFICIAL_ROWS, [None, "Tổng cộng: 4 người"]]
    response = upload(client, people["kh"], workbook(rows))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["endpoints"]["created"] == 3 and response.get_json()["contacts"]["created"] == 4
    assert contacts(app) == EXPECTED_CONTACTS
    endpoints, people_ = stored(app)
    assert endpoints[KH][2:4] == ("sip", "sip:diemcau-kh@10.56.0.10") and endpoints[NHA_TRANG][2] == "h323"
    # Again: nothing changes.
    assert upload(client, people["kh"], workbook(rows)).get_json()["unchanged"] == 7

    # An error names the row as Excel numbers it and the column's letter in this file.
    bad = [list(r) for r in OFFICIAL_ROWS]
    bad[1][4] = "058.3563535"
    [detail] = details(upload(client, {**people["kh"], **EN}, workbook(rows[:4] + bad)))
    assert (detail["row"], detail["letter"], detail["column"]) == (6, "E", "Số điện thoại")
    assert "before 2017" in detail["message"]


def test_a_two_row_header_with_a_merged_group_and_column_numbers(client, people, app):
    rows = [
        ["Mã đơn vị", "Tên điểm cầu", "Giao thức", "Cán bộ đầu mối", None, None, "Ghi chú"],
        [None, None, None, "Họ và tên", "Điện thoại di động", "Thư điện tử", None],
        ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)"],
        [NHA_TRANG, "Hội trường UBND TP Nha Trang", "h323", "Lê Văn C", "0905 111 222", "", ""],
        [VINH_PHUOC, "UBND phường Vĩnh Phước", "webrtc", "Phạm D", "0987654321", "pd@khanhhoa.gov.vn", ""],
    ]
    data = workbook(rows, merges=("A1:A2", "B1:B2", "C1:C2", "D1:F1", "G1:G2"))
    response = upload(client, people["kh"], data)
    assert response.status_code == 200, response.get_json()
    assert contacts(app) == {k: v[:3] + ("attendee",) for k, v in EXPECTED_CONTACTS.items() if v[0] != KH}
    rows[4][4] = "0893 123 456"  # an unallocated mobile prefix
    [detail] = details(upload(client, {**people["kh"], **EN}, workbook(rows, merges=("D1:F1",))))
    assert (detail["row"], detail["letter"], detail["column"]) == (5, "E", "Số điện thoại")
    assert "0893" in detail["message"] and "area code" not in detail["message"]


@pytest.mark.parametrize("delimiter,bom", [(",", True), (",", False), (";", True), (";", False)])
def test_csv_with_vietnamese_headers_as_excel_saves_it(client, people, app, delimiter, bom):
    width = len(OFFICIAL_HEADER)
    title = ["Danh sách điểm cầu, cán bộ đầu mối tỉnh Khánh Hòa"] + [""] * (width - 1)  # Excel pads the lines
    rows = [title, OFFICIAL_HEADER, *[["" if v is None else str(v) for v in r] for r in OFFICIAL_ROWS]]
    rows[4][4] = "0905111222"  # as text in a CSV
    response = upload(client, people["kh"], csv_bytes(rows, delimiter, bom), name="Danh sách.csv")
    assert response.status_code == 200, response.get_json()
    assert contacts(app) == EXPECTED_CONTACTS


def test_csv_headers_without_diacritics_in_capitals(client, people, app):
    header = ["MA DON VI", "TEN DIEM CAU", "HO TEN", "SO DIEN THOAI", "VAI TRO", "DAU MOI TINH"]
    rows = [header, [KH, "Hội trường Sở", "Nguyễn Văn A", "0913 123 456", "Chủ trì", ""],
            [KH, "", "Đỗ Thị Hồng Anh", "0258 3563 535", "Kỹ thuật", "x"]]
    response = upload(client, people["kh"], csv_bytes(rows, ";", bom=False), name="dm.csv")
    assert response.status_code == 200, response.get_json()
    assert stored(app)[1]["Đỗ Thị Hồng Anh"] == ("technical", "", "", True)


def test_the_first_templates_layout_still_imports(client, people, app):
    from coordinator.imports.endpoints_io import HEADERS

    assert list(HEADERS) == LEGACY
    rows = [LEGACY, [KH, "Hội trường Sở", "", "sip", "kh@10.56.0.10", "Nguyễn Văn A", "", "0913 123 456", "", "Chủ trì"]]
    assert upload(client, people["kh"], workbook(rows)).status_code == 200


# --- header errors ---------------------------------------------------------------------------------

def test_each_unknown_header_gets_one_error_listing_the_expected_ones(client, people, app):
    header = LEGACY[:5] + ["Zalo"] + LEGACY[5:] + ["Tên phòng ban"]
    rows = [["DANH SÁCH"], header, [KH, "Hội trường", "", "", "", "x", "A", "", "0913 123 456", "", "", "y"],
            ["99999", "", "", "skype", "", "", "", "", "bad", "", "", ""]]  # rows are not checked
    found = details(upload(client, {**people["kh"], **EN}, workbook(rows)))
    assert [(d["row"], d["letter"], d["column"]) for d in found] == [(2, "F", "Zalo"), (2, "L", "Tên phòng ban")]
    assert all("is not a column of the template" in d["message"] and "Mã đơn vị, Tên đơn vị, Tên điểm cầu" in d["message"]
               and "Đầu mối tỉnh" in d["message"] for d in found)
    # In Vietnamese by default, listing the Vietnamese headers.
    [first, _] = details(upload(client, people["kh"], workbook(rows)))
    assert "Số điện thoại" in first["message"] and "Zalo" in first["message"]
    assert stored(app) == ({}, {})


def test_missing_required_headers_are_one_error_naming_them(client, people):
    rows = [["STT", "Mã đơn vị", "Họ tên", "Chức vụ"], [1, KH, "Nguyễn Văn A", "Giám đốc"]]
    [detail] = details(upload(client, {**people["kh"], **EN}, workbook(rows)))
    assert detail["row"] == 1 and detail["column"] is None
    assert "lacks the column(s) Tên điểm cầu, Số điện thoại" in detail["message"]
    # A header naming one known column: its other cells are unknown, the required ones missing.
    unknown, missing = details(upload(client, {**people["kh"], **EN}, workbook([["Mã đơn vị", "Phòng"], [KH, "x"]])))
    assert (unknown["row"], unknown["letter"], unknown["column"]) == (1, "B", "Phòng")
    assert "Mã đơn vị" in unknown["message"] and "lacks the column(s) Tên điểm cầu" in missing["message"]
    # A file without any header row says so once, with the headers it expects.
    rows = [[], ["Danh sách"], [KH, "Hội trường", "", "sip", "", "Nguyễn Văn A", "", "0913 123 456", "", "Chủ trì"]]
    [detail] = details(upload(client, {**people["kh"], **EN}, workbook(rows)))
    assert detail["row"] == 2 and detail["column"] is None and "no header row" in detail["message"]
    assert "Mã đơn vị, Tên đơn vị" in detail["message"]


def test_a_column_twice_and_values_without_a_header(client, people):
    rows = [LEGACY + ["Di động"], [KH, "Hội trường", "", "", "", "A", "", "0913 123 456", "", "", "0913 123 457"]]
    [detail] = details(upload(client, {**people["kh"], **EN}, workbook(rows)))
    assert (detail["row"], detail["letter"], detail["column"]) == (1, "K", "Số điện thoại")
    assert "same column as H ('Số điện thoại')" in detail["message"]

    rows = [LEGACY, [KH, "Hội trường", "", "", "", "A", "", "0913 123 456", "", "", ""],
            [KH, "", "", "", "", "B", "", "0913 123 457", "", "", "", "", "ghi chú lạc"]]
    [detail] = details(upload(client, {**people["kh"], **EN}, workbook(rows)))
    assert (detail["row"], detail["letter"], detail["column"]) == (3, "M", None)
    assert "values but no header" in detail["message"]


# --- the focal and attendance columns; columns a file lacks ------------------------------------------

def test_focal_and_attendance_columns(client, people, app):
    header = ["Mã đơn vị", "Tên điểm cầu", "Số người dự", "Họ và tên", "Số điện thoại", "Vai trò", "Đầu mối tỉnh"]
    rows = [header, [KH, "Hội trường Sở", 30, "Nguyễn Văn A", "0913 123 456", "Chủ trì", ""],
            [KH, "", "", "Đỗ Thị Hồng Anh", "0258 3563 535", "Kỹ thuật", "Có"],
            [NHA_TRANG, "Hội trường UBND", "", "Lê Văn C", "0905 111 222", "Kỹ thuật", "x"]]
    assert upload(client, people["kh"], workbook(rows)).status_code == 200
    endpoints, people_ = stored(app)
    assert endpoints[KH][4] == 30 and endpoints[NHA_TRANG][4] is None
    assert {name: p[3] for name, p in people_.items()} == {"Nguyễn Văn A": False, "Đỗ Thị Hồng Anh": True,
                                                           "Lê Văn C": True}
    # Exported with the mark, and the export imports unchanged.
    export = client.get(f"/events/{SLUG}/endpoints/export.xlsx", headers=people["kh"]).data
    sheet = [list(r) for r in load_workbook(io.BytesIO(export)).worksheets[0].iter_rows(values_only=True)]
    focal, attendance = sheet[0].index("Đầu mối tỉnh"), sheet[0].index("Số người dự kiến")
    assert [r[focal] for r in sheet[1:]] == [None, "Có", "Có"] and sheet[1][attendance] == 30
    assert upload(client, people["kh"], export).get_json()["unchanged"] == 5

    # Not yes or no: refused in that column.
    rows[2][6] = "có thể"
    [detail] = details(upload(client, {**people["kh"], **EN}, workbook(rows)))
    assert (detail["row"], detail["letter"], detail["column"]) == (3, "G", "Đầu mối tỉnh")
    assert "not yes or no" in detail["message"]
    rows[2][6] = "Có"
    rows[1][2] = "ba mươi"
    [detail] = details(upload(client, {**people["kh"], **EN}, workbook(rows)))
    assert (detail["row"], detail["column"]) == (2, "Số người dự kiến") and "whole number" in detail["message"]


def test_a_column_the_file_lacks_keeps_what_is_stored(client, people, app):
    full = [LEGACY + ["Đầu mối tỉnh"],
            [KH, "Hội trường Sở", "Số 1 Trần Phú", "sip", "kh@10.56.0.10", "Nguyễn Văn A", "Giám đốc",
             "0913 123 456", "nva@khanhhoa.gov.vn", "Chủ trì", ""],
            [KH, "", "", "", "", "Đỗ Thị Hồng Anh", "Chuyên viên", "0258 3563 535", "", "Kỹ thuật", "Có"]]
    assert upload(client, people["kh"], workbook(full)).status_code == 200
    before_endpoints, before_people = stored(app)
    # Only the unit, the room and the people's names and phones: the room is renamed, nothing else moves.
    short = [["Mã đơn vị", "Tên điểm cầu", "Họ và tên", "Số điện thoại"],
             [KH, "Phòng họp trực tuyến Sở", "Nguyễn Văn A", "0913 123 456"],
             [KH, "", "Đỗ Thị Hồng Anh", "0258 3563 535"],
             [KH, "", "Trần Mới", "0905 000 111"]]
    body = upload(client, people["kh"], workbook(short)).get_json()
    assert body["endpoints"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert body["contacts"] == {"created": 1, "updated": 0, "unchanged": 2}
    endpoints, people_ = stored(app)
    assert endpoints[KH] == ("Phòng họp trực tuyến Sở",) + before_endpoints[KH][1:]
    assert {k: v for k, v in people_.items() if k != "Trần Mới"} == before_people  # roles, focal mark kept
    assert people_["Trần Mới"] == ("attendee", "", "", False)


# --- formulas --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '=HYPERLINK("http://evil.example","bấm vào đây")', "=A1", "=1", " =SUM(A1:A3)", "\t=A1",
    "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "+1*A1", "-A1", "+Sheet1!B2",
    "- SUM(1)", "-(1+2)", "+$A$1", "=ghi chú",
])
def test_looks_like_a_formula(text):
    from coordinator.text import looks_like_formula

    assert looks_like_formula(text)


@pytest.mark.parametrize("text", [
    "", "-", "+", "=", "@", "=====", "- ghi chú", "-ghi chú", "+ thêm 2 người", "-- ghi chú --", "- 2 người",
    "+84 913 123 456", "+84-913-123-456", "+84913123456", "-5", "+1", "@nguyenvana", "@ UBND", "+cmd",
    "- Nguyễn(A)", "Nguyễn Văn A", "0913 123 456", "sip:diemcau@10.0.0.5",
])
def test_does_not_look_like_a_formula(text):
    from coordinator.text import looks_like_formula

    assert not looks_like_formula(text)


def test_formula_cells_and_formula_text_are_refused_with_row_and_column(client, people, app):
    rows = [["STT"] + LEGACY,
            ["=ROW()-1", KH, "Hội trường", "", "sip", "kh@10.56.0.10", "=B3", "Giám đốc", "0913 123 456", "", "chair"],
            ["=ROW()-1", '=TEXT(56,"00")', "", "", "", "", "Trần B", '=HYPERLINK("http://evil.example","x")',
             "0913 123 457", "", "attendee"],
            [3, KH, "", "", "", "", "Lê C", "- ghi chú", "+84 913 123 458", "", "attendee"]]
    data = workbook(rows, text_cells=("H3",))  # H3 typed as text: '=HYPERLINK(...)
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert (sheet["G2"].data_type, sheet["B3"].data_type, sheet["H3"].data_type) == ("f", "f", "s")
    found = details(upload(client, {**people["kh"], **EN}, data))
    assert [(d["row"], d["letter"], d["column"]) for d in found] == [
        (2, "G", "Họ và tên"), (3, "B", "Mã đơn vị"), (3, "H", "Chức vụ")]
    assert "holds a formula (=B3)" in found[0]["message"] and "Paste Special" in found[0]["message"]
    assert "holds a formula" in found[1]["message"]
    assert "would be run as a formula" in found[2]["message"]
    assert not any("required" in d["message"] for d in found)  # not "contact name empty"
    assert stored(app) == ({}, {})
    # The STT column is not read: its formulas are no problem. Row 4's text only starts like one.
    rows[1][6], rows[2][1], rows[2][7] = "Nguyễn Văn A", KH, "Chuyên viên"
    assert upload(client, people["kh"], workbook(rows)).status_code == 200
    assert stored(app)[1]["Lê C"][1] == "- ghi chú"


def test_formula_text_in_a_csv_is_refused_where_it_is(client, people):
    rows = [LEGACY, [KH, "@SUM(A1)", "", "", "", "Nguyễn Văn A", "-2+3", "0913 123 456", "", ""]]
    found = details(upload(client, {**people["kh"], **EN}, csv_bytes(rows, ";"), name="x.csv"))
    assert [(d["row"], d["letter"], d["column"]) for d in found] == [(2, "B", "Tên điểm cầu"), (2, "G", "Chức vụ")]


def test_the_api_refuses_formulas_per_field(client, people):
    def post(**body):
        return client.post(f"/api/v1/events/{SLUG}/endpoints", headers={**people["kh"], **EN},
                           json={"unit_code": NHA_TRANG, **body})

    response = post(name='=HYPERLINK("http://evil.example","x")', address="+cmd|' /C calc'!A0", provider="-2+3",
                    contacts=[{"name": "@SUM(A1)", "position": "=1+1", "phone": "0913 123 456", "role": "technical"}])
    assert response.status_code == 422
    problems = {d["field"]: d["message"] for d in response.get_json()["error"]["details"]}
    assert set(problems) == {"name", "address", "provider", "contacts[0].name", "contacts[0].position"}
    assert all("would be run as a formula" in m for m in problems.values())
    # What only starts like a formula is fine.
    response = post(name="Hội trường", contacts=[{"name": "Lê C", "position": "- phó phòng", "phone": "+84 913 123 456",
                                                  "role": "technical", "focal": True}])
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["contacts"][0]["position"] == "- phó phòng"


def test_the_form_shows_a_formula_beside_its_field(client, people):
    login(client, "kh@example.gov.vn")
    page = client.get(f"/events/{SLUG}/units/{NHA_TRANG}/endpoint", headers=EN).get_data(as_text=True)
    form = form_values(page, "")
    form.update({"name": "=HYPERLINK(\"http://evil.example\")", "contacts-0-name": "Lê C",
                 "contacts-0-position": "-2+3", "contacts-0-phone": "0913 123 456"})
    response = client.post(f"/events/{SLUG}/units/{NHA_TRANG}/endpoint", data=form, headers=EN)
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    for name in ('name="name"', 'name="contacts-0-position"'):
        assert "would be run as a formula" in html[html.index(name):][:700], name
    assert client.get(f"/api/v1/events/{SLUG}/endpoints", headers=people["kh"]).get_json()["total"] == 0


# --- the pre-filled template ------------------------------------------------------------------------

def units_below(app, code: str) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.units.models import Unit
    from coordinator.units.services import get_unit

    with app.app_context():
        event = get_event(SLUG)
        root = get_unit(event.unit_structure, code)
        return [(u.code, u.name) for u in db.session.scalars(select(Unit).where(
            Unit.structure == event.unit_structure, Unit.path.startswith(root.path),
            Unit.tier.in_(event.tiers)).order_by(Unit.path))]


def test_a_coordinators_template_lists_its_units(client, people, app):
    response = client.get(f"/events/{SLUG}/endpoints/template.xlsx", headers=people["kh"])
    assert response.status_code == 200 and "%20-%2056.xlsx" in response.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(response.data))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    expected = units_below(app, KH)
    assert len(expected) > 100 and expected[0] == (KH, "Tỉnh Khánh Hòa")
    assert [(r[0], r[1]) for r in rows[1:]] == expected  # no example rows
    assert all(v is None for r in rows[1:] for v in r[2:])
    guide = [[c for c in r if c] for r in wb.worksheets[1].iter_rows(values_only=True)]
    assert ["Ví dụ"] in guide and any("Nguyễn Văn A" in r for r in guide)

    text = client.get(f"/events/{SLUG}/endpoints/template.csv", headers=people["kh"]).data.decode("utf-8-sig")
    assert [tuple(r[:2]) for r in list(csv.reader(io.StringIO(text)))[1:]] == expected

    # Filled in for two units, the rest left as they came: those rows are skipped.
    sheet = wb.worksheets[0]
    sheet["C2"], sheet["H2"], sheet["J2"], sheet["L2"] = "Hội trường Sở", "Nguyễn Văn A", "0913 123 456", "Chủ trì"
    nha_trang = next(i for i, r in enumerate(rows) if r[0] == NHA_TRANG) + 1
    sheet[f"C{nha_trang}"], sheet[f"H{nha_trang}"], sheet[f"J{nha_trang}"] = "Hội trường", "Lê Văn C", "0905111222"
    out = io.BytesIO()
    wb.save(out)
    body = upload(client, people["kh"], out.getvalue()).get_json()
    assert body["endpoints"]["created"] == 2 and body["contacts"]["created"] == 2


def test_a_template_for_any_unit(client, people, app):
    response = client.get(f"/events/{SLUG}/endpoints/template.xlsx?unit={NHA_TRANG}", headers=people["org"])
    codes = [r[0] for r in load_workbook(io.BytesIO(response.data)).worksheets[0].iter_rows(min_row=2, values_only=True)]
    assert codes == [c for c, _ in units_below(app, NHA_TRANG)] and codes[0] == NHA_TRANG and len(codes) > 10
    # A coordinator may ask for a unit of its area, not another province's.
    assert client.get(f"/events/{SLUG}/endpoints/template.csv?unit={NHA_TRANG}", headers=people["kh"]).status_code == 200
    assert client.get(f"/events/{SLUG}/endpoints/template.xlsx?unit={HA_NOI}", headers=people["kh"]).status_code == 404
    assert client.get(f"/events/{SLUG}/endpoints/template.xlsx?unit=nope", headers=people["org"]).status_code == 404


def test_the_import_page_offers_the_templates_and_explains_the_headers(client, people):
    login(client, "kh@example.gov.vn")
    html = unescape(client.get(f"/events/{SLUG}/import", headers=EN).get_data(as_text=True))
    assert "Template with the codes and names of your units (Tỉnh Khánh Hòa" in html
    assert "SĐT" in html and "Đầu mối tỉnh" in html and "any order" in html
    assert 'name="unit"' in html and 'value="56"' in html
    login(client, "org@example.gov.vn")
    html = unescape(client.get(f"/events/{SLUG}/import", headers=EN).get_data(as_text=True))
    assert "Empty template (with two example rows)" in html and "Template pre-filled with the units of" in html


# --- one charset per CSV ------------------------------------------------------------------------------

def test_csv_downloads_have_one_charset(client, people):
    for path in ("template.csv", "export.csv", f"template.csv?unit={NHA_TRANG}"):
        response = client.get(f"/events/{SLUG}/endpoints/{path}", headers=people["org"])
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8", path


def test_the_focal_list_names_the_email_column_in_vietnamese(client, people):
    from coordinator.reports.services import FOCAL_HEADERS

    assert FOCAL_HEADERS[-1] == "Thư điện tử" and "Email" not in FOCAL_HEADERS
    login(client, "org@example.gov.vn")
    text = client.get(f"/events/{SLUG}/focal-contacts.csv").data.decode("utf-8-sig")
    assert text.splitlines()[0].endswith(",Thư điện tử")
