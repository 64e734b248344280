"""What every package's commands share: the settings (a bad configuration
exits with its reason) and one database session for the command's work (a
database that is not migrated says so)."""
from __future__ import annotations

import asyncio

import click

from ctidesk.settings import Settings, settings_for_cli


def run_db(fn, settings: Settings | None = None):
    """``await fn(db)`` in one session on the configured database; returns its result."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from ctidesk.db import make_engine, make_sessionmaker

    settings = settings or settings_for_cli()

    async def run():
        if not settings.database_url:
            settings.state_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                return await fn(db)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(f"database error ({exc.orig}); has the database been migrated?") from None
