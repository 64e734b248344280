"""knowledge base: articles, versions, labels, and (SQLite) the FTS5 trigram index (issue 14)

Revision ID: 0010
Revises: 0009

The tables are portable. The full-text index is SQLite's FTS5 with the
``trigram`` tokenizer (SQLite >= 3.34), an external-content index of
``kb_articles`` kept in sync by triggers; it is created only on SQLite
(on PostgreSQL search falls back to LIKE until a pg_trgm index is written).
The statements are frozen here (the same text as ``knowledge.models.FTS_DDL``).
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

FTS_DDL = (
    "CREATE VIRTUAL TABLE kb_fts USING fts5(title, body, products, content='kb_articles', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER kb_articles_fts_ai AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_fts(rowid, title, body, products) VALUES (new.id, new.title, new.body, new.products); END",
    "CREATE TRIGGER kb_articles_fts_ad AFTER DELETE ON kb_articles BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, title, body, products) "
    "VALUES ('delete', old.id, old.title, old.body, old.products); END",
    "CREATE TRIGGER kb_articles_fts_au AFTER UPDATE OF title, body, products ON kb_articles BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, title, body, products) "
    "VALUES ('delete', old.id, old.title, old.body, old.products); "
    "INSERT INTO kb_fts(rowid, title, body, products) VALUES (new.id, new.title, new.body, new.products); END",
)
FTS_DROP = (
    "DROP TRIGGER IF EXISTS kb_articles_fts_au",
    "DROP TRIGGER IF EXISTS kb_articles_fts_ad",
    "DROP TRIGGER IF EXISTS kb_articles_fts_ai",
    "DROP TABLE IF EXISTS kb_fts",
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    op.create_table('kb_articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('products', sa.Text(), nullable=False),
    sa.Column('fault_codes', sa.Text(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('editor', sa.String(length=64), nullable=False),
    sa.Column('created_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.Column('published_at', ctidesk.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_articles'))
    )
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_articles_state'), ['state'], unique=False)
    op.create_table('kb_article_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('products', sa.Text(), nullable=False),
    sa.Column('fault_codes', sa.Text(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('editor', sa.String(length=64), nullable=False),
    sa.Column('saved_at', ctidesk.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'],
                            name=op.f('fk_kb_article_versions_article_id_kb_articles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_versions')),
    sa.UniqueConstraint('article_id', 'version', name=op.f('uq_kb_article_versions_article_id'))
    )
    with op.batch_alter_table('kb_article_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_article_versions_article_id'), ['article_id'], unique=False)
    op.create_table('kb_article_labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'],
                            name=op.f('fk_kb_article_labels_article_id_kb_articles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_labels'))
    )
    with op.batch_alter_table('kb_article_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_article_labels_article_id'), ['article_id'], unique=False)
        batch_op.create_index('ix_kb_article_labels_kind_value', ['kind', 'value', 'article_id'], unique=False)
    if _sqlite():
        for statement in FTS_DDL:
            op.execute(statement)


def downgrade() -> None:
    if _sqlite():
        for statement in FTS_DROP:
            op.execute(statement)
    with op.batch_alter_table('kb_article_labels', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_article_labels_kind_value')
        batch_op.drop_index(batch_op.f('ix_kb_article_labels_article_id'))
    op.drop_table('kb_article_labels')
    with op.batch_alter_table('kb_article_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_article_versions_article_id'))
    op.drop_table('kb_article_versions')
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_articles_state'))
    op.drop_table('kb_articles')
