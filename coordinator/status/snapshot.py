"""The snapshot: every endpoint of a unit's subtree as it is at this moment, as a workbook (the
unit's dashboard links to it): unit, endpoint, state shown and since when, the last probe and the
last check, the open incident and its owner, the technical contacts' phones.

Three queries whatever the size of the subtree (the endpoints with their facts: `queries.unit_view`;
the open incidents with their owners; the technical contacts); Vietnamese words only, written by
`spreadsheets.safe.write_workbook`, the one writer of every spreadsheet."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from coordinator.auth.models import User
from coordinator.endpoints.models import Contact, Endpoint
from coordinator.endpoints.phones import national
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.spreadsheets.safe import Sheet, write_workbook
from coordinator.status import texts
from coordinator.status.incident_list import user_label
from coordinator.status.models import Incident
from coordinator.status.queries import unit_view
from coordinator.status.report_sheets import SESSION_VI, STATE_VI, TIER_VI
from coordinator.timeutil import format_local, utcnow
from coordinator.units.models import Unit

TITLE = "Hiện trạng điểm cầu"
HEADERS = ("STT", "Mã đơn vị", "Đơn vị", "Cấp", "Điểm cầu", "Trạng thái", "Từ lúc", "Căn cứ", "Thăm dò gần nhất",
           "Kết quả thăm dò", "Kiểm tra gần nhất", "Kết quả kiểm tra", "Người kiểm tra", "Sự cố đang mở từ",
           "Tình trạng sự cố", "Người xử lý", "Số điện thoại kỹ thuật")
WIDTHS = (6, 10, 28, 11, 32, 14, 17, 12, 17, 26, 17, 26, 24, 17, 16, 24, 30)
SOURCE_VI = {"operator": "Cán bộ kiểm tra", "probe": "Thăm dò tự động"}
INCIDENT_VI = {"open": "Chưa có người nhận", "acknowledged": "Đã có người nhận"}
FLAG_VI = {True: "có", False: "không"}


def _probe(status, protocol: str) -> str:
    if status is None or status.probed_at is None:
        return ""
    if status.probe_state == "connected" or status.probe_layer == "ok":
        words = "trả lời"
    else:
        words = texts.failure_words("probe", status.probe_layer, status.probe_code, protocol)
    if status.probe_rtt_ms is not None:
        words += f", {status.probe_rtt_ms:.0f} ms"
    return words


def _check(status) -> str:
    if status is None or status.checked_at is None:
        return ""
    parts = [STATE_VI.get(status.check_state, status.check_state)]
    flags = [f"{name} {FLAG_VI[value]}" for name, value in (("âm thanh", status.audio), ("hình", status.video),
                                                              ("trình chiếu", status.content)) if value is not None]
    if flags:
        parts.append(", ".join(flags))
    if status.note:
        parts.append(status.note)
    return "; ".join(parts)


def snapshot_rows(event: Event, unit: Unit, session: EventSession) -> list[list]:
    """One row per endpoint of `unit`'s subtree, in tree order."""
    rows = unit_view(event, unit, session)
    tz = event.timezone
    incidents: dict[int, tuple] = {}
    for endpoint_id, state, opened_at, name, email in db.session.execute(
            select(Incident.endpoint_id, Incident.state, Incident.opened_at, User.display_name, User.email)
            .join(Endpoint, Incident.endpoint_id == Endpoint.id).join(Unit, Endpoint.unit_id == Unit.id)
            .outerjoin(User, User.id == Incident.owner_id)
            .where(Incident.session_id == session.id, Incident.resolved_at.is_(None), Unit.path.startswith(unit.path))):
        incidents[endpoint_id] = (state, opened_at, user_label(name, email))
    phones: dict[int, list[str]] = {}
    for endpoint_id, name, phone in db.session.execute(
            select(Contact.endpoint_id, Contact.name, Contact.phone).join(Endpoint, Contact.endpoint_id == Endpoint.id)
            .join(Unit, Endpoint.unit_id == Unit.id)
            .where(Endpoint.event_id == event.id, Unit.path.startswith(unit.path), Contact.role == "technical")
            .order_by(Contact.id)):
        phones.setdefault(endpoint_id, []).append(f"{name}: {national(phone)}" if name else national(phone))
    out = []
    for i, r in enumerate(rows, start=1):
        st = r["status"]
        incident = incidents.get(r["id"])
        out.append([
            i, r["unit_code"], r["unit"], TIER_VI.get(r["tier"], r["tier"]), r["name"], STATE_VI.get(r["state"], r["state"]),
            format_local(st.changed_at, tz) if st is not None and st.changed_at else "",
            SOURCE_VI.get(st.source, "") if st is not None else "",
            format_local(st.probed_at, tz) if st is not None and st.probed_at else "", _probe(st, r["protocol"] or ""),
            format_local(st.checked_at, tz) if st is not None and st.checked_at else "", _check(st),
            st.checked_by if st is not None and st.checked_at else "",
            format_local(incident[1], tz) if incident else "", INCIDENT_VI.get(incident[0], "") if incident else "",
            incident[2] if incident else "", "; ".join(phones.get(r["id"], [])),
        ])
    return out


def snapshot_xlsx(event: Event, unit: Unit, session: EventSession, now: datetime | None = None) -> bytes:
    """The workbook: a caption (the unit, the event and session, when it was made), then the rows."""
    now = now or utcnow()
    rows = snapshot_rows(event, unit, session)
    caption = [f"{TITLE}: {unit.name}",
               f"{event.title} · {SESSION_VI.get(session.kind, session.kind)}",
               f"Lập lúc {format_local(now, event.timezone)} ({event.timezone}) · {len(rows)} điểm cầu"]
    return write_workbook([Sheet(TITLE, HEADERS, rows, WIDTHS, caption=caption, printable=True)])


def snapshot_filename(event: Event, unit: Unit, now: datetime) -> str:
    """"Hiện trạng điểm cầu - Tỉnh Khánh Hòa - 28-06-2024 08h30.xlsx" (the event's time, diacritics kept)."""
    return f"{TITLE} - {unit.name} - {format_local(now, event.timezone, '%d-%m-%Y %Hh%M')}.xlsx"
