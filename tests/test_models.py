"""The models say what they mean: every closed vocabulary stored as a string is an enum whose
members are the strings stored, and the code's own tables of values stay inside the enums (the
database checks the enums' values: tests/test_migrations.py)."""
from __future__ import annotations

from coordinator.auth.models import ROLES, Role
from coordinator.endpoints import phones
from coordinator.endpoints import rules as endpoint_rules
from coordinator.endpoints.models import PHONE_TYPES, PROTOCOLS, ContactRole
from coordinator.events.models import DRAFT, REMINDER_ANCHORS, EventStatus
from coordinator.outbox.models import DeliveryStatus
from coordinator.reminders import rules as reminder_rules
from coordinator.sms import services as sms_services
from coordinator.status import rule
from coordinator.status.labels import LAYER_LABELS
from coordinator.status.models import PROBE_LAYERS, ConnectionState
from coordinator.units import succession
from coordinator.units.models import Share

def test_enum_members_are_the_strings_stored_and_compared_everywhere():
    assert EventStatus.DRAFT == "draft" and DRAFT is EventStatus.DRAFT
    assert {"draft": 1}[EventStatus.DRAFT] == 1 and f"{EventStatus.DRAFT}" == "draft"
    # ROLES are the plain values: click.Choice (`users create --role`) matches members by name.
    assert ROLES == ("admin", "organizer", "coordinator", "operator") and all(type(r) is str for r in ROLES)
    assert set(ROLES) == set(Role)


def test_the_codes_own_vocabularies_stay_inside_the_checked_ones():
    """What the writers write, from their own tables of values: a value added there without the
    enum (and a migration) would be refused by the database at the first write."""
    assert tuple(ConnectionState) == rule.STATES
    assert set(LAYER_LABELS) == set(PROBE_LAYERS)
    assert set(sms_services._RANK) <= set(DeliveryStatus)  # what a status callback may record
    assert {phones.MOBILE, phones.FIXED, phones.FOREIGN} == set(PHONE_TYPES)
    assert set(endpoint_rules.PROTOCOL_ALIASES.values()) <= set(PROTOCOLS)
    assert set(endpoint_rules.ROLE_ALIASES.values()) <= set(ContactRole)
    assert {succession.WHOLE, succession.MAIN, succession.PART} == set(Share)
    assert tuple(reminder_rules.ANCHORS) == REMINDER_ANCHORS
