"""outbox dispatcher processes (issue 14): each dispatcher process registered (advisory lock key,
heartbeat) and named on its claims, so that the active scheduler releases a dead process's claims
at once; per message, when its request went out and whether its outcome is in doubt

Revision ID: 0012_dispatchers
Revises: 0011_endpoint_version
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_dispatchers'
down_revision = '0011_endpoint_version'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_dispatchers',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('lock_key', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_dispatchers'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatcher', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('attempted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('uncertain_since', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('doubt', sa.String(length=16), server_default='', nullable=False))
        batch_op.create_index('ix_outbox_messages_doubt', ['doubt'], unique=False)


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_doubt')
        batch_op.drop_column('doubt')
        batch_op.drop_column('uncertain_since')
        batch_op.drop_column('attempted_at')
        batch_op.drop_column('dispatcher')

    op.drop_table('outbox_dispatchers')
