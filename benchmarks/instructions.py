"""Instructions an event of bulk ingestion or of a single recording, counted with
callgrind: host-independent.

    python -m benchmarks.instructions [--events 5000] [--collaborators 5000] [--side engine]
    python -m benchmarks.instructions --path record [--events 1000] [--side engine]

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

``--path record``: the single recording of :mod:`benchmarks.record`, one event a
transaction (``engine``: ``kernel.record``; ``raw``: its raw transaction; no floor side).
Its two processes record :data:`RECORD_WARM_UP` and that many plus ``--events`` sales,
so the difference is the cost of a recording once the caches are warm (the HTTP path's
steady state), the commits included.

``--bytecodes [--top N]``: instead of callgrind, the Python bytecodes the interpreter
runs an event, by the same difference of two fresh processes (each traced with
``sys.settrace``'s opcode events), and the ``N`` functions running most of them. A minute
or two instead of several, and nothing to install: a Python-level cut shows at once, before
callgrind confirms it (in the fifteenth session, about 80 instructions a bytecode on the
single recording's path). It does not see the C code (SQLite's, the driver's).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

SIDES = ("engine", "floor", "raw")
PATHS = {"bulk": SIDES, "record": ("engine", "raw")}
RECORD_WARM_UP = 1_000
"""Sales both processes of a ``--path record`` count record first (then one records
``--events`` more)."""


def run_recordings(side: str, events: int, database_url: str) -> None:
    """In this process: ``events`` single recordings through ``side`` on an emptied store
    at ``database_url`` (:mod:`benchmarks.record`'s collaborators and distributor)."""
    from benchmarks import record

    (record.run_engine if side == "engine" else record.run_raw)(database_url, events)


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


def counted(path: str, side: str, events: int, collaborators: int, out: Path) -> int:
    """The instructions callgrind counts in a fresh process running ``side`` of ``path``."""
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, "-m", "benchmarks.instructions", "--path", path, "--run", side,
               "--events", str(events), "--collaborators", str(collaborators)]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(command, check=True, env=environment, capture_output=True)
    totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    assert totals is not None, f"no total in {out}"
    return int(totals.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=PATHS, default="bulk",
                        help="bulk ingestion (default) or the single recording")
    parser.add_argument("--events", type=int, default=None,
                        help="sales counted (default: 5000 in bulk, 1000 single)")
    parser.add_argument("--collaborators", type=int, default=5000,
                        help="bulk only (the single recording has benchmarks.record's)")
    parser.add_argument("--side", choices=SIDES, action="append",
                        help="A side to count (repeatable; default: all of the path's)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="A folder to keep the counted runs' callgrind files in")
    parser.add_argument("--bytecodes", action="store_true",
                        help="Count Python bytecodes instead, in two fresh traced processes "
                             "(no valgrind)")
    parser.add_argument("--top", type=int, default=0,
                        help="With --bytecodes: the functions running the most of them")
    parser.add_argument("--run", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    events = args.events if args.events is not None else (
        5000 if args.path == "bulk" else 1000)
    if args.run and args.bytecodes:
        json.dump(traced(args.path, args.run, events, args.collaborators), sys.stdout)
        return
    if args.run:
        with tempfile.TemporaryDirectory() as folder:
            database_url = f"sqlite:///{Path(folder) / 'count.db'}"
            if args.path == "record":
                run_recordings(args.run, events, database_url)
            else:
                run_side(args.run, events, args.collaborators, database_url)
        return
    if events < 1:
        parser.error(f"--events must be at least 1, not {events}")
    sides = args.side or PATHS[args.path]
    for side in sides:
        if side not in PATHS[args.path]:
            parser.error(f"--side {side} is not a side of --path {args.path}")
    if args.bytecodes:
        for side in sides:
            print_bytecodes(args.path, side, events, args.collaborators, args.top)
        return
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install -y valgrind)")
    with tempfile.TemporaryDirectory() as folder:
        where = args.keep or Path(folder)
        where.mkdir(parents=True, exist_ok=True)
        per_event = {side: per_event_of(args.path, side, events, args.collaborators, where)
                     for side in sides}
    for side in (s for s in per_event if s != "raw" and "raw" in per_event):
        print(f"{side:7} raw ÷ {side}: {per_event['raw'] / per_event[side]:.2f}")


def per_event_of(path: str, side: str, events: int, collaborators: int, where: Path
                 ) -> float:
    """The instructions an event of ``side`` (printed too): the difference of two
    counted processes (see the module's text) over ``events``."""
    base = RECORD_WARM_UP if path == "record" else 0
    totals = [counted(path, side, number, collaborators,
                      where / f"callgrind.{path}.{side}.{number}")
              for number in (base + events, base)]
    found = (totals[0] - totals[1]) / events
    print(f"{side:7} {found / 1000:8.1f} k instructions an event", flush=True)
    return found


def bytecodes_of(path: str, side: str, events: int, collaborators: int
                 ) -> tuple[int, Counter[str]]:
    """The bytecodes ``events`` events of ``side`` run (the difference of two traced
    runs, as :func:`per_event_of` counts instructions), and those of each function
    (``file:function``) that ran more of them in the larger run."""
    base = RECORD_WARM_UP if path == "record" else 0
    larger, smaller = (_traced_process(path, side, number, collaborators)
                       for number in (base + events, base))
    return sum(larger.values()) - sum(smaller.values()), larger - smaller


def _traced_process(path: str, side: str, events: int, collaborators: int) -> Counter[str]:
    command = [sys.executable, "-m", "benchmarks.instructions", "--bytecodes", "--path", path,
               "--run", side, "--events", str(events), "--collaborators", str(collaborators)]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, check=True, env=environment, capture_output=True,
                          text=True)
    return Counter(json.loads(done.stdout))


def traced(path: str, side: str, events: int, collaborators: int) -> Counter[str]:
    """The bytecodes of one run of ``side`` in this process, by function (what
    :func:`bytecodes_of` runs in a fresh process)."""
    counts: Counter[str] = Counter()
    root = str(Path(__file__).resolve().parent.parent) + os.sep

    def tracer(frame: FrameType, event: str, _argument: Any) -> Any:
        frame.f_trace_opcodes, frame.f_trace_lines = True, False
        if event == "opcode":
            code = frame.f_code
            counts[f"{code.co_filename.removeprefix(root)}:{code.co_name}"] += 1
        return tracer

    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite:///{Path(folder) / 'count.db'}"
        sys.settrace(tracer)
        try:
            if path == "record":
                run_recordings(side, events, database_url)
            else:
                run_side(side, events, collaborators, database_url)
        finally:
            sys.settrace(None)
    return counts


def print_bytecodes(path: str, side: str, events: int, collaborators: int, top: int) -> None:
    total, by_function = bytecodes_of(path, side, events, collaborators)
    print(f"{side:7} {total / events:8.1f} bytecodes an event", flush=True)
    for function, count in by_function.most_common(top):
        print(f"        {count / events:8.1f}  {function}")


if __name__ == "__main__":
    main()
