"""post-call satisfaction survey (issue 14): call_surveys, one row per call

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
    op.create_table('call_surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('agent_username', sa.String(length=64), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('dtmf', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('low', sa.Boolean(), nullable=False),
    sa.Column('callback_id', sa.Integer(), nullable=True),
    sa.Column('created_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['callback_id'], ['callbacks.id'], name=op.f('fk_call_surveys_callback_id_callbacks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_surveys')),
    sa.UniqueConstraint('call_id', name=op.f('uq_call_surveys_call_id'))
    )
    op.create_index('ix_call_surveys_agent_created', 'call_surveys', ['agent_username', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_call_surveys_agent_created', table_name='call_surveys')
    op.drop_table('call_surveys')
