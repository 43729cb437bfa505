"""The all-or-nothing import of endpoints and contacts (`import_endpoints`): the endpoints the file
names locked, every row validated (`validation.py`), then the endpoints and contacts written by
`endpoints.bulk` (created or updated by unit and by phone, with bulk statements: a national file is
~23,000 rows; what the file does not mention kept, a row that matches what is stored not written),
which tells deadlines and invitations; the audit entry and the commit follow, in one transaction.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError

from coordinator.audit import services as audit
from coordinator.endpoints import bulk
from coordinator.endpoints.bulk import BulkResult, Counts
from coordinator.events.models import Event
from coordinator.extensions import BULK_ROWS, db, refresh_statistics
from coordinator.imports.validation import PlannedEndpoint, validate
from coordinator.messages import N_
from coordinator.problems import Invalid
from coordinator.spreadsheets.columns import ENDPOINT_KEYS, row_error

__all__ = ["Counts", "ImportResult", "import_endpoints"]

# What an import did, per kind (endpoints, contacts) and over both: what the bulk write did.
ImportResult = BulkResult


def import_endpoints(event: Event, user, rows: Iterable[tuple[int, dict[str, str]]], *,
                     filename: str = "") -> ImportResult:
    """Validate every row, then create or update endpoints (by unit) and contacts (by phone) in
    one transaction. Raises Invalid with every problem, having saved nothing.

    What the file does not mention is kept. A row that matches what is stored is not written, so
    uploading the same file again changes no row (no `updated_at` churn).
    """
    rows = rows if isinstance(rows, list) else list(rows)
    try:
        # Before anything is read: what is validated against stays as it is.
        bulk.lock_units(event, (str(r.get("unit_code") or "").strip() for _, r in rows))
        planned = validate(event, user, rows)
        result = bulk.save_many(event, [_registration(p) for p in planned], ENDPOINT_KEYS)
        audit.record("endpoints.import", "event", event.id, actor=user, event=event.slug, filename=filename,
                     endpoints=result.endpoints.as_dict(), contacts=result.contacts.as_dict())
        db.session.commit()
    except IntegrityError:
        # Someone saved an endpoint of the same unit (or a contact) between our read and our write.
        db.session.rollback()
        raise Invalid([row_error(None, None, N_("these endpoints were changed by someone else at the same time; "
                                                "upload the file again"))]) from None
    except BaseException:
        db.session.rollback()
        raise
    if result.endpoints.created + result.contacts.created >= BULK_ROWS:  # a national list: fresh plans
        refresh_statistics("endpoints", "contacts", "hosted_units", "invitations", "outbox_messages")
    return result


def _registration(plan: PlannedEndpoint) -> bulk.Registration:
    """A validated unit of the file as the bulk write takes it."""
    return bulk.Registration(plan.unit, plan.values, plan.stored,
                             {phone: values for phone, (_, values) in plan.contacts.items()}, plan.contact_attrs)
