"""incident lifecycle (issue 16) — placeholder, filled by its author

Revision ID: 0014_incident_lifecycle
Revises: 0013_status_checks
Create Date: 2026-12-04

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0014_incident_lifecycle'
down_revision = '0013_status_checks'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
