"""The ``ctidesk`` command line. Subcommand names and options are a contract."""
from __future__ import annotations

import click


@click.group()
def main() -> None:
    """ctidesk: call-center / CTI service desk for Asterisk."""
    from ctidesk.settings import settings_for_cli
    from tickets import hooks, sla

    hooks.install_defaults()  # commands that write tickets (voicemail reconcile, imports) get SLAs too
    sla.use_settings(settings_for_cli)  # from settings.sla_config, loaded when a ticket needs it


def _register() -> None:
    from ctidesk import commands

    commands.register(main)


_register()


if __name__ == "__main__":
    main()
