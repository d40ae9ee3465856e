"""``Kernel.transaction``: several operations commit together, events after the commit."""

from __future__ import annotations

import pytest

from siren_core import Kernel
from siren_core.errors import InvalidInput
from siren_core.events import Event

from conftest import monthly


def test_operations_in_a_transaction_commit_together(kernel: Kernel) -> None:
    seen: list[str] = []
    kernel.subscribe(lambda event: seen.append(event.event_id))
    with kernel.transaction():
        kernel.create_collaborator("alice")
        kernel.create_distributor(monthly())
        kernel.record("sale", {"id": "o-1", "at": "2026-01-02T00:00:00Z",
                               "collaborator": "alice", "amount": "1.00", "currency": "USD"})
        assert seen == []  # nothing is announced before the commit
    assert seen == ["collaborator_created", "distributor_created", "metrics_triggered"]
    assert [c.id for c in kernel.collaborators()] == ["alice"]


def test_a_failure_undoes_every_operation_and_announces_nothing(kernel: Kernel) -> None:
    seen: list[Event] = []
    kernel.subscribe(seen.append)
    with pytest.raises(InvalidInput), kernel.transaction():
        kernel.create_collaborator("alice")
        kernel.create_distributor(monthly())
        kernel.record("sale", {"id": "o-1", "at": "2026-01-02T00:00:00Z",
                               "collaborator": "alice", "amount": "1.00", "currency": "USD"})
        kernel.create_distributor(monthly("second", units="NOPE"))
    assert seen == []
    counts = kernel.table_counts()
    assert counts["collaborator"] == counts["distributor"] == counts["source_event"] == 0


def test_a_failed_operation_caught_inside_keeps_the_others(kernel: Kernel) -> None:
    with kernel.transaction():
        kernel.create_collaborator("alice")
        with pytest.raises(InvalidInput):
            kernel.record("sale", {"id": "o-1", "at": "2026-01-02T00:00:00Z",
                                   "collaborator": "ghost", "amount": "1.00",
                                   "currency": "USD"})
        kernel.create_collaborator("bob")
    assert [c.id for c in kernel.collaborators()] == ["alice", "bob"]
