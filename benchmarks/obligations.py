"""Benchmark: the obligation lifecycle at volume.

    python -m benchmarks.obligations [--collaborators 2000] [--per 10] [--database URL]

Setup (untimed, SQLAlchemy Core ``executemany``): ``--collaborators`` collaborators with
``--per`` pending USD obligations each. Timed, through the Kernel: bulk approve of every
obligation (one call), generate one fulfillment of all of them (one payout per
collaborator), export its CSV, mark the whole fulfillment paid; then the reconciliation
check. The bulk approve is compared with a raw-SQL baseline on the same schema (one
``UPDATE`` and one audit ``INSERT … SELECT`` on a second copy of the data).
The database is EMPTIED first. Default: a temporary SQLite file. Nothing asserts times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from siren_core import Kernel, store
from siren_core.store import obligation_queries as oq
from siren_core.store.tables import UTCDateTime

NOW = datetime(2026, 1, 10, tzinfo=UTC)
T = TypeVar("T")


def _timed(label: str, call: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    print(f"{label:<42} {elapsed * 1000:10.1f} ms")
    return result, elapsed


def _setup(kernel: Kernel, collaborators: int, per: int, source: str) -> list[int]:
    with store.unit_of_work(kernel.engine) as conn:
        existing = conn.execute(sa.select(sa.func.count()).select_from(oq.collaborator)
                                ).scalar_one()
        if not existing:
            conn.execute(oq.collaborator.insert(), [
                {"external_id": f"c{i:06d}", "name": f"c{i:06d}", "status": "active",
                 "created_at": NOW, "updated_at": NOW} for i in range(collaborators)])
        keys = [row[0] for row in conn.execute(sa.select(oq.collaborator.c.id))]
        rows: list[dict[str, Any]] = [
            {"collaborator_id": key, "amount": 100 + n, "units": "USD", "status": "pending",
             "award_type": "bench", "source": source, "source_id": index * per + n,
             "created_at": NOW, "updated_at": NOW}
            for index, key in enumerate(keys) for n in range(per)]
        conn.execute(oq.obligation.insert(), rows)
        query = sa.select(oq.obligation.c.id).where(oq.obligation.c.source == source)
        return [row[0] for row in conn.execute(query)]


def _raw_approve(kernel: Kernel, ids: list[int]) -> None:
    with store.unit_of_work(kernel.engine) as conn:
        o, a = oq.obligation, oq.audit
        chosen = o.c.id.in_(ids) & (o.c.status == "pending")
        select = sa.select(o.c.id, sa.literal("pending"), sa.literal("approved"),
                           sa.literal("raw"), sa.literal(NOW, UTCDateTime)
                           ).where(chosen)
        conn.execute(a.insert().from_select(
            ["obligation_id", "from_status", "to_status", "actor", "at"], select))
        conn.execute(o.update().where(chosen).values(status="approved", updated_at=NOW))


def run(database: str, collaborators: int, per: int) -> None:
    engine = store.open_engine(database)
    store.drop_schema(engine)
    engine.dispose()
    with Kernel(database, clock=lambda: NOW) as kernel:
        ids = _setup(kernel, collaborators, per, "bench")
        baseline_ids = _setup(kernel, collaborators, per, "baseline")
        print(f"{len(ids)} obligations of {collaborators} collaborators on "
              f"{kernel.engine.dialect.name}")
        result, kernel_time = _timed("bulk approve (Kernel.approve_obligations)",
                                     lambda: kernel.approve_obligations(ids))
        assert len(result.done) == len(ids)
        _none, raw_time = _timed("bulk approve (raw SQL baseline)",
                                 lambda: _raw_approve(kernel, baseline_ids))
        print(f"{'  ratio kernel / raw':<42} {kernel_time / raw_time:10.2f}")
        kernel.cancel_obligations(baseline_ids)
        generated, _t = _timed("generate fulfillment (all approved)",
                               lambda: kernel.generate_fulfillment())
        batch = generated.fulfillment
        assert batch is not None and batch.payout_count == collaborators
        csv_text, _t = _timed("export CSV", lambda: kernel.export_fulfillment_csv(batch.id))
        assert csv_text.count("\n") == collaborators + 1
        _timed("mark fulfillment paid", lambda: kernel.mark_fulfillment(batch.id, "paid"))
        fulfilled, paid = kernel.obligation_totals()
        assert fulfilled == paid
        print(f"fulfilled = paid = {fulfilled}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collaborators", type=int, default=2000)
    parser.add_argument("--per", type=int, default=10)
    parser.add_argument("--database", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'bench.db'}"
        run(url, args.collaborators, args.per)
    return 0


if __name__ == "__main__":
    sys.exit(main())
