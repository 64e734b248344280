"""post-call satisfaction survey (issue 14)

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
