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


def _coded(name: str, *columns, parent: tuple | None = None) -> None:
    """A catalogue table: id, code (unique), the given columns, names, active, sort, updated_at."""
    extra = []
    if parent:
        column, table, nullable = parent
        extra = [sa.Column(column, sa.String(length=40), nullable=nullable),
                 sa.ForeignKeyConstraint([column], [f'{table}.code'], name=op.f(f'fk_{name}_{column}_{table}'))]
    op.create_table(name,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=80 if name == 'catalog_models' else 40), nullable=False),
    *columns,
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('sort', sa.Integer(), nullable=False),
    sa.Column('updated_at', ctidesk.db.UTCDateTime(), nullable=False),
    *extra,
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
    sa.UniqueConstraint('code', name=op.f(f'uq_{name}_code'))
    )
    if parent:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{name}_{parent[0]}'), [parent[0]], unique=False)


def _names(length: int):
    return (sa.Column('name_zh', sa.String(length=length), nullable=False),
            sa.Column('name_en', sa.String(length=length), nullable=False))


def upgrade() -> None:
    _coded('catalog_categories', *_names(120))
    _coded('catalog_models', *_names(200), parent=('category_code', 'catalog_categories', False))
    _coded('fault_classes', *_names(120), parent=('category_code', 'catalog_categories', True))
    _coded('fault_phenomena', *_names(200), parent=('class_code', 'fault_classes', False))
    _coded('fault_causes', *_names(200), sa.Column('remedy_zh', sa.Text(), nullable=False),
           sa.Column('remedy_en', sa.Text(), nullable=False), parent=('phenomenon_code', 'fault_phenomena', False))
    op.create_table('kb_scripts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_type', sa.String(length=20), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('opening', sa.Text(), nullable=False),
    sa.Column('questions', sa.Text(), nullable=False),
    sa.Column('closing', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('editor', sa.String(length=64), nullable=False),
    sa.Column('updated_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_scripts')),
    sa.UniqueConstraint('ticket_type', 'lang', name=op.f('uq_kb_scripts_ticket_type'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fault_class_code', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('fault_phenomenon_code', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_tickets_type_created_fault',
                              ['type', 'created_at', 'fault_class_code', 'fault_phenomenon_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_type_created_fault')
        batch_op.drop_column('fault_phenomenon_code')
        batch_op.drop_column('fault_class_code')
    op.drop_table('kb_scripts')
    for name in ('fault_causes', 'fault_phenomena', 'fault_classes', 'catalog_models', 'catalog_categories'):
        op.drop_table(name)
