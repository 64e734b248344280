"""Apply Alembic migrations to the configured database."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from ctidesk.settings import PROJECT_ROOT, Settings


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.effective_database_url.startswith("sqlite"):
        Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.effective_database_url), revision)
