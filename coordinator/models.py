"""Imports every model module so that the metadata is complete (Alembic, create_all)."""
from coordinator.audit.models import AuditEntry  # noqa: F401
from coordinator.auth.models import ApiToken, User  # noqa: F401
from coordinator.events.models import Deadline, Event, EventSession, ReminderRule, TierRole  # noqa: F401
from coordinator.units.models import Unit  # noqa: F401
from coordinator.deadlines.models import DeadlineFulfilment  # noqa: F401
from coordinator.documents.models import DocumentFile  # noqa: F401
from coordinator.endpoints.models import Contact, Endpoint, HostedUnit  # noqa: F401
from coordinator.outbox.models import OutboxDispatcher, OutboxMessage  # noqa: F401
from coordinator.invitations.models import Invitation  # noqa: F401
from coordinator.reminders.models import Confirmation, ReminderRun  # noqa: F401
from coordinator.sms.models import SmsOptOut  # noqa: F401
from coordinator.leases.models import SchedulerLease  # noqa: F401
from coordinator.status.models import EndpointStatus, Incident, StatusEvent  # noqa: F401
from coordinator.broadcasts.models import Broadcast  # noqa: F401
