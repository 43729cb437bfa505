"""The columns of the endpoint spreadsheet: the template's headers, the synonyms officials write,
the example rows, and what a header cell means (`field_of_header`: case, diacritics, spaces and
punctuation folded, so "SĐT", "Điện thoại", "Di động" are all "Số điện thoại").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from openpyxl.utils import get_column_letter

from coordinator.messages import Message
from coordinator.problems import Problem
from coordinator.spreadsheets.problems import row_problem
from coordinator.text import fold


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the Vietnamese header of the template, also the `column` of an error
    english: str  # accepted as a header too (files made by scripts)
    width: int
    synonyms: tuple[str, ...] = ()  # other headers officials write for it (matched folded)
    saved: bool = True  # False: recognised (the unit's name, beside its code) but never saved


# The template's columns, in its order. Files are read by header, so the order is free; the
# first template's layout (LEGACY_KEYS) is still read and still written by scripts.
COLUMNS: tuple[Column, ...] = (
    Column("unit_code", "Mã đơn vị", "Unit code", 12, (
        "Mã ĐV", "Mã số đơn vị", "Mã đơn vị hành chính", "Mã ĐVHC", "Mã", "Mã số", "Code")),
    Column("unit_name", "Tên đơn vị", "Unit name", 32, (
        "Đơn vị", "Tên ĐV", "Tên đơn vị hành chính", "Đơn vị hành chính", "Tên ĐVHC", "Đơn vị công tác",
        "Unit"), saved=False),
    Column("name", "Tên điểm cầu", "Endpoint name", 34, (
        "Điểm cầu", "Tên phòng họp", "Phòng họp", "Tên phòng", "Địa điểm", "Địa điểm họp", "Endpoint", "Room",
        "Room name")),
    Column("address", "Địa chỉ", "Address", 36, ("Địa chỉ điểm cầu", "Địa chỉ phòng họp")),
    Column("protocol", "Giao thức", "Protocol", 11, (
        "Loại kết nối", "Hình thức kết nối", "Kiểu kết nối", "Phương thức kết nối", "Chuẩn kết nối",
        "Connection type", "Connection")),
    Column("dial", "Địa chỉ kết nối", "Dial address", 30, (
        "Địa chỉ gọi", "Địa chỉ quay số", "Số quay", "Địa chỉ IP", "IP", "Địa chỉ SIP", "SIP URI", "Tài khoản SIP",
        "Đường dẫn", "Đường link", "Link", "Dial")),
    Column("expected_attendance", "Số người dự kiến", "Expected attendance", 12, (
        "Số người dự", "Số người tham dự", "Số đại biểu", "Số lượng đại biểu", "Số lượng người dự",
        "Số lượng", "Số người", "Attendance")),
    Column("contact_name", "Họ và tên", "Contact name", 24, (
        "Họ tên", "Tên cán bộ", "Họ tên cán bộ", "Họ và tên cán bộ", "Người liên hệ", "Tên người liên hệ",
        "Người phụ trách", "Cán bộ phụ trách", "Full name", "Contact")),
    Column("contact_position", "Chức vụ", "Contact position", 24, (
        "Chức danh", "Chức vụ, chức danh", "Chức vụ/Chức danh", "Position", "Job title")),
    Column("contact_phone", "Số điện thoại", "Contact phone", 16, (
        "Điện thoại", "SĐT", "Số ĐT", "ĐT", "Di động", "Số di động", "Điện thoại di động", "Số điện thoại di động",
        "ĐTDĐ", "Phone", "Phone number", "Mobile", "Telephone", "Tel")),
    Column("contact_email", "Thư điện tử", "Contact email", 28, (
        "Email", "E-mail", "Địa chỉ email", "Địa chỉ thư điện tử", "Hộp thư", "Hộp thư điện tử", "Mail")),
    Column("contact_role", "Vai trò", "Contact role", 12, ("Vai trò tham dự", "Nhiệm vụ", "Role")),
    Column("focal", "Đầu mối tỉnh", "Province focal contact", 12, (
        "Đầu mối", "Cán bộ đầu mối tỉnh", "Đầu mối của tỉnh", "Focal", "Focal contact")),
)
# Headers of columns that carry nothing to save and are skipped without a word.
IGNORED_HEADERS = ("STT", "TT", "Số TT", "Số thứ tự", "No", "No.", "#", "Ghi chú", "Note", "Notes",
                   "Tỉnh, thành phố", "Tỉnh/Thành phố", "Tỉnh", "Loại số")
BY_KEY = {c.key: c for c in COLUMNS}
KEYS = tuple(c.key for c in COLUMNS)
LABEL = {c.key: c.label for c in COLUMNS}
TEMPLATE_HEADERS = tuple(c.label for c in COLUMNS)
# The first template (2024), read by position then: what files and scripts of that time have.
LEGACY_KEYS = ("unit_code", "name", "address", "protocol", "dial", "contact_name", "contact_position",
               "contact_phone", "contact_email", "contact_role")
HEADERS = tuple(LABEL[k] for k in LEGACY_KEYS)  # kept for scripts that write the first layout
ENDPOINT_KEYS = ("name", "address", "protocol", "dial", "expected_attendance")
CONTACT_KEYS = ("contact_name", "contact_position", "contact_phone", "contact_email", "contact_role", "focal")
# A problem reported by clean_contact() for field X belongs to column CONTACT_COLUMN[X].
CONTACT_COLUMN = {"name": "contact_name", "position": "contact_position", "phone": "contact_phone",
                  "email": "contact_email", "role": "contact_role", "focal": "focal"}
# The Contact attribute each optional contact column gives (name and phone are always there).
CONTACT_ATTRS = {"contact_position": "position", "contact_email": "email", "contact_role": "role", "focal": "focal"}
REQUIRED = ("unit_code", "name")
REQUIRED_WITH_CONTACTS = ("contact_name", "contact_phone")  # when the file has any contact column
ROLE_LABELS = {"chair": "Chủ trì", "technical": "Kỹ thuật", "attendee": "Tham dự"}  # written to files
FOCAL_LABEL = "Có"
TEXT_KEYS = ("unit_code", "contact_phone")  # Excel must keep their leading zeros: formatted as Text

SHEET_TITLE = "Điểm cầu"
GUIDE_TITLE = "Hướng dẫn"
EXAMPLES: tuple[dict[str, str], ...] = (
    {"unit_code": "56", "unit_name": "Tỉnh Khánh Hòa", "name": "Hội trường Sở Thông tin và Truyền thông",
     "address": "Số 01 Trần Phú, TP. Nha Trang, Khánh Hòa", "protocol": "sip", "dial": "sip:diemcau.kh@10.56.0.10",
     "contact_name": "Nguyễn Văn A", "contact_position": "Phó Giám đốc Sở", "contact_phone": "0913 123 456",
     "contact_email": "nva@khanhhoa.gov.vn", "contact_role": "Chủ trì"},
    {"unit_code": "56", "unit_name": "Tỉnh Khánh Hòa", "contact_name": "Trần Thị B", "contact_position": "Chuyên viên",
     "contact_phone": "0258 3563 535", "contact_role": "Kỹ thuật", "focal": FOCAL_LABEL},
)
# The example rows as the first template wrote them (a file downloaded then still has them).
EXAMPLE_ROWS: tuple[tuple[str, ...], ...] = tuple(tuple(e.get(k, "") for k in LEGACY_KEYS) for e in EXAMPLES)


# --- matching headers --------------------------------------------------------------------------------

def header_key(text: str) -> str:
    """A header folded to compare by meaning: "Số điện thoại (*)", "SỐ ĐIỆN THOẠI:" and
    "so dien thoai" are all "sodienthoai"; "E-mail" is "email"; "1. Họ tên" is "hoten"."""
    text = str(text or "").replace("Ð", "Đ").replace("ð", "đ")  # Icelandic eth, as old Vietnamese fonts type đ
    bare = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text)  # "(*)", "(bắt buộc)", "[1]"
    if re.search(r"\w", bare):
        text = bare
    text = re.sub(r"^\s*\d{1,2}\s*[.)]\s+", "", fold(text))
    return re.sub(r"[^a-z0-9]", "", text)


def header_words(text: str) -> str:
    """A header's words, folded: "Mã đơn vị (*)" and "MÃ ĐƠN VỊ" are "ma don vi" (the account import's
    headers, `accounts.sheets`)."""
    return re.sub(r"[^a-z0-9 ]", "", fold(re.sub(r"\(.*?\)", "", text))).strip()


IGNORE, UNKNOWN = "-", "?"  # what a header cell may be besides a column key ("" for an empty cell)


def _build_header_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for col in COLUMNS:
        for text in (col.label, col.english, col.key, *col.synonyms):
            key = header_key(text)
            assert table.get(key, col.key) == col.key, f"header {text!r} would mean two columns"
            table[key] = col.key
    for text in IGNORED_HEADERS:
        table.setdefault(header_key(text), IGNORE)
    return table


_HEADER_TABLE = _build_header_table()
# Words officials add after a contact's header ("Số điện thoại liên hệ", "Họ tên cán bộ đầu mối").
_CONTACT_QUALIFIERS = ("nguoilienhe", "lienhe", "canbo", "daumoi", "cuacanbo")


def field_of_header(text: str) -> str:
    """The column key a header means, IGNORE for a known column that carries nothing to save,
    "" for an empty cell, UNKNOWN otherwise."""
    key = header_key(text)
    if not key:
        return "" if not str(text or "").strip() else UNKNOWN
    found = _HEADER_TABLE.get(key)
    if found is not None:
        return found
    stripped = key
    for _ in range(3):
        for qualifier in _CONTACT_QUALIFIERS:
            if stripped.endswith(qualifier) and len(stripped) > len(qualifier):
                stripped = stripped[:-len(qualifier)]
                found = _HEADER_TABLE.get(stripped)
                # Only a person's columns: "Địa chỉ liên hệ" is the person's address, not the room's.
                if found in CONTACT_KEYS:
                    return found
    return UNKNOWN


def column_letter(index: int) -> str:
    """The letter of the 0-based column `index`: A, …, Z, AA, …"""
    return get_column_letter(index + 1)


def row_error(row: int | None, key: str | None, template: str, **params: Any) -> Problem:
    """A problem of a row (None: of the file) in the column of `key` (None: of the row as a whole)."""
    return row_problem(row, LABEL[key] if key else None, Message(template, params))
