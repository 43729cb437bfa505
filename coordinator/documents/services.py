"""Document requests (a deadline of kind `documents`): units upload the files asked for, name a
focal contact, and the organizer downloads everything as one ZIP with an index spreadsheet.

Callable without a request. Every write checks the actor's scope (a coordinator: its unit's
subtree), the request's window (late uploads accepted and marked late until the organizer
closes it), records an audit entry and sends `documents_changed` (the unit's deadline fulfilment
follows), in one transaction.

The bytes and names of files are `files.py`'s, the organizer's ZIP `archive.py`'s. Bytes a change
makes obsolete (a replaced or deleted file) are removed only after the database commit succeeded,
and new bytes are removed if it failed: a failed commit never loses a file that the database still
points to.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coordinator import signals
from coordinator.audit import services as audit
from coordinator.auth.permissions import can, scope_path
from coordinator.auth.scopes import scope_unit
from coordinator.events.labels import STATUS_LABELS
from coordinator.deadlines import services as deadlines
from coordinator.deadlines.models import DeadlineFulfilment
from coordinator.documents.files import (CONTENT_TYPES, clean_filename, file_path, refuse, remove_bytes, split_name,
                                         store)
from coordinator.documents.models import DocumentFile
from coordinator.endpoints.phones import PhoneError, national, parse_phone
from coordinator.endpoints.services import ScopeError
from coordinator.events.models import CANCELLED, FINISHED, Deadline, Event
from coordinator.extensions import db
from coordinator.fields import clean_text, rule
from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem
from coordinator.text import nfc
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit

__all__ = ["ScopeError", "upload", "set_contact", "delete", "list_for", "units_for",
           "is_complete", "get_file", "unit_statuses"]


# --- rules ---------------------------------------------------------------------------------------

def _check_request(deadline: Deadline, unit: Unit, actor) -> Event:
    """Scope, kind, tier and window; the event's state wins over everything else."""
    event = deadline.event
    if not can(actor, "documents.submit", unit):
        raise ScopeError(unit.code)
    if deadline.kind != "documents":
        raise refuse("", N_("this deadline does not ask for documents"))
    if unit.structure != event.unit_structure or unit.tier != deadline.tier:
        raise refuse("", N_("%(unit)s is not among the units this request is addressed to"), unit=unit.name)
    if event.status in (CANCELLED, FINISHED):
        raise refuse("", N_("this event is %(status)s: documents are no longer accepted"),
                       status=STATUS_LABELS[event.status])
    if deadline.is_closed:
        raise refuse("", N_("the organizer has closed this request: documents are no longer accepted"))
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
        raise refuse("slot", N_("this request has no file slot number %(slot)s"), slot=slot)
    return index, specs[index]


def allowed_types(spec: dict) -> list[str]:
    return [t.lower() for t in spec.get("types", [])]


# --- writes --------------------------------------------------------------------------------------

def upload(deadline: Deadline, unit: Unit, slot, filename: str, stream: BinaryIO, actor, *,
           replaces: DocumentFile | None = None) -> DocumentFile:
    """Store one file for `unit` in slot `slot` of `deadline`. A file of the same name for the
    same unit is replaced, as is `replaces` (the official's "replace" button). Raises
    ScopeError or Invalid (nothing saved, nothing left on disk)."""
    event = _check_request(deadline, unit, actor)
    index, spec = _slot_spec(deadline, slot)
    if replaces is not None and (replaces.deadline_id != deadline.id or replaces.unit_id != unit.id):
        raise refuse("file", N_("the file to replace belongs to another unit or request"))
    name = clean_filename(filename)
    ext = split_name(name)[1].lower()
    types = allowed_types(spec)
    if not ext:
        raise refuse("file", N_("'%(name)s' has no extension; allowed for '%(label)s': %(types)s"),
                      name=name, label=spec["label"], types=", ".join(types))
    if ext not in types:
        raise refuse("file", N_("'%(name)s' is a .%(ext)s file; allowed for '%(label)s': %(types)s"),
                      name=name, ext=ext, label=spec["label"], types=", ".join(types))

    stored = store(stream, name, ext)
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
        signals.documents_changed.send(event, units=[unit])  # the unit's dossier may be complete now
        audit.record("document.replace" if previous is not None else "document.upload", "document_file", record.id,
                     actor=actor, event=event.slug, deadline=deadline.id, unit=unit.code, slot=index,
                     filename=name, size=stored.size, sha256=stored.sha256, late=record.uploaded_at > deadline.due_at)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        remove_bytes([stored.path])
        raise refuse("file", N_("another upload of '%(name)s' happened at the same moment; please try again"),
                      name=name) from None
    except BaseException:
        db.session.rollback()
        remove_bytes([stored.path])
        raise
    remove_bytes(obsolete)
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
        signals.documents_changed.send(event, units=[unit])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    remove_bytes([path])


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
        raise Invalid(problems)
    row = db.session.scalar(select(DeadlineFulfilment).where(
        DeadlineFulfilment.deadline_id == deadline.id, DeadlineFulfilment.unit_id == unit.id))
    if row is None:
        row = DeadlineFulfilment(deadline_id=deadline.id, unit_id=unit.id, unit=unit)
        db.session.add(row)
    row.contact_name, row.contact_phone = name, phone.e164
    db.session.flush()
    signals.documents_changed.send(event, units=[unit])
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
