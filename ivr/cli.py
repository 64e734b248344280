"""``ctidesk ivr check|show|product`` and ``ctidesk prompts build``."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click


def _settings():
    from ctidesk.settings import settings_for_cli

    return settings_for_cli()


def _check(path: Path, settings) -> tuple:
    from ivr.config import check_menu

    return check_menu(path, recorded_dir=settings.ivr_prompts_dir, calendar=settings.calendar_config)


def require_valid_menu(settings) -> None:
    """Refuse to start a server on an invalid menu, listing every error."""
    menu, problems = _check(settings.ivr_config, settings)
    if menu is None:
        errors = "\n".join(str(p) for p in problems if p.severity == "error")
        raise click.ClickException(f"the IVR menu is invalid; not starting:\n{errors}")


@click.group("ivr")
def ivr_group() -> None:
    """The IVR menu (config/ivr.toml) and its self-service catalogue."""


@ivr_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings (unreachable nodes) fail too.")
def ivr_check(file: Path | None, strict: bool) -> None:
    """Validate a menu file; every problem with its file and key. Exit 1 on errors."""
    settings = _settings()
    path = file or settings.ivr_config
    menu, problems = _check(path, settings)
    for p in problems:
        click.echo(str(p), err=p.severity == "error")
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors or (strict and warnings):
        click.echo(f"{path}: {errors} error(s), {warnings} warning(s)", err=True)
        sys.exit(1)
    click.echo(f"{path}: OK ({len(menu.nodes)} nodes, {len(menu.prompts)} prompts, "
               f"{len(menu.languages)} languages; {warnings} warning(s))")


@ivr_group.command("show")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def ivr_show(file: Path | None) -> None:
    """Print the menu as a tree from ivr.start."""
    from ivr.config import tree_lines

    settings = _settings()
    path = file or settings.ivr_config
    menu, problems = _check(path, settings)
    if menu is None:
        for p in problems:
            click.echo(str(p), err=True)
        sys.exit(1)
    for line in tree_lines(menu):
        click.echo(line)


@ivr_group.command("product")
@click.argument("code")
@click.option("--model", default="")
@click.option("--name", default="")
@click.option("--info", "infos", multiple=True, metavar="LANG=TEXT", help="Spoken information, per language.")
def ivr_product(code: str, model: str, name: str, infos: tuple[str, ...]) -> None:
    """Add or replace a catalogue product the IVR reads out for CODE (digits)."""
    if not code.isdigit() or len(code) > 32:
        raise click.BadParameter("the code is what callers key: digits only, at most 32", param_hint="CODE")
    info = {}
    for item in infos:
        lang, sep, text = item.partition("=")
        if not sep or not text.strip():
            raise click.BadParameter(f"{item!r}: expected LANG=TEXT", param_hint="--info")
        info[lang.strip()] = text.strip()
    if not (name or model):
        raise click.BadParameter("give --name or --model (what the caller hears first)")
    settings = _settings()

    async def run() -> int:
        from sqlalchemy import select

        from ctidesk.db import make_engine, make_sessionmaker
        from ivr.models import CatalogProduct

        engine = make_engine(settings.effective_database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                row = (await db.execute(select(CatalogProduct).where(CatalogProduct.code == code))).scalar_one_or_none()
                if row is None:
                    row = CatalogProduct(code=code)
                    db.add(row)
                row.model, row.name, row.info = model[:80], name[:200], json.dumps(info, ensure_ascii=False)
                await db.commit()
                return row.id
        finally:
            await engine.dispose()

    click.echo(f"product {code}: id {asyncio.run(run())}")


@click.group("prompts")
def prompts_group() -> None:
    """IVR prompts (synthesised with espeak-ng; recorded files override)."""


@prompts_group.command("build")
@click.option("--force", is_flag=True, help="Rebuild every prompt, not only what changed.")
@click.option("--menu", "file", type=click.Path(dir_okay=False, path_type=Path), help="Menu file (default: ivr_config).")
def prompts_build(force: bool, file: Path | None) -> None:
    """Synthesise missing prompts to 8 kHz mono WAV and install them for Asterisk."""
    from ivr import prompts

    settings = _settings()
    path = file or settings.ivr_config
    menu, problems = _check(path, settings)
    if menu is None:
        for p in problems:
            click.echo(str(p), err=True)
        raise click.ClickException("fix the menu first")
    try:
        report = asyncio.run(prompts.build(menu, settings, force=force))
    except prompts.PromptError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"prompts in {prompts.sounds_root(settings) / prompts.SUBDIR}: {len(report.built)} built, "
               f"{report.kept} unchanged, {report.recorded} from recordings")
