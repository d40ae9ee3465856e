"""Instructions an event of bulk ingestion, counted with callgrind: host-independent.

    python -m benchmarks.instructions [--events 5000] [--collaborators 5000] [--side engine]

Timed figures move with the host's load (this workplace's hosts differ by 2× from one
session to the next); instructions do not. For each side (``engine``: ``record_many``;
``floor``: :func:`benchmarks.ingest_floor.run_floor`; ``raw``: the fastest raw side of
:func:`benchmarks.ingest.run_baseline`) two processes run under ``valgrind
--tool=callgrind`` with ``PYTHONHASHSEED=0``, on the bulk benchmark's store (a temporary
SQLite file): one records ``--events`` pre-generated sales in one batch, the other none.
The difference of their totals, divided by the events, is the side's cost of an event,
store included (SQLite runs in the process). ``--keep`` leaves the callgrind files of the
counted runs (for ``callgrind_annotate --inclusive=yes``). Needs ``valgrind``
(Debian's package); a run takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SIDES = ("engine", "floor", "raw")


def run_side(side: str, events: int, collaborators: int, database_url: str) -> None:
    """In this process: build the store at ``database_url`` (emptied) and record
    ``events`` sales through ``side``, in one batch (a first batch's one-time costs
    included)."""
    from benchmarks.ingest import fresh, run_baseline, run_engine
    from benchmarks.ingest_floor import run_floor

    with fresh(database_url, collaborators) as kernel:
        if not events:  # the empty run: the store built, nothing recorded
            return
        if side == "engine":
            run_engine(kernel, events, collaborators, events)
        elif side == "floor":
            run_floor(kernel, events, collaborators, events)
        else:
            run_baseline(kernel, events, collaborators, events, fastest=True)


def counted(side: str, events: int, collaborators: int, out: Path) -> int:
    """The instructions callgrind counts in a fresh process running ``side``."""
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, "-m", "benchmarks.instructions", "--run", side,
               "--events", str(events), "--collaborators", str(collaborators)]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(command, check=True, env=environment, capture_output=True)
    totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    assert totals is not None, f"no total in {out}"
    return int(totals.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--collaborators", type=int, default=5000)
    parser.add_argument("--side", choices=SIDES, action="append",
                        help="A side to count (repeatable; default: all three)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="A folder to keep the counted runs' callgrind files in")
    parser.add_argument("--run", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        with tempfile.TemporaryDirectory() as folder:
            database_url = f"sqlite:///{Path(folder) / 'count.db'}"
            run_side(args.run, args.events, args.collaborators, database_url)
        return
    if args.events < 1:
        parser.error(f"--events must be at least 1, not {args.events}")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install -y valgrind)")
    per_event: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        where = args.keep or Path(folder)
        where.mkdir(parents=True, exist_ok=True)
        for side in args.side or SIDES:
            full = counted(side, args.events, args.collaborators,
                           where / f"callgrind.{side}.{args.events}")
            empty = counted(side, 0, args.collaborators, where / f"callgrind.{side}.0")
            per_event[side] = (full - empty) / args.events
            print(f"{side:7} {per_event[side] / 1000:8.1f} k instructions an event", flush=True)
    if "raw" in per_event:
        for side in (s for s in per_event if s != "raw"):
            print(f"{side:7} raw ÷ {side}: {per_event['raw'] / per_event[side]:.2f}")


if __name__ == "__main__":
    main()
