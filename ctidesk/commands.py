"""CLI commands of the composition root (serve, demo, db, replay) and the
registration of every package's own commands into the ``ctidesk`` group."""
from __future__ import annotations

import asyncio
import logging
import sys

import click

from ctidesk import logs
from ctidesk.settings import settings_for_cli


def _settings():
    return settings_for_cli()


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _serve(settings, *, migrate: bool = True) -> None:
    import uvicorn

    from ctidesk import migrate as migrations
    from ctidesk.app import SERVER_OPTIONS, create_app

    from ivr.cli import require_valid_menu

    require_valid_menu(settings)  # an invalid IVR menu: refuse to start, listing every error
    if migrate:
        migrations.upgrade(settings)
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port,
                            log_level=settings.log_level.lower(), **SERVER_OPTIONS)
    logs.install("uvicorn", "uvicorn.access", "uvicorn.error")  # after uvicorn configured its loggers
    click.echo(f"ctidesk serving on http://{settings.http_host}:{settings.http_port}/ "
               f"(AMI {settings.ami_host}:{settings.ami_port}, FastAGI {settings.agi_host}:{settings.agi_port})")
    uvicorn.Server(config).run()


@click.command("serve")
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations at start.")
def serve_command(no_migrate: bool) -> None:
    """HTTP + websockets, the AMI bridge and the FastAGI server in one process."""
    settings = _settings()
    _logging(settings.log_level)
    _serve(settings, migrate=not no_migrate)


@click.command("demo")
@click.option("--no-sandbox", is_flag=True, help="Use an already configured Asterisk instead of the sandbox.")
def demo_command(no_sandbox: bool) -> None:
    """Sandbox Asterisk up, demo agents and customers, then serve."""
    from ctidesk import demo, migrate as migrations

    settings = _settings()
    _logging(settings.log_level)
    if not no_sandbox:
        from sandbox.runner import Sandbox

        try:
            Sandbox(settings, log=click.echo).up()
        except Exception as exc:  # provisioning errors name their cause
            raise click.ClickException(f"sandbox: {exc}") from None
        settings = settings_for_cli()  # picks up the sandbox's AMI secret
    migrations.upgrade(settings)
    logins = asyncio.run(demo.load_demo_data(settings))
    from sandbox.phones import sync_from_database

    for line in asyncio.run(sync_from_database(settings)):  # alice's and erin's softphones
        click.echo(line)
    base = f"http://{settings.http_host}:{settings.http_port}"
    click.echo("")
    click.echo(f"  Agent desk:   {base}/desk")
    click.echo(f"  Health:       {base}/healthz")
    click.echo(f"  Logins (kept in {settings.state_dir / 'demo-logins.txt'}):")
    for username, role, password, ext in logins:
        click.echo(f"    {username:<12} {role:<11} password {password:<22} extension {ext or '-'}")
    click.echo("  Softphones (alice, erin) register at " + settings.sip_wss_url + ": if the desk says the")
    click.echo("  certificate is not trusted, open https://127.0.0.1:8089/httpstatus once and accept it.")
    click.echo("  Place a test call:  .venv/bin/ctidesk call --from 13800138000 --name 'Zhang San'")
    click.echo("")
    _serve(settings, migrate=False)


@click.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations to the configured database."""
    from ctidesk import migrate as migrations

    settings = _settings()
    migrations.upgrade(settings, revision)
    click.echo(f"database at {revision}: {_redact(settings.effective_database_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.command("replay")
@click.argument("trace", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--agent-device", multiple=True, metavar="DEVICE=USERNAME",
              help="Known agent phone (e.g. Local/1001@agents=alice) for direct-call pops.")
def replay_command(trace: str, as_json: bool, agent_device: tuple[str, ...]) -> None:
    """Feed a recorded AMI capture through the bridge's normaliser and live model."""
    from cti.replay import event_json, load_trace, replay

    devices = {}
    for item in agent_device:
        device, sep, user = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected DEVICE=USERNAME", param_hint="--agent-device")
        devices[device] = user
    events = replay(load_trace(trace), agent_devices=devices)
    for e in events:
        if as_json:
            click.echo(event_json(e))
        else:
            d = e.to_dict()
            extra = " ".join(f"{k}={v}" for k, v in d.items() if k not in ("type", "call_id", "at") and v not in (None, ""))
            click.echo(f"{d['at']:.3f} {d['type']:<24} {d['call_id'] or '-':<24} {extra}")
    if not events:
        click.echo("no domain events in this capture", err=True)
        sys.exit(1)


def register(group: click.Group) -> None:
    from accounts.cli import user_group
    from customers.cli import export_group, import_group
    from sandbox.cli import asterisk_config_command, call_command, sandbox_group

    for cmd in (serve_command, demo_command, db_group, replay_command, user_group, sandbox_group,
                call_command, asterisk_config_command, import_group, export_group):
        group.add_command(cmd)
    from ivr.cli import ivr_group, prompts_group  # issue 3

    group.add_command(ivr_group)
    group.add_command(prompts_group)
    from recordings.cli import recordings_group  # issue 5

    group.add_command(recordings_group)

