"""call transfers: who transferred a call away, and the handoff (notes, ticket draft) per transfer (issue 11)

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transferred_from', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_calls_transferred_from', ['transferred_from'], unique=False)
    op.create_table('call_handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('from_username', sa.String(length=64), nullable=False),
    sa.Column('to_username', sa.String(length=64), nullable=True),
    sa.Column('to_queue', sa.String(length=64), nullable=True),
    sa.Column('to_extension', sa.String(length=32), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('draft', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('created_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.Column('completed_at', ctidesk.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_handoffs'))
    )
    with op.batch_alter_table('call_handoffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_handoffs_call_id'), ['call_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('call_handoffs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_handoffs_call_id'))
    op.drop_table('call_handoffs')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_transferred_from')
        batch_op.drop_column('transferred_from')
