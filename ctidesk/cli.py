"""The ``ctidesk`` command line. Subcommand names and options are a contract."""
from __future__ import annotations

import click


@click.group()
def main() -> None:
    """ctidesk: call-center / CTI service desk for Asterisk."""
    from tickets import hooks

    hooks.install_defaults()  # commands that write tickets (voicemail reconcile, imports) get SLAs too


def _register() -> None:
    from ctidesk import commands

    commands.register(main)


_register()


if __name__ == "__main__":
    main()
