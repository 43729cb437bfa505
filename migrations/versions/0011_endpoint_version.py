"""endpoint version for optimistic concurrency (issue 14): a counter moved by every change to an
endpoint, its contacts or its hosted units; the API's ETag and the form's hidden version

Revision ID: 0011_endpoint_version
Revises: 0010_sessions
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_endpoint_version'
down_revision = '0010_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('endpoints', schema=None) as batch_op:
        # Existing endpoints start at version 1, as new ones do.
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))


def downgrade():
    with op.batch_alter_table('endpoints', schema=None) as batch_op:
        batch_op.drop_column('version')
