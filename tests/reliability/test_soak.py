"""The soak (``python -m tests.reliability.soak``) runs for a few seconds, so it never
rots: it starts every process, kills workers, accounts for every event and prints its
summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_soak_is_clean(database_url: str) -> None:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "tests.reliability.soak", "--minutes", "0.1",
         "--only", backend, "--database", database_url],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    [summary] = json.loads(result.stdout[:result.stdout.rindex("]") + 1])
    assert summary["backend"] == backend and summary["sales"] > 0, result.stdout
    assert summary["kills"] >= 1 and summary["periods_completed"] >= 1, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
