"""``siren export``: the current store as a configuration file ``siren apply`` reads."""

from __future__ import annotations

import click

from siren_core.cli.common import DATABASE_OPTION, inspecting
from siren_core.config.export import FORMATS, export_text, unsayable_bindings


@click.command("export")
@DATABASE_OPTION
@click.option("--format", "format_", type=click.Choice(FORMATS), default="toml",
              show_default=True, help="The file format.")
def export_command(database: str, format_: str) -> None:
    """Print the store's configuration (collaborators, groups and members, programs,
    distributors, bindings) as a file `siren apply` reads; redirect it to a file.

    Applying the export to an empty store gives the same state. Credits, periods and
    obligations are not part of it. A binding to a deleted group cannot be said in a file:
    it is left out with a warning on standard error.
    """
    with inspecting(database) as kernel:
        text = export_text(kernel, format_)
        left_out = unsayable_bindings(kernel)
    click.echo(text, nl=False)
    for binding in left_out:  # a file can name only live groups
        click.echo(f"warning: {binding}, which a file cannot name: the export leaves the "
                   "binding out, and applied to another store its payees would change",
                   err=True)


def register(cli: click.Group) -> None:
    cli.add_command(export_command)
