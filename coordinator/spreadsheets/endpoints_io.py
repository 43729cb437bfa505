"""Endpoints and contacts as a spreadsheet: the template (pre-filled with a province's units when
asked), reading an upload as officials write it, the all-or-nothing import and the export (same
columns, so an export can be edited and uploaded again).

One row per contact; an endpoint with two contacts takes two rows with the same unit code. The
header row is found (the first row that names at least two known columns: a title above it is
skipped) and each header is matched by meaning (`FIELDS`: case, diacritics, spaces and
punctuation folded, usual synonyms: "SĐT", "Điện thoại", "Di động" are "Số điện thoại"), so
columns may come in any order and the first template's layout still imports. The whole file is
validated first and every problem is reported with its row (as Excel numbers it), its column
(the template's header and the file's column letter) and a reason; only a file without any
problem is saved, in one transaction, with bulk statements (a national file is ~23,000 rows).
A column the file does not have is not mentioned: what is stored for it is kept.

Callable without a request: the pages, the API, the benchmark and the tests call these functions.
The field rules (protocol, dial address, role, e-mail, phone, text that would act as a formula,
the characters and lengths of `coordinator.fields`) are the ones of the endpoint form and API
(`endpoints.services`); this module only adds what is particular to a spreadsheet (headers,
formula cells, Excel's _xHHHH_ escapes, rows of one unit that must agree), and reads a file only
within `spreadsheets.limits` (unpacked size, cells, the first 50 columns, 100,000 data rows).
"""
from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any

from openpyxl import load_workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.cell.read_only import EMPTY_CELL
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from coordinator.audit import services as audit
from coordinator.auth.permissions import can
from coordinator.deadlines import services as deadlines
from coordinator.endpoints.locking import lock_endpoints
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.endpoints.phones import national
from coordinator.endpoints.services import (CONTACT_TEXT, ENDPOINT_TEXT, ContactValues, EndpointValues,
                                            clean_contact, clean_endpoint, formula_error, list_endpoints)
from coordinator.events.models import Event
from coordinator.extensions import BULK_ROWS, db, refresh_statistics
from coordinator.fields import clean_text
from coordinator.invitations import services as invitations
from coordinator.messages import N_, Message
from coordinator.spreadsheets import limits
from coordinator.spreadsheets.safe import FORMULA_TRIGGERS, write_csv, write_xlsx, xlsx_value
from coordinator.text import fold, nfc
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit

# --- the columns -----------------------------------------------------------------------------------


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
MAX_ROWS = limits.MAX_ROWS  # data rows (below the header): ~4x the national file
HEADER_SEARCH_ROWS = 30  # the header row is looked for in the first rows (a title may come first)

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


def _header_words(text: str) -> str:
    # "Mã đơn vị (*)" and "MÃ ĐƠN VỊ" are the same header as "Mã đơn vị" (used by auth.sheets too).
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


# --- results and errors ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RowError:
    row: int | None  # as Excel numbers it
    column: str | None  # the Vietnamese label of the column (COLUMNS), or an unknown header as written
    msg: Message
    letter: str | None = None  # the column's letter in the file (A, B, …, AA)

    def as_dict(self) -> dict[str, Any]:
        out = {"row": self.row, "column": self.column, "message": self.msg.localized()}
        if self.letter:
            out["letter"] = self.letter
        return out


class ImportInvalid(Exception):
    """The file has problems; nothing was saved. `errors` lists every one of them."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s): " + "; ".join(
            f"row {e.row} {e.letter or ''} {e.column}: {e.msg.text}" for e in errors[:5]))

    def as_dicts(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.errors]


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class ImportResult:
    endpoints: Counts = field(default_factory=Counts)
    contacts: Counts = field(default_factory=Counts)

    @property
    def created(self) -> int:
        return self.endpoints.created + self.contacts.created

    @property
    def updated(self) -> int:
        return self.endpoints.updated + self.contacts.updated

    @property
    def unchanged(self) -> int:
        return self.endpoints.unchanged + self.contacts.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "endpoints": self.endpoints.as_dict(), "contacts": self.contacts.as_dict()}


def _error(row: int | None, key: str | None, template: str, **params: Any) -> RowError:
    return RowError(row, LABEL[key] if key else None, Message(template, params))


class Rows(list):
    """The data rows of an upload, [(row number, {column key: text})], each dict holding the
    columns the file has; `letters` gives each column's letter in the file."""

    def __init__(self, rows: Iterable[tuple[int, dict[str, str]]] = (), letters: dict[str, str] | None = None,
                 header_row: int = 1):
        super().__init__(rows)
        self.letters = letters or {}
        self.header_row = header_row


class Formula(str):
    """The text of an .xlsx cell that holds a formula (not a value)."""


# --- template and export ---------------------------------------------------------------------------

def template_units(event: Event, root: Unit) -> list[Unit]:
    """The units a pre-filled template lists: `root` and the units below it, of the event's tiers,
    in the tree's order (a province, its first district, that district's communes, …)."""
    return list(db.session.scalars(select(Unit).where(
        Unit.structure == event.unit_structure, Unit.path.startswith(root.path), Unit.tier.in_(event.tiers))
        .order_by(Unit.path)))


def _template_rows(units: Sequence[Unit] | None) -> list[list[str]]:
    if units is None:  # the empty template shows two example rows (refused if uploaded as they are)
        return [[e.get(k, "") for k in KEYS] for e in EXAMPLES]
    return [[u.code, u.name] + [""] * (len(KEYS) - 2) for u in units]


def template_xlsx(event: Event, units: Sequence[Unit] | None = None) -> bytes:
    """The data sheet (header and either two example rows or, pre-filled, one row per unit of
    `units` with its code and name) first, then the guide. The unit-code and phone columns are
    formatted as Text, so Excel keeps the leading zeros officials type."""
    data = write_xlsx(TEMPLATE_HEADERS, _template_rows(units), sheet_title=SHEET_TITLE,
                      widths=[c.width for c in COLUMNS])
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    for i, col in enumerate(COLUMNS):
        if col.key in TEXT_KEYS:
            ws.column_dimensions[column_letter(i)].number_format = "@"
    guide = wb.create_sheet(GUIDE_TITLE)
    guide.column_dimensions["A"].width = 18
    guide.column_dimensions["B"].width = 100
    for r, line in enumerate(_guide_lines(event, prefilled=units is not None), start=1):
        for c, text in enumerate(line, start=1):
            if not text:
                continue
            cell = guide.cell(row=r, column=c, value=xlsx_value(text))
            cell.data_type = TYPE_STRING  # the event's title is typed by a person: never a formula
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        if len(line) == 1 or line[1] is None:
            guide.cell(row=r, column=1).font = Font(bold=True, size=13 if r == 1 else 11)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _guide_lines(event: Event, prefilled: bool = False) -> list[tuple[str | None, ...]]:
    # The file is a Vietnamese administrative form, like its header row: its guide is in Vietnamese.
    tier_names = {"central": "Trung ương", "province": "cấp tỉnh", "district": "cấp huyện", "commune": "cấp xã"}
    tiers = ", ".join(tier_names.get(t, t) for t in event.tiers)
    if prefilled:
        rows_line = ("", "Mỗi đơn vị đã có sẵn một dòng với Mã đơn vị và Tên đơn vị: điền tiếp vào dòng đó; dòng chỉ có "
                         "mã và tên (chưa điền gì thêm) được bỏ qua khi tải lên. Ví dụ cách điền ở cuối trang này.")
    else:
        rows_line = ("", "Xóa hai dòng ví dụ trước khi tải lên.")
    lines: list[tuple[str | None, ...]] = [
        (f"Danh sách điểm cầu và cán bộ đầu mối — {event.title}",),
        ("",),
        ("Cách điền", None),
        ("", "Mỗi dòng là một người (cán bộ) của một điểm cầu. Điểm cầu có hai người thì điền hai dòng "
             "cùng Mã đơn vị."),
        ("", "Các dòng sau của cùng một đơn vị có thể để trống Tên điểm cầu, Địa chỉ, Giao thức, Địa chỉ kết nối "
             "(lấy theo dòng đầu); nếu điền thì phải giống dòng đầu."),
        rows_line,
        ("", "Không xóa dòng tiêu đề. Các cột được nhận theo tiêu đề, thứ tự tùy ý; tiêu đề quen dùng cũng được "
             "(ví dụ SĐT, Điện thoại, Di động cho Số điện thoại; Họ tên, Tên cán bộ cho Họ và tên; Email cho Thư "
             "điện tử). Cột STT, Ghi chú được bỏ qua. Thiếu một cột thì giá trị đã lưu của cột đó được giữ nguyên."),
        ("", "Không dùng công thức: ô có công thức, hoặc chữ bắt đầu bằng = + - @ giống công thức (ví dụ "
             "=HYPERLINK(…)), bị từ chối."),
        ("", "Nội dung có ký tự điều khiển hoặc ký tự ẩn (thường lẫn vào khi sao chép từ phần mềm khác) bị từ "
             "chối, kèm vị trí của ký tự. Độ dài tối đa: "
             f"{LABEL['name']} {ENDPOINT_TEXT['name'].max_length} ký tự, {LABEL['contact_name']} "
             f"{CONTACT_TEXT['name'].max_length}, {LABEL['contact_position']} {CONTACT_TEXT['position'].max_length}, "
             f"{LABEL['contact_email']} {CONTACT_TEXT['email'].max_length}."),
        ("", f"Hệ thống chỉ đọc {limits.MAX_COLUMNS} cột đầu (A đến {column_letter(limits.MAX_COLUMNS - 1)}) và tối "
             f"đa {limits.MAX_ROWS:_} dòng dữ liệu (không tính dòng tiêu đề).".replace("_", ".")),
        ("", "Tải lên lại cùng một tệp không làm thay đổi gì: điểm cầu được nhận theo Mã đơn vị, cán bộ theo "
             "Số điện thoại. Điểm cầu và cán bộ không có trong tệp được giữ nguyên."),
        ("", "Tệp có lỗi thì không dòng nào được lưu; hệ thống liệt kê mọi lỗi theo số dòng và cột để sửa."),
        ("",),
        ("Các cột", None),
        (LABEL["unit_code"], "Mã đơn vị hành chính (mã thống kê): Trung ương TW, tỉnh 2 chữ số (56), huyện 3 chữ số "
                             "(568), xã 5 chữ số (22333). Bắt buộc. Giữ số 0 ở đầu (cột đã định dạng Văn bản). "
                             f"Các cấp của hội nghị này: {tiers}. Chỉ được đăng ký đơn vị thuộc phạm vi của mình."),
        (LABEL["unit_name"], "Tên đơn vị, để dễ đọc; không được lưu (đơn vị được nhận theo mã)."),
        (LABEL["name"], "Tên phòng họp / điểm cầu. Bắt buộc."),
        (LABEL["address"], "Địa chỉ của điểm cầu."),
        (LABEL["protocol"], "sip, h323, webrtc hoặc other (khác). Để trống là other."),
        (LABEL["dial"], "SIP: sip:ten@10.0.0.5 · H.323: địa chỉ IP, tên máy hoặc số alias · webrtc: đường dẫn "
                        "https://… Có thể để trống nếu chưa có."),
        (LABEL["expected_attendance"], "Số người dự kiến dự tại điểm cầu (số nguyên, ví dụ 30). Không bắt buộc."),
        (LABEL["contact_name"], "Họ và tên cán bộ. Bắt buộc khi có thông tin cán bộ."),
        (LABEL["contact_position"], "Chức vụ."),
        (LABEL["contact_phone"], "Một số trên một ô: di động 0913 123 456, cố định 0258 3563 535 (mã vùng mới từ "
                                 "2017; 058.3563535 là mã vùng cũ và bị từ chối). Không dùng chữ cái."),
        (LABEL["contact_email"], "Địa chỉ thư điện tử (không bắt buộc)."),
        (LABEL["contact_role"], "Chủ trì, Kỹ thuật hoặc Tham dự (hoặc chair, technical, attendee). Để trống là "
                                "Tham dự."),
        (LABEL["focal"], "Có (hoặc x): cán bộ đầu mối của tỉnh, nhận tin báo sự cố của tỉnh. Để trống là không."),
    ]
    if prefilled:
        lines += [("",), ("Ví dụ", None), TEMPLATE_HEADERS]
        lines += [tuple(e.get(k, "") for k in KEYS) for e in EXAMPLES]
    return lines


def template_csv(units: Sequence[Unit] | None = None) -> bytes:
    return write_csv(TEMPLATE_HEADERS, _template_rows(units))


def export_rows(event: Event, user) -> Iterator[list[Any]]:
    """The user's endpoints (scope-filtered), one row per contact, in the template's layout."""
    # In the tree's order (a province, its first district, that district's communes, ...), the
    # order in which a province compiles its list.
    for endpoint in sorted(list_endpoints(event, user), key=lambda e: e.unit.path):
        head = [endpoint.unit.code, endpoint.unit.name, endpoint.name, endpoint.address, endpoint.protocol,
                endpoint.dial, endpoint.expected_attendance]
        if not endpoint.contacts:
            yield head + [""] * len(CONTACT_KEYS)
        for c in endpoint.contacts:
            yield head + [c.name, c.position, national(c.phone), c.email, ROLE_LABELS.get(c.role, c.role),
                          FOCAL_LABEL if c.focal else ""]


def export_endpoints(event: Event, user, fmt: str) -> bytes:
    """xlsx or csv, formula-safe (safe.write_xlsx / write_csv)."""
    rows = list(export_rows(event, user))
    if fmt == "csv":
        return write_csv(TEMPLATE_HEADERS, rows)
    if fmt == "xlsx":
        return write_xlsx(TEMPLATE_HEADERS, rows, sheet_title=SHEET_TITLE, widths=[c.width for c in COLUMNS])
    raise ValueError(f"unknown format {fmt!r}")


def column_letter(index: int) -> str:
    """The letter of the 0-based column `index`: A, …, Z, AA, …"""
    return get_column_letter(index + 1)


# --- reading ---------------------------------------------------------------------------------------

def read_rows(filename: str, data: bytes) -> Rows:
    """The data rows of an upload as (row number, {column key: text}), with the file's letters.

    The header row is the first (of the first HEADER_SEARCH_ROWS) that names two known columns;
    a second header row below it (sub-headers under a merged "Cán bộ đầu mối") and a row of column
    numbers ("(1) (2) (3)") are taken in. Rows with nothing but a unit's code and name (a
    pre-filled template's rows not filled in) are skipped. Raises ImportInvalid for a file that
    cannot be read or whose header is wrong (unknown, repeated or missing columns).
    """
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext == "xlsx":
        raw = _xlsx_rows(data, formulas=True)
    elif ext == "csv":
        raw = _csv_rows(data, delimiter=_csv_delimiter(data))
    else:
        raise ImportInvalid([_error(None, None, N_("'%(name)s' is not an .xlsx or .csv file (an old .xls workbook "
                                                   "must be saved as .xlsx first)"), name=filename)])
    return _table(iter(raw))


def _header_fields(cells: Sequence[Any]) -> list[str]:
    return [field_of_header(_text(c, "header")) for c in cells]


def _known(fields: list[str]) -> int:
    return sum(1 for f in fields if f in BY_KEY)


_NUMBERING = re.compile(r"[(\[]?(\d{1,2})[)\]]?")


def _is_numbering(cells: Sequence[Any]) -> bool:
    """A row of column numbers under the header, as official forms have: (1) (2) (3) …"""
    texts = [_text(c, "header") for c in cells]
    numbers = [_NUMBERING.fullmatch(t) for t in texts if t]
    if len(numbers) < 3 or not all(numbers):
        return False
    values = [int(m.group(1)) for m in numbers]
    return all(b == a + 1 for a, b in zip(values, values[1:]))


def _table(raw: Iterator[tuple[int, Sequence[Any]]]) -> Rows:
    # 1. The header row.
    seen: list[tuple[int, Sequence[Any], list[str]]] = []
    header = None
    for number, cells in raw:
        fields = _header_fields(cells)
        seen.append((number, cells, fields))
        if _known(fields) >= 2:
            header = len(seen) - 1
            break
        if number >= HEADER_SEARCH_ROWS:
            break
    if header is None:
        candidates = [i for i, (_, _, f) in enumerate(seen) if any(f)]
        if not candidates:
            raise ImportInvalid([_error(1, None, N_("the file is empty: the first row must be the template's header"))])
        # The row naming most known columns, to say what is wrong with it; if none names any,
        # the file has no header row at all (one error, not one per cell of its first row).
        header = max(candidates, key=lambda i: (_known(seen[i][2]), -i))
        if not _known(seen[header][2]):
            raise ImportInvalid([_error(seen[header][0], None, N_(
                "no header row: no cell of the first rows names a column of the template; keep the template's "
                "header row above the data (the headers are: %(expected)s)"), expected=", ".join(TEMPLATE_HEADERS))])
    header_number, header_cells, fields = seen[header]
    rest = itertools.chain(seen[header + 1:], ((n, c, None) for n, c in raw))
    rest = ((n, c) for n, c, _ in rest)

    # 2. A second header row (sub-headers under a merged group title), then a numbering row.
    texts = [_text(c, "header") for c in header_cells]
    first_data: list[tuple[int, Sequence[Any]]] = []
    numbering_row = None
    for number, cells in rest:
        sub = _header_fields(cells)
        if (_known(sub) >= 1 and all(f in ("", IGNORE) or f in BY_KEY for f in sub)
                and any(f in BY_KEY and (i >= len(fields) or fields[i] in ("", UNKNOWN)) for i, f in enumerate(sub))):
            width = max(len(fields), len(sub))
            fields = [(sub[i] if i < len(sub) and sub[i] else (fields[i] if i < len(fields) else ""))
                      for i in range(width)]
            texts = [(_text(cells[i], "header") if i < len(cells) and sub[i] else (texts[i] if i < len(texts) else ""))
                     for i in range(width)]
            header_number = number
            continue
        if not first_data and _is_numbering(cells):
            first_data.append((number, ()))  # nothing in it: skipped below
            numbering_row = number
            continue
        first_data.append((number, cells))
        break
    rows_iter = itertools.chain(first_data, rest)
    # Data rows are counted from the first row below the header (title rows, the header, a second
    # header row and a numbering row are not data); empty rows after the last data row do not count.
    before_data = numbering_row or header_number

    # 3. Each header's meaning: unknown, repeated and missing columns are all said at once.
    errors: list[RowError] = []
    positions: dict[str, int] = {}
    expected = ", ".join(TEMPLATE_HEADERS)
    for i, (f, text) in enumerate(zip(fields, texts)):
        letter = column_letter(i)
        if f == UNKNOWN:
            errors.append(RowError(header_number, text, Message(N_(
                "'%(found)s' is not a column of the template; the headers are: %(expected)s (other usual names such "
                "as SĐT or Họ tên are recognised; STT and Ghi chú are ignored)"), {"found": text, "expected": expected}),
                letter))
        elif f in BY_KEY:
            if f in positions and BY_KEY[f].saved:
                first = positions[f]
                errors.append(RowError(header_number, LABEL[f], Message(N_(
                    "'%(found)s' is the same column as %(other)s ('%(first)s'): keep one of them"),
                    {"found": text, "other": column_letter(first), "first": texts[first]}), letter))
            positions.setdefault(f, i)
    missing = [k for k in REQUIRED if k not in positions]
    if any(k in positions for k in CONTACT_KEYS):
        missing += [k for k in REQUIRED_WITH_CONTACTS if k not in positions]
    if missing:
        errors.append(RowError(header_number, None, Message(N_(
            "the header row (row %(row)s) lacks the column(s) %(missing)s; the headers are: %(expected)s"),
            {"row": header_number, "missing": ", ".join(LABEL[k] for k in missing), "expected": expected})))
    if errors:
        raise ImportInvalid(errors)

    # 4. The data rows.
    saved = {k: i for k, i in positions.items() if BY_KEY[k].saved}
    headed = set(positions.values()) | {i for i, f in enumerate(fields) if f}
    letters = {LABEL[k]: column_letter(i) for k, i in positions.items()}
    rows = Rows(letters=letters, header_row=header_number)
    unheaded: dict[int, int] = {}  # column index -> first row with a value under no header
    for number, cells in rows_iter:
        if not any(cells) and cells.count(None) + cells.count("") == len(cells):
            continue  # an empty row (openpyxl fills the rows a sheet skips with them; CSV: ;;;;)
        if number - before_data > MAX_ROWS:
            raise ImportInvalid([_error(number, None, N_(
                "the file has more than %(max)s data rows (row %(number)s is the first one beyond the limit; the "
                "header is not counted): split the list into several files"), max=MAX_ROWS, number=number)])
        values = {}
        for key, i in saved.items():
            cell = cells[i] if i < len(cells) else None
            values[key] = cell if isinstance(cell, Formula) else _text(cell, key)
        for i in range(len(cells)):
            if i not in headed and i not in unheaded and cells[i] is not None and _text(cells[i], "") != "":
                unheaded[i] = number
        # Nothing but the unit (a pre-filled row not filled in), or nothing at all: skipped.
        if any(v for k, v in values.items() if k != "unit_code"):
            rows.append((number, values))
    if unheaded:
        raise ImportInvalid([RowError(number, None, Message(N_(
            "this column has values but no header: give it one of the template's headers (%(expected)s) or empty it"),
            {"expected": expected}), column_letter(i)) for i, number in sorted(unheaded.items())])
    if not rows:
        raise ImportInvalid([_error(None, None, N_("the file has no rows below the header"))])
    return rows


# How Office Open XML writes a character XML cannot hold (ESC is _x001B_, a CR Excel keeps in a
# cell _x000D_); openpyxl leaves these escapes as they are.
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(value: Any) -> Any:
    """A cell's text with the file's _xHHHH_ escapes turned back into the characters they stand for
    (then refused or kept by the field rules, as if typed in the form)."""
    if isinstance(value, str) and "_x" in value:
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def _xlsx_rows(data: bytes, formulas: bool = False) -> Iterator[tuple[int, Sequence[Any]]]:
    """The first sheet's rows as (row number, cell values), the first `limits.MAX_COLUMNS`
    columns of each. With `formulas`, a cell holding a formula comes as its Formula text ("=A2");
    without, as the value Excel last computed. A workbook that unpacks to more than a real one
    does is refused before it is parsed (`limits.check_xlsx`)."""
    try:
        limits.check_xlsx(data)
    except limits.TooLarge as exc:
        raise ImportInvalid([RowError(None, None, exc.msg)]) from None
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=not formulas)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise ImportInvalid([_error(None, None, N_("the file could not be read as an Excel workbook (.xlsx): "
                                                   "%(detail)s"), detail=str(exc) or type(exc).__name__)]) from None
    try:
        ws = wb.worksheets[0]  # the first sheet is the data; a guide may follow
        # Read-only mode trusts the size the file declares, which some programs write wrong
        # (rows beyond it would be dropped silently): read every row there is instead.
        ws.reset_dimensions()
        # Missing rows come as empty ones, so the count is the row number Excel shows.
        # Only the columns the template can use: openpyxl still parses the cells after them, but
        # builds nothing for them (the size checked above bounds the parsing).
        if not formulas:
            for number, cells in enumerate(ws.iter_rows(max_col=limits.MAX_COLUMNS, values_only=True), start=1):
                if cells.count(None) == len(cells):
                    yield number, ()
                    continue
                yield number, tuple(_unescape(v) for v in cells)
            return
        empty = None  # openpyxl yields the rows a sheet skips as one and the same tuple of EMPTY_CELL
        for number, cells in enumerate(ws.iter_rows(max_col=limits.MAX_COLUMNS), start=1):
            if cells is empty or (cells and cells[0] is EMPTY_CELL and all(c is EMPTY_CELL for c in cells)):
                empty = cells
                yield number, ()  # an empty row (a sheet that skips to row 1,048,576 has a million)
                continue
            yield number, [_formula(c.value) if c.data_type == "f" else _unescape(c.value) for c in cells]
    except ImportInvalid:
        raise
    except Exception as exc:  # a damaged sheet: whatever the parser trips on, the file is unreadable
        raise ImportInvalid([_error(None, None, N_("the file could not be read as an Excel workbook (.xlsx): "
                                                   "%(detail)s"), detail=str(exc) or type(exc).__name__)]) from None
    finally:
        wb.close()


def _formula(value: Any) -> Formula:
    text = str(getattr(value, "text", value) or "")  # an array formula is an object with its text
    return Formula(text if text.startswith("=") else "=" + text)


def _csv_text(data: bytes) -> str:
    """The file as text; refused when not UTF-8 (or UTF-16), or when a line holds more columns than
    Excel has (`limits.check_csv`: csv would build a list of millions of empty cells)."""
    try:
        text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportInvalid([_error(None, None, N_(
            "the CSV file is not in UTF-8; in Excel choose 'CSV UTF-8 (Comma delimited)' when saving, "
            "or upload the .xlsx"))]) from None
    try:
        limits.check_csv(text)
    except limits.TooLarge as exc:
        raise ImportInvalid([RowError(None, None, exc.msg)]) from None
    return text


_DELIMITERS = (",", ";", "\t")


def _csv_delimiter(data: bytes) -> str | None:
    """The separator under which the file's first rows name the most known columns (Excel writes
    ';' where the decimal separator is ',', as in Vietnamese settings; tabs for "Unicode text");
    None when no separator finds any (then the first line decides)."""
    try:
        head = "\n".join(_csv_text(data).split("\n", HEADER_SEARCH_ROWS)[:HEADER_SEARCH_ROWS])
    except ImportInvalid:
        return None  # said when the rows are read
    best, score = None, 0
    for delimiter in _DELIMITERS:
        try:
            known = max((_known(_header_fields(cells[:limits.MAX_COLUMNS]))
                         for cells in csv.reader(io.StringIO(head), delimiter=delimiter)), default=0)
        except csv.Error:
            continue
        if known > score:
            best, score = delimiter, known
    return best


def _csv_rows(data: bytes, delimiter: str | None = None) -> Iterator[tuple[int, Sequence[Any]]]:
    text = _csv_text(data)
    if delimiter is None:
        # The header line holds the separators of the right kind (Excel pads every line with them).
        first_line = text.split("\n", 1)[0]
        delimiter = max(_DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            # Our exports put an apostrophe before text that would read as a formula
            # (safe.csv_safe); take it off again so an exported file re-imports unchanged.
            # Only the first MAX_COLUMNS columns are read, as in an .xlsx.
            yield number, [c[1:] if c.startswith("'") and c[1:].startswith(FORMULA_TRIGGERS) else c
                           for c in cells[:limits.MAX_COLUMNS]]
    except csv.Error as exc:
        raise ImportInvalid([_error(None, None, N_("the CSV file could not be read: %(detail)s"),
                                    detail=str(exc))]) from None


def _text(value: Any, key: str) -> str:
    """A cell as the text the official typed.

    Excel turns a phone number typed into a General/Number cell into a number and drops its
    leading 0 (0913123456 -> 913123456); openpyxl then gives an int. A number in the phone
    column is turned back into the text it was: 9 or 10 digits get their 0 again (mobile and
    landline numbers without the trunk 0), 84... gets its +. Unit codes lose zeros the same way
    ("01" -> 1), which cannot be undone (1, 001 and 00001 all exist): the unknown-code message
    says so.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as Excel shows it
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        digits = str(value)
        if key == "contact_phone":
            if len(digits) in (9, 10):
                return "0" + digits
            if digits.startswith("84") and len(digits) in (11, 12):
                return "+" + digits
        return digits
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return nfc(str(value)).strip()


# --- validation ------------------------------------------------------------------------------------

@dataclass
class _PlannedEndpoint:
    unit: Unit | None  # None when the code is wrong: its rows are still checked, and nothing is saved
    first_row: int
    raw: dict[str, Any]  # the first row's endpoint fields, which later rows may leave blank
    values: EndpointValues | None  # None when the first row's endpoint fields are wrong
    stored: Any = None  # the unit's endpoint as stored (id and fields), None for a new one
    contacts: dict[str, tuple[int, ContactValues]] = field(default_factory=dict)  # E.164 -> (row, values)
    # The contact attributes the file gives (its columns); the others of a known contact are kept.
    contact_attrs: tuple[str, ...] = ()


def _event_units(event: Event) -> dict[str, Unit]:
    """Every unit the event's spreadsheet may name, by code (one query, ~11,400 for 2024)."""
    return {u.code: u for u in db.session.scalars(
        select(Unit).where(Unit.structure == event.unit_structure, Unit.tier.in_(event.tiers)))}


def _stored_endpoints(event: Event) -> dict[int, Any]:
    return {r.unit_id: r for r in db.session.execute(
        select(Endpoint.id, Endpoint.unit_id, *(getattr(Endpoint, a) for a in ENDPOINT_KEYS))
        .where(Endpoint.event_id == event.id))}


_ENDPOINT_DEFAULTS = {"name": "", "address": "", "protocol": "", "dial": "", "expected_attendance": None}


def _is_example(row: dict[str, Any]) -> bool:
    """The row is one of the template's examples, in the columns the file has (the first
    template had no "Đầu mối tỉnh")."""
    return any(all(v == e.get(k, "") for k, v in row.items()) for e in EXAMPLES)


def validate(event: Event, user, rows: Iterable[tuple[int, dict[str, Any]]]) -> list[_PlannedEndpoint]:
    """Check every row; raise ImportInvalid with all the problems, or return what to save."""
    letters = getattr(rows, "letters", None)
    rows = list(rows)
    present = set().union(*(r.keys() for _, r in rows)) if rows else set()
    contact_attrs = ("name", "phone_type") + tuple(a for k, a in CONTACT_ATTRS.items() if k in present)
    units = _event_units(event)
    stored = _stored_endpoints(event)
    windows = {tier: deadlines.registration_window(event, tier) for tier in event.tiers}
    planned: dict[str, _PlannedEndpoint] = {}  # by unit code, in the file's order
    errors: list[RowError] = []
    for number, row in rows:
        if _is_example(row):
            errors.append(_error(number, "unit_code", N_("this is an example row of the template: delete it")))
            continue
        # A cell holding a formula is refused as such; its field is not checked again.
        formulas = {k for k, v in row.items() if isinstance(v, Formula)}
        for key in sorted(formulas, key=KEYS.index):
            errors.append(_error(number, key, N_(
                "this cell holds a formula (%(formula)s), not a value: type the value, or copy the column and paste "
                "it back as values only (Paste Special → Values)"), formula=_short(row[key])))
        code = row["unit_code"]
        plan = planned.get(code)
        if plan is None:
            unit = _row_unit(event, user, units, windows, number, row, errors, formulas)
            current = stored.get(unit.id) if unit else None
            if "unit_code" in formulas or formula_error(code) or clean_text(code)[1]:
                # Which unit (first row or not) cannot be told: only the person is checked.
                raw, values = dict(_ENDPOINT_DEFAULTS), None
            elif current is not None and not any(row.get(k) for k in ENDPOINT_KEYS):
                # Rows that only list people of an endpoint already registered leave it as it is.
                raw = {k: getattr(current, k) for k in ENDPOINT_KEYS}
                values = EndpointValues(**raw)
            else:
                # A column the file does not have keeps what is stored (or the default).
                raw = {k: row[k] if k in row else (getattr(current, k) if current is not None else _ENDPOINT_DEFAULTS[k])
                       for k in ENDPOINT_KEYS}
                values = _row_endpoint(number, row, raw, None, errors, formulas)
            plan = _PlannedEndpoint(unit, number, raw, values, current, contact_attrs=contact_attrs)
            if code and not isinstance(code, Formula):  # rows without a code are each on their own
                planned[code] = plan
        else:
            if plan.unit is None:  # the unit's problem is this row's too
                _row_unit(event, user, units, windows, number, row, errors, formulas)
            _row_endpoint(number, row, plan.raw, plan, errors, formulas)
        _row_contact(number, row, plan, errors, formulas)
    if errors:
        if letters:
            errors = [e if e.letter or e.column not in letters else replace(e, letter=letters[e.column])
                      for e in errors]
        raise ImportInvalid(errors)
    return [p for p in planned.values() if p.unit is not None]


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _row_unit(event, user, units, windows, number, row, errors, formulas=frozenset()) -> Unit | None:
    code = row["unit_code"]
    if "unit_code" in formulas:
        return None  # said already
    if not code:
        errors.append(_error(number, "unit_code", N_("the unit code is required")))
        return None
    err = clean_text(code)[1] or formula_error(code)
    if err:
        errors.append(RowError(number, LABEL["unit_code"], err))
        return None
    unit = units.get(code)
    if unit is None:
        if code.isdigit() and len(code) < 5:
            errors.append(_error(number, "unit_code", N_(
                "no unit with code '%(code)s' among this event's tiers; if Excel removed the leading zeros, "
                "format the column as Text and type the code again (e.g. 01, 001, 00001)"), code=code))
        else:
            errors.append(_error(number, "unit_code", N_("no unit with code '%(code)s' among this event's tiers"),
                                 code=code))
        return None
    if not can(user, "registration.manage", unit):
        errors.append(_error(number, "unit_code", N_(
            "%(unit)s (%(code)s) is outside your area: you may only register endpoints of your own unit and "
            "the units below it"), unit=unit.name, code=code))
        return None
    if not windows[unit.tier].accepts:
        try:
            deadlines.ensure_open(event, unit)
        except deadlines.RegistrationClosed as exc:  # the window said closed: this is the message why
            errors.append(RowError(number, LABEL["unit_code"], exc.msg))
        return None
    return unit


def _row_endpoint(number: int, row: dict[str, Any], raw: dict[str, Any], plan: _PlannedEndpoint | None,
                  errors: list[RowError], formulas=frozenset()) -> EndpointValues | None:
    """The endpoint fields of the unit's first row (`raw`: the row's, or what is stored for a
    column the file lacks); on a later row, blank fields repeat the first row's and filled ones
    must agree with it."""
    if plan is None:
        values = clean_endpoint(raw)
        errors.extend(RowError(number, LABEL.get(p.field), p.msg) for p in values.problems if p.field not in formulas)
        return None if values.problems else values
    given = [k for k in ENDPOINT_KEYS if row.get(k)]
    if not given:
        return plan.values
    merged = {k: row.get(k) or plan.raw[k] for k in ENDPOINT_KEYS}
    values = clean_endpoint(merged)
    bad = {p.field for p in values.problems}
    errors.extend(RowError(number, LABEL[p.field], p.msg) for p in values.problems
                  if p.field in given and p.field not in formulas)
    if plan.values is None:
        return None  # the first row is wrong already: said there
    for key in given:
        if key not in bad and key not in formulas and getattr(values, key) != getattr(plan.values, key):
            errors.append(_error(number, key, N_(
                "'%(value)s' differs from row %(first)s of the same unit ('%(other)s'): all rows of a unit "
                "describe the same endpoint; leave this cell empty or make it the same"),
                value=row[key], first=plan.first_row, other=getattr(plan.values, key)))
    return plan.values


def _row_contact(number: int, row: dict[str, Any], plan: _PlannedEndpoint, errors: list[RowError],
                 formulas=frozenset()) -> None:
    if not any(row.get(k) for k in CONTACT_KEYS):
        return  # an endpoint row without a person
    contact, problems = clean_contact({f: row.get(key) for f, key in CONTACT_COLUMN.items()})
    errors.extend(RowError(number, LABEL[CONTACT_COLUMN[p.field]], p.msg) for p in problems
                  if CONTACT_COLUMN[p.field] not in formulas)
    if contact is None:
        return
    seen = plan.contacts.get(contact.phone)
    if seen is not None:
        errors.append(_error(number, "contact_phone", N_(
            "%(phone)s is already given for this unit in row %(first)s: one row per person"),
            phone=row["contact_phone"], first=seen[0]))
        return
    plan.contacts[contact.phone] = (number, contact)


# --- saving ----------------------------------------------------------------------------------------

_CONTACT_ATTRS = ("role", "name", "position", "phone_type", "email", "focal")
_CHUNK = 500  # ids per IN (...): well below every backend's limit on bound parameters


def import_endpoints(event: Event, user, rows: Iterable[tuple[int, dict[str, str]]], *,
                     filename: str = "") -> ImportResult:
    """Validate every row, then create or update endpoints (by unit) and contacts (by phone) in
    one transaction. Raises ImportInvalid with every problem, having saved nothing.

    What the file does not mention is kept. A row that matches what is stored is not written, so
    uploading the same file again changes no row (no `updated_at` churn).
    """
    rows = rows if isinstance(rows, list) else list(rows)
    try:
        _lock_named(event, rows)  # before anything is read: what is validated against stays as it is
        planned = validate(event, user, rows)
        result, touched = _save(event, planned)
        if touched:
            # Only units whose endpoint or contacts changed can have met (or unmet) a deadline.
            deadlines.refresh(event, touched)
        if any((result.endpoints.created, result.endpoints.updated, result.contacts.created, result.contacts.updated)):
            invitations.sync(event)  # new contacts invited, changed endpoints sent as updates
        audit.record("endpoints.import", "event", event.id, actor=user, event=event.slug, filename=filename,
                     endpoints=result.endpoints.as_dict(), contacts=result.contacts.as_dict())
        db.session.commit()
    except IntegrityError:
        # Someone saved an endpoint of the same unit (or a contact) between our read and our write.
        db.session.rollback()
        raise ImportInvalid([_error(None, None, N_("these endpoints were changed by someone else at the same time; "
                                                   "upload the file again"))]) from None
    except BaseException:
        db.session.rollback()
        raise
    if result.endpoints.created + result.contacts.created >= BULK_ROWS:  # a national list: fresh plans
        refresh_statistics("endpoints", "contacts", "hosted_units", "invitations", "outbox_messages")
    return result


def _lock_named(event: Event, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Hold the endpoints of the units the file names, and those hosting them (a unit that gets its
    own endpoint leaves its host), as every save of an endpoint does (endpoints.locking)."""
    codes = sorted({str(r.get("unit_code") or "").strip() for _, r in rows} - {""})
    ids: set[int] = set()
    for chunk in _chunks(codes):
        unit_ids = select(Unit.id).where(Unit.structure == event.unit_structure, Unit.code.in_(chunk))
        ids.update(db.session.scalars(select(Endpoint.id).where(Endpoint.event_id == event.id,
                                                                Endpoint.unit_id.in_(unit_ids))))
        ids.update(db.session.scalars(select(HostedUnit.endpoint_id).where(HostedUnit.event_id == event.id,
                                                                           HostedUnit.unit_id.in_(unit_ids))))
    lock_endpoints(ids)


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _save(event: Event, planned: list[_PlannedEndpoint]) -> tuple[ImportResult, list[Unit]]:
    result = ImportResult()
    now = utcnow()
    touched: dict[int, Unit] = {}

    new_endpoints, changed_endpoints = [], []
    for plan in planned:
        unit_id = plan.unit.id
        fields = {a: getattr(plan.values, a) for a in ENDPOINT_KEYS}
        row = plan.stored
        if row is None:
            new_endpoints.append({"event_id": event.id, "unit_id": unit_id, **fields, "upstream_bridge": "",
                                  "provider": "", "created_at": now, "updated_at": now})
            touched[unit_id] = plan.unit
        elif any(getattr(row, a) != v for a, v in fields.items()):
            changed_endpoints.append({"id": row.id, **fields, "updated_at": now})
        else:
            result.endpoints.unchanged += 1
    result.endpoints.created, result.endpoints.updated = len(new_endpoints), len(changed_endpoints)
    if new_endpoints:
        db.session.execute(insert(Endpoint.__table__), new_endpoints)
        _stop_hosting(event, [e["unit_id"] for e in new_endpoints], touched)
    if changed_endpoints:
        db.session.execute(update(Endpoint), changed_endpoints)
    if new_endpoints or changed_endpoints:
        from coordinator.endpoints.services import touch_registry

        touch_registry(event.id)

    endpoint_ids = {unit_id: endpoint_id for endpoint_id, unit_id in db.session.execute(
        select(Endpoint.id, Endpoint.unit_id).where(Endpoint.event_id == event.id))}
    stored = {(r.endpoint_id, r.phone): r for r in db.session.execute(
        select(Contact.id, Contact.endpoint_id, Contact.phone, *(getattr(Contact, a) for a in _CONTACT_ATTRS))
        .join(Endpoint).where(Endpoint.event_id == event.id))}
    new_contacts, changed_contacts = [], []
    for plan in planned:
        unit_id = plan.unit.id
        endpoint_id = endpoint_ids[unit_id]
        for phone, (_, values) in plan.contacts.items():
            row = stored.get((endpoint_id, phone))
            if row is None:
                fields = {a: getattr(values, a) for a in _CONTACT_ATTRS}
                new_contacts.append({"endpoint_id": endpoint_id, "phone": phone, **fields, "language": "vi",
                                     "sms_opt_out": False, "created_at": now, "updated_at": now})
                touched[unit_id] = plan.unit
                continue
            # A known person: only what the file's columns give changes (no "Đầu mối tỉnh" column:
            # the focal mark stays as it is).
            fields = {a: getattr(values, a) for a in plan.contact_attrs or _CONTACT_ATTRS}
            if any(getattr(row, a) != v for a, v in fields.items()):
                changed_contacts.append({"id": row.id, **fields, "updated_at": now})
            else:
                result.contacts.unchanged += 1
                continue
            touched[unit_id] = plan.unit
    result.contacts.created, result.contacts.updated = len(new_contacts), len(changed_contacts)
    if new_contacts:
        db.session.execute(insert(Contact.__table__), new_contacts)
    if changed_contacts:
        db.session.execute(update(Contact), changed_contacts)
    # Every endpoint changed (its fields, its contacts, a unit it hosted left) moves its version;
    # updated_at keeps dating its own fields.
    new_ids = {endpoint_ids[e["unit_id"]] for e in new_endpoints}
    changed = ({endpoint_ids[u] for u in touched if u in endpoint_ids} | {e["id"] for e in changed_endpoints}) - new_ids
    table = Endpoint.__table__
    for chunk in _chunks(sorted(changed)):
        db.session.execute(update(table).where(table.c.id.in_(chunk))
                           .values(version=table.c.version + 1, updated_at=table.c.updated_at))
    return result, list(touched.values())


def _stop_hosting(event: Event, unit_ids: list[int], touched: dict[int, Unit]) -> None:
    """A unit that gets its own endpoint no longer attends at its parent's (as save_endpoint)."""
    for chunk in _chunks(unit_ids):
        hosts = db.session.execute(
            select(HostedUnit.id, Unit).join(Endpoint, HostedUnit.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(HostedUnit.event_id == event.id, HostedUnit.unit_id.in_(chunk))).all()
        if hosts:
            for _, host_unit in hosts:
                touched[host_unit.id] = host_unit
            db.session.execute(delete(HostedUnit).where(HostedUnit.id.in_([h[0] for h in hosts])))


