"""Benchmark: cascade credits over a large collaborator group (no recursion, bounded walks).

    python -m benchmarks.cascades [--members 100000] [--depth 1000] [--fanout 10]
                                  [--events 20] [--database URL]

Writes ``--members`` active collaborators (setup through SQLAlchemy Core ``executemany``,
untimed) and three groups holding all of them:

* ``chain``: a ``linear_chain`` (positions 1..N);
* ``forest``: a ``parent_child`` forest of chains ``--depth`` deep;
* ``tree``: a ``parent_child`` tree with ``--fanout`` children per member.

For each scenario one distributor is bound to its group, and ``--events`` sales are recorded
through ``kernel.record`` (one transaction each: idempotency, eligibility, walk, one score
credit per credited member). Printed per scenario: the first event (which builds the
cached group view), the median time per later event, credits per event, and the walk cost
alone (the credit rule over the cached view, eligibility always true, median).

Scenarios: upline 1,000 layers from the tail of the chain; upline 1,000 layers from the
leaf of a chain 1,000 deep; downline [5, 4, 3, 2, 1] from a member with one subtree of
about 1,111 members; upline 5 layers from a leaf of the tree (the common case).
The database is EMPTIED first. Default: a temporary SQLite file. Nothing asserts times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

from siren_core import Kernel, store
from siren_core.records import CreditContext
from siren_core.store import tables

NOW = datetime(2026, 1, 10, tzinfo=UTC)


def _table(model: type[Any]) -> sa.Table:
    return cast(sa.Table, model.__table__)


def name(index: int) -> str:
    return f"c{index:06d}"


def tree_parent(index: int, fanout: int) -> int | None:
    return None if index == 0 else (index - 1) // fanout


def populate(kernel: Kernel, members: int, depth: int, fanout: int) -> None:
    """Collaborators c000000…, and the three groups (raw inserts, untimed)."""
    collaborators = _table(tables.Collaborator)
    with store.unit_of_work(kernel.engine) as conn:
        conn.execute(collaborators.insert(), [
            {"external_id": name(i), "name": name(i), "status": "active", "created_at": NOW,
             "updated_at": NOW} for i in range(members)])
        keys = {row[0]: row[1] for row in conn.execute(
            sa.select(collaborators.c.external_id, collaborators.c.id))}
    shapes: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
        "chain": ("linear_chain", lambda i: {"position": i + 1}),
        "forest": ("parent_child",
                   lambda i: {} if i % depth == 0 else {"parent": name(i - 1)}),
        "tree": ("parent_child", lambda i: {} if i == 0 else
                 {"parent": name(cast(int, tree_parent(i, fanout)))}),
    }
    group_members = _table(tables.CollaboratorGroupMember)
    for group, (structure, metadata) in shapes.items():
        kernel.create_group(group, structure=structure)
        with store.unit_of_work(kernel.engine) as conn:
            key = conn.execute(sa.text("SELECT id FROM collaborator_group WHERE external_id = "
                                       ":g AND status = 'active'"), {"g": group}).scalar_one()
            for start in range(0, members, 20_000):
                conn.execute(group_members.insert(), [
                    {"group_id": key, "collaborator_id": keys[name(i)],
                     "member_metadata": metadata(i), "created_at": NOW, "updated_at": NOW}
                    for i in range(start, min(members, start + 20_000))])
            conn.execute(sa.text("UPDATE collaborator_group SET version = version + 1 "
                                 "WHERE id = :k"), {"k": key})


def distributor(id: str, rule: str, layers: list[int]) -> dict[str, Any]:
    return {"id": id, "name": id, "units": "USD", "schedule": "monthly",
            "start": "2026-01-01", "pool": {"resolver": "fixed", "amount": "1000.00"},
            "calculator": {"id": "proportional"},
            "metrics": [{"type": "sale", "points": 1, "credit": {
                "rule": rule, "layers": layers, "max_layers": max(len(layers), 5)}}]}


def sales(prefix: str, actor: str, count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield {"id": f"{prefix}-{i}", "at": "2026-01-10T10:00:00Z", "amount": "10.00",
               "currency": "USD", "collaborator": actor}


def walk_cost(kernel: Kernel, group: str, rule: str, actor: str, layers: list[int],
              repeat: int) -> tuple[float, int]:
    """Median seconds of the credit rule alone over the cached view, and its credits."""
    with store.unit_of_work(kernel.engine, write=False) as conn:
        row = kernel._groups._group(conn, group)  # the benchmark reaches inside
        view = kernel._groups.views.view(conn, row)
    credit_rule = kernel.registry.credit_rules[rule]
    config: Any = kernel.converter.structure(
        {"layers": layers, "max_layers": max(len(layers), 5)}, cast(type, credit_rule.config_type))
    context = CreditContext(distributor="bench", metric_type="sale", actor=actor, points=1,
                            is_eligible=lambda _c: True, group=view)
    times, credits = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        credits = len(credit_rule.credit(context, config))
        times.append(time.perf_counter() - start)
    return statistics.median(times), credits


def scenario(kernel: Kernel, label: str, group: str, rule: str, actor: str,
             layers: list[int], events: int) -> None:
    key = f"{group}-{rule}-{len(layers)}"
    kernel.create_distributor(distributor(key, rule, layers))
    kernel.bind_distributor(key, group)
    stream = sales(key, actor, events)
    start = time.perf_counter()
    first = kernel.record("sale", next(stream))
    first_time = time.perf_counter() - start
    times = []
    for event in stream:
        start = time.perf_counter()
        kernel.record("sale", event)
        times.append(time.perf_counter() - start)
    walk, walked = walk_cost(kernel, group, rule, actor, layers, repeat=max(events, 3))
    kernel.update_distributor({**distributor(key, rule, layers), "status": "inactive"})
    per_event = statistics.median(times) if times else first_time
    print(f"{label:<44} {first.credits:>8} {first_time * 1000:>10.1f} "
          f"{per_event * 1000:>10.1f} {per_event / max(first.credits, 1) * 1e6:>10.1f} "
          f"{walk * 1000:>9.2f} ({walked})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--fanout", type=int, default=10)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--database", default=None)
    args = parser.parse_args(argv)
    sys.setrecursionlimit(200)  # a recursive walk would fail loudly here
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'cascades.db'}"
        engine = store.open_engine(url)
        store.drop_schema(engine)
        engine.dispose()
        with Kernel(url) as kernel:
            start = time.perf_counter()
            populate(kernel, args.members, args.depth, args.fanout)
            print(f"{args.members} members in 3 groups on {kernel.engine.dialect.name}, "
                  f"setup {time.perf_counter() - start:.1f} s")
            print(f"{'scenario':<44} {'credits':>8} {'1st ms':>10} {'ms/event':>10} "
                  f"{'µs/credit':>10} {'walk ms':>9}")
            deep = [1] * args.depth
            last = args.members - 1
            leaf_of_forest = name((args.members // args.depth) * args.depth - 1)
            subtree_root = name(1)  # with fanout 10: ~11,111 below; layers stop at 5
            scenario(kernel, f"chain: upline {args.depth} layers from the tail", "chain",
                     "upline_cascade", name(last), deep, args.events)
            scenario(kernel, f"forest: upline {args.depth} layers, chain {args.depth} deep",
                     "forest", "upline_cascade", leaf_of_forest, deep, args.events)
            scenario(kernel, "tree: downline [5,4,3,2,1] from a level-1 member", "tree",
                     "downline_cascade", subtree_root, [5, 4, 3, 2, 1], max(args.events // 4, 2))
            scenario(kernel, "tree: upline [5,4,3,2,1] from a leaf", "tree",
                     "upline_cascade", name(last), [5, 4, 3, 2, 1], args.events)


if __name__ == "__main__":
    main()
