"""The organizer's archive of a document request: one ZIP with a folder per unit holding its files
and an index spreadsheet (in Vietnamese) listing every file and every unit that sent nothing.
"""
from __future__ import annotations

import tempfile
import zipfile
from datetime import datetime
from typing import IO

from coordinator.documents.files import CHUNK, COMPRESSED, clean_folder_name, file_path
from coordinator.documents.services import UnitStatus, unit_statuses
from coordinator.events.models import Deadline
from coordinator.spreadsheets.safe import write_xlsx
from coordinator.timeutil import format_local, to_local
from coordinator.units.models import Unit

INDEX_NAME = "danh-sach.xlsx"
INDEX_HEADERS = ("Mã đơn vị", "Tên đơn vị", "Hồ sơ", "Tên tệp", "Dung lượng (byte)", "SHA-256",
                 "Thời điểm tải lên", "Trễ hạn", "Cán bộ đầu mối", "Điện thoại đầu mối", "Tình trạng")
STATE_WORDS = {"complete": "Đủ hồ sơ", "late": "Đủ hồ sơ (trễ hạn)", "partial": "Chưa đủ hồ sơ",
               "missing": "Chưa nộp"}


def unit_folder(unit: Unit) -> str:
    return clean_folder_name(f"{unit.code} - {unit.name}")


def index_rows(deadline: Deadline, statuses: list[UnitStatus]) -> list[list]:
    tz = deadline.event.timezone
    labels = [spec.get("label", "") for spec in deadline.required_files or []]
    rows: list[list] = []
    for status in statuses:
        contact = status.fulfilment.contact_name if status.fulfilment else ""
        phone = status.contact_phone_national
        state = STATE_WORDS[status.state]
        for f in status.files:
            label = labels[f.slot] if 0 <= f.slot < len(labels) else ""
            rows.append([status.unit.code, status.unit.name, label, f.filename, f.size, f.sha256,
                         format_local(f.uploaded_at, tz), "Có" if f.uploaded_at > deadline.due_at else "Không",
                         contact, phone, state])
        if not status.files:  # so the organizer sees who sent nothing
            rows.append([status.unit.code, status.unit.name, "", "", None, "", "", "", contact, phone, state])
    return rows


def zip_for(deadline: Deadline, user=None, within: Unit | None = None) -> IO[bytes]:
    """One ZIP: a folder "<code> - <unit name>" per unit holding its files under their names,
    and the index "danh-sach.xlsx" at the root listing every file and every unit that sent
    nothing. Returned positioned at 0; large archives spill to a temporary file on disk."""
    statuses = unit_statuses(deadline, user or _Everyone(), within)
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for status in statuses:
            folder = unit_folder(status.unit)
            for f in status.files:
                info = zipfile.ZipInfo(f"{folder}/{f.filename}", date_time=_zip_time(f.uploaded_at, deadline))
                info.file_size = f.size  # lets zipfile decide on ZIP64 before writing
                # JPEG, PNG and Office Open XML are compressed already: storing them is as small and faster.
                info.compress_type = zipfile.ZIP_STORED if f.content_type in COMPRESSED else zipfile.ZIP_DEFLATED
                with file_path(f.storage_key).open("rb") as src, archive.open(info, "w") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
        archive.writestr(INDEX_NAME, write_xlsx(INDEX_HEADERS, index_rows(deadline, statuses),
                                                sheet_title="Danh sách hồ sơ",
                                                widths=[10, 28, 30, 40, 14, 20, 18, 9, 24, 16, 18]))
    out.seek(0)
    return out


def _zip_time(value: datetime, deadline: Deadline) -> tuple:
    # ZIP stores a wall-clock time without a zone: the event's zone is what the organizer expects.
    local = to_local(value, deadline.event.timezone)
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


class _Everyone:
    """The organizer's view when no user is given (CLI, jobs): no scope limit."""

    role = "organizer"
    unit = None
    is_authenticated = True
