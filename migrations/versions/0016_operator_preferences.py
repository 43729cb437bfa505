"""operators' preferences and silence (issue 16): a person's choice of a sound and a title-bar count
when a new incident opens on the dashboards (`users.alert_sound`, off by default), and when each
endpoint was last heard from by any source (`endpoint_status.heard_at`: a probe it answered, an
operator who saw or heard it, a contact's confirmation), for "longest silent first"; the indexes of
the feed of what changed (a session's newest changes and confirmations)

Revision ID: 0016_operator_preferences
Revises: 0015_broadcasts
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_operator_preferences'
down_revision = '0015_broadcasts'
branch_labels = None
depends_on = None

# Rows recorded before this revision: heard from at the last event that said so (a probe answering,
# an operator's connected or degraded, a confirmation), or at the latest probe if it answered (a
# probe's event is appended only when its verdict changes, so the probe time is later).
_HEARD = ("(SELECT MAX(e.created_at) FROM status_events e WHERE e.endpoint_id = endpoint_status.endpoint_id "
          "AND e.session_id = endpoint_status.session_id AND e.state IN ('connected', 'degraded', 'ready'))")
_BACKFILL = ("UPDATE endpoint_status SET heard_at = CASE "
             "WHEN probe_state IN ('connected', 'degraded') AND probed_at IS NOT NULL "
             "AND (%(heard)s IS NULL OR probed_at > %(heard)s) THEN probed_at ELSE %(heard)s END" % {"heard": _HEARD})


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alert_sound', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('endpoint_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heard_at', sa.DateTime(), nullable=True))
        # The dashboards' feed of what changed: a session's newest changes and confirmations.
        batch_op.create_index('ix_endpoint_status_changed', ['session_id', 'changed_at'], unique=False)
        batch_op.create_index('ix_endpoint_status_confirmed', ['session_id', 'confirmed_at'], unique=False)
    op.execute(_BACKFILL)


def downgrade():
    with op.batch_alter_table('endpoint_status', schema=None) as batch_op:
        batch_op.drop_index('ix_endpoint_status_confirmed')
        batch_op.drop_index('ix_endpoint_status_changed')
        batch_op.drop_column('heard_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('alert_sound')
