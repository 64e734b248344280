"""Apply Alembic migrations to the configured database."""
from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config

from ctidesk.settings import PROJECT_ROOT, Settings


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# SQLite FTS5 indexes (``kb_fts`` and its shadow tables ``kb_fts_data`` ...) are
# virtual tables built by migrations and DDL events, and PostgreSQL's pg_trgm GIN
# indexes (``*_trgm``, migration 0014) are built by migrations only; no model
# describes either: autogenerate and the models-match-migrations tests leave them alone.
_FTS_TABLE = re.compile(r"_fts($|_)")
_TRGM_INDEX = re.compile(r"_trgm$")


def include_name(name, type_, _parent_names) -> bool:
    if type_ == "table" and name and _FTS_TABLE.search(name):
        return False
    return not (type_ == "index" and name and _TRGM_INDEX.search(name))


def include_object_for(dialect: str):
    """An autogenerate ``include_object`` for ``dialect``: a model index built only on
    another dialect (``Index(...).ddl_if(dialect="sqlite")``) is not missing here."""
    def include_object(obj, _name, type_, reflected, _compare_to) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None) if type_ == "index" and not reflected else None
        return ddl_if is None or ddl_if.dialect in (None, dialect)

    return include_object


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.effective_database_url.startswith("sqlite"):
        Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.effective_database_url), revision)
