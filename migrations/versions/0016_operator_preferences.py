"""operators' preferences (issue 16) — placeholder, filled by its author

Revision ID: 0016_operator_preferences
Revises: 0015_broadcasts
Create Date: 2026-12-04

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0016_operator_preferences'
down_revision = '0015_broadcasts'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
