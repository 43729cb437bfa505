"""Document requests (a deadline of kind `documents`): units upload the files asked for, name a
focal contact, and the organizer downloads everything as one ZIP with an index spreadsheet.

Callable without a request. Every write checks the actor's scope (a coordinator: its unit's
subtree), the request's window (late uploads accepted and marked late until the organizer
closes it), records an audit entry and refreshes the unit's fulfilment, in one transaction.

Bytes live under `<instance>/uploads/<key[:2]>/<key>`, written to a temporary file and moved
into place atomically. Bytes a change makes obsolete (a replaced or deleted file) are removed
only after the database commit succeeded, and new bytes are removed if it failed: a failed
commit never loses a file that the database still points to.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coordinator.audit import services as audit
from coordinator.auth.permissions import can, scope_path
from coordinator.auth.scopes import scope_unit
from coordinator.events.labels import STATUS_LABELS
from coordinator.deadlines import services as deadlines
from coordinator.deadlines.models import DeadlineFulfilment
from coordinator.documents.models import DocumentFile
from coordinator.endpoints.phones import PhoneError, national, parse_phone
from coordinator.endpoints.services import ScopeError
from coordinator.events.models import CANCELLED, FINISHED, Deadline, Event
from coordinator.extensions import db
from coordinator.fields import clean_text, rule
from coordinator.messages import N_, Message
from coordinator.spreadsheets.safe import write_xlsx
from coordinator.text import nfc
from coordinator.timeutil import format_local, to_local, utcnow
from coordinator.units.models import Unit

log = logging.getLogger(__name__)

__all__ = ["ScopeError", "DocumentRefused", "upload", "set_contact", "delete", "list_for", "units_for",
           "is_complete", "zip_for", "clean_filename", "file_path", "get_file", "unit_statuses"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_NAME = 200
FALLBACK_STEM = "tep-tai-len"  # "uploaded file", for a name that is empty once cleaned
INDEX_NAME = "danh-sach.xlsx"

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "zip": "application/zip",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 / Excel 97-2003 compound file
_MAGIC = {
    "jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "doc": (_OLE,), "xls": (_OLE,),
    "docx": (b"PK\x03\x04",), "xlsx": (b"PK\x03\x04",), "odt": (b"PK\x03\x04",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),  # the second: an empty archive
}
# Office Open XML and OpenDocument files are ZIP archives; what is inside tells them apart.
_ZIP_MEMBER = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "odt": "mimetype"}
_ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
_COMPRESSED = {CONTENT_TYPES[t] for t in ("jpg", "png", "docx", "xlsx", "odt", "zip")}
# Acrobat accepts a PDF whose header is anywhere in the first 1024 bytes (some scanners write a
# preamble); accepting the same keeps genuine scans from being refused.
_PDF_HEADER_WINDOW = 1024

_WINDOWS_ILLEGAL = re.compile(r'[\\/:*?"<>|]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


@dataclass
class Problem:
    field: str  # "file", "slot", "contact_name", "contact_phone", or "" for the request as a whole
    msg: Message

    def localized(self) -> str:
        return self.msg.localized()


class DocumentRefused(Exception):
    """Nothing was saved; `problems` say which rule failed."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.msg}" if p.field else str(p.msg) for p in problems))

    @property
    def msg(self) -> Message:
        return self.problems[0].msg


def _refuse(field_name: str, template: str, **params) -> DocumentRefused:
    return DocumentRefused([Problem(field_name, Message(template, params))])


# --- storage ---------------------------------------------------------------------------------------

def _uploads_root() -> Path:
    # Read at call time: tests and deployments may point the instance folder elsewhere.
    return Path(current_app.instance_path) / "uploads"


def file_path(storage_key: str) -> Path:
    return _uploads_root() / storage_key[:2] / storage_key


def _remove_bytes(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # the row is gone either way; a stray file only costs disk space
            log.warning("could not remove %s", path, exc_info=True)


def max_bytes() -> int:
    return int(current_app.config.get("MAX_DOCUMENT_BYTES", DEFAULT_MAX_BYTES))


@dataclass
class _Stored:
    key: str
    path: Path
    size: int
    sha256: str


def _store(stream: BinaryIO, display_name: str, ext: str) -> _Stored:
    """Copy `stream` to its final place, checking size and type on the way; raises
    DocumentRefused with nothing left on disk."""
    key = uuid.uuid4().hex
    final = file_path(key)
    final.parent.mkdir(parents=True, exist_ok=True)
    limit = max_bytes()
    digest, size = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            head = b""
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _refuse("file", N_("'%(name)s' is larger than the limit of %(limit)s MB"),
                                  name=display_name, limit=_megabytes(limit))
                if len(head) < _PDF_HEADER_WINDOW:
                    head += chunk[:_PDF_HEADER_WINDOW - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise _refuse("file", N_("'%(name)s' is empty"), name=display_name)
        if not _content_matches(ext, head, tmp):
            raise _refuse("file", N_("'%(name)s' is not a real %(type)s file: its content does not match its "
                                     "extension"), name=display_name, type=ext.upper())
        os.replace(tmp, final)
    except BaseException:
        _remove_bytes([tmp])
        raise
    return _Stored(key, final, size, digest.hexdigest())


def _content_matches(ext: str, head: bytes, path: Path) -> bool:
    if ext == "pdf":
        return b"%PDF-" in head[:_PDF_HEADER_WINDOW]
    if not head.startswith(_MAGIC.get(ext, (b"\x00\x00unknown",))):
        return False
    if ext in _ZIP_MEMBER:
        try:
            with zipfile.ZipFile(path) as archive:
                if _ZIP_MEMBER[ext] not in archive.namelist():
                    return False
                # An OpenDocument spreadsheet has content.xml too; its mimetype member says which it is.
                return ext != "odt" or archive.read("mimetype").strip() == _ODT_MIMETYPE
        except (zipfile.BadZipFile, OSError, KeyError, RuntimeError):
            return False
    return True


def _megabytes(n: int) -> str:
    value = n / (1024 * 1024)
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


# --- file names ------------------------------------------------------------------------------------

def split_name(name: str) -> tuple[str, str]:
    """("Báo cáo.docx") -> ("Báo cáo", "docx"); a name without a dot has no extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return name, ""
    return stem, ext


def _clean_part(text: str) -> str:
    text = nfc(text)
    # Tabs and line breaks separate words; other control and format characters go (including
    # right-to-left overrides, which can disguise an extension).
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    text = _WINDOWS_ILLEGAL.sub(" ", text)
    return " ".join(text.split())


def clean_filename(raw: str) -> str:
    """The name a file keeps: Vietnamese diacritics kept (NFC), no directory part, nothing
    Windows refuses when the organizer unzips the archive, at most 200 characters with the
    extension kept; an empty name becomes "tep-tai-len.<ext>"."""
    name = nfc(raw or "")
    name = re.split(r"[\\/]", name)[-1]  # browsers on Windows may send "C:\Users\...\a.pdf"
    stem, ext = split_name(name)
    stem, ext = _clean_part(stem), _clean_part(ext).replace(" ", "")
    stem = stem.rstrip(". ")  # Windows drops trailing dots and spaces
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"{stem}_"
    if not ext:
        return (stem or FALLBACK_STEM)[:MAX_NAME]
    stem = stem[:max(1, MAX_NAME - len(ext) - 1)].rstrip(". ") or FALLBACK_STEM
    return f"{stem}.{ext}"


def clean_folder_name(raw: str) -> str:
    return _clean_part(raw).rstrip(". ")[:MAX_NAME] or FALLBACK_STEM


# --- rules ---------------------------------------------------------------------------------------

def _check_request(deadline: Deadline, unit: Unit, actor) -> Event:
    """Scope, kind, tier and window; the event's state wins over everything else."""
    event = deadline.event
    if not can(actor, "documents.submit", unit):
        raise ScopeError(unit.code)
    if deadline.kind != "documents":
        raise _refuse("", N_("this deadline does not ask for documents"))
    if unit.structure != event.unit_structure or unit.tier != deadline.tier:
        raise _refuse("", N_("%(unit)s is not among the units this request is addressed to"), unit=unit.name)
    if event.status in (CANCELLED, FINISHED):
        raise _refuse("", N_("this event is %(status)s: documents are no longer accepted"),
                       status=STATUS_LABELS[event.status])
    if deadline.is_closed:
        raise _refuse("", N_("the organizer has closed this request: documents are no longer accepted"))
    return event


def window(deadline: Deadline, now: datetime | None = None) -> str:
    """open | late | closed, for the pages' banner."""
    if deadline.event.status in (CANCELLED, FINISHED) or deadline.is_closed:
        return deadlines.CLOSED
    return deadlines.LATE if (now or utcnow()) > deadline.due_at else deadlines.OPEN


def _slot_spec(deadline: Deadline, slot) -> tuple[int, dict]:
    specs = deadline.required_files or []
    try:
        index = int(slot)
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(specs):
        raise _refuse("slot", N_("this request has no file slot number %(slot)s"), slot=slot)
    return index, specs[index]


def allowed_types(spec: dict) -> list[str]:
    return [t.lower() for t in spec.get("types", [])]


# --- writes --------------------------------------------------------------------------------------

def upload(deadline: Deadline, unit: Unit, slot, filename: str, stream: BinaryIO, actor, *,
           replaces: DocumentFile | None = None) -> DocumentFile:
    """Store one file for `unit` in slot `slot` of `deadline`. A file of the same name for the
    same unit is replaced, as is `replaces` (the official's "replace" button). Raises
    ScopeError or DocumentRefused (nothing saved, nothing left on disk)."""
    event = _check_request(deadline, unit, actor)
    index, spec = _slot_spec(deadline, slot)
    if replaces is not None and (replaces.deadline_id != deadline.id or replaces.unit_id != unit.id):
        raise _refuse("file", N_("the file to replace belongs to another unit or request"))
    name = clean_filename(filename)
    ext = split_name(name)[1].lower()
    types = allowed_types(spec)
    if not ext:
        raise _refuse("file", N_("'%(name)s' has no extension; allowed for '%(label)s': %(types)s"),
                      name=name, label=spec["label"], types=", ".join(types))
    if ext not in types:
        raise _refuse("file", N_("'%(name)s' is a .%(ext)s file; allowed for '%(label)s': %(types)s"),
                      name=name, ext=ext, label=spec["label"], types=", ".join(types))

    stored = _store(stream, name, ext)
    obsolete: list[Path] = []
    try:
        same_name = db.session.scalar(select(DocumentFile).where(
            DocumentFile.deadline_id == deadline.id, DocumentFile.unit_id == unit.id, DocumentFile.filename == name))
        previous = replaces or same_name
        if same_name is not None and replaces is not None and same_name.id != replaces.id:
            # Replacing A by a file named like B: B goes too, the names stay unique.
            obsolete.append(file_path(same_name.storage_key))
            db.session.delete(same_name)
            db.session.flush()
        record = previous or DocumentFile(deadline_id=deadline.id, unit_id=unit.id, unit=unit)
        if previous is not None:
            obsolete.append(file_path(previous.storage_key))
        else:
            db.session.add(record)
        record.slot, record.filename, record.content_type = index, name, CONTENT_TYPES.get(ext, "application/octet-stream")
        record.size, record.sha256, record.storage_key = stored.size, stored.sha256, stored.key
        record.uploaded_at, record.uploaded_by_id = utcnow(), getattr(actor, "id", None)
        db.session.flush()
        deadlines.refresh(event, [unit])
        audit.record("document.replace" if previous is not None else "document.upload", "document_file", record.id,
                     actor=actor, event=event.slug, deadline=deadline.id, unit=unit.code, slot=index,
                     filename=name, size=stored.size, sha256=stored.sha256, late=record.uploaded_at > deadline.due_at)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _remove_bytes([stored.path])
        raise _refuse("file", N_("another upload of '%(name)s' happened at the same moment; please try again"),
                      name=name) from None
    except BaseException:
        db.session.rollback()
        _remove_bytes([stored.path])
        raise
    _remove_bytes(obsolete)
    return record


def delete(file: DocumentFile, actor) -> None:
    deadline = db.session.get(Deadline, file.deadline_id)
    unit = file.unit
    event = _check_request(deadline, unit, actor)
    path = file_path(file.storage_key)
    audit.record("document.delete", "document_file", file.id, actor=actor, event=event.slug, deadline=deadline.id,
                 unit=unit.code, slot=file.slot, filename=file.filename, sha256=file.sha256)
    try:
        db.session.delete(file)
        db.session.flush()
        deadlines.refresh(event, [unit])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    _remove_bytes([path])


def set_contact(deadline: Deadline, unit: Unit, name: str, phone_raw: str, actor) -> DeadlineFulfilment:
    """The unit's focal contact for the dossier ("cán bộ đầu mối"); the phone is stored as E.164."""
    event = _check_request(deadline, unit, actor)
    problems: list[Problem] = []
    name, err = clean_text(" ".join(nfc(name or "").split()), rule(DeadlineFulfilment.contact_name))
    if err is not None:  # a control or bidi character, or longer than the column (coordinator.fields)
        problems.append(Problem("contact_name", err))
    elif not name:
        problems.append(Problem("contact_name", Message(N_("the focal contact's name is required"))))
    phone = None
    try:
        phone = parse_phone(phone_raw)
    except PhoneError as exc:
        problems.append(Problem("contact_phone", exc.msg))
    if problems:
        raise DocumentRefused(problems)
    row = db.session.scalar(select(DeadlineFulfilment).where(
        DeadlineFulfilment.deadline_id == deadline.id, DeadlineFulfilment.unit_id == unit.id))
    if row is None:
        row = DeadlineFulfilment(deadline_id=deadline.id, unit_id=unit.id, unit=unit)
        db.session.add(row)
    row.contact_name, row.contact_phone = name, phone.e164
    db.session.flush()
    deadlines.refresh(event, [unit])
    audit.record("document.contact", "deadline", deadline.id, actor=actor, event=event.slug, unit=unit.code,
                 name=name, phone=phone.e164)
    db.session.commit()
    return row


# --- reads ---------------------------------------------------------------------------------------

def is_complete(deadline: Deadline, unit_id: int) -> bool:
    """Every slot holds at least one file and the unit named its focal contact's phone."""
    filled = set(db.session.scalars(select(DocumentFile.slot).distinct().where(
        DocumentFile.deadline_id == deadline.id, DocumentFile.unit_id == unit_id)))
    if not all(i in filled for i in range(len(deadline.required_files or []))):
        return False
    phone = db.session.scalar(select(DeadlineFulfilment.contact_phone).where(
        DeadlineFulfilment.deadline_id == deadline.id, DeadlineFulfilment.unit_id == unit_id))
    return bool(phone)


def _scoped(stmt, user, within: Unit | None, structure: str):
    path = scope_path(user, structure)
    if path is not None:
        stmt = stmt.where(Unit.path.startswith(path, autoescape=True))
    if within is not None:
        stmt = stmt.where(Unit.path.startswith(within.path, autoescape=True))
    return stmt


def units_for(deadline: Deadline, user, within: Unit | None = None) -> list[Unit]:
    """The units the request is addressed to that `user` may see (a coordinator: those in its
    subtree), optionally only those below `within`."""
    event = deadline.event
    if user.role == "coordinator" and scope_unit(user, event.unit_structure) is None:
        return []
    stmt = select(Unit).where(Unit.structure == event.unit_structure, Unit.tier == deadline.tier)
    return list(db.session.scalars(_scoped(stmt, user, within, event.unit_structure).order_by(Unit.code)))


def list_for(deadline: Deadline, user, within: Unit | None = None) -> list[DocumentFile]:
    """The request's files `user` may see, by unit code, slot and name."""
    stmt = select(DocumentFile).join(Unit, DocumentFile.unit_id == Unit.id).where(DocumentFile.deadline_id == deadline.id)
    return list(db.session.scalars(_scoped(stmt, user, within, deadline.event.unit_structure).order_by(Unit.code, DocumentFile.slot,
                                                                         DocumentFile.filename)))


def get_file(file_id: int, user) -> DocumentFile | None:
    """The file, if `user` may see it (None otherwise: outside scope looks like not found)."""
    file = db.session.get(DocumentFile, file_id)
    if file is None:
        return None
    if not (can(user, "documents.collect") or can(user, "documents.submit", file.unit)):
        return None
    return file


@dataclass
class UnitStatus:
    unit: Unit
    files: list[DocumentFile] = field(default_factory=list)
    fulfilment: DeadlineFulfilment | None = None
    due_at: datetime | None = None  # the deadline's due time as it is now

    @property
    def complete(self) -> bool:
        return self.fulfilment is not None and self.fulfilment.fulfilled_at is not None

    @property
    def late(self) -> bool:
        return self.complete and self.due_at is not None and self.fulfilment.fulfilled_at > self.due_at

    @property
    def started(self) -> bool:
        return bool(self.files) or bool(self.fulfilment and self.fulfilment.contact_phone)

    @property
    def state(self) -> str:
        """complete | late (complete after the due time) | partial | missing"""
        if self.complete:
            return "late" if self.late else "complete"
        return "partial" if self.started else "missing"

    def files_in(self, slot: int) -> list[DocumentFile]:
        return [f for f in self.files if f.slot == slot]

    @property
    def contact_phone_national(self) -> str:
        phone = self.fulfilment.contact_phone if self.fulfilment else ""
        return national(phone) if phone else ""


def unit_statuses(deadline: Deadline, user, within: Unit | None = None) -> list[UnitStatus]:
    units = units_for(deadline, user, within)
    statuses = {u.id: UnitStatus(u, due_at=deadline.due_at) for u in units}
    for file in list_for(deadline, user, within):
        if file.unit_id in statuses:
            statuses[file.unit_id].files.append(file)
    for unit_id, row in deadlines.fulfilment_map(deadline).items():
        if unit_id in statuses:
            statuses[unit_id].fulfilment = row
    return list(statuses.values())


# --- the organizer's archive -----------------------------------------------------------------------

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
                info.compress_type = zipfile.ZIP_STORED if f.content_type in _COMPRESSED else zipfile.ZIP_DEFLATED
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
