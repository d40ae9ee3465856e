"""The README's examples are the tested code."""

from __future__ import annotations

import re
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


def test_the_quick_start_is_two_commands() -> None:
    block = README.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ['pip install -e ".[dev]" && siren demo', "pytest"]
