"""``siren --version`` and ``siren --help`` start without the store: the command modules are
imported on first use, ``--help`` lists them from the generated index (checked here to
say what the commands themselves say). No timings: what is imported is what is checked."""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from siren_core.cli import docgen
from siren_core.cli.command_index import COMMANDS
from siren_core.cli.root import COMMAND_MODULES, HELP_OPTIONS, _SirenGroup, cli

PROBE = """
import json, sys
sys.argv = ["siren", *json.loads(sys.argv[1])]
from siren_core.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("sqlalchemy", "sqlmodel", "alembic", "siren_core.kernel",
                           "siren_core.store") if m in sys.modules)
print(json.dumps(heavy), file=sys.stderr)
"""


def _imported(*arguments: str) -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(arguments)],
                          capture_output=True, text=True, check=True)
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


def test_version_and_help_do_not_import_the_store() -> None:
    version, heavy = _imported("--version")
    assert version.startswith("siren, version ") and heavy == []
    listing, heavy = _imported("--help")
    assert "heartbeat" in listing and "obligations" in listing and heavy == []


def test_a_command_imports_what_it_needs() -> None:
    output, heavy = _imported("db", "--help")
    assert "upgrade" in output and "sqlalchemy" in heavy


def test_the_index_is_what_the_commands_say() -> None:
    assert (docgen.INDEX.read_text() == docgen.command_index()), (
        "siren_core/cli/command_index.py is out of date: run python -m siren_core.cli.docgen")


def test_help_from_the_index_equals_help_from_the_commands() -> None:
    settings = {"help_option_names": HELP_OPTIONS}
    eager = _SirenGroup(help=cli.help, context_settings=settings)
    for module in COMMAND_MODULES:
        eager.load(module)
    lazy = _SirenGroup(help=cli.help, context_settings=settings)
    for width in (60, 80, 120):
        shown = [CliRunner().invoke(group, ["--help"], terminal_width=width).output
                 for group in (eager, lazy)]
        assert shown[0] == shown[1]
    assert lazy.loaded == set()


def test_every_indexed_command_loads_by_its_name() -> None:
    group = _SirenGroup()
    for name, (module, *_rest) in COMMANDS.items():
        command = group.get_command(click.Context(group), name)
        assert isinstance(command, click.Command) and module in group.loaded
