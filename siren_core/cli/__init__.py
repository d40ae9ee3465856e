"""The ``siren`` command line."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from siren_core import (
    __version__,
    cli_config,
    cli_db,
    cli_distributions,
    cli_doctor,
    cli_ingest,
    cli_obligations,
    cli_plugins,
)
from siren_core.cli_common import amount_text, console
from siren_core.errors import SirenError
from siren_core.kernel import Kernel
from siren_core.plugins import describe_plugins, make_plugin_manager


def _money(amount: int | None, units: str) -> str:
    return "" if amount is None else f"{amount_text(amount, units)} {units}"


class _SirenGroup(click.Group):
    """Turns engine errors into one clear line and exit code 2, never a traceback.

    Anything else is a bug: it is reported in one line with exit code 70 (set
    ``SIREN_DEBUG=1`` to see the traceback).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SirenError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("SIREN_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (SIREN_DEBUG=1 shows "
                       "the traceback; please report it)", err=True)
            ctx.exit(70)


@click.group(cls=_SirenGroup)
@click.version_option(__version__, prog_name="siren")
def cli() -> None:
    """siren-core: scheduled collaborator rewards."""


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List the installed plugins, their distribution and the hooks they implement.

    `siren plugins check` checks them instead (exit status 1 if one is broken).
    """
    if ctx.invoked_subcommand is not None:
        return
    pm, report = make_plugin_manager()
    rows = describe_plugins(pm, report)
    if as_json:
        click.echo(json.dumps({"plugins": rows, "broken": report.broken}, indent=2))
        return
    table = Table(pad_edge=False)  # one hook a line; names fold rather than being cut
    table.add_column("plugin", overflow="fold")
    table.add_column("distribution", overflow="fold")
    table.add_column("version")
    table.add_column("hooks", overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["distribution"], row["version"], "\n".join(row["hooks"]))
    out = console()
    out.print(table)
    for name, problem in report.broken:
        out.print(f"[red]broken[/red] {name}: {problem}")


def _print_distribution(kernel: Kernel, console: Console) -> None:
    for distribution in kernel.distributions(status="completed"):
        pool = _money(distribution.pool, distribution.units)
        console.print(f"\n[bold]{distribution.distributor}[/bold] period "
                      f"{distribution.period_start:%Y-%m-%d} → {distribution.period_end:%Y-%m-%d}"
                      f"  pool {pool}  calculator {distribution.calculator}"
                      + (f"  (nothing paid: {distribution.reason})" if distribution.reason else ""))
        table = Table("collaborator", "score", "share", "amount", title="Allocations")
        allocations = kernel.allocations(distribution.id)
        total_score = sum(a.score for a in allocations) or 1
        for allocation in allocations:
            table.add_row(allocation.collaborator, str(allocation.score),
                          f"{100 * allocation.score / total_score:.1f}%",
                          _money(allocation.amount, allocation.units))
        total = sum(a.amount for a in allocations)
        table.add_row("[bold]total[/bold]", "", "", f"[bold]{_money(total, distribution.units)}")
        console.print(table)
    table = Table("obligation", "collaborator", "amount", "status", "source",
                  title="Obligations")
    for obligation in kernel.obligations():
        table.add_row(str(obligation.id), obligation.collaborator,
                      _money(obligation.amount, obligation.units), obligation.status,
                      f"{obligation.source} #{obligation.source_id}")
    console.print(table)


@cli.command()
@click.option("--database", default=None,
              help="Keep the demo in this database instead of a throwaway SQLite file.")
def demo(database: str | None) -> None:
    """Run a month of sales through a monthly distributor and show what it paid."""
    from siren_core.demo import run_demo

    out = console()
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite:///{Path(folder) / 'demo.db'}"
        with Kernel(url) as kernel:
            now = run_demo(kernel)
            out.print(f"siren demo: 4 collaborators, 8 sales in January 2026, "
                          f"a monthly distributor with a fixed pool of 1000.00 USD split in "
                          f"proportion to score; heartbeat at {now:%Y-%m-%d %H:%M} UTC.")
            _print_distribution(kernel, out)


cli_distributions.register(cli)
cli_config.register(cli)
cli_db.register(cli)
cli_doctor.register(cli)
cli_plugins.register(cli)
cli_ingest.register(cli)
cli_obligations.register(cli)


def main() -> None:
    """Entry point of the ``siren`` executable; plugins may add commands."""
    cli_plugins.log_traces_to_stderr()
    pm, _report = make_plugin_manager()
    pm.hook.siren_cli_commands(cli=cli)
    cli(prog_name="siren")


if __name__ == "__main__":  # pragma: no cover
    main()
