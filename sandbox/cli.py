"""Click commands for the sandbox Asterisk; registered in the ``ctidesk`` CLI group.

Exported: ``sandbox_group`` (``ctidesk sandbox up|down|status|restart|phone``),
``call_command`` (``ctidesk call``) and ``asterisk_config_command``
(``ctidesk asterisk-config``). ``python -m sandbox.cli`` runs them standalone.
"""
from __future__ import annotations

from pathlib import Path

import click

from ctidesk.settings import Settings, settings_for_cli


def _settings(ctx: click.Context | None) -> Settings:
    """The Settings the parent ``ctidesk`` group built, else load them."""
    obj = ctx.find_root().obj if ctx is not None else None
    for candidate in (obj, getattr(obj, "settings", None),
                      obj.get("settings") if isinstance(obj, dict) else None):
        if isinstance(candidate, Settings):
            return candidate
    return settings_for_cli()


def _errors():
    from cti.oneshot import AmiError
    from sandbox.calls import TestCallError
    from sandbox.config import ConfigRenderError
    from sandbox.provision import ProvisionError
    from sandbox.runner import SandboxError

    return (AmiError, ProvisionError, SandboxError, ConfigRenderError, TestCallError, ValueError)


def _sandbox(ctx):
    from sandbox.runner import Sandbox

    return Sandbox(_settings(ctx), log=click.echo)


@click.group("sandbox")
def sandbox_group() -> None:
    """The project's sandbox Asterisk 22 (Debian sid root run with chroot)."""


@sandbox_group.command("up")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for AMI.")
@click.pass_context
def sandbox_up(ctx, timeout: float) -> None:
    """Provision (cached), configure and start Asterisk; idempotent."""
    try:
        _sandbox(ctx).up(timeout=timeout)
    except _errors() as exc:
        raise click.ClickException(str(exc)) from None


@sandbox_group.command("down")
@click.pass_context
def sandbox_down(ctx) -> None:
    """Stop the sandbox Asterisk (by its own pid)."""
    try:
        _sandbox(ctx).down()
    except _errors() as exc:
        raise click.ClickException(str(exc)) from None


@sandbox_group.command("restart")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for AMI.")
@click.pass_context
def sandbox_restart(ctx, timeout: float) -> None:
    """Stop, then start the sandbox Asterisk."""
    try:
        _sandbox(ctx).restart(timeout=timeout)
    except _errors() as exc:
        raise click.ClickException(str(exc)) from None


@sandbox_group.command("status")
@click.pass_context
def sandbox_status(ctx) -> None:
    """Is Asterisk running, does AMI take our login, which version. Exit 1 if AMI is unreachable."""
    from sandbox.runner import Sandbox

    st = Sandbox(_settings(ctx)).status()
    for line in st.lines:
        click.echo(line)
    ctx.exit(0 if st.ami_reachable else 1)


@sandbox_group.command("phone")
@click.argument("extension")
@click.option("--answer-delay", metavar="SECONDS|never", help="Seconds before the phone answers, or 'never'.")
@click.option("--talk-time", metavar="SECONDS", type=float, help="Seconds the phone talks before hanging up.")
@click.option("--reset", is_flag=True, help="Forget this phone's overrides first (use the global defaults).")
@click.pass_context
def sandbox_phone(ctx, extension: str, answer_delay: str | None, talk_time: float | None, reset: bool) -> None:
    """Set how simulated phone EXTENSION behaves (AstDB simphone/EXT/*). Without options: show it."""
    try:
        for line in _sandbox(ctx).set_phone(extension, answer_delay=answer_delay, talk_time=talk_time,
                                            reset=reset):
            click.echo(line)
    except _errors() as exc:
        raise click.ClickException(str(exc)) from None


@click.command("call")
@click.option("--from", "from_number", required=True, metavar="NUMBER", help="Caller number.")
@click.option("--name", default=None, help="Caller name (any characters).")
@click.option("--dtmf", default=None, metavar="DIGITS", help="Digits the caller keys into the IVR.")
@click.option("--to", default=None, metavar="EXTEN", help="Dialled extension (default: the DID 4000).")
@click.option("--hold", default=None, type=float, metavar="SECONDS",
              help="Seconds the caller stays on the line (default 30).")
@click.option("--say", default=None, metavar="SOUNDS",
              help="Sound files the caller 'speaks' after the DTMF (e.g. hello-world&hello-world): an IVR voicemail.")
@click.option("--say-after", default=None, type=float, metavar="SECONDS", help="Seconds after the DTMF before --say.")
@click.option("--dtmf2", default=None, metavar="DIGITS", help="Digits keyed after --say (e.g. # to end a message).")
@click.option("--via", default="sip", show_default=True, type=click.Choice(["sip", "local"]),
              help="sip: through the simulated carrier's SIP trunk (a real INVITE); local: a Local channel.")
@click.option("--timeout", default=10.0, show_default=True, help="AMI timeout in seconds.")
@click.pass_context
def call_command(ctx, from_number, name, dtmf, to, hold, say, say_after, dtmf2, via, timeout) -> None:
    """Place a test inbound call into the sandbox (by default over the carrier's SIP trunk)."""
    from sandbox.calls import place_test_call
    from sandbox.runner import effective_settings, run_sync

    try:
        settings = effective_settings(_settings(ctx))
        call = run_sync(place_test_call(settings, from_number, name=name, dtmf=dtmf, to=to, hold=hold,
                                        timeout=timeout, say=say, say_after=say_after, dtmf2=dtmf2,
                                        via=via))
    except _errors() as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"test call id: {call.call_id}  (channel variable CTIDESK_TESTCALL)")
    route = "the carrier's SIP trunk" if via == "sip" else "a Local channel"
    click.echo(f"CallerID: {call.action['CallerID']}  ->  DID {call.action['Exten']} via {route}")
    click.echo(f"Originate: {call.response.get('Response')}: {call.response.get('Message', '')}")
    if not call.ok:
        ctx.exit(1)


@click.command("asterisk-config")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the snippets into.")
@click.pass_context
def asterisk_config_command(ctx, out_dir: Path) -> None:
    """Write the dialplan/queue/manager snippets a site includes in its own Asterisk."""
    from sandbox.config import render_site_snippets, write_files

    from sandbox.config import AGENTS_PJSIP
    from sandbox.phones import render_from_database

    settings = _settings(ctx)
    try:
        files = render_site_snippets(settings)
        agents = render_from_database(settings)  # the agents' PJSIP phones, from the users table
        if agents is not None:
            files[AGENTS_PJSIP] = agents
        write_files(files, out_dir)
    except _errors() as exc:
        raise click.ClickException(str(exc)) from None
    for name in sorted(files):
        click.echo(str(out_dir / name))
    if agents is None:
        click.echo(f"note: no {AGENTS_PJSIP}: the database is not reachable or not migrated "
                   "(run `ctidesk db upgrade`, add users, run this again)")
    click.echo(f"see {out_dir / 'README.txt'} for how to #include them")


@click.group()
def _standalone() -> None:
    """Sandbox commands (normally `ctidesk sandbox ...`)."""


_standalone.add_command(sandbox_group)
_standalone.add_command(call_command)
_standalone.add_command(asterisk_config_command)

__all__ = ["sandbox_group", "call_command", "asterisk_config_command"]

if __name__ == "__main__":
    _standalone()
