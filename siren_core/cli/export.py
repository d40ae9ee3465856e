"""``siren export``: the current store as a configuration file ``siren apply`` reads."""

from __future__ import annotations

import click

from siren_core.cli.common import DATABASE_OPTION
from siren_core.config.export import FORMATS, export_text
from siren_core.kernel import Kernel


@click.command("export")
@DATABASE_OPTION
@click.option("--format", "format_", type=click.Choice(FORMATS), default="toml",
              show_default=True, help="The file format.")
def export_command(database: str, format_: str) -> None:
    """Print the store's configuration (collaborators, groups and members, programs,
    distributors, bindings) as a file `siren apply` reads; redirect it to a file.

    Applying the export to an empty store gives the same state. Credits, periods and
    obligations are not part of it.
    """
    with Kernel(database) as kernel:
        text = export_text(kernel, format_)
    click.echo(text, nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(export_command)
