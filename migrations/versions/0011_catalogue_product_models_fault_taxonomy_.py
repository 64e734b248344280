"""catalogue: product models, fault taxonomy, answer scripts (issue 14)

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
