"""closed vocabularies checked by the database (issue 15): every status, kind, channel, role, tier,
layer and source stored as a string gets a CHECK constraint listing its values (the models' enums),
so that a misspelt value is refused by the database instead of being stored and never matched

Revision ID: 0013_status_checks
Revises: 0012_dispatchers
Create Date: 2026-12-05

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_status_checks'
down_revision = '0012_dispatchers'
branch_labels = None
depends_on = None

# The values as of this revision, written out: a migration must not change when the models do
# (a later value is added by a later migration). "" where the code stores an empty string for
# "none yet" / "not known".
_TIERS = ('central', 'province', 'district', 'commune')
_STATES = ('connected', 'degraded', 'failed', 'unknown')
_LAYERS = ('ok', 'dns', 'timeout', 'refused', 'sip_error', 'http_error', 'tls', 'network', 'unsupported')
_PROTOCOLS = ('sip', 'h323', 'webrtc', 'other')
_DECIDING = ('operator', 'probe')

CHECKS = {
    'units': {'tier': _TIERS},
    'unit_successions': {'tier': _TIERS, 'share': ('whole', 'main', 'part')},
    'users': {'role': ('admin', 'organizer', 'coordinator', 'operator')},
    'password_tokens': {'purpose': ('set', 'reset')},
    'events': {'status': ('draft', 'published', 'finished', 'cancelled')},
    'tier_roles': {'tier': _TIERS},
    'sessions': {'kind': ('connectivity_test', 'rehearsal', 'main')},
    'deadlines': {'kind': ('focal_contacts', 'endpoints', 'documents'), 'tier': _TIERS},
    'reminder_rules': {
        'anchor': ('session:connectivity_test', 'session:rehearsal', 'session:main',
                   'deadline:focal_contacts', 'deadline:endpoints', 'deadline:documents'),
        'channel': ('sms', 'email'),
        'audience': ('chairs', 'technical', 'all_contacts', 'units_missing_deadline'),
    },
    'outbox_messages': {
        'channel': ('email', 'sms'),
        'status': ('pending', 'sending', 'sent', 'failed', 'superseded'),
        'doubt': ('', 'uncertain', 'found', 'absent', 'unconfirmed'),
        'delivery_status': ('', 'accepted', 'queued', 'sending', 'sent', 'receiving', 'received', 'delivered',
                            'read', 'undelivered', 'failed', 'canceled'),
    },
    'endpoints': {'protocol': _PROTOCOLS},
    'contacts': {'role': ('chair', 'technical', 'attendee'), 'phone_type': ('mobile', 'fixed', 'foreign')},
    'sms_opt_outs': {'source': ('sms', 'provider', 'organizer')},
    'status_events': {
        'source': ('operator', 'self', 'sms', 'probe'),
        'state': (*_STATES, 'ready'),
        'layer': ('', *_LAYERS),
    },
    'endpoint_status': {
        'tier': ('', *_TIERS),
        'state': _STATES,
        'source': ('', *_DECIDING),
        'check_state': ('', *_STATES),
        'confirmed_via': ('', 'link', 'sms'),
        'probe_state': ('', *_STATES),
        'probe_layer': ('', *_LAYERS),
        'evidence_source': ('', *_DECIDING),
    },
    'incidents': {
        'cause': _DECIDING,
        'layer': ('', *_LAYERS),
        'protocol': ('', *_PROTOCOLS),
        'tier': ('', *_TIERS),
    },
    'probe_sweeps': {'origin': ('', 'scheduler', 'command', 'endpoint')},
    'invitations': {'method': ('REQUEST', 'CANCEL')},
    'reminder_runs': {'status': ('sent', 'skipped')},
    'confirmations': {'channel': ('link', 'sms')},
}


def _in(column, values):
    return "%s IN (%s)" % (column, ", ".join("'%s'" % v.replace("'", "''") for v in values))


def _refuse_illegal_rows():
    """Say which rows stop the upgrade, before any table is touched (the database's own error
    names only the constraint, and on SQLite only after copying the table)."""
    bind = op.get_bind()
    found = []
    for table, columns in CHECKS.items():
        for column, values in columns.items():
            rows = bind.execute(sa.text(
                "SELECT %s, COUNT(*) FROM %s WHERE NOT (%s) GROUP BY %s" % (column, table, _in(column, values), column)
            )).all()
            found += ["%s.%s = %r: %d row(s)" % (table, column, value, n) for value, n in rows]
    if found:
        raise RuntimeError("values the new CHECK constraints refuse; correct these rows, then upgrade again:\n  "
                           + "\n  ".join(found))


def upgrade():
    _refuse_illegal_rows()
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(op.f('ck_%s_%s' % (table, column)), _in(column, values))


def downgrade():
    for table, columns in reversed(CHECKS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f('ck_%s_%s' % (table, column)), type_='check')
