"""The ``ctidesk`` command line. Subcommand names and options are a contract."""
from __future__ import annotations

import click


@click.group()
def main() -> None:
    """ctidesk: call-center / CTI service desk for Asterisk."""


def _register() -> None:
    from ctidesk import commands

    commands.register(main)


_register()


if __name__ == "__main__":
    main()
