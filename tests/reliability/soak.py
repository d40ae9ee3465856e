"""The soak: everything at once, for N minutes, then every acknowledged event accounted for.

    python -m tests.reliability.soak --minutes 10 [--database URL] [--only sqlite|postgresql]

On a fresh SQLite file, and on PostgreSQL when a URL is given (``--database`` or
``SIREN_TEST_POSTGRES_URL``; its public schema is dropped and recreated), these processes
race while a simulated clock moves forward (``--hours-per-second`` simulated hours per
real second, from 2026-01-01, over daily and weekly distributors):

* ``single``: sales one ``kernel.record`` at a time, some dated in a period already
  distributed (late);
* ``bulk``: ``kernel.record_many`` batches of sales and refunds of acknowledged sales;
* ``refunds``: partial and whole refunds, one at a time;
* ``worker`` (two): heartbeats at the simulated clock, killed with SIGKILL at random
  moments and restarted;
* ``obligations``: approve, reject, generate fulfillments, mark payouts paid or failed.

Every process appends what the store acknowledged to its own log. At the end a last
heartbeat runs, then: ``siren_core.verify.verify`` must be clean; every acknowledged sale
and refund must be stored; each sale's net points per distributor must equal exactly what
it credited minus what its refunds reversed (``p - R × p // A``), and its refunds must not
exceed it. A summary is printed; the exit status is 0 only if nothing was found (an
unexpected exception in any process, a traceback, counts too).

Not part of ``pytest`` (``tests/reliability/test_soak.py`` runs it for a few seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.errors import SirenError
from siren_core.verify import verify

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 1, 1, tzinfo=UTC)
COLLABORATORS = 30
ROLES = ("single", "bulk", "refunds", "obligations")
WORKERS = 2
POINTS = {"soak-daily": 10, "soak-daily-amount": None, "soak-weekly": 3}
"""distributor → points per sale (``None``: scored by the sale's amount)."""
DISTRIBUTORS: list[dict[str, Any]] = [
    {"id": "soak-daily", "name": "daily", "units": "USD", "schedule": "daily",
     "start": "2026-01-01", "pool": {"resolver": "fixed", "amount": "100.00"},
     "calculator": {"id": "proportional"},
     "metrics": [{"type": "sale", "points": 10, "credit": {"rule": "fixed"}}]},
    {"id": "soak-daily-amount", "name": "daily by amount", "units": "USD",
     "schedule": "daily", "start": "2026-01-01", "calculator": {"id": "equal_share"},
     "pool": {"resolver": "fixed", "amount": "50.00"},
     "metrics": [{"type": "sale", "value": "amount"}]},
    {"id": "soak-weekly", "name": "weekly", "units": "USD", "schedule": "weekly",
     "start": "2026-01-01", "calculator": {"id": "top_score"},
     "pool": {"resolver": "revenue_percentage", "percent": "5"},
     "metrics": [{"type": "sale", "points": 3, "credit": {"rule": "fixed"}}]},
]


# -- the shared state of one run: a folder with the clock and the logs ---------------------

@attrs.frozen
class Run:
    url: str
    folder: Path

    @property
    def stop_file(self) -> Path:
        return self.folder / "stop"

    def now(self) -> datetime:
        return datetime.fromisoformat((self.folder / "clock").read_text())

    def set_clock(self, when: datetime) -> None:
        temporary = self.folder / "clock.tmp"
        temporary.write_text(when.isoformat())
        temporary.replace(self.folder / "clock")  # readers never see half a timestamp

    def log(self, role: str) -> Path:
        return self.folder / f"{role}.log"

    def acknowledged(self, kind: str) -> Iterator[list[str]]:
        for path in sorted(self.folder.glob("*.log")):
            text = path.read_text()
            for line in text[:text.rfind("\n") + 1].splitlines():  # whole lines only
                fields = line.split(" ")
                if fields[0] == kind:
                    yield fields[1:]


def _kernel(run: Run) -> Kernel:
    return Kernel(run.url, create_schema=False)


# -- the racing processes --------------------------------------------------------------------

class _Role:
    """One racing process: ``step`` until the stop file appears; expected refusals
    (``SirenError``) are counted, anything else is logged as an error with its traceback."""

    def __init__(self, run: Run, name: str, seed: int) -> None:
        self.run = run
        self.name = name
        self.rng = random.Random(seed)
        self.kernel = _kernel(run)
        self._log = run.log(name).open("a", buffering=1)
        self._sales: list[list[str]] = []
        self._sales_read = 0.0
        self.ack("ready")

    def ack(self, *fields: object) -> None:
        self._log.write(" ".join(map(str, fields)) + "\n")

    def loop(self, step: Callable[[], None]) -> None:
        while not self.run.stop_file.exists():
            try:
                step()
            except SirenError as exc:
                self.ack("refused", type(exc).__name__)
            except Exception as exc:
                text = "".join(traceback.format_exception_only(exc)).strip().replace("\n", " ")
                self.ack("error", json.dumps(f"{type(exc).__name__}: {text}"[:300]))
                time.sleep(0.05)

    def collaborator(self) -> str:
        return f"c{self.rng.randrange(COLLABORATORS):02d}"

    def sale(self, serial: int) -> dict[str, Any]:
        lateness = timedelta(hours=self.rng.choice((0, 0, 0, 2, 30)) * self.rng.random())
        at = max(START, self.run.now() - lateness)
        cents = self.rng.randint(100, 50_000)
        return {"id": f"{self.name}-{serial}", "at": at.isoformat(),
                "collaborator": self.collaborator(), "amount": f"{cents / 100:.2f}",
                "currency": "USD"}

    def known_sales(self) -> list[list[str]]:
        """The acknowledged sales of every process, read again every two seconds."""
        if time.monotonic() - self._sales_read > 2.0:
            self._sales = list(self.run.acknowledged("sale"))
            self._sales_read = time.monotonic()
        return self._sales


def _single(role: _Role) -> None:
    serial = iter(range(10**9))

    def step() -> None:
        event = role.sale(next(serial))
        if not role.kernel.record("sale", event).duplicate:
            role.ack("sale", event["id"], event["amount"])
        time.sleep(0.01)
    role.loop(step)


def _bulk(role: _Role) -> None:
    serial = iter(range(10**9))

    def step() -> None:
        events = [{"type": "sale", **role.sale(next(serial))} for _ in range(150)]
        sales = role.known_sales()
        for sale in role.rng.sample(sales, min(len(sales), 20)):
            events.append({"type": "refund", "id": f"{role.name}-r{next(serial)}",
                           "sale": sale[0], "at": role.run.now().isoformat()})
        report = role.kernel.record_many(events, batch_size=60)
        rejected = {r.position for r in report.rejected}
        for position, event in enumerate(events):
            if position not in rejected:
                _ack_event(role, event)
        for rejection in report.rejected:
            role.ack("rejected", json.dumps(rejection.reason[:200]))
        time.sleep(0.2)
    role.loop(step)


def _ack_event(role: _Role, event: dict[str, Any]) -> None:
    if event["type"] == "sale":
        role.ack("sale", event["id"], event["amount"])
    else:
        role.ack("refund", event["id"], event["sale"])


def _refunds(role: _Role) -> None:
    serial = iter(range(10**9))

    def step() -> None:
        sales = role.known_sales()
        if not sales:
            time.sleep(0.2)
            return
        sale_id, amount = role.rng.choice(sales)
        refund: dict[str, Any] = {"id": f"{role.name}-{next(serial)}", "sale": sale_id,
                                  "at": role.run.now().isoformat()}
        if role.rng.random() < 0.5:
            cents = role.rng.randint(1, int(Decimal(amount) * 100))
            refund["amount"] = f"{Decimal(cents) / 100:.2f}"
        try:
            role.kernel.record("refund", refund)
        except SirenError:  # more than remains: refused, and so not acknowledged
            return
        role.ack("refund", refund["id"], sale_id)
        time.sleep(0.02)
    role.loop(step)


def _worker(role: _Role) -> None:
    def step() -> None:
        role.kernel.heartbeat(role.run.now())
        time.sleep(0.05)
    role.loop(step)


def _obligations(role: _Role) -> None:
    def step() -> None:
        kernel, rng = role.kernel, role.rng
        pending = [o.id for o in kernel.obligations(status="pending")]
        rng.shuffle(pending)
        cut = len(pending) // 10
        kernel.reject_obligations(pending[:cut], actor="soak")
        kernel.approve_obligations(pending[cut:], actor="soak")
        kernel.generate_fulfillment(actor="soak")
        for payout in kernel.payouts(status="unpaid")[:20]:
            kernel.mark_payout(payout.id, "paid" if rng.random() < 0.8 else "failed",
                               actor="soak", reason="soak")
        time.sleep(0.3)
    role.loop(step)


_ROLE_STEPS: dict[str, Callable[[_Role], None]] = {
    "single": _single, "bulk": _bulk, "refunds": _refunds, "obligations": _obligations,
    "worker": _worker}


def role_main(role: str, name: str, url: str, folder: str, seed: int) -> None:
    _ROLE_STEPS[role](_Role(Run(url, Path(folder)), name, seed))


# -- the conductor ---------------------------------------------------------------------------

@attrs.define
class Backend:
    label: str
    run: Run
    processes: dict[str, subprocess.Popen[bytes]] = attrs.Factory(dict)
    kills: int = 0
    died: set[str] = attrs.Factory(set)

    def start(self, role: str, name: str, seed: int) -> None:
        command = [sys.executable, "-m", "tests.reliability.soak", "--role", role,
                   "--name", name, "--database", self.run.url, "--folder",
                   str(self.run.folder), "--seed", str(seed)]
        stderr = (self.run.folder / f"{name}.stderr").open("ab")
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, stderr=stderr,
                                                stdout=subprocess.DEVNULL)


def _prepare(label: str, url: str, folder: Path) -> Backend:
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(url, folder)
    run.set_clock(START)
    with Kernel(url) as kernel, kernel.transaction():
        for number in range(COLLABORATORS):
            kernel.create_collaborator(f"c{number:02d}")
        for spec in DISTRIBUTORS:
            kernel.create_distributor(spec)
    backend = Backend(label, run)
    for number, role in enumerate(ROLES):
        backend.start(role, role, seed=number)
    for number in range(WORKERS):
        backend.start("worker", f"worker-{number}", seed=100 + number)
    return backend


def _wait_until_ready(backends: list[Backend], seconds: float = 120.0) -> None:
    """The race starts when every process has opened the store (bounded)."""
    deadline = time.monotonic() + seconds
    for backend in backends:
        for name in backend.processes:
            log = backend.run.log(name)
            while time.monotonic() < deadline and not (
                    log.exists() and "ready\n" in log.read_text()):
                time.sleep(0.1)


def _conduct(backends: list[Backend], seconds: float, hours_per_second: float,
             rng: random.Random) -> None:
    _wait_until_ready(backends)
    began = time.monotonic()
    next_kill = began + rng.uniform(0.5, 2.0)
    while (elapsed := time.monotonic() - began) < seconds:
        for backend in backends:
            backend.run.set_clock(START + timedelta(hours=elapsed * hours_per_second))
        if time.monotonic() >= next_kill:
            backend = rng.choice(backends)
            name = f"worker-{rng.randrange(WORKERS)}"
            backend.processes[name].send_signal(signal.SIGKILL)
            backend.processes[name].wait(timeout=30)
            backend.kills += 1
            backend.start("worker", name, seed=rng.randrange(10**6))
            next_kill = time.monotonic() + rng.uniform(0.5, 3.0)
        for backend in backends:
            for name, process in backend.processes.items():
                if process.poll() is not None and not name.startswith("worker"):
                    backend.died.add(name)  # a role died: a finding; carry on without it
        time.sleep(0.1)


def _stop(backend: Backend) -> None:
    backend.run.stop_file.write_text("stop")
    for process in backend.processes.values():
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the accounts ----------------------------------------------------------------------------

def _account(kernel: Kernel, run: Run) -> list[tuple[str, str]]:
    """Every acknowledged event stored and credited exactly; the problems found, as
    (kind, description)."""
    problems: list[tuple[str, str]] = []
    with kernel.engine.connect() as conn:
        events = {(kind, key): key_id for key_id, kind, key in conn.execute(sa.text(
            "SELECT id, kind, key FROM source_event"))}
        amounts: dict[int, int] = dict(conn.execute(sa.text(
            "SELECT id, amount FROM source_event WHERE kind = 'sale'")).all())
        refunded: dict[int, int] = dict(conn.execute(sa.text(
            "SELECT sale_event_id, SUM(amount) FROM sale_refund GROUP BY sale_event_id")).all())
        net = {(row[0], row[1]): int(row[2]) for row in conn.execute(sa.text(
            "SELECT COALESCE(r.sale_event_id, c.source_event_id), d.external_id, "
            "SUM(c.points) FROM score_credit c JOIN distributor d ON d.id = c.distributor_id "
            "LEFT JOIN sale_refund r ON r.refund_event_id = c.source_event_id "
            "WHERE c.collaborator_id IS NOT NULL "
            "GROUP BY COALESCE(r.sale_event_id, c.source_event_id), d.external_id"))}
    for kind in ("sale", "refund"):
        for fields in run.acknowledged(kind):
            if (kind, fields[0]) not in events:
                problems.append(("not_stored", f"acknowledged {kind} {fields[0]}"))
    for fields in run.acknowledged("sale"):
        key_id = events.get(("sale", fields[0]))
        if key_id is None:
            continue
        amount, back = int(amounts[key_id]), int(refunded.get(key_id, 0))
        if back > amount:
            problems.append(("over_refunded", f"sale {fields[0]} refunded {back} of {amount}"))
        for distributor, points in POINTS.items():
            credited = amount if points is None else points
            expected = credited - back * credited // amount
            found = net.get((key_id, distributor), 0)
            if found != expected:
                kind = "credit_lost" if found < expected else "reversal_lost"
                problems.append((kind, f"sale {fields[0]} at {distributor}: net points "
                                       f"{found}, expected {expected} (refunded {back} of "
                                       f"{amount})"))
    return problems


def _errors(run: Run) -> list[str]:
    found = [" ".join(fields) for fields in run.acknowledged("error")]
    for path in sorted(run.folder.glob("*.stderr")):
        text = path.read_text(errors="replace")
        if "Traceback" in text:
            last = text.strip().splitlines()[-1]
            found.append(f"a traceback in {path.name}: {last[:300]}")
    return found


def _finish(backend: Backend) -> dict[str, Any]:
    run = backend.run
    with Kernel(run.url, create_schema=False) as kernel:
        kernel.heartbeat(run.now())
        violations = [str(v) for v in verify(kernel)]
        problems = _account(kernel, run)
        counts = kernel.table_counts()
        periods = len(kernel.distributions(status="completed"))
    errors = _errors(run)
    return {
        "backend": backend.label, "simulated_until": run.now().isoformat(),
        "sales": sum(1 for _ in run.acknowledged("sale")),
        "refunds": sum(1 for _ in run.acknowledged("refund")),
        "refused": sum(1 for _ in run.acknowledged("refused")),
        "rejected_in_bulk": sum(1 for _ in run.acknowledged("rejected")),
        "periods_completed": periods, "obligations": counts.get("obligation", 0),
        "payouts": counts.get("payout", 0), "kills": backend.kills,
        "roles_died": sorted(backend.died), "violations": len(violations),
        "unaccounted": len(problems),
        "unaccounted_by_kind": {kind: sum(1 for k, _ in problems if k == kind)
                                for kind in sorted({k for k, _ in problems})},
        "errors": len(errors),
        "first_violations": violations[:5],
        "first_unaccounted": [text for _, text in problems[:5]],
        "first_errors": errors[:5],
    }


def _urls(database: str | None, only: str | None, folder: Path) -> list[tuple[str, str]]:
    postgres = database if database and database.startswith("postgresql") else \
        os.environ.get("SIREN_TEST_POSTGRES_URL")
    sqlite = database if database and database.startswith("sqlite") else \
        f"sqlite:///{folder / 'soak.db'}"
    urls = [("sqlite", sqlite)]
    if postgres:
        urls.append(("postgresql", postgres))
    return [(label, url) for label, url in urls if only in (None, label)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--database", default=None,
                        help="a PostgreSQL URL (its public schema is dropped!) or a SQLite URL")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--hours-per-second", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        role_main(args.role, args.name, args.database, args.folder, args.seed)
        return 0
    with tempfile.TemporaryDirectory(prefix="siren-soak-") as scratch:
        backends = [_prepare(label, url, Path(scratch) / label)
                    for label, url in _urls(args.database, args.only, Path(scratch))]
        try:
            _conduct(backends, args.minutes * 60, args.hours_per_second,
                     random.Random(args.seed))
        finally:
            for backend in backends:
                _stop(backend)
        summaries = [_finish(backend) for backend in backends]
    print(json.dumps(summaries, indent=2))
    clean = all(not (s["violations"] or s["unaccounted"] or s["errors"] or s["roles_died"])
                for s in summaries)
    print("soak: clean" if clean else "soak: FOUND PROBLEMS")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
