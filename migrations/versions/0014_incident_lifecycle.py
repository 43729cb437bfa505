"""incident lifecycle (issue 16): an incident is open, acknowledged (an owner, reassignable) or
resolved (recovered, or by hand with a reason); notes on incidents; the escalation of an incident
nobody acknowledged in time; the event's duty phones (the last level of that escalation)

Revision ID: 0014_incident_lifecycle
Revises: 0013_status_checks
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_incident_lifecycle'
down_revision = '0013_status_checks'
branch_labels = None
depends_on = None

# The values as of this revision, written out (a migration must not follow later model changes).
_STATES = ('open', 'acknowledged', 'resolved')
_RESOLUTIONS = ('', 'recovered', 'by_hand')
_ESCALATIONS = ('', 'province', 'duty', 'nobody')


def _in(column, values):
    return "%s IN (%s)" % (column, ", ".join("'%s'" % v for v in values))


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duty_phones', sa.JSON(), nullable=False, server_default='[]'))  # none yet

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), nullable=False, server_default='open'))
        batch_op.add_column(sa.Column('owner_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('resolution_reason', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('resolved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalation', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('escalated', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_foreign_key(batch_op.f('fk_incidents_owner_id_users'), 'users', ['owner_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_incidents_resolved_by_id_users'), 'users', ['resolved_by_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_incidents_overdue', ['session_id', 'state', 'escalated_at'], unique=False)

    # Incidents closed before this revision closed themselves: the endpoint was connected again.
    op.execute("UPDATE incidents SET state = 'resolved', resolution = 'recovered' WHERE resolved_at IS NOT NULL")

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_incidents_state'), _in('state', _STATES))
        batch_op.create_check_constraint(op.f('ck_incidents_resolution'), _in('resolution', _RESOLUTIONS))
        batch_op.create_check_constraint(op.f('ck_incidents_escalation'), _in('escalation', _ESCALATIONS))

    op.create_table('incident_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_label', sa.String(length=255), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_incident_notes_author_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_notes_incident_id_incidents'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_notes'))
    )
    with op.batch_alter_table('incident_notes', schema=None) as batch_op:
        batch_op.create_index('ix_incident_notes_incident', ['incident_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('incident_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_notes_incident')
    op.drop_table('incident_notes')

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_incidents_escalation'), type_='check')
        batch_op.drop_constraint(op.f('ck_incidents_resolution'), type_='check')
        batch_op.drop_constraint(op.f('ck_incidents_state'), type_='check')
        batch_op.drop_index('ix_incidents_overdue')
        batch_op.drop_constraint(batch_op.f('fk_incidents_resolved_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_incidents_owner_id_users'), type_='foreignkey')
        for name in ('escalated', 'escalation', 'escalated_at', 'resolved_by_id', 'resolution_reason', 'resolution',
                     'acknowledged_at', 'owner_id', 'state'):
            batch_op.drop_column(name)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('duty_phones')
