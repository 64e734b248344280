"""supervisor: stored queue entries and agent state changes (reports)

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('queue_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('entered_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.Column('answered_at', ctidesk.db.UTCDateTime(), nullable=True),
    sa.Column('left_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('wait_s', sa.Float(), nullable=False),
    sa.Column('talk_s', sa.Float(), nullable=False),
    sa.Column('agent_username', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_calls')),
    sa.UniqueConstraint('call_id', 'queue', 'entered_at', name='uq_queue_calls_entry')
    )
    with op.batch_alter_table('queue_calls', schema=None) as batch_op:
        batch_op.create_index('ix_queue_calls_entered', ['entered_at'], unique=False)
        batch_op.create_index('ix_queue_calls_queue_entered', ['queue', 'entered_at'], unique=False)

    op.create_table('agent_state_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('queues', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_state_log')),
    sa.UniqueConstraint('username', 'at', 'state', name='uq_agent_state_log_change')
    )
    with op.batch_alter_table('agent_state_log', schema=None) as batch_op:
        batch_op.create_index('ix_agent_state_log_at', ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_state_log', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_state_log_at')
    op.drop_table('agent_state_log')
    with op.batch_alter_table('queue_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_queue_calls_queue_entered')
        batch_op.drop_index('ix_queue_calls_entered')
    op.drop_table('queue_calls')
