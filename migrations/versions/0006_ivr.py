"""ivr: the product catalogue the IVR reads out (self-service)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ivr_products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('info', sa.Text(), nullable=False),
    sa.Column('updated_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ivr_products')),
    sa.UniqueConstraint('code', name=op.f('uq_ivr_products_code'))
    )


def downgrade() -> None:
    op.drop_table('ivr_products')
