"""Endpoints and contacts as a spreadsheet: the template, reading an upload, the all-or-nothing
import and the export (same columns, so an export can be edited and uploaded again).

One row per contact; an endpoint with two contacts takes two rows with the same unit code. The
whole file is validated first and every problem is reported with its row (as Excel numbers it,
header = row 1), its column and a reason; only a file without any problem is saved, in one
transaction, with bulk statements (a national file is ~23,000 rows).

Callable without a request: the pages, the API, the benchmark and the tests call these functions.
The field rules (protocol, dial address, role, e-mail, phone) are the ones of the endpoint form and
API (`endpoints.services`); this module only adds what is particular to a spreadsheet.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from openpyxl import load_workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Alignment, Font
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from coordinator.audit import services as audit
from coordinator.auth.permissions import can
from coordinator.deadlines import services as deadlines
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.endpoints.phones import national
from coordinator.endpoints.services import ContactValues, EndpointValues, clean_contact, clean_endpoint, list_endpoints
from coordinator.events.models import Event
from coordinator.extensions import BULK_ROWS, db, refresh_statistics
from coordinator.invitations import services as invitations
from coordinator.messages import N_, Message
from coordinator.spreadsheets.safe import FORMULA_TRIGGERS, write_csv, write_xlsx
from coordinator.text import fold, nfc
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit

# --- the columns -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the Vietnamese header of the file, also the `column` of an error
    english: str  # accepted as a header too (files made by scripts)
    width: int


# The order is the contract with every spreadsheet ever filled in: never reorder, only append.
COLUMNS: tuple[Column, ...] = (
    Column("unit_code", "Mã đơn vị", "Unit code", 12),
    Column("name", "Tên điểm cầu", "Endpoint name", 34),
    Column("address", "Địa chỉ", "Address", 36),
    Column("protocol", "Giao thức", "Protocol", 11),
    Column("dial", "Địa chỉ kết nối", "Dial address", 30),
    Column("contact_name", "Họ và tên", "Contact name", 24),
    Column("contact_position", "Chức vụ", "Contact position", 24),
    Column("contact_phone", "Số điện thoại", "Contact phone", 16),
    Column("contact_email", "Thư điện tử", "Contact email", 28),
    Column("contact_role", "Vai trò", "Contact role", 12),
)
KEYS = tuple(c.key for c in COLUMNS)
HEADERS = tuple(c.label for c in COLUMNS)
LABEL = {c.key: c.label for c in COLUMNS}
ENDPOINT_KEYS = ("name", "address", "protocol", "dial")
CONTACT_KEYS = ("contact_name", "contact_position", "contact_phone", "contact_email", "contact_role")
# A problem reported by clean_contact() for field X belongs to column CONTACT_COLUMN[X].
CONTACT_COLUMN = {"name": "contact_name", "position": "contact_position", "phone": "contact_phone",
                  "email": "contact_email", "role": "contact_role"}
ROLE_LABELS = {"chair": "Chủ trì", "technical": "Kỹ thuật", "attendee": "Tham dự"}  # written to files
TEXT_KEYS = ("unit_code", "contact_phone")  # Excel must keep their leading zeros: formatted as Text
MAX_ROWS = 100_000  # ~4x the national file; beyond that the file is not what we think it is

SHEET_TITLE = "Điểm cầu"
GUIDE_TITLE = "Hướng dẫn"
EXAMPLE_ROWS: tuple[tuple[str, ...], ...] = (
    ("56", "Hội trường Sở Thông tin và Truyền thông", "Số 01 Trần Phú, TP. Nha Trang, Khánh Hòa", "sip",
     "sip:diemcau.kh@10.56.0.10", "Nguyễn Văn A", "Phó Giám đốc Sở", "0913 123 456", "nva@khanhhoa.gov.vn",
     "Chủ trì"),
    ("56", "", "", "", "", "Trần Thị B", "Chuyên viên", "0258 3563 535", "", "Kỹ thuật"),
)


# --- results and errors ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RowError:
    row: int | None  # as Excel numbers it: the header is row 1
    column: str | None  # the Vietnamese label of the column (COLUMNS)
    msg: Message

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.msg.localized()}


class ImportInvalid(Exception):
    """The file has problems; nothing was saved. `errors` lists every one of them."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s): " + "; ".join(
            f"row {e.row} {e.column}: {e.msg.text}" for e in errors[:5]))

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


# --- template and export ---------------------------------------------------------------------------

def template_xlsx(event: Event) -> bytes:
    """The data sheet (header, two example rows) first, then the guide. The unit-code and phone
    columns are formatted as Text, so Excel keeps the leading zeros officials type."""
    data = write_xlsx(HEADERS, EXAMPLE_ROWS, sheet_title=SHEET_TITLE, widths=[c.width for c in COLUMNS])
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    for i, col in enumerate(COLUMNS):
        if col.key in TEXT_KEYS:
            ws.column_dimensions[column_letter(i)].number_format = "@"
    guide = wb.create_sheet(GUIDE_TITLE)
    guide.column_dimensions["A"].width = 18
    guide.column_dimensions["B"].width = 100
    for r, line in enumerate(_guide_lines(event), start=1):
        for c, text in enumerate(line, start=1):
            if not text:
                continue
            cell = guide.cell(row=r, column=c, value=text)
            cell.data_type = TYPE_STRING  # the event's title is typed by a person: never a formula
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        if len(line) == 1 or line[1] is None:
            guide.cell(row=r, column=1).font = Font(bold=True, size=13 if r == 1 else 11)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _guide_lines(event: Event) -> list[tuple[str, ...]]:
    # The file is a Vietnamese administrative form, like its header row: its guide is in Vietnamese.
    tier_names = {"central": "Trung ương", "province": "cấp tỉnh", "district": "cấp huyện", "commune": "cấp xã"}
    tiers = ", ".join(tier_names.get(t, t) for t in event.tiers)
    return [
        (f"Danh sách điểm cầu và cán bộ đầu mối — {event.title}",),
        ("",),
        ("Cách điền", None),
        ("", "Mỗi dòng là một người (cán bộ) của một điểm cầu. Điểm cầu có hai người thì điền hai dòng "
             "cùng Mã đơn vị."),
        ("", "Các dòng sau của cùng một đơn vị có thể để trống Tên điểm cầu, Địa chỉ, Giao thức, Địa chỉ kết nối "
             "(lấy theo dòng đầu); nếu điền thì phải giống dòng đầu."),
        ("", "Không đổi thứ tự các cột, không xóa dòng tiêu đề. Xóa hai dòng ví dụ trước khi tải lên."),
        ("", "Tải lên lại cùng một tệp không làm thay đổi gì: điểm cầu được nhận theo Mã đơn vị, cán bộ theo "
             "Số điện thoại. Điểm cầu và cán bộ không có trong tệp được giữ nguyên."),
        ("", "Tệp có lỗi thì không dòng nào được lưu; hệ thống liệt kê mọi lỗi theo số dòng và cột để sửa."),
        ("",),
        ("Các cột", None),
        (HEADERS[0], f"Mã đơn vị hành chính (mã thống kê): Trung ương TW, tỉnh 2 chữ số (56), huyện 3 chữ số (568), "
                     "xã 5 chữ số (22333). Giữ số 0 ở đầu (cột đã định dạng Văn bản). "
                     f"Các cấp của hội nghị này: {tiers}. Chỉ được đăng ký đơn vị thuộc phạm vi của mình."),
        (HEADERS[1], "Tên phòng họp / điểm cầu. Bắt buộc."),
        (HEADERS[2], "Địa chỉ của điểm cầu."),
        (HEADERS[3], "sip, h323, webrtc hoặc other (khác). Để trống là other."),
        (HEADERS[4], "SIP: sip:ten@10.0.0.5 · H.323: địa chỉ IP, tên máy hoặc số alias · webrtc: đường dẫn https://… "
                     "Có thể để trống nếu chưa có."),
        (HEADERS[5], "Họ và tên cán bộ. Bắt buộc khi có thông tin cán bộ."),
        (HEADERS[6], "Chức vụ."),
        (HEADERS[7], "Một số trên một ô: di động 0913 123 456, cố định 0258 3563 535 (mã vùng mới từ 2017; "
                     "058.3563535 là mã vùng cũ và bị từ chối). Không dùng chữ cái."),
        (HEADERS[8], "Địa chỉ thư điện tử (không bắt buộc)."),
        (HEADERS[9], "Chủ trì, Kỹ thuật hoặc Tham dự (hoặc chair, technical, attendee). Để trống là Tham dự."),
    ]


def template_csv() -> bytes:
    return write_csv(HEADERS, EXAMPLE_ROWS)


def export_rows(event: Event, user) -> Iterator[list[str]]:
    """The user's endpoints (scope-filtered), one row per contact, in the import layout."""
    # In the tree's order (a province, its first district, that district's communes, ...), the
    # order in which a province compiles its list.
    for endpoint in sorted(list_endpoints(event, user), key=lambda e: e.unit.path):
        head = [endpoint.unit.code, endpoint.name, endpoint.address, endpoint.protocol, endpoint.dial]
        if not endpoint.contacts:
            yield head + [""] * len(CONTACT_KEYS)
        for c in endpoint.contacts:
            yield head + [c.name, c.position, national(c.phone), c.email, ROLE_LABELS.get(c.role, c.role)]


def export_endpoints(event: Event, user, fmt: str) -> bytes:
    """xlsx or csv, formula-safe (safe.write_xlsx / write_csv)."""
    rows = list(export_rows(event, user))
    if fmt == "csv":
        return write_csv(HEADERS, rows)
    if fmt == "xlsx":
        return write_xlsx(HEADERS, rows, sheet_title=SHEET_TITLE, widths=[c.width for c in COLUMNS])
    raise ValueError(f"unknown format {fmt!r}")


def column_letter(index: int) -> str:
    return chr(ord("A") + index)


# --- reading ---------------------------------------------------------------------------------------

def read_rows(filename: str, data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The non-empty data rows of an upload as (row number, {column key: text}).

    Columns are matched by position; the header row (row 1) must name them in order, in
    Vietnamese or English, so a file with moved columns is refused instead of misread.
    Raises ImportInvalid (with one error) for a file that cannot be read.
    """
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext == "xlsx":
        raw = _xlsx_rows(data)
    elif ext == "csv":
        raw = _csv_rows(data)
    else:
        raise ImportInvalid([_error(None, None, N_("'%(name)s' is not an .xlsx or .csv file (an old .xls workbook "
                                                   "must be saved as .xlsx first)"), name=filename)])
    rows: list[tuple[int, dict[str, str]]] = []
    header_checked = False
    for number, cells in raw:
        values = [_text(cells[i] if i < len(cells) else None, COLUMNS[i].key) for i in range(len(COLUMNS))]
        if number == 1:
            _check_header(values)
            header_checked = True
            continue
        if number > MAX_ROWS:
            raise ImportInvalid([_error(number, None, N_("the file has more than %(max)s rows"), max=MAX_ROWS)])
        if any(values):
            rows.append((number, dict(zip(KEYS, values))))
    if not header_checked:
        raise ImportInvalid([_error(1, None, N_("the file is empty: the first row must be the template's header"))])
    if not rows:
        raise ImportInvalid([_error(None, None, N_("the file has no rows below the header"))])
    return rows


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise ImportInvalid([_error(None, None, N_("the file could not be read as an Excel workbook (.xlsx): "
                                                   "%(detail)s"), detail=str(exc) or type(exc).__name__)]) from None
    try:
        ws = wb.worksheets[0]  # the first sheet is the data; a guide may follow
        # Read-only mode trusts the size the file declares, which some programs write wrong
        # (rows beyond it would be dropped silently): read every row there is instead.
        ws.reset_dimensions()
        # Missing rows come as empty ones, so the count is the row number Excel shows.
        yield from enumerate(ws.iter_rows(values_only=True), start=1)
    except ImportInvalid:
        raise
    except Exception as exc:  # a damaged sheet: whatever the parser trips on, the file is unreadable
        raise ImportInvalid([_error(None, None, N_("the file could not be read as an Excel workbook (.xlsx): "
                                                   "%(detail)s"), detail=str(exc) or type(exc).__name__)]) from None
    finally:
        wb.close()


def _csv_rows(data: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    try:
        text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportInvalid([_error(None, None, N_(
            "the CSV file is not in UTF-8; in Excel choose 'CSV UTF-8 (Comma delimited)' when saving, "
            "or upload the .xlsx"))]) from None
    first_line = text.split("\n", 1)[0]
    # Excel writes ';' where the decimal separator is ',' (as in Vietnamese settings); tabs from
    # "Unicode text". The header line holds nine separators of the right kind.
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            # Our exports put an apostrophe before text that would read as a formula
            # (safe.csv_safe); take it off again so an exported file re-imports unchanged.
            yield number, [c[1:] if c.startswith("'") and c[1:].startswith(FORMULA_TRIGGERS) else c for c in cells]
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


def _header_words(text: str) -> str:
    # "Mã đơn vị (*)" and "MÃ ĐƠN VỊ" are the same header as "Mã đơn vị".
    return re.sub(r"[^a-z0-9 ]", "", fold(re.sub(r"\(.*?\)", "", text))).strip()


_ACCEPTED_HEADERS = [{_header_words(c.label), _header_words(c.english), c.key} for c in COLUMNS]


def _check_header(values: list[str]) -> None:
    errors = [
        _error(1, col.key, N_("the header of this column must be '%(expected)s' (found '%(found)s'): keep the "
                              "template's columns in their order"), expected=col.label, found=found)
        for col, found, accepted in zip(COLUMNS, values, _ACCEPTED_HEADERS)
        if _header_words(found) not in accepted and fold(found).replace(" ", "_") not in accepted
    ]
    if errors:
        raise ImportInvalid(errors)


# --- validation ------------------------------------------------------------------------------------

@dataclass
class _PlannedEndpoint:
    unit: Unit | None  # None when the code is wrong: its rows are still checked, and nothing is saved
    first_row: int
    raw: dict[str, str]  # the first row's endpoint fields, which later rows may leave blank
    values: EndpointValues | None  # None when the first row's endpoint fields are wrong
    stored: Any = None  # the unit's endpoint as stored (id and fields), None for a new one
    contacts: dict[str, tuple[int, ContactValues]] = field(default_factory=dict)  # E.164 -> (row, values)


def _event_units(event: Event) -> dict[str, Unit]:
    """Every unit the event's spreadsheet may name, by code (one query, ~11,400 for 2024)."""
    return {u.code: u for u in db.session.scalars(
        select(Unit).where(Unit.structure == event.unit_structure, Unit.tier.in_(event.tiers)))}


def _stored_endpoints(event: Event) -> dict[int, Any]:
    return {r.unit_id: r for r in db.session.execute(
        select(Endpoint.id, Endpoint.unit_id, *(getattr(Endpoint, a) for a in ENDPOINT_KEYS))
        .where(Endpoint.event_id == event.id))}


def validate(event: Event, user, rows: Iterable[tuple[int, dict[str, str]]]) -> list[_PlannedEndpoint]:
    """Check every row; raise ImportInvalid with all the problems, or return what to save."""
    units = _event_units(event)
    stored = _stored_endpoints(event)
    windows = {tier: deadlines.registration_window(event, tier) for tier in event.tiers}
    examples = {tuple(r) for r in EXAMPLE_ROWS}
    planned: dict[str, _PlannedEndpoint] = {}  # by unit code, in the file's order
    errors: list[RowError] = []
    for number, row in rows:
        if tuple(row[k] for k in KEYS) in examples:
            errors.append(_error(number, "unit_code", N_("this is an example row of the template: delete it")))
            continue
        code = row["unit_code"]
        plan = planned.get(code)
        if plan is None:
            unit = _row_unit(event, user, units, windows, number, row, errors)
            current = stored.get(unit.id) if unit else None
            if current is not None and not any(row[k] for k in ENDPOINT_KEYS):
                # Rows that only list people of an endpoint already registered leave it as it is.
                raw = {k: getattr(current, k) for k in ENDPOINT_KEYS}
                values = EndpointValues(**raw)
            else:
                raw = {k: row[k] for k in ENDPOINT_KEYS}
                values = _row_endpoint(number, row, None, errors)
            plan = _PlannedEndpoint(unit, number, raw, values, current)
            if code:  # rows without a code are each on their own
                planned[code] = plan
        else:
            if plan.unit is None:  # the unit's problem is this row's too
                _row_unit(event, user, units, windows, number, row, errors)
            _row_endpoint(number, row, plan, errors)
        _row_contact(number, row, plan, errors)
    if errors:
        raise ImportInvalid(errors)
    return [p for p in planned.values() if p.unit is not None]


def _row_unit(event, user, units, windows, number, row, errors) -> Unit | None:
    code = row["unit_code"]
    if not code:
        errors.append(_error(number, "unit_code", N_("the unit code is required")))
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


def _row_endpoint(number: int, row: dict[str, str], plan: _PlannedEndpoint | None,
                  errors: list[RowError]) -> EndpointValues | None:
    """The endpoint fields of the unit's first row; on a later row, blank fields repeat the first
    row's and filled ones must agree with it."""
    if plan is None:
        values = clean_endpoint({k: row[k] for k in ENDPOINT_KEYS})
        errors.extend(RowError(number, LABEL[p.field], p.msg) for p in values.problems)
        return None if values.problems else values
    given = [k for k in ENDPOINT_KEYS if row[k]]
    if not given:
        return plan.values
    merged = {k: row[k] or plan.raw[k] for k in ENDPOINT_KEYS}
    values = clean_endpoint(merged)
    bad = {p.field for p in values.problems}
    errors.extend(RowError(number, LABEL[p.field], p.msg) for p in values.problems if p.field in given)
    if plan.values is None:
        return None  # the first row is wrong already: said there
    for key in given:
        if key not in bad and getattr(values, key) != getattr(plan.values, key):
            errors.append(_error(number, key, N_(
                "'%(value)s' differs from row %(first)s of the same unit ('%(other)s'): all rows of a unit "
                "describe the same endpoint; leave this cell empty or make it the same"),
                value=row[key], first=plan.first_row, other=getattr(plan.values, key)))
    return plan.values


def _row_contact(number: int, row: dict[str, str], plan: _PlannedEndpoint, errors: list[RowError]) -> None:
    if not any(row[k] for k in CONTACT_KEYS):
        return  # an endpoint row without a person
    contact, problems = clean_contact({field: row[key] for field, key in CONTACT_COLUMN.items()})
    errors.extend(RowError(number, LABEL[CONTACT_COLUMN[p.field]], p.msg) for p in problems)
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

_CONTACT_ATTRS = ("role", "name", "position", "phone_type", "email")
_CHUNK = 500  # ids per IN (...): well below every backend's limit on bound parameters


def import_endpoints(event: Event, user, rows: Iterable[tuple[int, dict[str, str]]], *,
                     filename: str = "") -> ImportResult:
    """Validate every row, then create or update endpoints (by unit) and contacts (by phone) in
    one transaction. Raises ImportInvalid with every problem, having saved nothing.

    What the file does not mention is kept. A row that matches what is stored is not written, so
    uploading the same file again changes no row (no `updated_at` churn).
    """
    planned = validate(event, user, rows)
    try:
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
            fields = {a: getattr(values, a) for a in _CONTACT_ATTRS}
            row = stored.get((endpoint_id, phone))
            if row is None:
                new_contacts.append({"endpoint_id": endpoint_id, "phone": phone, **fields, "language": "vi",
                                     "sms_opt_out": False, "created_at": now, "updated_at": now})
            elif any(getattr(row, a) != v for a, v in fields.items()):
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


