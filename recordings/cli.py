"""``ctidesk recordings reconcile|purge``: consistency and retention from the shell."""
from __future__ import annotations

import asyncio
import json

import click


async def _with(fn):
    from ctidesk.db import make_engine, make_sessionmaker
    from ctidesk.settings import settings_for_cli

    settings = settings_for_cli()  # a bad configuration exits with its reason
    engine = make_engine(settings.effective_database_url)
    try:
        return await fn(make_sessionmaker(engine), settings)
    finally:
        await engine.dispose()


def _run(fn):
    from sqlalchemy.exc import OperationalError

    try:
        return asyncio.run(_with(fn))
    except OperationalError as exc:
        raise click.ClickException(f"database error ({exc.orig}); has the database been migrated?") from None


@click.group("recordings")
def recordings_group() -> None:
    """Recordings: reconcile files and rows, purge by retention."""


@recordings_group.command("reconcile")
@click.option("--dry-run", is_flag=True, help="Say what would be done, change nothing.")
@click.option("--json", "as_json", is_flag=True)
def reconcile_command(dry_run: bool, as_json: bool) -> None:
    """Spool files without rows get rows (then a running server ingests them);
    rows whose files are gone are marked missing. Runs at every start too."""

    from customers.phone import normalize
    from recordings.service import reconcile

    def norm(settings):
        return lambda n: (normalize(n, country_code=settings.default_country_code).normalized or n)[:32] if n else None

    report = _run(lambda sm, s: reconcile(sm, s, dry_run=dry_run, normalize=norm(s)))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    verb = "would adopt" if dry_run else "adopted"
    click.echo(f"{verb} {len(report['adopted'])} file(s) without a row")
    for item in report["adopted"]:
        click.echo(f"  {item['file']}  call {item['call_id']}  ({item['kind']})")
    click.echo(f"{'would mark' if dry_run else 'marked'} {len(report['missing'])} row(s) whose file is gone as missing"
               + (f": {', '.join(map(str, report['missing']))}" if report["missing"] else ""))


@recordings_group.command("purge")
@click.option("--dry-run", is_flag=True, help="List what retention would remove; change nothing.")
@click.option("--json", "as_json", is_flag=True)
def purge_command(dry_run: bool, as_json: bool) -> None:
    """Remove audio past its retention (per kind); rows stay as 'purged'. Recordings
    on legal hold, or linked to an open complaint, are never removed."""
    from recordings.retention import purge

    report = _run(lambda sm, s: purge(sm, s, dry_run=dry_run, actor="cli"))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    days = ", ".join(f"{k} {v or 'forever'}{'' if not v else ' days'}" for k, v in report["retention_days"].items())
    click.echo(f"retention: {days}")
    click.echo(f"{'would put' if dry_run else 'put'} {len(report['held'])} recording(s) linked to open complaints "
               "on legal hold")
    click.echo(f"{'would purge' if dry_run else 'purged'} {len(report['purged'])} recording(s)")
    for item in report["purged"]:
        click.echo(f"  #{item['id']}  {item['kind']:<9} {item['started_at']}  {item['storage_path'] or '-'}")
    for item in report["errors"]:
        click.echo(f"  #{item['id']} NOT purged: {item['error']}", err=True)
    if report["errors"]:
        raise SystemExit(1)
