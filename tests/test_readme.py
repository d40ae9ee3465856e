"""The README's examples are the tested code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_embedding_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(_python_blocks()[0], "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "collaborator='alice'" in printed
    assert "amount=50000" in printed and "status='pending'" in printed


def test_the_plugin_example_defines_a_working_calculator() -> None:
    namespace: dict[str, object] = {}
    exec(compile(_python_blocks()[1], "README.md", "exec"), namespace)
    (calculator,) = namespace["siren_allocation_calculators"]()  # type: ignore[operator]
    from siren_core.money import currency
    from siren_core.records import AllocationContext
    context = AllocationContext(distributor="d", currency=currency("USD"), pool=10,
                                scores={"a": 5, "b": 1, "c": 1})
    assert calculator.allocate(context, None) == {"a": 4, "b": 3, "c": 3}


def _bash_blocks() -> list[str]:
    quick = README.split("## Quick start", 1)[1].split("## Embedding", 1)[0]
    return re.findall(r"```bash\n(.*?)```", quick, flags=re.S)


def test_the_quick_start_is_three_commands() -> None:
    commands = [line.split("#")[0].strip() for line in _bash_blocks()[0].strip().splitlines()]
    assert commands == ['pip install -e ".[dev]" && siren demo', "pytest",
                        "siren demo --database sqlite:///demo.db && siren serve "
                        "--database sqlite:///demo.db"]


def test_the_served_demo_records_the_readmes_sale(tmp_path: Path) -> None:
    """The third command and the curl line, as written (on a free port)."""
    from serving import serving, siren

    assert siren("demo", "--database", f"sqlite:///{tmp_path / 'demo.db'}").returncode == 0
    database = f"sqlite:///{tmp_path / 'demo.db'}"
    with serving(database, tmp_path / "serve.log") as server:
        script = _bash_blocks()[1].replace("sqlite:///demo.db", database).replace(
            "siren keys", f"{sys.executable} -m siren_core.cli keys").replace(
            "http://127.0.0.1:8080/siren/v1", server.base_url)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "unattributed"

