"""The all-or-nothing import of endpoints and contacts (`import_endpoints`): the endpoints the file
names locked, every row validated (`validation.py`), then endpoints created or updated by unit and
contacts by phone with bulk statements in one transaction (a national file is ~23,000 rows), what
the file does not mention kept, a row that matches what is stored not written; deadlines, invitations
and the audit log follow in the same transaction.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from coordinator.audit import services as audit
from coordinator.deadlines import services as deadlines
from coordinator.endpoints.locking import lock_endpoints
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit
from coordinator.events.models import Event
from coordinator.extensions import BULK_ROWS, db, refresh_statistics
from coordinator.invitations import services as invitations
from coordinator.messages import N_
from coordinator.spreadsheets.columns import ENDPOINT_KEYS, row_error
from coordinator.spreadsheets.problems import ImportInvalid
from coordinator.imports.validation import PlannedEndpoint, validate
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit


@dataclass
class Counts:
    """Rows of one kind (endpoints or contacts) an import created, updated, or found as they were."""
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class ImportResult:
    """What an import did, per kind and over both."""
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
        raise ImportInvalid([row_error(None, None, N_("these endpoints were changed by someone else at the same time; "
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


def _save(event: Event, planned: list[PlannedEndpoint]) -> tuple[ImportResult, list[Unit]]:
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
