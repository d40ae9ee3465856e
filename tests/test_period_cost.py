"""What one period costs the engine beyond the work itself: the statements and
transactions of a heartbeat, the collector, the store's opening (issue 18, third round).

Speed is measured by the benchmarks; these tests hold the shape that makes it: a
statement or a transaction added to every period fails here."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel, hookimpl, store
from siren_core.records import AllocationCalculator, AllocationContext
from siren_core.store import migrate
from siren_core.webhooks import subscriptions

from conftest import at, monthly, sale

MakeKernel = Callable[..., Kernel]


@contextmanager
def transactions(kernel: Kernel) -> Iterator[list[list[str]]]:
    """The statements ``kernel`` runs in the block, one list per transaction: on SQLite
    every statement the driver runs (its trace), on PostgreSQL those SQLAlchemy runs (the
    scores and the allocations' ``COPY`` go to the driver directly and are not seen)."""
    seen: list[list[str]] = []
    sqlite = kernel.engine.dialect.name == "sqlite"
    traced: list[Any] = []

    def statement(text: str) -> None:
        if text.split()[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}:
            seen[-1].append(text)

    def begun(conn: Any) -> None:
        seen.append([])
        driver = conn.connection.driver_connection
        if sqlite and driver not in traced:
            driver.set_trace_callback(statement)
            traced.append(driver)

    def ran(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        statement(text)

    sa.event.listen(kernel.engine, "begin", begun)
    if not sqlite:
        sa.event.listen(kernel.engine, "before_cursor_execute", ran)
    try:
        yield seen
    finally:
        sa.event.remove(kernel.engine, "begin", begun)
        if not sqlite:
            sa.event.remove(kernel.engine, "before_cursor_execute", ran)
        for driver in traced:
            driver.set_trace_callback(None)


def _without_subqueries(statement: str) -> str:
    """``statement`` without its parenthesised ``SELECT``s (as the claim's ``EXISTS``)."""
    kept, depth, start = [], 0, 0
    for index, char in enumerate(statement):
        if depth == 0 and statement.startswith("(SELECT", index):
            kept.append(statement[start:index])
            depth = 1
        elif depth and char == "(":
            depth += 1
        elif depth and char == ")":
            depth -= 1
            start = index + 1
    return "".join(kept) + (statement[start:] if depth == 0 else "")


def _kinds(statements: list[str]) -> list[str]:
    """Each statement as its verb and first table (of its own, not of a subquery)."""
    found = []
    for statement in statements:
        words = _without_subqueries(statement).replace("(", " ").split()
        verb = words[0].upper()
        if verb == "PRAGMA":
            found.append(f"PRAGMA {words[1]}")
            continue
        if verb == "WITH":
            verb = "WITH-INSERT"
        table = next((words[i + 1] for i, word in enumerate(words[:-1])
                      if word.upper() in {"FROM", "INTO", "UPDATE"}), "")
        found.append(f"{verb} {table}")
    return found


def _one_due_period(kernel: Kernel, collaborators: int = 3) -> None:
    for number in range(collaborators):
        kernel.create_collaborator(f"c{number:03}")
    kernel.create_distributor(monthly())
    for number in range(collaborators):
        kernel.record("sale", sale(f"s{number}", f"c{number:03}", "10.00"))
    kernel.heartbeat(at("2026-01-15"))  # nothing due: warms the catalog


def test_a_period_is_one_transaction_of_its_own_statements_only(kernel: Kernel) -> None:
    """The claim reads the period's carried-in pool, its distributor's version and
    whether any webhook subscription is active (no statement of their own: without one
    the outbox reads nothing); after the last due period no empty claim follows, nor a
    look for periods held by other workers."""
    _one_due_period(kernel)
    with transactions(kernel) as seen:
        report = kernel.heartbeat(at("2026-02-01"))
    assert len(report.completed) == 1
    due, period, again, holds = seen
    assert _kinds(due) == ["SELECT distribution"]
    sqlite = kernel.engine.dialect.name == "sqlite"
    assert _kinds(period) == ([
        "SELECT distribution",  # the claim: carried_in, the version, any subscription
        "SELECT collaborator",  # the scores
        "PRAGMA shrink_memory",  # the page cache given back before the split
        "INSERT allocation",
        "INSERT obligation", "INSERT obligation_audit",
        "UPDATE distribution",
        "INSERT distribution",
    ] if sqlite else [
        "SELECT distribution",
        "UPDATE distribution",  # (the obligations and audit entries: the driver's too)
        "INSERT distribution",
    ])
    assert _kinds(again) == ["SELECT distribution"]  # the due list: nothing more is due
    assert _kinds(holds) == ["SELECT distributor"]  # held obligations (Kernel.heartbeat)


def test_an_active_subscription_is_read_and_gets_the_periods_events(
        kernel: Kernel) -> None:
    """The claim says a subscription is active: the outbox reads them and writes the
    period's events in the period's transaction."""
    _one_due_period(kernel)
    subscriptions.create(kernel.engine, "http://127.0.0.1:9/siren", ["distribution.completed"],
                         allow_private=True)
    with transactions(kernel) as seen:
        [completed] = kernel.heartbeat(at("2026-02-01")).completed
    [period] = [t for t in seen if "UPDATE distribution" in _kinds(t)]
    if kernel.engine.dialect.name == "sqlite":  # the driver's statements are traced here
        assert _kinds(period)[-6:] == [
            "INSERT distribution", "SELECT webhook_subscription",
            "SELECT allocation", "SELECT obligation",  # what the events say
            "INSERT webhook_event", "INSERT webhook_delivery"]
    with kernel.engine.connect() as conn:
        bodies = conn.execute(sa.text("SELECT name, body FROM webhook_event")).all()
    assert [(name, json.loads(body)["distribution"]["id"]) for name, body in bodies] == [
        ("distribution.completed", completed.id)]


def test_a_catch_up_claims_each_period_it_opened_without_reading_the_due_list_again(
        kernel: Kernel) -> None:
    _one_due_period(kernel)
    with transactions(kernel) as seen:
        report = kernel.heartbeat(at("2026-05-01"))
    assert [d.period_start.month for d in report.completed] == [1, 2, 3, 4]
    due_lists = [t for t in seen if _kinds(t) == ["SELECT distribution"]]
    assert len(due_lists) == 2  # before and after the four periods
    assert len(seen) == 2 + 4 + 1


def test_a_heartbeat_checks_one_connection_out_for_all_its_periods(kernel: Kernel) -> None:
    """Not one checkout (and, on PostgreSQL, one ping of the pool) per period: a heartbeat
    of 1,000 small periods would pay a round trip each. Each period is still its own
    transaction (above)."""
    _one_due_period(kernel)
    kernel.heartbeat(at("2026-01-15"))  # the kernel's own first checkouts are not counted
    checkouts: list[object] = []
    listener = lambda *_args: checkouts.append(_args)  # noqa: E731
    sa.event.listen(kernel.engine.pool, "checkout", listener)
    try:
        report = kernel.heartbeat(at("2026-05-01"))
    finally:
        sa.event.remove(kernel.engine.pool, "checkout", listener)
    assert len(report.completed) == 4
    assert len(checkouts) <= 1  # SQLite keeps one checked out between units of work: 0


def test_a_changed_distributor_is_seen_by_the_next_claim(kernel: Kernel) -> None:
    """The version the claim reads is the one the period is distributed with."""
    _one_due_period(kernel)
    kernel.update_distributor(monthly(pool={"resolver": "fixed", "amount": "7.00"}))
    [period] = kernel.heartbeat(at("2026-02-01")).completed
    assert period.pool == 700 and period.config_version == 2


def test_allocations_past_one_multi_row_statement_are_all_written(kernel: Kernel) -> None:
    """450 allocations: two statements of 200 rows on SQLite and one of 50 (COPY on
    PostgreSQL), row for row as the calculator split the pool."""
    names = [f"c{number:03}" for number in range(450)]
    for name in names:
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(pool={"resolver": "fixed", "amount": "1000.00"}))
    kernel.record_many({"type": "sale", **sale(f"s{number}", name, f"{1 + number % 7}.00")}
                       for number, name in enumerate(names))
    [period] = kernel.heartbeat(at("2026-02-01")).completed
    allocations = kernel.allocations(period.id)
    assert [a.collaborator for a in allocations] == names
    assert sum(a.amount for a in allocations) == period.pool == 100000
    assert {a.collaborator: a.score for a in allocations} == {
        name: 10 for name in names}  # monthly(): 10 points a sale


def _pausing_calculator(seen: list[bool], fail: bool) -> object:
    class Plugin:
        @hookimpl
        def siren_allocation_calculators(self) -> list[AllocationCalculator]:
            def allocate(context: AllocationContext, _config: object) -> dict[str, int]:
                seen.append(gc.isenabled())
                if fail:
                    raise RuntimeError("no")
                return {name: context.pool if i == 0 else 0
                        for i, name in enumerate(sorted(context.scores))}
            return [AllocationCalculator(id="first", description="all to the first",
                                         allocate=allocate)]
    return Plugin()


@pytest.mark.parametrize("fail", [False, True])
def test_the_collector_is_paused_for_a_period_and_back_on_after(
        make_kernel: MakeKernel, fail: bool) -> None:
    seen: list[bool] = []
    kernel = make_kernel(plugins=[_pausing_calculator(seen, fail)])
    _one_due_period(kernel)
    kernel.update_distributor(monthly(calculator={"id": "first"}))
    assert gc.isenabled()
    report = kernel.heartbeat(at("2026-02-01"))
    assert (len(report.failed), len(report.completed)) == ((1, 0) if fail else (0, 1))
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        kernel.heartbeat(at("2026-03-01"))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_head_revision_is_alembics(database_url: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    assert migrate.head() == ScriptDirectory.from_config(
        migrate.alembic_config()).get_current_head()
    engine = store.open_engine(database_url)
    try:
        assert migrate.current(engine) is None
        migrate.upgrade(engine, "0001_initial")
        with engine.connect() as connection:
            alembics = MigrationContext.configure(connection).get_current_revision()
        assert migrate.current(engine) == alembics == "0001_initial"
    finally:
        engine.dispose()


def test_a_store_at_this_releases_schema_opens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    Kernel(url).close()  # creates the store: that one needs Alembic
    program = (f"import sys\nfrom siren_core import Kernel\nkernel = Kernel({url!r})\n"
               "kernel.heartbeat()\nkernel.close()\n"
               "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_the_claim_walks_the_due_index_in_its_order(kernel: Kernel) -> None:
    """Claiming the oldest free due period reads the due index in the claim's order and
    stops at the first row: no sort of every due period for each claim (a heartbeat of
    1,000 periods would sort 1,000 rows 1,000 times)."""
    from siren_core.store import distribution_queries

    for number in range(300):
        kernel.create_distributor(monthly(id=f"d{number:03}"))
    postgres = kernel.engine.dialect.name == "postgresql"
    statement = distribution_queries._CLAIMS[False, postgres]
    explain = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"

    def explained(_conn: Any, _cursor: Any, text: str, parameters: Any, _context: Any,
                  _many: bool) -> tuple[str, Any]:
        return f"{explain} {text}", parameters

    with kernel.engine.begin() as conn:
        if postgres:
            conn.exec_driver_sql("ANALYZE distribution")
            conn.exec_driver_sql("ANALYZE distributor")
        sa.event.listen(conn, "before_cursor_execute", explained, retval=True)
        rows = conn.execute(statement, {"now": at("2026-02-01"), "excluded": []}).all()
        sa.event.remove(conn, "before_cursor_execute", explained)
    plan = " / ".join(str(row[-1]) for row in rows)
    assert "ix_distribution_due" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
