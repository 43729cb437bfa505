"""Issue 14, point 4: one control character must not block every export nationwide.

Every free text (endpoints, contacts, events and their plan files, account names, a document
request's focal contact, reminder templates) goes through `coordinator.fields.clean_text`: NFC,
zero-width characters dropped, control characters (C0 but tab and line breaks, C1), bidirectional
controls and other invisible format characters refused with their position, the column's length;
the same problem shape as any other field problem (the field in the form and the API, row and
column in an import), and nothing saved. And the spreadsheet writer replaces what a file cannot
hold, so rows stored before these rules (put into the database directly here) still export.

Runs on SQLite and, with TEST_DATABASE_URL, PostgreSQL (which refuses NUL itself: before this fix
a NUL was a 500 there)."""
from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import timedelta
from html import unescape

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from coordinator.problems import Invalid
from factories import ROOT, form_values, login

SLUG = "nd49-2024"
KH, NHA_TRANG = "56", "568"
ROOT_PLAN = ROOT / "schedules" / "nd49-2024.toml"
EN = {"Accept-Language": "en"}
LEGACY = ["Mã đơn vị", "Tên điểm cầu", "Địa chỉ", "Giao thức", "Địa chỉ kết nối", "Họ và tên", "Chức vụ",
          "Số điện thoại", "Thư điện tử", "Vai trò"]
# (what is typed, the code point the message names)
REFUSED = [
    ("Hội\x00trường", "U+0000"),  # NUL: PostgreSQL refuses it (a 500 before)
    ("Hội trường\x07", "U+0007"),  # BEL
    ("\x1b[31mHội trường", "U+001B"),  # ESC: openpyxl's IllegalCharacterError on every export
    ("Hội trường\x7f", "U+007F"),  # DEL
    ("Hội trường\x9b", "U+009B"),  # a C1 control (text decoded with the wrong charset)
    ("Hội trường\u202egnoht", "U+202E"),  # RIGHT-TO-LEFT OVERRIDE ("Trojan Source")
    ("Hội \u2066trường\u2069", "U+2066"),  # an isolate
    ("Hội trường\u200f", "U+200F"),  # RIGHT-TO-LEFT MARK
    ("Hội trường\U000e0041", "U+E0041"),  # a tag character: invisible
    ("Hội trường\ud800", "U+D800"),  # a lone surrogate (JSON "\ud800"): cannot be encoded
    ("Hội trường\uffff", "U+FFFF"),  # a noncharacter: not valid in XML
]


@pytest.fixture()
def people(make_user, token_for, nd49):
    make_user("kh@example.gov.vn", "coordinator", KH)
    make_user("org@example.gov.vn", "organizer")
    make_user("admin@example.gov.vn", "admin")
    return {name: token_for(f"{name}@example.gov.vn") for name in ("kh", "org", "admin")}


def count(app, model) -> int:
    from coordinator.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def endpoints_count(app) -> int:
    from coordinator.endpoints.models import Endpoint

    return count(app, Endpoint)


def post_endpoint(client, headers, **body):
    # JSON escapes everything but ASCII, as most clients send it: "\ud800" arrives as a lone surrogate.
    return client.post(f"/api/v1/events/{SLUG}/endpoints", headers={**headers, **EN}, content_type="application/json",
                       data=json.dumps({"unit_code": NHA_TRANG, "name": "Hội trường UBND TP Nha Trang", **body}))


def problems_of(response) -> dict[str, str]:
    assert response.status_code == 422, response.get_json()
    return {d["field"]: d["message"] for d in response.get_json()["error"]["details"]}


# --- the cleaner --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,code", REFUSED)
def test_control_bidi_and_invisible_characters_are_refused_with_their_position(text, code):
    from coordinator.fields import TextRule, clean_text

    for multiline in (False, True):
        _, problem = clean_text(text, TextRule(multiline=multiline))
        assert problem is not None and problem.params["char"] == code, (text, problem)
        assert problem.params["position"] == next(i for i, ch in enumerate(text, 1) if f"U+{ord(ch):04X}" == code)


def test_what_is_cleaned_rather_than_refused():
    from coordinator.fields import TextRule, clean_text

    nfd = unicodedata.normalize("NFD", "Phòng họp Ủy ban nhân dân tỉnh Khánh Hòa")
    assert nfd != "Phòng họp Ủy ban nhân dân tỉnh Khánh Hòa"  # a Mac's keyboard
    assert clean_text(nfd) == ("Phòng họp Ủy ban nhân dân tỉnh Khánh Hòa", None)
    # Zero-width characters pasted from Word or a web page: invisible, meaningless, dropped.
    assert clean_text("\ufeffNguyễn\u200b Văn\u00ad A\u2060") == ("Nguyễn Văn A", None)
    # One-line fields: a line break (Alt+Enter in a cell) or a tab is a space; several lines keep them.
    assert clean_text("  Hội trường\r\nUBND\thuyện ") == ("Hội trường UBND huyện", None)
    assert clean_text("Số 1 Trần Phú\r\nNha Trang\rKhánh Hòa\t(tầng 2)", TextRule(multiline=True)) == (
        "Số 1 Trần Phú\nNha Trang\nKhánh Hòa\t(tầng 2)", None)
    assert clean_text("Nguyễn Văn A 👍 ₫ – “trích dẫn”") == ("Nguyễn Văn A 👍 ₫ – “trích dẫn”", None)
    assert clean_text(None) == ("", None)


def test_lengths_come_from_the_columns():
    from coordinator.auth.models import User
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.endpoints.services import CONTACT_TEXT, ENDPOINT_TEXT
    from coordinator.events.models import Event
    from coordinator.events.plans import TEXT_RULES
    from coordinator.fields import clean_text, max_length_of

    assert ENDPOINT_TEXT["name"].max_length == Endpoint.__table__.c.name.type.length == 255
    assert ENDPOINT_TEXT["provider"].max_length == Endpoint.__table__.c.provider.type.length
    assert ENDPOINT_TEXT["address"].max_length is None and ENDPOINT_TEXT["address"].multiline  # Text
    assert CONTACT_TEXT["name"].max_length == Contact.__table__.c.name.type.length == 200
    assert TEXT_RULES[("PlanSpec", "title")].max_length == Event.__table__.c.title.type.length
    assert max_length_of(User.display_name) == User.__table__.c.display_name.type.length
    # The length counts characters of the composed (NFC) text, as PostgreSQL's varchar does.
    name = unicodedata.normalize("NFD", "Ủy ban nhân dân " * 15)[:400]
    assert len(name) > 255 and clean_text(name, ENDPOINT_TEXT["name"])[1] is None
    _, problem = clean_text("x" * 300, ENDPOINT_TEXT["name"])
    assert problem.text == "at most 255 characters (this text has 300)"


# --- the API ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,code", REFUSED)
def test_the_api_refuses_them_in_every_field_and_saves_nothing(client, people, app, text, code):
    response = post_endpoint(client, people["kh"], name=text, address=f"Số 1\n{text}", dial="", provider=text,
                             contacts=[{"name": text, "position": text, "phone": "0913 123 456", "email": "",
                                        "role": "technical"}])
    problems = problems_of(response)
    assert set(problems) == {"name", "address", "provider", "contacts[0].name", "contacts[0].position"}
    assert all(code in m and "position" in m for m in problems.values()), problems
    assert endpoints_count(app) == 0


def test_the_api_refuses_what_is_longer_than_the_column(client, people, app):
    problems = problems_of(post_endpoint(client, people["kh"], name="Ủ" * 300, provider="V" * 101,
                                         contacts=[{"name": "N" * 201, "phone": "0913 123 456"}]))
    assert problems == {"name": "at most 255 characters (this text has 300)",
                        "provider": "at most 100 characters (this text has 101)",
                        "contacts[0].name": "at most 200 characters (this text has 201)"}
    assert endpoints_count(app) == 0


def test_the_api_stores_composed_text(client, people, app):
    nfd = unicodedata.normalize("NFD", "Hội trường UBND TP Nha Trang")
    response = post_endpoint(client, people["kh"], name=nfd + "\u200b",
                             contacts=[{"name": unicodedata.normalize("NFD", "Lê Văn Cường"), "phone": "0913123456"}])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "Hội trường UBND TP Nha Trang" and body["contacts"][0]["name"] == "Lê Văn Cường"
    # Found by the same name typed on Windows (NFC): one person, not two.
    found = client.get(f"/api/v1/events/{SLUG}/endpoints", query_string={"q": "Lê Văn Cường"},
                       headers=people["kh"]).get_json()
    assert found["total"] == 1


def test_a_patch_is_refused_and_changes_nothing(client, people, app):
    created = post_endpoint(client, people["kh"], address="Số 1 Trần Phú").get_json()
    url = f"/api/v1/endpoints/{created['id']}"
    problems = problems_of(client.patch(url, json={"address": "Số 1\x1b Trần Phú"}, headers={**people["kh"], **EN}))
    assert list(problems) == ["address"] and "U+001B" in problems["address"]
    problems = problems_of(client.patch(url, json={"contacts": [{"name": "Lê\x00 C", "phone": "0913 123 456"}]},
                                        headers={**people["kh"], **EN}))
    assert list(problems) == ["contacts[0].name"] and "U+0000" in problems["contacts[0].name"]
    assert client.get(url, headers=people["kh"]).get_json()["address"] == "Số 1 Trần Phú"
    assert client.get(url, headers=people["kh"]).get_json()["contacts"] == []


# --- the form -----------------------------------------------------------------------------------------

def test_the_form_shows_the_problem_beside_its_field_and_saves_nothing(client, people, app):
    login(client, "kh@example.gov.vn")
    page = client.get(f"/events/{SLUG}/units/{NHA_TRANG}/endpoint", headers=EN).get_data(as_text=True)
    form = form_values(page, "")
    form.update({"name": "Hội trường\x1b", "address": "Số 1\u202e Trần Phú", "contacts-0-name": "Lê C" + "x" * 200,
                 "contacts-0-position": "Phó\x07 phòng", "contacts-0-phone": "0913 123 456"})
    response = client.post(f"/events/{SLUG}/units/{NHA_TRANG}/endpoint", data=form, headers=EN)
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    for name, fragment in (('name="name"', "U+001B"), ('name="address"', "U+202E"),
                           ('name="contacts-0-name"', "at most 200 characters"),
                           ('name="contacts-0-position"', "U+0007")):
        assert fragment in html[html.index(name):][:900], name
    assert endpoints_count(app) == 0


# --- spreadsheet imports ------------------------------------------------------------------------------

def api_import(client, headers, data: bytes, name: str):
    return client.post(f"/api/v1/events/{SLUG}/endpoints/import", headers={**headers, **EN},
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def row_errors(response) -> list[tuple]:
    assert response.status_code == 422, response.get_json()
    return [(d["row"], d.get("letter"), d["column"], d["message"]) for d in response.get_json()["error"]["details"]]


def test_an_xlsx_import_refuses_them_with_row_and_column_and_saves_nothing(client, people, app):
    # Excel writes a character XML cannot hold as _xHHHH_ (ESC: _x001B_); bidi controls and
    # overlong text are written as they are.
    wb = Workbook()
    ws = wb.active
    ws.append(LEGACY)
    ws.append([KH, "Hội trường Sở_x001B_", "Số 1 Trần Phú", "sip", "kh@10.56.0.10", "Nguyễn Văn A",
               "Giám đốc_x0000_", "0913 123 456", "", "Chủ trì"])
    ws.append([NHA_TRANG, "Ủ" * 300, "Số 2\u202e Lê Lợi", "", "", "Lê Văn C", "Chuyên viên_x0007_", "0905 111 222",
               "", "Kỹ thuật"])
    ws.append(["5\u200f6", "", "", "", "", "Trần B", "", "0913 123 457", "", ""])  # a bidi mark in the code
    out = io.BytesIO()
    wb.save(out)
    found = row_errors(api_import(client, people["kh"], out.getvalue(), "diem-cau.xlsx"))
    assert [(r, letter, column) for r, letter, column, _ in found] == [
        (2, "B", "Tên điểm cầu"), (2, "G", "Chức vụ"),
        (3, "B", "Tên điểm cầu"), (3, "C", "Địa chỉ"), (3, "G", "Chức vụ"),
        (4, "A", "Mã đơn vị")]
    messages = [m for *_, m in found]
    assert "U+001B" in messages[0] and "U+0000" in messages[1] and "at most 255 characters" in messages[2]
    assert "U+202E" in messages[3] and "U+0007" in messages[4] and "U+200F" in messages[5]
    assert endpoints_count(app) == 0


def test_a_csv_import_refuses_them_with_row_and_column_and_saves_nothing(client, people, app):
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([
        LEGACY,
        [KH, "Hội trường\x00 Sở", "Số 1 Trần Phú", "sip", "kh@10.56.0.10", "Nguyễn\x1b Văn A", "Giám đốc",
         "0913 123 456", "", "Chủ trì"],
        [NHA_TRANG, "Hội trường UBND", "Số 2\x07", "", "", "Lê Văn C", "P" * 256, "0905 111 222", "nva\u202e@x.vn", ""],
    ])
    found = row_errors(api_import(client, people["kh"], ("\ufeff" + out.getvalue()).encode(), "diem-cau.csv"))
    assert [(r, letter, column) for r, letter, column, _ in found] == [
        (2, "B", "Tên điểm cầu"), (2, "F", "Họ và tên"),
        (3, "C", "Địa chỉ"), (3, "G", "Chức vụ"), (3, "I", "Thư điện tử")]
    assert ["U+0000" in found[0][3], "U+001B" in found[1][3], "U+0007" in found[2][3],
            "at most 255 characters (this text has 256)" in found[3][3], "U+202E" in found[4][3]] == [True] * 5
    assert endpoints_count(app) == 0


def test_an_import_keeps_line_breaks_only_in_the_address_and_composes_nfd(client, people, app):
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.extensions import db

    wb = Workbook()
    ws = wb.active
    ws.append(LEGACY)
    # Excel keeps a line break typed with Alt+Enter as _x000D_\n (CR LF).
    ws.append([KH, "Hội trường_x000D_\nSở TT&TT", "Số 1 Trần Phú_x000D_\nNha Trang", "sip", "kh@10.56.0.10",
               unicodedata.normalize("NFD", "Nguyễn Văn Ánh"), "Giám đốc", "0913 123 456", "", "Chủ trì"])
    out = io.BytesIO()
    wb.save(out)
    response = api_import(client, people["kh"], out.getvalue(), "diem-cau.xlsx")
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        endpoint = db.session.scalars(select(Endpoint)).one()
        assert (endpoint.name, endpoint.address) == ("Hội trường Sở TT&TT", "Số 1 Trần Phú\nNha Trang")
        assert db.session.scalars(select(Contact.name)).one() == "Nguyễn Văn Ánh"


# --- text stored before the rules: every export still answers ----------------------------------------

def _old_data(app, client, people):
    """An endpoint registered today, then given ESC and BEL directly in the database, as rows saved
    before this fix (or by a script) have them; the event's title too."""
    from coordinator.endpoints.models import Contact, Endpoint
    from coordinator.events.models import Event
    from coordinator.extensions import db

    response = client.post(f"/api/v1/events/{SLUG}/endpoints", headers=people["org"], json={
        "unit_code": KH, "name": "Hội trường", "protocol": "sip", "dial": "sip:kh@10.56.0.10",
        "contacts": [{"name": "Trần Thị Bình", "position": "Phó Giám đốc", "phone": "0913 123 456",
                      "role": "technical", "focal": True}]})
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        endpoint = db.session.scalars(select(Endpoint)).one()
        endpoint.name = "Hội trường\x1b[31m Sở"
        contact = db.session.scalars(select(Contact)).one()
        contact.name, contact.position = "Trần Thị\x07 Bình", "Phó\x1b Giám đốc\x0b"
        db.session.get(Event, endpoint.event_id).title += " \x1b"
        db.session.commit()


def _cells(data: bytes) -> list[str]:
    wb = load_workbook(io.BytesIO(data))
    return [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


def test_exports_of_text_stored_before_the_rules_answer_200_with_the_character_replaced(client, people, app):
    _old_data(app, client, people)
    login(client, "org@example.gov.vn")
    xlsx = {
        "export.xlsx": f"/events/{SLUG}/endpoints/export.xlsx",
        "template.xlsx": f"/events/{SLUG}/endpoints/template.xlsx?unit={KH}",
        "focal-contacts.xlsx": f"/events/{SLUG}/focal-contacts.xlsx",
        "readiness.xlsx": f"/events/{SLUG}/reports/readiness.xlsx",
        "attendance.xlsx": f"/events/{SLUG}/reports/attendance.xlsx",
    }
    for name, url in xlsx.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        cells = _cells(response.data)
        assert not any(ch in text for text in cells for ch in "\x1b\x07\x0b"), name
        if name != "template.xlsx":  # the template holds the event's title, not the endpoints
            assert "Hội trường\ufffd[31m Sở" in cells or "Trần Thị\ufffd Bình" in cells, (name, cells)
    assert any("\ufffd" in t for t in _cells(client.get(xlsx["template.xlsx"]).data))  # the title, in the guide
    assert "Hội trường\ufffd[31m Sở" in _cells(client.get(xlsx["export.xlsx"]).data)
    assert "Phó\ufffd Giám đốc\ufffd" in _cells(client.get(xlsx["focal-contacts.xlsx"]).data)

    for url in (f"/events/{SLUG}/endpoints/export.csv", f"/events/{SLUG}/focal-contacts.csv"):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.data.decode("utf-8-sig")
        assert "\x1b" not in text and "\x07" not in text and "Trần Thị\ufffd Bình" in text, url


def test_an_export_of_old_text_imports_again_with_the_replacement_character(client, people, app):
    """U+FFFD is text like any other: the exported file imports again, and the "�" shows the
    official where a character was lost."""
    _old_data(app, client, people)
    exported = client.get(f"/events/{SLUG}/endpoints/export.xlsx", headers=people["org"])
    assert exported.status_code == 200
    response = api_import(client, people["org"], exported.data, "export.xlsx")
    assert response.status_code == 200, response.get_json()
    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db

    with app.app_context():
        assert db.session.scalars(select(Endpoint.name)).one() == "Hội trường\ufffd[31m Sở"


def test_saving_another_field_of_old_text_repairs_it_instead_of_refusing(client, people, app):
    """The person saving did not type the stored ESC (and a commune attending at its district's
    endpoint may not even change that name): the merged stored text loses the characters the rules
    refuse, and the save goes through."""
    _old_data(app, client, people)
    from coordinator.endpoints.models import Endpoint
    from coordinator.extensions import db

    with app.app_context():
        endpoint_id = db.session.scalars(select(Endpoint.id)).one()
    response = client.patch(f"/api/v1/endpoints/{endpoint_id}", json={"address": "Số 1 Trần Phú"},
                            headers=people["org"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["address"] == "Số 1 Trần Phú" and body["name"] == "Hội trường[31m Sở"
    assert body["contacts"][0]["name"] == "Trần Thị Bình" and body["contacts"][0]["position"] == "Phó Giám đốc"
    # What is typed is still refused: only the stored text is repaired.
    assert "name" in problems_of(client.patch(f"/api/v1/endpoints/{endpoint_id}", json={"name": "Sở\x1b"},
                                              headers={**people["org"], **EN}))


# --- events and plan files, accounts, documents, reminder templates -----------------------------------

def test_a_plan_file_refuses_them_with_its_key_path(app, cli, tmp_path):
    plan = (tmp_path / "plan.toml")
    text = (ROOT_PLAN.read_text(encoding="utf-8")
            .replace('title = "Hội nghị trực tuyến toàn quốc', 'title = "Hội nghị\\u001B trực tuyến toàn quốc', 1))
    plan.write_text(text, encoding="utf-8")
    result = cli("schedules", "check", str(plan))
    assert result.exit_code == 1
    assert "title: contains a control character (U+001B) at position 9" in result.output


def test_the_event_form_refuses_them_beside_their_fields(organizer_client):
    from factories import field_block, new_event_form, post_new

    response = post_new(organizer_client, new_event_form(**{
        "title": "Hội nghị\x1b tập huấn", "organizer_name": "Sở " + "T" * 260,
        "sessions-1-location": "Hội trường\u202e UBND", "legal_reference": "Nghị định\r\nsố 49\x00"}), headers=EN)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "U+001B" in field_block(html, "title")
    assert "at most 255 characters (this text has 263)" in field_block(html, "organizer_name")
    assert "U+202E" in field_block(html, "sessions-1-location")
    assert "U+0000" in field_block(html, "legal_reference")
    assert organizer_client.get("/api/v1/events").get_json()["total"] == 0


def test_cancel_reason_and_a_moved_session_place_are_checked_too(client, people, app):
    headers = {**people["org"], **EN}
    response = client.patch(f"/api/v1/events/{SLUG}/sessions/main", json={"location": "Hội trường\u202e"},
                            headers=headers)
    assert response.status_code == 422 and "U+202E" in response.get_json()["error"]["details"][0]["message"]
    from coordinator.events.services import cancel, get_event

    with app.app_context():
        with pytest.raises(Invalid) as refused:
            cancel(get_event(SLUG), reason="Hoãn\x1b")
        assert refused.value.problems[0].field == "reason"
        assert get_event(SLUG).status != "cancelled"


def test_account_names_in_the_api_and_the_import(client, people, app):
    from coordinator.auth.models import User

    headers = {**people["admin"], **EN}
    before = count(app, User)
    response = client.post("/api/v1/users", json={"email": "op@example.gov.vn", "role": "operator",
                                                  "name": "Nguyễn\x1b Văn A"}, headers=headers)
    assert problems_of(response).keys() == {"name"} and "U+001B" in problems_of(response)["name"]
    response = client.post("/api/v1/users", json={"email": "op@example.gov.vn", "role": "operator",
                                                  "name": "N" * 201}, headers=headers)
    assert problems_of(response) == {"name": "at most 200 characters (this text has 201)"}
    assert count(app, User) == before
    response = client.post("/api/v1/users", json={"email": "op@example.gov.vn", "role": "operator",
                                                  "name": unicodedata.normalize("NFD", "Trần  Thị Bình")},
                           headers=headers)
    assert response.status_code == 201 and response.get_json()["name"] == "Trần Thị Bình"
    patched = client.patch(f"/api/v1/users/{response.get_json()['id']}", json={"name": "Trần\u202e Bình"},
                           headers=headers)
    assert "U+202E" in problems_of(patched)["name"]

    data = "Email,Họ và tên,Vai trò\r\nop2@example.gov.vn,Lê\x07 Văn C,Trực kỹ thuật\r\n".encode()
    imported = client.post("/api/v1/users/import", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), "tai-khoan.csv")})
    assert row_errors(imported) == [(2, None, "Họ và tên", row_errors(imported)[0][3])]
    assert "U+0007" in row_errors(imported)[0][3]
    assert count(app, User) == before + 1


def test_a_document_requests_focal_contact_and_a_reminder_template(app, people):
    from coordinator.auth.services import get_user_by_email
    from coordinator.documents import services as documents
    from coordinator.events.models import Deadline
    from coordinator.events.services import get_event
    from coordinator.extensions import db
    from coordinator.reminders import rules
    from coordinator.timeutil import utcnow
    from coordinator.units.services import get_unit

    with app.app_context():
        event = get_event(SLUG)
        with pytest.raises(Invalid) as refused:
            rules.create_rule(event, {"anchor": "session:main", "offset_seconds": -3600, "channel": "sms",
                                      "audience": "technical", "template": "Nhắc\x1b: {event}"})
        assert "U+001B" in {p.field: p.message for p in refused.value.problems}["template"]
        deadline = Deadline(event_id=event.id, kind="documents", tier="province", title="Hồ sơ",
                            due_at=utcnow() + timedelta(days=30), required_files=[{"label": "Báo cáo", "types": ["pdf"]}])
        db.session.add(deadline)
        db.session.commit()
        with pytest.raises(Invalid) as refused:
            documents.set_contact(deadline, get_unit("2024", KH), "Lê\x00 Văn C", "0913 123 456",
                                  get_user_by_email("org@example.gov.vn"))
        assert refused.value.problems[0].field == "contact_name" and "U+0000" in refused.value.problems[0].msg.text
