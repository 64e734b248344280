"""PostgreSQL: search indexes and dialect specifics (issue 13)

Revision ID: 0014
Revises: 0013

On PostgreSQL the text searches that SQLite serves with FTS5 (``kb_fts``) and
the partial covering index ``ix_recordings_described`` are served by
``pg_trgm`` GIN indexes instead: ``ILIKE '%...%'`` on any substring of 3 or
more characters, Chinese included (the cluster's ctype must be UTF-8, e.g.
``C.UTF-8``: under ``C`` no CJK character makes a trigram). The indexes are
built here only, never by a model (``ctidesk.migrate.include_name`` leaves
``*_trgm`` indexes out of the models-versus-migrations comparison).
Nothing happens on SQLite.

``pg_trgm`` is a trusted extension (PostgreSQL 13+): the database owner may
create it; a site whose role may not can have its DBA run
``CREATE EXTENSION pg_trgm`` once before migrating.
"""
from alembic import op
import sqlalchemy as sa
import ctidesk.db


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

DESCRIBED = "description != '' OR tags != ''"  # recordings.models.DESCRIBED_SQL, which the search repeats

# (index, table, indexed expression, partial WHERE or None)
TRIGRAM_INDEXES = (
    ("ix_customers_name_trgm", "customers", "name", None),  # customers.service: name.icontains() is ILIKE here
    ("ix_recordings_description_trgm", "recordings", "description", DESCRIBED),
    ("ix_recordings_tags_trgm", "recordings", "tags", DESCRIBED),
    # knowledge.pgsearch
    ("ix_kb_articles_title_trgm", "kb_articles", "title", None),
    ("ix_kb_articles_body_trgm", "kb_articles", "body", None),
    ("ix_kb_articles_products_trgm", "kb_articles", "products", None),  # a model name is searchable text
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression, where in TRIGRAM_INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}) gin_trgm_ops)"
                   + (f" WHERE {where}" if where else ""))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, *_ in TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    # the extension stays: other objects of the site may use it
