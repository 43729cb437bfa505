"""broadcast SMS (issue 16) — placeholder, filled by its author

Revision ID: 0015_broadcasts
Revises: 0014_incident_lifecycle
Create Date: 2026-12-04

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0015_broadcasts'
down_revision = '0014_incident_lifecycle'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
