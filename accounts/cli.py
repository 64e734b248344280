"""``ctidesk user ...``: manage desk users from the shell.

The password is read from stdin only (``--password-stdin``), never from an
argument, so it stays out of shell history and ``ps``.
"""
from __future__ import annotations

import asyncio
import sys

import click

from accounts import service
from accounts.security import ROLES


def _run(fn):
    from ctidesk.clitools import run_db

    return run_db(fn)


@click.group("user")
def user_group() -> None:
    """Manage desk users."""


@user_group.command("add")
@click.argument("username")
# Validated by the service rather than click.Choice: every bad input exits 1.
@click.option("--role", required=True, metavar="|".join(ROLES))
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="Read the password from the first line of stdin (required).")
@click.option("--extension", default=None, help="Phone extension, 2-6 digits.")
@click.option("--queues", default="", help="Comma-separated queue names.")
@click.option("--display-name", "display_name", default=None)
@click.option("--phone", default="local", show_default=True, metavar="sip|webrtc|local",
              help="The agent's phone: a desk SIP phone, the desk's browser softphone, or a "
                   "simulated Local phone (tests, the no-audio demo).")
def add_user(username: str, role: str, password_stdin: bool, extension: str | None,
             queues: str, display_name: str | None, phone: str) -> None:
    """Create USERNAME with ROLE."""
    if not password_stdin:
        raise click.ClickException("give the password on stdin with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")

    async def create(db):
        user = await service.create_user(
            db=db, username=username, password=password, role=role, extension=extension,
            queues=queues, display_name=display_name, phone=phone, sip_realm=_settings().sip_realm)
        await service.audit(db=db, actor="cli", action="user.create", target=user.username,
                            detail={"role": role, "extension": extension, "phone": phone,
                                    "queues": user.queue_list})
        await db.commit()
        return user

    try:
        user = _run(create)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created user {user.username} ({user.role}, {user.phone} phone)")
    if user.phone == "sip" and user.sip_password_once:
        settings = _settings()
        click.echo(f"SIP account for the desk phone (the password is shown only now; only its hash is kept):\n"
                   f"  server {settings.sip_media_address} (UDP 5060 in the sandbox), user {user.extension}, "
                   f"auth user {user.extension}, realm {settings.sip_realm}, password {user.sip_password_once}")
    if user.phone != "local":  # a Local phone needs nothing in PJSIP
        _sync_phones()


def _settings():
    from ctidesk.settings import settings_for_cli

    return settings_for_cli()  # a bad configuration exits with its reason


def _sync_phones() -> None:
    """Agents' PJSIP endpoints into the sandbox Asterisk (no-op for a site's own Asterisk)."""
    from sandbox.phones import sync_from_database

    for line in asyncio.run(sync_from_database(_settings())):
        click.echo(line)


@user_group.command("list")
def list_users() -> None:
    """List users: name, role, extension, queues, state."""
    async def fetch(db):
        return await service.list_users(db=db)

    for u in _run(fetch):
        click.echo("\t".join([u.username, u.role, u.extension or "-", u.queues or "-",
                              "active" if u.active else "inactive", u.display_name]))
