"""``siren init``: a recipe that starts now, run as the real command in a fresh folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from siren_core.config.recipes import current_period_start, recipe_names, recipe_starting
from siren_core.schedule import Schedule


def _siren(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    beside_python = Path(sys.executable).parent / "siren"
    executable = str(beside_python) if beside_python.exists() else shutil.which("siren")
    assert executable is not None
    return subprocess.run([executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def _starts(folder: Path) -> list[str]:
    config = tomllib.loads((folder / "siren.toml").read_text(encoding="utf-8"))
    return [entry["start"] for entry in config["distributors"]]


def test_init_starts_at_the_current_period_and_the_first_heartbeat_closes_nothing(
        tmp_path: Path) -> None:
    done = _siren(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    today = datetime.now(UTC).date()  # the recipe's months end in UTC
    assert _starts(tmp_path) == [today.replace(day=1).isoformat()]
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    applied = _siren(tmp_path, "apply", "siren.toml", "--database", url)
    assert applied.returncode == 0, applied.stderr
    beat = _siren(tmp_path, "heartbeat", "--database", url, "--json")
    assert beat.returncode == 0, beat.stderr
    assert json.loads(beat.stdout)["completed"] == []  # no empty past month was closed
    listed = _siren(tmp_path, "distributions", "--database", url, "--json")
    periods = json.loads(listed.stdout)["distributions"]
    assert [(d["status"], d["period_start"][:10]) for d in periods] == [
        ("open", today.replace(day=1).isoformat())]


def test_init_start_chooses_the_first_period(tmp_path: Path) -> None:
    done = _siren(tmp_path, "init", "--recipe", "content-creator-profit-share",
                  "--start", "2026-03-01")
    assert done.returncode == 0, done.stderr
    assert _starts(tmp_path) == ["2026-03-01"]


def test_init_refuses_a_start_that_is_not_a_date(tmp_path: Path) -> None:
    done = _siren(tmp_path, "init", "--start", "March")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --start: 'March' is not a date (YYYY-MM-DD)"
    assert "Traceback" not in done.stderr and not (tmp_path / "siren.toml").exists()


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_starts_at_the_period_holding_now(name: str) -> None:
    moved = tomllib.loads(recipe_starting(name, datetime(2027, 5, 17, 12, tzinfo=UTC)))
    assert [d["start"] for d in moved["distributors"]] == ["2027-05-01"] * len(
        moved["distributors"])


def test_the_current_period_is_the_one_holding_now_in_the_distributors_timezone() -> None:
    late_june_utc = datetime(2027, 6, 30, 23, tzinfo=UTC)  # already July 1st in Tokyo
    assert current_period_start(Schedule("monthly", date(2026, 1, 1), "UTC"),
                                late_june_utc) == date(2027, 6, 1)
    assert current_period_start(Schedule("monthly", date(2026, 1, 1), "Asia/Tokyo"),
                                late_june_utc) == date(2027, 7, 1)
    assert current_period_start(Schedule("weekly", date(2026, 1, 5), "UTC"),  # Mondays
                                late_june_utc) == date(2027, 6, 28)
