"""The readiness and attendance reports as .xlsx workbooks (Vietnamese headers), and their file names.

The rows and words of each sheet only: the workbook is written by `coordinator.spreadsheets.safe`
(`write_workbook`: every text cell a string, never a formula; characters a file cannot hold
replaced), the one writer of every spreadsheet the service makes."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from coordinator.events.models import Event, EventSession
from coordinator.spreadsheets.safe import Sheet, write_workbook
from coordinator.status.attendance import Attendance, AttendanceEndpoint, AttendanceLine
from coordinator.status.readiness import Readiness
from coordinator.status.report_scope import CENTRAL, CONNECTED, DEGRADED, FAILED, PROVINCE, UNKNOWN
from coordinator.text import fold
from coordinator.timeutil import format_local

# --- spreadsheets --------------------------------------------------------------------------------------

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATE_VI = {CONNECTED: "Đã kết nối", DEGRADED: "Kết nối kém", FAILED: "Mất kết nối", UNKNOWN: "Chưa rõ"}
TIER_VI = {CENTRAL: "Trung ương", PROVINCE: "Cấp tỉnh", "district": "Cấp huyện", "commune": "Cấp xã"}
SESSION_VI = {"connectivity_test": "Kiểm tra đường truyền", "rehearsal": "Tổng duyệt", "main": "Hội nghị chính thức"}
TOTAL_VI = "Tổng cộng"


def _sheet(title: str, headers: Sequence[str], rows: Iterable[Sequence], widths: Sequence[int], **options) -> Sheet:
    """A report's sheet: printed on A4 landscape, one page wide, its header row on every page."""
    return Sheet(title, headers, rows, widths, printable=True, **options)


def _caption(title: str, event: Event, session: EventSession, generated_at: datetime) -> list[str]:
    kind = SESSION_VI.get(session.kind, session.kind)
    when = f"{format_local(session.starts_at, event.timezone)}–{format_local(session.ends_at, event.timezone, '%H:%M')}"
    return [f"{title}: {event.title}",
            f"{kind}{': ' + session.title if session.title and session.title != event.title else ''} ({when})",
            f"Lập lúc {format_local(generated_at, event.timezone)} ({event.timezone})"]


READINESS_HEADERS = ("STT", "Mã", "Tỉnh, thành phố", "Số điểm cầu", "Đã kết nối", "Kết nối kém", "Mất kết nối",
                     "Chưa rõ", "Đã xác nhận", "Tỷ lệ sẵn sàng")
READINESS_WIDTHS = (6, 7, 28, 12, 12, 12, 12, 10, 12, 14)
TO_FIX_HEADERS = ("STT", "Tỉnh, thành phố", "Mã đơn vị", "Tên đơn vị", "Cấp", "Điểm cầu", "Địa chỉ kết nối",
                  "Trạng thái", "Cập nhật lúc", "Thăm dò gần nhất", "Ghi chú kiểm tra", "Cán bộ kỹ thuật",
                  "Số điện thoại", "Đã xác nhận sẵn sàng lúc")
TO_FIX_WIDTHS = (6, 22, 10, 28, 11, 30, 30, 13, 17, 18, 36, 26, 16, 18)
READINESS_TITLE = "Báo cáo sẵn sàng kết nối"


def _readiness_rows(report: Readiness) -> Iterable[list]:
    for i, line in enumerate(report.lines, start=1):
        yield [i, line.code, line.name, line.endpoints, line.connected, line.degraded, line.failed, line.unknown,
               line.confirmed, line.ready]
    t = report.total
    yield [None, None, TOTAL_VI, t.endpoints, t.connected, t.degraded, t.failed, t.unknown, t.confirmed, t.ready]


def _to_fix_rows(report: Readiness) -> Iterable[list]:
    tz = report.event.timezone
    for i, item in enumerate(report.to_fix, start=1):
        yield [i, item.province_name, item.unit_code, item.unit_name, TIER_VI.get(item.tier, item.tier),
               item.endpoint_name, item.dial, STATE_VI[item.state], format_local(item.changed_at, tz), item.probe,
               item.note, "; ".join(c.name for c in item.contacts), "; ".join(c.phone for c in item.contacts),
               format_local(item.confirmed_at, tz) if item.confirmed_at else ""]


def readiness_xlsx(report: Readiness) -> bytes:
    """Two sheets: per province, and the endpoints to fix."""
    caption = _caption(READINESS_TITLE, report.event, report.session, report.generated_at)
    return write_workbook([
        _sheet("Theo tỉnh", READINESS_HEADERS, _readiness_rows(report), READINESS_WIDTHS, percent=(9,),
              caption=caption),
        _sheet("Điểm cầu cần khắc phục", TO_FIX_HEADERS, _to_fix_rows(report), TO_FIX_WIDTHS, caption=caption),
    ])


ATTENDANCE_TITLE = "Báo cáo tham dự"
TIER_HEADERS = ("Cấp", "Số đơn vị", "Điểm cầu đăng ký", "Điểm cầu đã kết nối", "Dự tại điểm cầu khác",
                "Trong đó đã dự", "Đơn vị dự kiến", "Đơn vị đã dự", "Tỷ lệ tham dự", "Số đại biểu dự kiến",
                "Số đại biểu tại điểm cầu đã kết nối")
TIER_WIDTHS = (14, 11, 14, 14, 16, 12, 13, 12, 12, 14, 18)


def _tier_rows(report: Attendance) -> Iterable[list]:
    for tier in report.tiers:
        c = report.total.tiers[tier]
        yield [TIER_VI.get(tier, tier), c.units, c.endpoints, c.endpoints_attended, c.hosted, c.hosted_attended,
               c.expected, c.attended, c.share, c.people_expected, c.people_attended]
    t = report.total
    yield [TOTAL_VI, sum(c.units for c in t.tiers.values()), t.endpoints, t.endpoints_attended,
           sum(c.hosted for c in t.tiers.values()), sum(c.hosted_attended for c in t.tiers.values()), t.expected,
           t.attended, t.share, t.people_expected, t.people_attended]


def attendance_province_headers(tiers: Sequence[str]) -> list[str]:
    headers = ["STT", "Mã", "Tỉnh, thành phố"]
    for tier in tiers:
        label = TIER_VI.get(tier, tier)
        headers += [f"{label}: dự kiến", f"{label}: đã dự"]
    return headers + ["Tổng dự kiến", "Tổng đã dự", "Tỷ lệ tham dự", "Số đại biểu dự kiến",
                      "Số đại biểu tại điểm cầu đã kết nối"]


def _province_rows(report: Attendance) -> Iterable[list]:
    def row(first: list, line: AttendanceLine) -> list:
        cells = list(first)
        for tier in report.tiers:
            c = line.tiers.get(tier)
            cells += [None, None] if c is None else [c.expected, c.attended]
        return cells + [line.expected, line.attended, line.share, line.people_expected, line.people_attended]

    for i, line in enumerate(report.lines, start=1):
        yield row([i, line.code, line.name], line)
    yield row([None, None, TOTAL_VI], report.total)


ENDPOINT_HEADERS = ("STT", "Tỉnh, thành phố", "Mã đơn vị", "Tên đơn vị", "Cấp", "Điểm cầu", "Bằng chứng kết nối",
                    "Xác nhận sẵn sàng lúc", "Ghi chú")
ENDPOINT_WIDTHS = (6, 22, 10, 28, 11, 32, 30, 18, 36)


def _endpoint_rows(report: Attendance, endpoints: list[AttendanceEndpoint]) -> Iterable[list]:
    tz = report.event.timezone
    for i, e in enumerate(endpoints, start=1):
        yield [i, e.province_name, e.unit_code, e.unit_name, TIER_VI.get(e.tier, e.tier), e.endpoint_name,
               e.evidence_vi(tz), format_local(e.confirmed_at, tz) if e.confirmed_at else "",
               "Đã xác nhận nhưng không có bằng chứng kết nối" if e.confirmed_never_connected else ""]


def attendance_xlsx(report: Attendance, endpoints: list[AttendanceEndpoint] | None = None) -> bytes:
    """Three sheets: per tier, per province, and every endpoint with its evidence of connection."""
    caption = _caption(ATTENDANCE_TITLE, report.event, report.session, report.generated_at)
    headers = attendance_province_headers(report.tiers)
    widths = [6, 7, 28] + [11] * (2 * len(report.tiers)) + [12, 12, 12, 14, 18]
    sheets = [
        _sheet("Theo cấp", TIER_HEADERS, _tier_rows(report), TIER_WIDTHS, percent=(8,), caption=caption),
        _sheet("Theo tỉnh", headers, _province_rows(report), widths, percent=(len(headers) - 3,), caption=caption),
    ]
    if endpoints is not None:
        sheets.append(_sheet("Điểm cầu", ENDPOINT_HEADERS, _endpoint_rows(report, endpoints), ENDPOINT_WIDTHS,
                            caption=caption + [f"Đã xác nhận nhưng không có bằng chứng kết nối: "
                                               f"{report.confirmed_never_connected}"]))
    return write_workbook(sheets)


def filename(title: str, event: Event, session: EventSession, extension: str) -> tuple[str, str]:
    """The file's name in Vietnamese, and its ASCII fallback for old clients (RFC 6266)."""
    name = f"{title} - {SESSION_VI.get(session.kind, session.kind)} - {event.slug}"
    return f"{name}.{extension}", "-".join(fold(name).replace("-", " ").split()) + f".{extension}"
