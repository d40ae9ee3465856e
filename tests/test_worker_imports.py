"""What a heartbeat worker does NOT import: a fresh process opens a kernel on a store and
runs one heartbeat; the modules it never uses stay unloaded (each one is resident memory
in every worker). No sizes, no timings: what is imported is what is checked."""

from __future__ import annotations

import json
import subprocess
import sys

from siren_core import Kernel

WORKER = """
import json, sys
from datetime import UTC, datetime
from siren_core import Kernel
with Kernel(sys.argv[1]) as kernel:
    kernel.heartbeat(datetime(2026, 2, 1, tzinfo=UTC))
print(json.dumps(sorted(sys.modules)))
"""

NOT_FOR_A_HEARTBEAT = ("siren_core.metrics.ingest", "siren_core.metrics.bulk",
                       "siren_core.groups.rosters", "siren_core.groups.bindings",
                       "siren_core.groups.programs", "siren_core.groups.doctor",
                       "siren_core.obligations.fulfillment", "siren_core.obligations.exports",
                       "siren_core.config.rates", "siren_core.webhooks", "alembic")
"""Recording, groups, fulfillment, exchange rates and webhook delivery: the kernel builds
their services on first use."""

OTHER_STORE = {"sqlite": ("sqlalchemy.dialects.postgresql", "psycopg"),
               "postgresql": ("sqlalchemy.dialects.sqlite", "sqlite3")}
"""What a worker on one store never loads for the other."""


def _worker_modules(url: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", WORKER, url],
                          capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_worker_loads_only_its_own_stores_dialect(database_url: str) -> None:
    with Kernel(database_url) as kernel:  # the store made, as a worker finds it
        dialect = kernel.engine.dialect.name
    modules = _worker_modules(database_url)
    assert f"sqlalchemy.dialects.{dialect}" in modules
    assert [name for name in OTHER_STORE[dialect] if name in modules] == []


def test_a_heartbeat_worker_does_not_load_what_it_does_not_run(database_url: str) -> None:
    with Kernel(database_url):
        pass
    modules = _worker_modules(database_url)
    assert "siren_core.distribution.runner" in modules
    assert [name for name in NOT_FOR_A_HEARTBEAT if name in modules] == []

