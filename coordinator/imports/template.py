"""The endpoint spreadsheet to download: the template (an empty one with two example rows, or one
pre-filled with a province's units), its guide sheet in Vietnamese, and the export of what is
registered in the same columns (so an export can be edited and uploaded again). Written by
`spreadsheets.safe`: never a formula.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select

from coordinator.endpoints.phones import national
from coordinator.endpoints.queries import list_endpoints
from coordinator.endpoints.rules import CONTACT_TEXT, ENDPOINT_TEXT
from coordinator.events.models import Event
from coordinator.extensions import db
from coordinator.spreadsheets import limits
from coordinator.spreadsheets.columns import (COLUMNS, CONTACT_KEYS, EXAMPLES, FOCAL_LABEL, GUIDE_TITLE, KEYS, LABEL,
                                              ROLE_LABELS, SHEET_TITLE, TEMPLATE_HEADERS, TEXT_KEYS, column_letter)
from coordinator.spreadsheets.safe import Sheet, write_csv, write_template, write_xlsx
from coordinator.units.models import Unit


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
    return write_template(Sheet(SHEET_TITLE, TEMPLATE_HEADERS, _template_rows(units), [c.width for c in COLUMNS]),
                          text_columns=[i for i, col in enumerate(COLUMNS) if col.key in TEXT_KEYS],
                          guide_title=GUIDE_TITLE, guide=_guide_lines(event, prefilled=units is not None))


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
