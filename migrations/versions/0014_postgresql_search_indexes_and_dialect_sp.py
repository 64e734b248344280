"""PostgreSQL: search indexes and dialect specifics (issue 13)

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
