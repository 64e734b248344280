"""agent phones: phone kind and SIP digest HA1 per user (issue 11)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=8), nullable=False, server_default='local'))
        batch_op.add_column(sa.Column('sip_ha1', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sip_realm', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('sip_realm')
        batch_op.drop_column('sip_ha1')
        batch_op.drop_column('phone')
