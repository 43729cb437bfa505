"""broadcast SMS (issue 16): one text to a filtered audience of an event's contacts, its SMS
queued in the outbox as `broadcast:<id>:<phone>`

Revision ID: 0015_broadcasts
Revises: 0014_incident_lifecycle
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_broadcasts'
down_revision = '0014_incident_lifecycle'
branch_labels = None
depends_on = None

# Written out: a migration must not follow later changes of the models' enums.
_STATUSES = ('sending', 'stopped')


def upgrade():
    op.create_table('broadcasts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('filter', sa.JSON(), nullable=False),
    sa.Column('scope_path', sa.String(length=255), nullable=False),
    sa.Column('template', sa.Text(), nullable=False),
    sa.Column('strip_diacritics', sa.Boolean(), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('unreachable', sa.Integer(), nullable=False),
    sa.Column('segments_total', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_by_label', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('stopped_at', sa.DateTime(), nullable=True),
    sa.Column('stopped_by_label', sa.String(length=255), nullable=False),
    sa.Column('dropped', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN (%s)" % ", ".join("'%s'" % v for v in _STATUSES), name=op.f('ck_broadcasts_status')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_broadcasts_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_broadcasts_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_broadcasts_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcasts'))
    )
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.create_index('ix_broadcasts_event', ['event_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.drop_index('ix_broadcasts_event')
    op.drop_table('broadcasts')
