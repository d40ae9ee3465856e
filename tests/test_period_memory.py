"""What a period holds while it is distributed (issue 18, the period's memory): its scores
as the calculator's mapping and an array of store ids, no row tuples; its allocations as
columns, in Python's order of collaborator ids whatever order the store gave."""

from __future__ import annotations

import sys
import tracemalloc
from array import array
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.distribution.runner import Allocations
from siren_core.store import distribution_queries, queries, unit_of_work

from conftest import at, monthly, sale


def test_the_scores_hold_the_mapping_and_the_ids_only(kernel: Kernel) -> None:
    """3,000 collaborators of different scores: what the read holds is the mapping (its
    table, names and points) and 8 bytes a store id, within 30% (pymalloc's rounding);
    a list of the rows as tuples beside it would hold about twice that."""
    names = [f"c{number:05}" for number in range(3_000)]
    for name in names:
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(metrics=[{"type": "sale", "value": "amount"}]))
    kernel.record_many({"type": "sale", **sale(f"s{n}", name, f"{10 + n}.{n % 100:02}")}
                       for n, name in enumerate(names))
    with unit_of_work(kernel.engine, write=False) as conn:
        (key,), = conn.execute(sa.select(queries.distributor.c.id))
        distribution_queries.period_scores(conn, key, at("2026-01-01"), at("2026-02-01"))
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            scores = distribution_queries.period_scores(conn, key, at("2026-01-01"),
                                                        datetime(2026, 2, 1, tzinfo=UTC))
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert list(scores.eligible) == names and scores.scored == len(names)
    assert scores.eligible["c00007"] == 1707 and scores.beyond is None
    assert isinstance(scores.keys, array) and len(scores.keys) == len(names)
    mapping = (sys.getsizeof(scores.eligible) + sum(map(sys.getsizeof, scores.eligible))
               + sum(map(sys.getsizeof, scores.eligible.values())))
    assert held <= 1.3 * (mapping + 8 * len(names))


def test_inactive_collaborators_are_scored_but_not_eligible(kernel: Kernel) -> None:
    for name in ("ann", "bob", "cy"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly())
    kernel.record_many({"type": "sale", **sale(f"s{n}", name, "1.00")}
                       for n, name in enumerate(("ann", "bob", "bob", "cy")))
    kernel.set_collaborator_status("bob", "inactive")
    with unit_of_work(kernel.engine, write=False) as conn:
        (key,), = conn.execute(sa.select(queries.distributor.c.id))
        scores = distribution_queries.period_scores(conn, key, at("2026-01-01"),
                                                    at("2026-02-01"))
    assert scores.eligible == {"ann": 10, "cy": 10} and scores.scored == 3
    assert len(scores.keys) == 2


def _columns(rows: list[tuple[int, str, int, int]]
             ) -> tuple[array[int], dict[str, int], tuple[int, ...]]:
    return (array("q", (r[0] for r in rows)), {r[1]: r[2] for r in rows},
            tuple(r[3] for r in rows))


@pytest.mark.parametrize("order", ["python", "another collation"])
def test_allocations_are_the_positive_amounts_in_pythons_order(order: str) -> None:
    rows = [(11, "a-1", 5, 3), (12, "a_2", 7, 0), (13, "B", 9, 4), (14, "b", 1, 1)]
    if order != "python":  # as a case- and punctuation-blind collation orders them
        rows = [rows[0], rows[1], rows[3], rows[2]]
    paid = Allocations.paid(*_columns(rows))
    assert list(paid) == [(13, "B", 9, 4), (11, "a-1", 5, 3), (14, "b", 1, 1)]
    assert len(paid) == 3 and paid[1] == (11, "a-1", 5, 3)
    assert list(paid[1:]) == [(11, "a-1", 5, 3), (14, "b", 1, 1)]
    assert sum(amount for *_rest, amount in paid) == 8


def test_allocations_paid_to_everyone_share_the_scores_columns() -> None:
    keys, scores, amounts = _columns([(1, "a", 2, 5), (2, "b", 3, 6)])
    paid = Allocations.paid(keys, scores, amounts)
    assert paid.keys is keys and paid.amounts is amounts
    assert list(paid) == [(1, "a", 2, 5), (2, "b", 3, 6)]
    assert not Allocations() and list(Allocations()) == []
