"""The ``siren`` command line: version, plugins, demo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from siren_core import __version__
from siren_core.cli import cli


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"siren, version {__version__}"


def test_plugins_lists_each_plugin_with_its_distribution_and_hooks() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)["plugins"]}
    assert rows["proportional"]["distribution"] == "siren-core"
    assert rows["proportional"]["hooks"] == ["siren_allocation_calculators"]
    assert rows["sale"]["hooks"] == ["siren_trigger_strategies"]
    table = CliRunner().invoke(cli, ["plugins"], env={"COLUMNS": "200"})
    assert "siren_allocation_calculators" in table.output


def test_demo_prints_a_distribution_that_sums_to_its_pool() -> None:
    result = CliRunner().invoke(cli, ["demo"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "pool 1000.00 USD" in result.output
    amounts = [Decimal(line.split("│")[4].split()[0]) for line in result.output.splitlines()
               if line.startswith("│ ") and "USD" in line and "total" not in line
               and line.count("│") == 5]
    assert len(amounts) == 3
    assert sum(amounts) == Decimal("1000.00")
    assert "pending" in result.output


def test_the_installed_executable_runs_the_demo() -> None:
    beside_python = Path(sys.executable).parent / "siren"
    executable = str(beside_python) if beside_python.exists() else shutil.which("siren")
    assert executable, "the siren executable is installed with the package"
    done = subprocess.run([executable, "demo"], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    assert "1000.00 USD" in done.stdout
