"""Status reports: readiness after the connectivity test (per province, endpoints to fix) and
attendance after the main session (per tier, per province); as pages that print and as .xlsx.

A small nd49 event is registered through the real services and its statuses recorded through
`coordinator.status.services` (operators, contacts' confirmations, probe sweeps), at times within
nd49's sessions: the test on 27/06/2024 14:00–17:00 and the session on 28/06/2024 08:30–11:30
(Asia/Ho_Chi_Minh, +07:00)."""
from __future__ import annotations

import io
import re
from datetime import datetime
from types import SimpleNamespace
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from factories import login

EN = {"Accept-Language": "en"}
ORGANIZER = "organizer@example.gov.vn"
OPERATOR = "operator@example.gov.vn"
KH = "kh@example.gov.vn"  # coordinator of Khánh Hòa (56)
HN = "hn@example.gov.vn"  # coordinator of Hà Nội (01)
DN = "dn@example.gov.vn"  # coordinator of Đà Nẵng (48)
HG = "hg@example.gov.vn"  # coordinator of Hà Giang (02), which registered nothing
VN = ZoneInfo("Asia/Ho_Chi_Minh")
FORMULA = '=HYPERLINK("http://evil.example","bấm vào đây")'


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, tzinfo=VN)


def technical(name: str, phone: str) -> dict:
    return {"name": name, "phone": phone, "role": "kỹ thuật", "position": "Chuyên viên", "email": ""}


def chair(name: str, phone: str) -> dict:
    return {"name": name, "phone": phone, "role": "chủ trì", "position": "Giám đốc Sở"}


def _register(event, code: str, contacts: list[dict], hosted: list[str] | None = None, attendance: int | None = None):
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints.services import clean_endpoint, save_endpoint
    from coordinator.units.services import get_unit

    unit = get_unit("2024", code)
    values = clean_endpoint({"name": f"Phòng họp trực tuyến {unit.name}", "protocol": "sip",
                             "dial": f"sip:{code}@10.0.0.5", "contacts": contacts, "hosted_unit_codes": hosted,
                             "expected_attendance": attendance})
    assert not values.problems, values.problems
    return save_endpoint(event, unit, values, actor=SystemActor())


def _communes_of(district: str, n: int) -> list[str]:
    from coordinator.extensions import db
    from coordinator.units.models import Unit

    return list(db.session.scalars(select(Unit.code).where(
        Unit.structure == "2024", Unit.tier == "commune", Unit.path.like(f"/TW/%/{district}/%"))
        .order_by(Unit.code).limit(n)))


def _probe(event, session, results: dict, now: datetime):
    """A probe sweep's results, as the probe engine reports them."""
    from coordinator.status.services import record_probes

    record_probes(event, session, [SimpleNamespace(key=ep.id, state=state, layer=layer, code=code, rtt_ms=None,
                                                   target=ep.dial, detail=f"{layer} {code or ''}".strip())
                                   for ep, (state, layer, code) in results.items()], now=now)


@pytest.fixture()
def users(make_user):
    make_user(ORGANIZER, "organizer")
    make_user(OPERATOR, "operator")
    make_user(KH, "coordinator", "56")
    make_user(HN, "coordinator", "01")
    make_user(DN, "coordinator", "48")
    make_user(HG, "coordinator", "02")


@pytest.fixture()
def world(app, nd49, users):
    """TW; Hà Nội (01) and Đà Nẵng (48) provinces; Khánh Hòa (56) with its province, two districts
    (Nha Trang 568 hosting three communes, 569 hosting one) and one commune with its own endpoint."""
    from coordinator.auth.permissions import SystemActor
    from coordinator.endpoints import services as endpoints
    from coordinator.events.services import get_event
    from coordinator.status.services import record
    from coordinator.units.services import get_unit

    with app.app_context():
        event = get_event(nd49)
        nha_trang = _communes_of("568", 4)
        own_commune, hosted_568 = nha_trang[0], nha_trang[1:]
        hosted_569 = _communes_of("569", 1)
        tw = _register(event, "TW", [chair("Lãnh đạo Bộ", "0243 9436 666")])
        hn = _register(event, "01", [technical("Nguyễn Văn An", "0904 000 111")], attendance=40)
        kh = _register(event, "56", [technical("Trần Thị Bình", "0913 123 456"), chair("Lê Văn Cường", "0258 3563 535")],
                       attendance=30)
        d568 = _register(event, "568", [technical("Phạm Minh Dũng", "0258 3822 123"),
                                        technical("Hoàng Văn Hải", "0905 222 333")], hosted=hosted_568[:2],
                         attendance=20)
        endpoints.attend_at_parent(event, get_unit("2024", hosted_568[2]), actor=SystemActor())  # the third
        d569 = _register(event, "569", [technical("Ngô Văn Phúc", "0914 111 222")], hosted=hosted_569)
        commune = _register(event, own_commune, [technical("Đỗ Thị Hoa", "0977 888 999")])
        dn = _register(event, "48", [technical("Võ Thị Em", "0935 444 555")])
        test, main = event.session("connectivity_test"), event.session("main")

        # The connectivity test.
        record(tw, test, "self", "connected", now=at(27, 14, 5))  # its contact confirmed: ready, not connected
        _probe(event, test, {hn: ("failed", "timeout", None)}, now=at(27, 14, 8))
        record(hn, test, "operator", "failed", note="Không có hình, không có tiếng", now=at(27, 14, 10))
        record(hn, test, "self", "connected", now=at(27, 14, 12))  # confirmed, but unreachable all the same
        record(kh, test, "sms", "connected", now=at(27, 14, 15))  # confirmed by SMS ...
        _probe(event, test, {kh: ("connected", "ok", 200)}, now=at(27, 14, 16))  # ... and a probe reaches it
        record(d568, test, "operator", "degraded", note="Tiếng rè", now=at(27, 14, 20))
        _probe(event, test, {d568: ("degraded", "sip_error", 503)}, now=at(27, 14, 25))
        record(commune, test, "operator", "failed", note=FORMULA, now=at(27, 14, 30))
        record(dn, test, "operator", "failed", now=at(27, 14, 30))
        record(dn, test, "operator", "connected", note="Đã khắc phục", now=at(27, 15, 0))
        # 569: nothing recorded, unknown.

        # The main session (08:30–11:30).
        _probe(event, main, {tw: ("connected", "ok", 200)}, now=at(28, 8, 0))  # connected before it starts ...
        _probe(event, main, {tw: ("connected", "ok", 200)}, now=at(28, 8, 35))  # ... and probed during it
        record(hn, main, "operator", "connected", now=at(28, 8, 0))
        record(hn, main, "operator", "failed", now=at(28, 8, 20))  # gone before the start, never back
        record(kh, main, "operator", "connected", now=at(28, 9, 0))
        record(d568, main, "operator", "degraded", now=at(28, 9, 15))  # there, with trouble
        record(d569, main, "operator", "failed", now=at(28, 9, 0))
        record(d569, main, "operator", "connected", now=at(28, 12, 0))  # after the end: too late
        record(dn, main, "operator", "connected", now=at(28, 10, 0))
        record(dn, main, "operator", "failed", now=at(28, 10, 30))  # left early: attended all the same
        # The own-endpoint commune: its contact confirmed, but it never connected.
        record(commune, main, "self", "connected", now=at(28, 8, 10))
        return SimpleNamespace(slug=nd49, own_commune=own_commune, hosted_568=hosted_568, hosted_569=hosted_569,
                               ids={"TW": tw.id, "01": hn.id, "56": kh.id, "568": d568.id, "569": d569.id,
                                    own_commune: commune.id, "48": dn.id})


def _user(email):
    from coordinator.auth.services import get_user_by_email

    return get_user_by_email(email)


def _event(slug):
    from coordinator.events.services import get_event

    return get_event(slug)


# --- readiness --------------------------------------------------------------------------------------

def test_readiness_per_province(app, world):
    from coordinator.status import readiness

    with app.app_context():
        event = _event(world.slug)
        report = readiness.readiness(event, event.session("connectivity_test"), _user(ORGANIZER))
        assert report.session.kind == "connectivity_test"
        assert report.central.code == "TW" and len(report.provinces) == 63
        lines = {line.code: line for line in report.lines}

        def numbers(line):
            return (line.endpoints, line.connected, line.degraded, line.failed, line.unknown, line.confirmed, line.ready)

        # A confirmation is readiness, not a connection: TW is confirmed and not known to be connected.
        assert numbers(lines["TW"]) == (1, 0, 0, 0, 1, 1, 0.0)
        assert numbers(lines["01"]) == (1, 0, 0, 1, 0, 1, 0.0)  # confirmed but unreachable
        assert numbers(lines["56"]) == (4, 1, 1, 1, 1, 1, 0.25)
        assert numbers(lines["48"]) == (1, 1, 0, 0, 0, 0, 1.0)  # failed, then fixed during the test
        assert numbers(lines["02"]) == (0, 0, 0, 0, 0, 0, None)  # nothing registered
        assert lines["56"].name == "Tỉnh Khánh Hòa"
        assert numbers(report.total) == (7, 2, 1, 2, 2, 3, round(2 / 7, 4))


def test_endpoints_to_fix(app, world):
    from coordinator.status import readiness

    with app.app_context():
        event = _event(world.slug)
        report = readiness.readiness(event, event.session("connectivity_test"), _user(ORGANIZER))
        items = report.to_fix
        # Tree order: the centre (confirmed, never seen connected), Hà Nội, then Khánh Hòa's Nha Trang,
        # its commune, then district 569. A confirmation takes nobody off the list.
        assert [i.unit_code for i in items] == ["TW", "01", "568", world.own_commune, "569"]
        assert [i.state for i in items] == ["unknown", "failed", "degraded", "failed", "unknown"]
        assert report.to_fix_counts() == {"failed": 2, "degraded": 1, "unknown": 2}
        tw, hn, d568, commune, d569 = items
        assert tw.confirmed_at == at(27, 14, 5) and hn.confirmed_at == at(27, 14, 12) and d568.confirmed_at is None
        assert hn.endpoint_name == "Phòng họp trực tuyến Thành phố Hà Nội" and hn.dial == "sip:01@10.0.0.5"
        assert hn.probe == "timeout" and hn.note == "Không có hình, không có tiếng"
        assert [(c.name, c.phone, c.phone_e164) for c in hn.contacts] == [("Nguyễn Văn An", "0904 000 111", "+84904000111")]
        assert hn.province_name == "Thành phố Hà Nội" and hn.tier == "province"
        assert d568.probe == "sip_error 503" and d568.note == "Tiếng rè"  # the probe keeps the operator's note
        assert [c.phone for c in d568.contacts] == ["0258 3822 123", "0905 222 333"]
        assert d568.province_name == "Tỉnh Khánh Hòa" and d568.tier == "district"
        assert commune.tier == "commune" and commune.note == FORMULA and commune.probe == ""
        assert d569.state == "unknown" and d569.changed_at is None and [c.name for c in d569.contacts] == ["Ngô Văn Phúc"]
        assert world.ids["48"] not in {i.endpoint_id for i in items}  # fixed during the test
        assert all(c.name != "Lê Văn Cường" for i in items for c in i.contacts)  # technical contacts only


def test_readiness_of_a_coordinator_is_its_province(app, world):
    from coordinator.status import readiness

    with app.app_context():
        event = _event(world.slug)
        report = readiness.readiness(event, event.session("connectivity_test"), _user(KH))
        assert report.central is None and [line.code for line in report.lines] == ["56"]
        assert (report.total.endpoints, report.total.connected, report.total.unknown) == (4, 1, 1)
        assert [i.unit_code for i in report.to_fix] == ["568", world.own_commune, "569"]


# --- attendance --------------------------------------------------------------------------------------

def test_attendance_per_tier(app, world):
    from coordinator.extensions import db
    from coordinator.status import attendance
    from coordinator.units.models import Unit

    with app.app_context():
        event = _event(world.slug)
        report = attendance.attendance(event, event.session("main"), _user(ORGANIZER))
        assert report.session.kind == "main" and report.tiers == ["central", "province", "district", "commune"]
        tiers = report.total.tiers
        districts = db.session.scalar(select(func.count()).select_from(Unit).where(
            Unit.structure == "2024", Unit.tier == "district"))

        def numbers(c):
            return (c.endpoints, c.endpoints_attended, c.hosted, c.hosted_attended, c.expected, c.attended)

        # TW: connected before the start and still: attended.
        assert numbers(tiers["central"]) == (1, 1, 0, 0, 1, 1) and tiers["central"].units == 1
        # 01 dropped before the start; 56 came at 09:00; 48 left at 10:30 but was there.
        assert numbers(tiers["province"]) == (3, 2, 0, 0, 3, 2) and tiers["province"].units == 63
        # 568 degraded (there); 569 failed, connected only after the end.
        assert numbers(tiers["district"]) == (2, 1, 0, 0, 2, 1) and tiers["district"].units == districts
        # The commune with its own endpoint never came; 3 communes at Nha Trang's did, 1 at 569's did not.
        assert numbers(tiers["commune"]) == (1, 0, 4, 3, 5, 3) and tiers["commune"].units == 10599
        assert tiers["commune"].share == 0.6
        # People: where expected_attendance was given (01: 40, 56: 30, 568: 20).
        assert (tiers["province"].people_expected, tiers["province"].people_attended,
                tiers["province"].people_declared) == (70, 30, 2)
        assert (tiers["district"].people_expected, tiers["district"].people_attended) == (20, 20)
        assert (report.total.expected, report.total.attended, report.total.people_expected,
                report.total.people_attended) == (11, 7, 90, 50)


def test_attendance_counts_evidence_of_connection_never_a_confirmation(app, world):
    from coordinator.status import attendance

    with app.app_context():
        event = _event(world.slug)
        main = event.session("main")
        report = attendance.attendance(event, main, _user(ORGANIZER))
        assert report.confirmed_never_connected == 1  # the commune: confirmed at 08:10, never connected
        listed = {e.unit_code: e for e in attendance.attendance_endpoints(event, main, _user(ORGANIZER))}
        tz = event.timezone
        assert listed["TW"].evidence_vi(tz) == "thăm dò lúc 08:35"  # the probe during the session, not the 08:00 one
        assert listed["56"].evidence_vi(tz) == "cán bộ operator lúc 09:00"  # recorded without a user: "operator"
        assert (listed["56"].evidence_source, listed["56"].evidence_at) == ("operator", at(28, 9, 0))
        assert listed["568"].evidence_source == "operator"  # degraded: there, with trouble
        assert listed["01"].evidence_vi(tz) == "không có"  # connected at 08:00 only, gone at 08:20
        assert listed["569"].evidence_at is None  # connected at 12:00: after the end
        assert listed[world.own_commune].confirmed_never_connected
        never = attendance.attendance_endpoints(event, main, _user(ORGANIZER), only="confirmed_never")
        assert [e.unit_code for e in never] == [world.own_commune]
        kh = attendance.attendance_endpoints(event, main, _user(KH), province="56")
        assert [e.unit_code for e in kh] == ["56", "568", world.own_commune, "569"]
        assert attendance.attendance_endpoints(event, main, _user(KH), province="01") == []  # not its province


def test_attendance_per_province(app, world):
    from coordinator.status import attendance

    with app.app_context():
        event = _event(world.slug)
        report = attendance.attendance(event, event.session("main"), _user(ORGANIZER))
        lines = {line.code: line for line in report.lines}
        kh = lines["56"]
        assert set(kh.tiers) == {"province", "district", "commune"}
        assert [(kh.tiers[t].attended, kh.tiers[t].expected) for t in ("province", "district", "commune")] == [
            (1, 1), (1, 2), (3, 5)]
        assert (kh.attended, kh.expected, kh.share, kh.people_expected, kh.people_attended) == (5, 8, 0.625, 50, 50)
        assert (lines["01"].attended, lines["01"].expected, lines["01"].people_attended) == (0, 1, 0)
        assert (lines["48"].attended, lines["48"].expected) == (1, 1)
        assert (lines["TW"].attended, lines["TW"].expected) == (1, 1) and set(lines["TW"].tiers) == {"central"}
        assert (lines["02"].expected, lines["02"].share) == (0, None)

        scoped = attendance.attendance(event, event.session("main"), _user(KH))
        assert [line.code for line in scoped.lines] == ["56"]
        assert (scoped.total.tiers["commune"].hosted_attended, scoped.total.tiers["commune"].units) == (
            3, kh.tiers["commune"].units)
        assert scoped.total.tiers["province"].units == 1


def test_attendance_of_the_test_session(app, world):
    """Any session: the test, where TW, 56, 568 (degraded) and 48 were connected at some point."""
    from coordinator.status import attendance

    with app.app_context():
        event = _event(world.slug)
        report = attendance.attendance(event, event.session("connectivity_test"), _user(ORGANIZER))
        # TW only confirmed, 01 never reachable: neither attended.
        assert report.total.endpoints_attended == 3 and report.total.tiers["commune"].hosted_attended == 3


def test_reports_are_a_few_queries_whatever_the_number_of_endpoints(app, world):
    from coordinator.extensions import db
    from coordinator.status import attendance, readiness

    with app.app_context():
        event = _event(world.slug)
        _ = event.sessions, event.tier_roles  # loaded once, as a view does
        user = _user(ORGANIZER)
        statements = []

        def count(*args, **kwargs):
            statements.append(args[2])

        engine = db.engine
        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            readiness.readiness(event, event.session("connectivity_test"), user)
            readiness_queries = len(statements)
            statements.clear()
            attendance.attendance(event, event.session("main"), user)
            attendance_queries = len(statements)
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
        assert readiness_queries <= 4 and attendance_queries <= 4, statements


# --- .xlsx ------------------------------------------------------------------------------------------

def _table(ws, first_header: str = "STT"):
    """The sheet's table below its caption: (headers, rows)."""
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == first_header)
    return rows[start], rows[start + 1:], start + 1


def _filename(response) -> tuple[str, str]:
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    ascii_name = re.search(r'filename="([^"]+)"', disposition).group(1)
    return unquote(disposition.split("filename*=UTF-8''")[1]), ascii_name


def test_readiness_xlsx(client, world):
    login(client, ORGANIZER)
    response = client.get(f"/events/{world.slug}/reports/readiness.xlsx")
    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name, ascii_name = _filename(response)
    assert name == "Báo cáo sẵn sàng kết nối - Kiểm tra đường truyền - nd49-2024.xlsx"
    assert ascii_name == "bao-cao-san-sang-ket-noi-kiem-tra-duong-truyen-nd49-2024.xlsx" and ascii_name.isascii()

    wb = load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["Theo tỉnh", "Điểm cầu cần khắc phục"]
    ws = wb["Theo tỉnh"]
    assert ws["A1"].value.startswith("Báo cáo sẵn sàng kết nối: Hội nghị trực tuyến toàn quốc")
    assert "Kiểm tra đường truyền" in ws["A2"].value and "27/06/2024 14:00" in ws["A2"].value
    assert re.match(r"Lập lúc \d\d/\d\d/\d{4} \d\d:\d\d \(Asia/Ho_Chi_Minh\)", ws["A3"].value)
    headers, rows, header_row = _table(ws)
    assert headers == ("STT", "Mã", "Tỉnh, thành phố", "Số điểm cầu", "Đã kết nối", "Kết nối kém", "Mất kết nối",
                       "Chưa rõ", "Đã xác nhận", "Tỷ lệ sẵn sàng")
    by_code = {row[1]: row for row in rows if row[1]}
    assert by_code["TW"][2:] == ("Trung ương", 1, 0, 0, 0, 1, 1, 0)
    assert by_code["56"][2:] == ("Tỉnh Khánh Hòa", 4, 1, 1, 1, 1, 1, 0.25)
    assert by_code["02"][9] is None
    assert rows[-1][2:] == ("Tổng cộng", 7, 2, 1, 2, 2, 3, round(2 / 7, 4))
    row_56 = header_row + 1 + [r[1] for r in rows].index("56")
    assert ws.cell(row=row_56, column=10).number_format == "0.0%"

    headers, rows, header_row = _table(wb["Điểm cầu cần khắc phục"])
    col = {h: i for i, h in enumerate(headers)}
    assert list(col) == ["STT", "Tỉnh, thành phố", "Mã đơn vị", "Tên đơn vị", "Cấp", "Điểm cầu", "Địa chỉ kết nối",
                         "Trạng thái", "Cập nhật lúc", "Thăm dò gần nhất", "Ghi chú kiểm tra", "Cán bộ kỹ thuật",
                         "Số điện thoại", "Đã xác nhận sẵn sàng lúc"]
    assert [r[col["Mã đơn vị"]] for r in rows] == ["TW", "01", "568", world.own_commune, "569"]
    tw, hn, d568, commune, d569 = rows
    assert (hn[col["STT"]], hn[col["Tỉnh, thành phố"]], hn[col["Trạng thái"]], hn[col["Thăm dò gần nhất"]]) == (
        2, "Thành phố Hà Nội", "Mất kết nối", "timeout")
    assert hn[col["Đã xác nhận sẵn sàng lúc"]] == "27/06/2024 14:12" and d568[col["Đã xác nhận sẵn sàng lúc"]] is None
    assert hn[col["Cập nhật lúc"]] == "27/06/2024 14:08"  # failed since the probe at 14:08 and hn[col["Số điện thoại"]] == "0904 000 111"
    assert hn[col["Cán bộ kỹ thuật"]] == "Nguyễn Văn An" and hn[col["Cấp"]] == "Cấp tỉnh"
    assert (d568[col["Trạng thái"]], d568[col["Thăm dò gần nhất"]], d568[col["Ghi chú kiểm tra"]]) == (
        "Kết nối kém", "sip_error 503", "Tiếng rè")
    assert d568[col["Số điện thoại"]] == "0258 3822 123; 0905 222 333" and d568[col["Cấp"]] == "Cấp huyện"
    assert d569[col["Trạng thái"]] == "Chưa rõ" and d569[col["Cập nhật lúc"]] is None  # never changed
    cell = wb["Điểm cầu cần khắc phục"].cell(row=header_row + 4, column=col["Ghi chú kiểm tra"] + 1)
    assert cell.value == FORMULA and cell.data_type == "s"  # text, never a formula


def test_attendance_xlsx(client, world):
    login(client, OPERATOR)
    response = client.get(f"/events/{world.slug}/reports/attendance.xlsx")
    assert response.status_code == 200
    name, ascii_name = _filename(response)
    assert name == "Báo cáo tham dự - Hội nghị chính thức - nd49-2024.xlsx"
    assert ascii_name == "bao-cao-tham-du-hoi-nghi-chinh-thuc-nd49-2024.xlsx"
    wb = load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["Theo cấp", "Theo tỉnh", "Điểm cầu"]
    assert "Hội nghị chính thức" in wb["Theo cấp"]["A2"].value and "28/06/2024 08:30" in wb["Theo cấp"]["A2"].value

    headers, rows, _ = _table(wb["Theo cấp"], "Cấp")
    assert headers == ("Cấp", "Số đơn vị", "Điểm cầu đăng ký", "Điểm cầu đã kết nối", "Dự tại điểm cầu khác",
                       "Trong đó đã dự", "Đơn vị dự kiến", "Đơn vị đã dự", "Tỷ lệ tham dự", "Số đại biểu dự kiến",
                       "Số đại biểu tại điểm cầu đã kết nối")
    by_tier = {row[0]: row for row in rows}
    assert list(by_tier) == ["Trung ương", "Cấp tỉnh", "Cấp huyện", "Cấp xã", "Tổng cộng"]
    assert by_tier["Cấp xã"][1:] == (10599, 1, 0, 4, 3, 5, 3, 0.6, 0, 0)
    assert by_tier["Cấp tỉnh"][1:] == (63, 3, 2, 0, 0, 3, 2, round(2 / 3, 4), 70, 30)
    assert by_tier["Tổng cộng"][6:] == (11, 7, round(7 / 11, 4), 90, 50)

    headers, rows, _ = _table(wb["Theo tỉnh"])
    assert headers[:3] == ("STT", "Mã", "Tỉnh, thành phố")
    assert headers[3:11] == ("Trung ương: dự kiến", "Trung ương: đã dự", "Cấp tỉnh: dự kiến", "Cấp tỉnh: đã dự",
                             "Cấp huyện: dự kiến", "Cấp huyện: đã dự", "Cấp xã: dự kiến", "Cấp xã: đã dự")
    assert headers[11:] == ("Tổng dự kiến", "Tổng đã dự", "Tỷ lệ tham dự", "Số đại biểu dự kiến",
                            "Số đại biểu tại điểm cầu đã kết nối")
    by_code = {row[1]: row for row in rows if row[1]}
    assert by_code["56"][2:] == ("Tỉnh Khánh Hòa", None, None, 1, 1, 2, 1, 5, 3, 8, 5, 0.625, 50, 50)
    ws = wb["Điểm cầu"]
    assert any("Đã xác nhận nhưng không có bằng chứng kết nối: 1" in (r[0] or "") for r in ws.iter_rows(values_only=True))
    headers, endpoint_rows, _ = _table(ws)
    assert headers == ("STT", "Tỉnh, thành phố", "Mã đơn vị", "Tên đơn vị", "Cấp", "Điểm cầu", "Bằng chứng kết nối",
                       "Xác nhận sẵn sàng lúc", "Ghi chú")
    evidence = {r[2]: (r[6], r[8]) for r in endpoint_rows}
    assert evidence["TW"] == ("thăm dò lúc 08:35", None) and evidence["01"] == ("không có", None)
    assert evidence[world.own_commune] == ("không có", "Đã xác nhận nhưng không có bằng chứng kết nối")
    assert by_code["TW"][3:5] == (1, 1) and by_code["TW"][5] is None
    assert rows[-1][2] == "Tổng cộng" and rows[-1][11:13] == (11, 7)


def test_coordinator_sees_only_its_province(client, world):
    login(client, KH)
    wb = load_workbook(io.BytesIO(client.get(f"/events/{world.slug}/reports/readiness.xlsx").data))
    _, rows, _ = _table(wb["Theo tỉnh"])
    assert [r[1] for r in rows] == ["56", None] and rows[-1][3] == 4
    headers, rows, _ = _table(wb["Điểm cầu cần khắc phục"])
    assert [r[2] for r in rows] == ["568", world.own_commune, "569"]
    html = client.get(f"/events/{world.slug}/reports/readiness", headers=EN).get_data(as_text=True)
    assert "Tỉnh Khánh Hòa" in html and "Hà Nội" not in html and "0904 000 111" not in html
    assert "0258 3822 123" in html and "Limited to" in html

    html = client.get(f"/events/{world.slug}/reports/attendance", headers=EN).get_data(as_text=True)
    assert 'data-code="56"' in html and 'data-code="01"' not in html and 'data-code="TW"' not in html
    wb = load_workbook(io.BytesIO(client.get(f"/events/{world.slug}/reports/attendance.xlsx").data))
    _, rows, _ = _table(wb["Theo tỉnh"])
    assert [r[1] for r in rows] == ["56", None]


def test_another_coordinator_sees_none_of_khanh_hoa(client, world):
    login(client, HN)
    html = client.get(f"/events/{world.slug}/reports/readiness", headers=EN).get_data(as_text=True)
    assert "Khánh Hòa" not in html and "Nguyễn Văn An" in html and "0904 000 111" in html


@pytest.mark.parametrize("email, message", [(DN, "Every endpoint is connected."),
                                            (HG, "No endpoint is registered yet.")])
def test_nothing_to_fix(client, world, email, message):
    login(client, email)
    html = client.get(f"/events/{world.slug}/reports/readiness", headers=EN).get_data(as_text=True)
    assert "Endpoints to fix before the session (0)" in html and message in html


# --- pages --------------------------------------------------------------------------------------------

def test_readiness_page_prints(client, world):
    login(client, ORGANIZER)
    response = client.get(f"/events/{world.slug}/reports/readiness", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # The print stylesheet: A4 landscape, no navigation or buttons, table headers on every page.
    assert "@media print" in html and "size: A4 landscape" in html
    print_css = html.split("@media print")[1].split("</style>")[0]
    assert ".topbar" in print_css and ".no-print" in print_css and "display:table-header-group" in print_css
    header = html.split('<header class="report-header">')[1].split("</header>")[0]
    assert "Readiness report" in header and "Hội nghị trực tuyến toàn quốc" in header
    assert "Connectivity test" in header and "27/06/2024 14:00" in header and "27/06/2024 17:00" in header
    assert re.search(r"Generated on \d\d/\d\d/\d{4} \d\d:\d\d \(Asia/Ho_Chi_Minh\)", header)
    # The print button (static/app.js prints on data-print: the CSP forbids an inline onclick).
    assert 'class="actions no-print"' in html and "<button type=\"button\" data-print>" in html
    assert f"/events/{world.slug}/reports/readiness.xlsx?session=connectivity_test" in html
    # The numbers and the endpoints to fix.
    row = html.split('data-code="56"')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["4", "1", "1", "1", "1", "1", "25.0%"]
    assert "Endpoints to fix before the session (5)" in html
    fix = html.split('id="to-fix"')[1]
    assert "Nguyễn Văn An: <span class=\"phones\">0904 000 111</span>" in fix
    # 568: the operator's "degraded" at 14:20 decided (the probe at 14:25 agreed within the hold).
    assert "sip_error 503" in fix and "Tiếng rè" in fix and "27/06/2024 14:20" in fix
    assert fix.count("confirmed ready by its contact") == 2  # TW and Hà Nội: the first calls to make
    assert "&lt;" not in FORMULA and "=HYPERLINK(&#34;http://evil.example&#34;" in fix  # escaped
    vi = client.get(f"/events/{world.slug}/reports/readiness").get_data(as_text=True)  # Vietnamese by default
    assert '<html lang="vi">' in vi and "Tỉnh Khánh Hòa" in vi


def test_attendance_page(client, world):
    login(client, ORGANIZER)
    response = client.get(f"/events/{world.slug}/reports/attendance", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "@media print" in html and "Attendance report" in html and "Main session" in html
    assert "28/06/2024 08:30" in html
    commune = html.split('data-tier="commune"')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', commune) == ["10599", "1", "0", "3/4", "5", "3", "60.0%", "—", "—"]
    kh = html.split('data-code="56"')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', kh) == ["—", "1/1", "1/2", "3/5", "5/8", "62.5%", "50", "50"]
    assert 'data-confirmed-never="1"' in html
    listed = client.get(f"/events/{world.slug}/reports/attendance?province=56", headers=EN).get_data(as_text=True)
    table = listed.split('id="attendance-endpoints"')[1].split("</table>")[0]
    assert table.count("<tr data-endpoint=") == 4 and "operator operator at 28/06/2024 09:00" in table
    assert 'data-evidence="none" class="st-never-row"' in table and "never connected" in table
    assert f"/events/{world.slug}/reports/attendance.xlsx?session=main" in html


def test_session_parameter(client, world):
    login(client, ORGANIZER)
    html = client.get(f"/events/{world.slug}/reports/readiness?session=main", headers=EN).get_data(as_text=True)
    # In the main session: 01 and 48 failed, 568 degraded, the commune unknown (569 connected at 12:00).
    assert "Endpoints to fix before the session (4)" in html
    assert "Main session" in html.split('<header class="report-header">')[1].split("</header>")[0]
    assert f"/events/{world.slug}/reports/readiness.xlsx?session=main" in html
    response = client.get(f"/events/{world.slug}/reports/attendance.xlsx?session=connectivity_test")
    assert response.status_code == 200 and "Ki%E1%BB%83m%20tra" in response.headers["Content-Disposition"]
    assert client.get(f"/events/{world.slug}/reports/readiness?session=nope").status_code == 404
    assert client.get(f"/events/{world.slug}/reports/attendance.xlsx?session=rehearsal").status_code == 404


def test_reports_need_sign_in_and_an_event(client, world):
    for path in ("readiness", "readiness.xlsx", "attendance", "attendance.xlsx"):
        assert client.get(f"/events/{world.slug}/reports/{path}").status_code == 302  # to the login form
    login(client, OPERATOR)
    assert client.get("/events/no-such-event/reports/readiness").status_code == 404
    assert client.get("/events/no-such-event/reports/attendance.xlsx").status_code == 404
