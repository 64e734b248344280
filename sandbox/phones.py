"""Agents' PJSIP phones in the sandbox Asterisk: write ``ctidesk_pjsip_agents.conf``
from the users table and have a running Asterisk reload res_pjsip.

Called after users change (``ctidesk user add``, ``ctidesk demo``) and when
``ctidesk serve`` starts, so the sandbox's endpoints are always the database's.
Only in sandbox mode (no ``asterisk_fs_root`` configured): a site's own
Asterisk gets the file from ``ctidesk asterisk-config`` and reloads itself.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from accounts import phones
from cti.oneshot import AmiError, ami_command
from ctidesk.settings import Settings
from sandbox import config as sbconfig
from sandbox.provision import is_provisioned
from sandbox.runner import chroot_path, effective_settings

log = logging.getLogger(__name__)


async def load_accounts(sessionmaker) -> list[phones.PhoneAccount]:
    from accounts.models import User

    async with sessionmaker() as db:
        return phones.accounts_of((await db.execute(select(User))).scalars().all())


async def sync(settings: Settings, accounts: list[phones.PhoneAccount], *, reload: bool = True) -> list[str]:
    """Write the agents' PJSIP file into the sandbox and reload res_pjsip. Returns what it did."""
    if settings.asterisk_fs_root is not None:
        return []  # a site's Asterisk: `ctidesk asterisk-config` renders the file for it
    root = settings.effective_sandbox_root
    if not is_provisioned(root):
        return []
    etc = chroot_path(root, "/etc/asterisk")
    result = sbconfig.write_files({sbconfig.AGENTS_PJSIP: phones.render_pjsip(accounts)}, etc)
    lines = []
    if result.changed:
        lines.append(f"wrote {len(accounts)} agent phone(s) into {etc / sbconfig.AGENTS_PJSIP}")
        if reload:
            try:
                await ami_command(effective_settings(settings), "module reload res_pjsip.so", timeout=10)
                lines.append("sandbox Asterisk: res_pjsip reloaded")
            except (AmiError, OSError) as exc:  # not running: `sandbox up` loads the file at start
                lines.append(f"sandbox Asterisk not reloaded ({exc}); it reads the file when it starts")
    return lines


async def sync_from_database(settings: Settings) -> list[str]:
    """:func:`sync` with the accounts read from the configured database."""
    if settings.asterisk_fs_root is not None or not is_provisioned(settings.effective_sandbox_root):
        return []
    from ctidesk.db import make_engine, make_sessionmaker

    engine = make_engine(settings.effective_database_url)
    try:
        accounts = await load_accounts(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    return await sync(settings, accounts)


def render_from_database(settings: Settings) -> str | None:
    """``ctidesk_pjsip_agents.conf`` for a site (``ctidesk asterisk-config``), or
    None when the database cannot be read (not migrated, unreachable)."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from ctidesk.db import make_engine, make_sessionmaker

    async def run() -> str:
        engine = make_engine(settings.effective_database_url)
        try:
            return phones.render_pjsip(await load_accounts(make_sessionmaker(engine)))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (SQLAlchemyError, OSError) as exc:
        log.info("agents' PJSIP phones not rendered: %s", exc)
        return None
