"""The one place where the packages' receivers of domain signals and their registrations
(outbox composers and backends, deadline kinds, page parts) are connected: `connect()`, called by
the app factory. Each package's `handlers.connect()` is idempotent, so several apps in one
process (tests, the dispatcher's children) connect once."""
from __future__ import annotations

from coordinator.accounts import handlers as accounts
from coordinator.broadcasts import handlers as broadcasts
from coordinator.deadlines import handlers as deadlines
from coordinator.deadlines import listing as deadline_listing
from coordinator.documents import handlers as documents
from coordinator.history import handlers as history
from coordinator.invitations import handlers as invitations
from coordinator.invitations import page_parts as invitation_parts
from coordinator.outbox import handlers as outbox
from coordinator.reminders import handlers as reminders
from coordinator.sms import handlers as sms
from coordinator.status import handlers as status

PACKAGES = (outbox, accounts, sms, status, deadlines, deadline_listing, documents, invitations, invitation_parts,
            reminders, broadcasts, history)


def connect() -> None:
    for package in PACKAGES:
        package.connect()
