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
    op.create_table('config_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('saved_by', sa.String(length=64), nullable=False),
    sa.Column('saved_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'version', name='uq_config_documents_kind_version')
    )


def downgrade() -> None:
    op.drop_table('config_documents')
