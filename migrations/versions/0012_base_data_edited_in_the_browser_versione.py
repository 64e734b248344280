"""base data edited in the browser: versioned configuration documents (issue 14)

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
