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
# virtual tables built by migrations and DDL events, which no model describes:
# autogenerate and the models-match-migrations test leave them alone.
_FTS_TABLE = re.compile(r"_fts($|_)")


def include_name(name, type_, _parent_names) -> bool:
    return not (type_ == "table" and name and _FTS_TABLE.search(name))


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.effective_database_url.startswith("sqlite"):
        Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.effective_database_url), revision)
