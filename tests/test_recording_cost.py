"""The single recording path: what it runs does not grow with the distributors, and a
distributor changed by another process is seen (the distributor stamp)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel

from conftest import monthly, sale


@contextmanager
def driver_statements(kernel: Kernel) -> Iterator[list[str]]:
    """Every statement SQLite runs for ``kernel`` in the block, those sent through the
    driver included (SQLAlchemy's events do not see them)."""
    seen: list[str] = []
    kernel.engine.dispose()

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(seen.append)

    sa.event.listen(kernel.engine, "connect", trace)
    try:
        yield seen
    finally:
        sa.event.remove(kernel.engine, "connect", trace)
        kernel.engine.dispose()


def _recorded(kernel: Kernel, number: int) -> list[str]:
    with driver_statements(kernel) as seen:
        kernel.record("sale", sale(f"o-{number}", "alice", "10.00"))
    # the statements' text, without the values (SQLite's trace shows them bound)
    return [re.sub(r"'[^']*'", "?", re.split(" VALUES ", s)[0]) for s in seen
            if not s.startswith("PRAGMA")]


def test_a_recording_runs_the_same_statements_whatever_the_distributors(
        tmp_path: Any) -> None:
    kernel = Kernel(f"sqlite:///{tmp_path / 'cost.db'}")
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o-0", "alice", "10.00"))  # warms the caches
    few = _recorded(kernel, 1)
    for i in range(30):  # distributors that do not track sales
        kernel.create_distributor(monthly(f"visits-{i}", metrics=[
            {"type": "visit", "points": 1, "credit": {"rule": "fixed"}}]))
    kernel.record("sale", sale("o-2", "alice", "10.00"))  # the catalog reloads once
    many = _recorded(kernel, 3)
    assert many == few
    # the distributors are checked by one primary-key row, not read one by one
    assert not [s for s in many if s.startswith("SELECT id, config_version")]
    assert [s for s in many if " distributor_stamp " in s]
    kernel.close()


@pytest.mark.parametrize("change", ["pause", "reconfigure"])
def test_a_distributor_changed_by_another_kernel_is_seen_by_the_next_recording(
        make_kernel: Callable[..., Kernel], change: str) -> None:
    recorder, operator = make_kernel(), make_kernel()
    recorder.create_collaborator("alice")
    recorder.create_distributor(monthly())
    assert recorder.record("sale", sale("o-1", "alice", "10.00")).credits == 1
    if change == "pause":
        operator.set_distributor_status("monthly-bonus", "inactive")
        result = recorder.record("sale", sale("o-2", "alice", "10.00"))
        assert result.credits == 0
        assert [s.reason for s in result.skipped] == ["distributor_inactive"]
    else:
        operator.update_distributor(monthly(metrics=[
            {"type": "visit", "points": 1, "credit": {"rule": "fixed"}}]))
        result = recorder.record("sale", sale("o-2", "alice", "10.00"))
        assert result.credits == 0 and result.skipped == ()
