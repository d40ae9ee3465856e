"""Obligations chosen by filter for a bulk action (``siren obligations approve
--distributor D --status pending --before T``): the count is printed and confirmation
asked, unless ``--yes``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
import click

from siren_core.cli.common import instant
from siren_core.domain import Obligation
from siren_core.kernel import Kernel
from siren_core.times import iso_utc


@attrs.frozen
class Selection:
    """Every filter given must match."""

    distributor: str | None = None
    status: str | None = None
    before: datetime | None = None
    collaborator: str | None = None

    @property
    def given(self) -> bool:
        return any(value is not None for value in attrs.astuple(self))

    def find(self, kernel: Kernel) -> tuple[Obligation, ...]:
        return kernel.select_obligations(distributor=self.distributor, status=self.status,
                                         before=self.before, collaborator=self.collaborator)

    def describe(self) -> str:
        parts = [f"distributor {self.distributor}" if self.distributor else "",
                 f"status {self.status}" if self.status else "",
                 f"issued before {iso_utc(self.before)}" if self.before else "",
                 f"collaborator {self.collaborator}" if self.collaborator else ""]
        return ", ".join(part for part in parts if part)


def _before(value: str | None) -> datetime | None:
    return None if value is None else instant("--before", value)


def SELECTION_OPTIONS(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --distributor, --status, --before and --collaborator, given to the command as
    one ``selection``."""

    @functools.wraps(command)
    def with_selection(*args: Any, distributor: str | None, status: str | None,
                       before: str | None, collaborator: str | None, **kwargs: Any) -> Any:
        return command(*args, selection=Selection(distributor, status, _before(before),
                                                  collaborator), **kwargs)

    options = [
        click.option("--distributor", default=None,
                     help="Obligations issued by this distributor's distributions."),
        click.option("--status", default=None,
                     help="Obligations with this status (pending, approved…; aliases too)."),
        click.option("--before", default=None, metavar="INSTANT",
                     help="Obligations issued before this instant (ISO 8601 with a "
                          "timezone)."),
        click.option("--collaborator", default=None, help="Obligations of this collaborator."),
    ]
    decorated: Callable[..., Any] = with_selection
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def _ask(question: str) -> bool:
    try:
        return click.confirm(question, default=False, err=True)
    except click.exceptions.Abort:  # no answer (standard input closed), or Ctrl-C
        click.echo("", err=True)
        return False


def confirmed(action: str, selection: Selection, count: int, *, yes: bool) -> bool:
    """Print how many obligations match (on stderr) and ask to go on, unless ``yes``.

    Declining changes nothing and exits with status 1.
    """
    if count == 0:
        click.echo(f"no obligation matches ({selection.describe()}); nothing changed",
                   err=True)
        return False
    click.echo(f"{count} obligation(s) match ({selection.describe()})", err=True)
    if yes or _ask(f"{action} {count} obligation(s)?"):
        return True
    click.echo("nothing changed", err=True)
    raise click.exceptions.Exit(1)
