"""Accounts from a spreadsheet (.xlsx or .csv): the template, reading an upload and the
all-or-nothing, idempotent import.

Columns are found by their header (any order; Vietnamese or English; other columns such as
"STT" are ignored): email and role are required, name, unit code and structure optional. The
whole file is checked first with the rules of the users page and the API (`accounts.accounts`), and
every problem is reported with its row (header = row 1) and column; only a file without any
problem is saved, in one transaction. Accounts are matched by email: a new one is created and
mailed its set-password link, a known one gets the file's role, name (when given) and scope
(when the unit-code column is there: empty means no scope), and the same file uploaded again
changes nothing. The import never disables, enables or deletes an account.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from coordinator.audit import services as audit
from coordinator.auth import services
from coordinator.accounts import accounts, links
from coordinator.auth.models import ADMIN, ROLES, User
from coordinator.extensions import db
from coordinator.messages import N_, Message
from coordinator.spreadsheets.columns import header_words
from coordinator.problems import Invalid, Problem
from coordinator.spreadsheets.problems import row_problem
from coordinator.spreadsheets.reading import cell_text, csv_rows, xlsx_rows
from coordinator.spreadsheets.safe import Sheet, write_csv, write_template

MAX_ROWS = 20_000


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the template's (Vietnamese) header, and the `column` of an error
    english: str
    aliases: tuple[str, ...]  # other headers accepted, folded (lower-case, no diacritics, no spaces)
    width: int
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("email", "Thư điện tử", "Email", ("email", "thudientu", "diachithudientu", "diachiemail"), 34, True),
    Column("name", "Họ và tên", "Name", ("name", "fullname", "hoten", "hovaten"), 30),
    Column("role", "Vai trò", "Role", ("role", "vaitro"), 16, True),
    Column("unit_code", "Mã đơn vị", "Unit code", ("unitcode", "unit", "madonvi"), 12),
    Column("structure", "Cấu trúc", "Structure", ("structure", "cautruc"), 10),
)
BY_KEY = {c.key: c for c in COLUMNS}
HEADERS = tuple(c.label for c in COLUMNS)
# How the file names the roles (written by the template and the export; read with and without
# diacritics, in Vietnamese or English).
FILE_ROLES = {"admin": "Quản trị", "organizer": "Tổ chức", "coordinator": "Điều phối", "operator": "Trực kỹ thuật"}
ROLE_WORDS = {
    "admin": ("admin", "administrator", "quantri", "quantrivien", "quantrihethong"),
    "organizer": ("organizer", "organiser", "tochuc", "bantochuc", "donvitochuc"),
    "coordinator": ("coordinator", "dieuphoi", "dieuphoivien", "canbodieuphoi"),
    "operator": ("operator", "truckythuat", "kythuat", "kythuatvien", "vanhanh"),
}
_ROLE_BY_WORD = {word: role for role, words in ROLE_WORDS.items() for word in words}
SHEET_TITLE = "Tài khoản"
GUIDE_TITLE = "Hướng dẫn"
EXAMPLE_ROWS = (
    ("nguyenvana@khanhhoa.gov.vn", "Nguyễn Văn A", "Điều phối", "56", "2024"),
    ("tranthib@mic.gov.vn", "Trần Thị B", "Trực kỹ thuật", "", ""),
)


def _word(text: str) -> str:
    return header_words(text).replace(" ", "")


def parse_role(text: str) -> str | None:
    return _ROLE_BY_WORD.get(_word(text))


# --- template ---------------------------------------------------------------------------------------

def template_xlsx() -> bytes:
    """The example rows, then the guide; the unit-code and structure columns formatted as Text (Excel
    must keep the leading zeros of 01)."""
    return write_template(Sheet(SHEET_TITLE, HEADERS, EXAMPLE_ROWS, [c.width for c in COLUMNS]),
                          text_columns=[i for i, col in enumerate(COLUMNS) if col.key in ("unit_code", "structure")],
                          guide_title=GUIDE_TITLE, guide=_guide_lines())


def template_csv() -> bytes:
    return write_csv(HEADERS, EXAMPLE_ROWS)


def _guide_lines() -> list[tuple[str, ...]]:
    # A Vietnamese administrative form, like the header row and the endpoint template.
    roles = "; ".join(f"{FILE_ROLES[r]} ({r})" for r in ROLES)
    return [
        ("Danh sách tài khoản",),
        ("",),
        ("Cách điền",),
        ("", "Mỗi dòng là một tài khoản. Tài khoản được nhận theo Thư điện tử: tài khoản mới được tạo và nhận "
             "thư có đường dẫn đặt mật khẩu (dùng một lần, trong 72 giờ); tài khoản đã có được cập nhật vai trò, "
             "họ tên và đơn vị theo tệp."),
        ("", "Tệp có lỗi thì không dòng nào được lưu; hệ thống liệt kê mọi lỗi theo số dòng và cột. Tải lên lại "
             "cùng một tệp không làm thay đổi gì. Tệp không bao giờ khóa hay xóa tài khoản."),
        ("", "Các cột được nhận theo tiêu đề (thứ tự tùy ý); cột khác (ví dụ STT) được bỏ qua. Xóa hai dòng ví dụ "
             "trước khi tải lên."),
        ("",),
        ("Các cột",),
        (HEADERS[0], "Địa chỉ thư điện tử dùng để đăng nhập. Bắt buộc."),
        (HEADERS[1], "Họ và tên hoặc tên đơn vị. Để trống: giữ tên hiện có (tài khoản mới: phần trước @)."),
        (HEADERS[2], f"Bắt buộc: {roles}."),
        (HEADERS[3], "Mã đơn vị hành chính (mã thống kê) mà tài khoản điều phối quản lý, cùng các đơn vị cấp dưới: "
                     "tỉnh 2 chữ số (56), huyện 3 chữ số (568), xã 5 chữ số (22333). Bắt buộc với vai trò Điều "
                     "phối; giữ số 0 ở đầu (cột đã định dạng Văn bản)."),
        (HEADERS[4], "2024 hoặc 2025 (cấu trúc đơn vị hành chính của mã đơn vị). Để trống: cấu trúc mặc định."),
    ]


# --- reading -------------------------------------------------------------------------------------------

@dataclass
class Upload:
    rows: list[tuple[int, dict[str, str]]]
    headers: dict[str, str]  # column key -> the header as the file writes it

    def column(self, key: str) -> str:
        return self.headers.get(key) or BY_KEY[key].label


def _error(row: int | None, column: str | None, template: str, **params: Any) -> Problem:
    return row_problem(row, column, Message(template, params))


def _match_header(text: str) -> str | None:
    for part in [text, *text.split("/")]:  # "Email / Thư điện tử"
        word = _word(part)
        for col in COLUMNS:
            if word and (word in col.aliases or word == _word(col.label) or word == _word(col.english)
                         or word == col.key.replace("_", "")):
                return col.key
    return None


def read_upload(filename: str, data: bytes) -> Upload:
    """The header and the non-empty rows of an upload. Raises Invalid for a file that
    cannot be read or lacks a required column."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext == "xlsx":
        raw = xlsx_rows(data)
    elif ext == "csv":
        raw = csv_rows(data)
    else:
        raise Invalid([_error(None, None, N_("'%(name)s' is not an .xlsx or .csv file (an old .xls workbook "
                                                   "must be saved as .xlsx first)"), name=filename)])
    positions: dict[str, int] = {}
    headers: dict[str, str] = {}
    rows: list[tuple[int, dict[str, str]]] = []
    for number, cells in raw:
        if number == 1:
            errors = []
            for i, cell in enumerate(cells):
                text = cell_text(cell, "header")
                key = _match_header(text) if text else None
                if key is None:
                    continue
                if key in positions:
                    errors.append(_error(1, text, N_("two columns are headed '%(header)s'"), header=text))
                    continue
                positions[key], headers[key] = i, text
            errors += [_error(1, col.label, N_("no column '%(label)s' (or '%(english)s'): it is required"),
                              label=col.label, english=col.english)
                       for col in COLUMNS if col.required and col.key not in positions]
            if errors:
                raise Invalid(errors)
            continue
        values = {key: cell_text(cells[i] if i < len(cells) else None, key) for key, i in positions.items()}
        if any(values.values()):
            if number - 1 > MAX_ROWS:  # data rows: the header (row 1) is not counted
                raise Invalid([_error(number, None, N_(
                    "the file has more than %(max)s data rows (row %(number)s is the first one beyond the limit; the "
                    "header is not counted): split the list into several files"), max=MAX_ROWS, number=number)])
            rows.append((number, values))
    if not positions:
        raise Invalid([_error(1, None, N_("the file is empty: the first row must be the template's header"))])
    if not rows:
        raise Invalid([_error(None, None, N_("the file has no rows below the header"))])
    return Upload(rows, headers)


# --- validation and import ----------------------------------------------------------------------------

@dataclass
class _Planned:
    row: int
    email: str
    user: User | None  # None: a new account
    role: str | None = None
    name: str = ""
    unit: Any = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    links_mailed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def _known_users(emails: list[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for i in range(0, len(emails), 500):
        for user in db.session.scalars(select(User).where(User.email.in_(emails[i:i + 500]))):
            found[user.email] = user
    return found


def validate(actor, upload: Upload) -> tuple[list[_Planned], list[Problem]]:
    errors: list[Problem] = []
    planned: list[_Planned] = []
    seen: dict[str, int] = {}
    emails = [services.normalise_email(r.get("email", "")) for _, r in upload.rows]
    known = _known_users([e for e in emails if e])
    leaving: dict[int, int] = {}  # active admins the file takes the role from -> row

    for number, row in upload.rows:
        problems: list[Problem] = []
        email = accounts.check_email(row.get("email", ""), problems)
        if email and email in seen:
            problems.append(Problem("email", Message(N_("%(email)s is already on row %(row)s"),
                                                     {"email": email, "row": seen[email]})))
        elif email:
            seen[email] = number
        role_text = row.get("role", "")
        role = parse_role(role_text) if role_text else None
        if not role_text:
            problems.append(Problem("role", Message(N_("Required."))))
        elif role is None:
            problems.append(Problem("role", Message(N_("unknown role '%(role)s': write %(known)s"), {
                "role": role_text, "known": ", ".join(FILE_ROLES[r] for r in ROLES)})))
        user = known.get(email) if email else None
        plan = _Planned(number, email, user, role)
        name = accounts.check_name(row.get("name", ""), problems)
        if user is None:
            plan.name = name
            if role is not None:
                accounts.check_role(actor, role, problems)
            plan.unit = accounts.resolve_unit(row.get("unit_code"), row.get("structure"), problems)
            if role is not None:
                accounts.check_scope(role, plan.unit, problems)
        elif role is not None:
            data: dict[str, Any] = {"role": role}
            if name:
                data["name"] = name
            if "unit_code" in upload.headers:
                data["unit_code"] = row.get("unit_code", "")
            if row.get("structure"):
                data["structure"] = row["structure"]
            plan.changes = accounts.plan_update(actor, user, data, problems, check_last_admin=False)
            if user.role == ADMIN and user.active and role != ADMIN:
                leaving.setdefault(user.id, number)
        for p in problems:
            errors.append(row_problem(number, upload.column(p.field if p.field in BY_KEY else "email"), p.msg))
        planned.append(plan)

    if leaving:
        last: list[Problem] = []
        accounts.check_admins_remain(set(leaving), last, "role")
        if last:
            errors.append(row_problem(min(leaving.values()), upload.column("role"), last[0].msg))
    return planned, errors


def import_users(actor, upload: Upload, *, filename: str = "", mail: bool = True) -> ImportResult:
    """Validate the whole upload, then save it in one transaction, or raise Invalid with
    every problem and save nothing."""
    planned, errors = validate(actor, upload)
    if errors:
        db.session.rollback()
        raise Invalid(sorted(errors, key=lambda e: (e.row or 0)))
    result = ImportResult()
    for plan in planned:
        if plan.user is None:
            user = User(email=plan.email, display_name=plan.name or plan.email.split("@")[0], role=plan.role,
                        unit=plan.unit, password_hash=services.unusable_password())
            db.session.add(user)
            db.session.flush()
            audit.record("user.create", "user", user.id, actor=actor, email=user.email, role=user.role,
                         unit=plan.unit.code if plan.unit else None,
                         structure=plan.unit.structure if plan.unit else None, active=True, via="import")
            links.issue(user, actor=actor, mail=mail, reason="import")
            result.created += 1
            result.links_mailed += int(mail)
        elif plan.changes:
            accounts.apply_update(actor, plan.user, plan.changes, via="import")
            result.updated += 1
        else:
            result.unchanged += 1
    audit.record("user.import", "user", None, actor=actor, filename=filename, rows=len(planned), **result.as_dict())
    db.session.commit()
    return result
