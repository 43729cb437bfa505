"""End to end in headless Chromium: the provincial coordinator of Khánh Hòa registers a commune
endpoint through the form, uploads a spreadsheet with an error, reads the row-level message,
fixes the file and uploads it again."""
from __future__ import annotations

import re

from factories import ARTIFACTS, PASSWORD, vi

KH_COORDINATOR = "kh@example.gov.vn"
HEADER = ["Mã đơn vị", "Tên điểm cầu", "Địa chỉ", "Giao thức", "Địa chỉ kết nối", "Họ và tên", "Chức vụ",
          "Số điện thoại", "Thư điện tử", "Vai trò"]


def spreadsheet(path, rows) -> str:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return str(path)


def test_coordinator_registers_and_imports(app, page, make_user, nd49, tmp_path):
    from playwright.sync_api import expect

    make_user(KH_COORDINATOR, "coordinator", "56")
    page.goto("/login")
    page.fill("input[name=email]", KH_COORDINATOR)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/events/$"))

    # 1. The coordinator opens the event, then the registration of its province.
    page.get_by_role("link", name=re.compile("Hội nghị trực tuyến toàn quốc")).first.click()
    page.get_by_role("link", name=vi(app, "Endpoint registration")).first.click()
    expect(page.locator("main h1")).to_contain_text("Tỉnh Khánh Hòa")
    row = page.locator("#u-22333")
    expect(row).to_contain_text(vi(app, "Not registered"))

    # 2. A commune endpoint through the form, in Vietnamese, with a landline and a mobile.
    row.get_by_role("link", name=vi(app, "Register")).click()
    page.fill("[name=name]", "Hội trường UBND phường Vĩnh Hòa")
    page.select_option("[name=protocol]", "webrtc")
    page.fill("[name=dial]", "https://hop.khanhhoa.example.gov.vn/22333")
    page.fill("[name=contacts-0-name]", "Phạm Văn Đức")
    page.fill("[name=contacts-0-phone]", "0905 111 222")
    page.fill("[name=contacts-1-name]", "Lý Thị Én")
    page.fill("[name=contacts-1-phone]", "0258.3822.123")
    page.get_by_role("button", name=vi(app, "Save")).click()
    expect(page.locator("main .flash-success")).to_contain_text("Hội trường UBND phường Vĩnh Hòa")
    expect(page.locator("#u-22333")).to_contain_text("Hội trường UBND phường Vĩnh Hòa")

    # 3. A spreadsheet for the districts, with a pre-2017 area code on row 3.
    rows = [
        ["568", "Hội trường UBND TP Nha Trang", "Số 1 Trần Phú", "sip", "sip:nhatrang@10.56.8.1",
         "Nguyễn Chủ Trì", "Phó Chủ tịch", "0913 568 001", "", "Chủ trì"],
        ["568", "Hội trường UBND TP Nha Trang", "Số 1 Trần Phú", "sip", "sip:nhatrang@10.56.8.1",
         "Trần Kỹ Thuật", "Chuyên viên", "058.3563535", "kt.nhatrang@example.gov.vn", "Kỹ thuật"],
        ["569", "Hội trường UBND TP Cam Ranh", "", "h323", "10.56.9.1",
         "Lê Đầu Mối", "Chuyên viên", "0914 569 002", "", "Kỹ thuật"],
    ]
    bad = spreadsheet(tmp_path / "Danh sách điểm cầu Khánh Hòa.xlsx", rows)
    page.goto("/events/nd49-2024/import")
    page.set_input_files("input[name=file]", bad)
    page.get_by_role("button", name=vi(app, "Upload")).click()
    errors = page.locator(".import-errors")
    expect(errors).to_be_visible()
    expect(errors.locator("tbody tr")).to_have_count(1)
    expect(errors.locator("tbody tr td").nth(0)).to_have_text("3")
    expect(errors.locator("tbody tr td").nth(1)).to_contain_text("Số điện thoại")
    expect(errors.locator("tbody tr td").nth(2)).to_contain_text("058.3563535")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import-error.png"), full_page=True)
    # Nothing of the file was saved.
    listed = page.request.get("/api/v1/events/nd49-2024/endpoints").json()
    assert [e["unit_code"] for e in listed["items"]] == ["22333"]

    # 4. Fixed (the new area code 0258) and uploaded again: everything lands.
    rows[1][7] = "0258.3563535"
    good = spreadsheet(tmp_path / "Danh sách điểm cầu Khánh Hòa (sửa).xlsx", rows)
    page.set_input_files("input[name=file]", good)
    page.get_by_role("button", name=vi(app, "Upload")).click()
    expect(page.locator("main .flash-success")).to_be_visible()
    listed = page.request.get("/api/v1/events/nd49-2024/endpoints").json()
    by_unit = {e["unit_code"]: e for e in listed["items"]}
    assert set(by_unit) == {"22333", "568", "569"}
    phones = {c["name"]: (c["phone"], c["phone_type"]) for c in by_unit["568"]["contacts"]}
    assert phones == {"Nguyễn Chủ Trì": ("+84913568001", "mobile"), "Trần Kỹ Thuật": ("+842583563535", "fixed")}
    page.goto("/events/nd49-2024/registration")
    expect(page.locator("#u-568")).to_contain_text("Hội trường UBND TP Nha Trang")
    page.screenshot(path=str(ARTIFACTS / "registration-overview.png"), full_page=False)
