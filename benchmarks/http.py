"""Benchmark: sales per second through ``POST /siren/v1/event/sale`` of a real ``siren
serve``, against a raw baseline on the same server (benchmarks/http_baseline.py: a bare
ASGI endpoint writing the same rows with the driver).

    python -m benchmarks.http [--database URL] [--requests 2000] [--clients 1,8,32]
                              [--processes 1,2] [--rounds N]

For every number of server processes and of concurrent clients, each side gets the same
number of attributed sales (a ``trackingId`` naming an opportunity), sent by client
threads with keep-alive connections, and prints sales/s and the p50 and p99 latency; then
the ratio service/baseline. With ``--rounds N`` both sides run at once and take turns,
N rounds each (the median ratio of the rounds). The database is EMPTIED first. Clients
run on the same machine as the servers (they share its cores), so the figures are a
floor. Nothing asserts times; figures go to docs/service.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from benchmarks.ingest import DISTRIBUTOR
from siren_core import Kernel, store
from siren_core.service.keys import create_key
from siren_core.store import service_queries

ROOT = Path(__file__).resolve().parent.parent
COLLABORATORS = 50


def prepare(url: str) -> tuple[str, list[int]]:
    """An emptied store with collaborators, one opportunity each, the distributor, and a
    key; the key and the opportunity ids."""
    engine = store.open_engine(url)
    store.drop_schema(engine)
    engine.dispose()
    with Kernel(url) as kernel:
        spec = {**DISTRIBUTOR, "start": f"{time.gmtime().tm_year}-01-01"}
        kernel.create_distributor(spec)
        for n in range(COLLABORATORS):
            kernel.create_collaborator(f"c-{n}")
        keys = kernel.collaborator_api_ids()
        with store.unit_of_work(kernel.engine) as conn:
            opportunities = [service_queries.insert_opportunity(conn, key, None, kernel.clock())
                             for key in keys.values()]
        return create_key(kernel, ["event:*"]).raw, opportunities


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(side: str, url: str, processes: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    if side == "service":
        argv = [sys.executable, "-m", "siren_core.cli", "serve", "--database", url,
                "--workers", str(processes), "--rate-limit", str(10**9)]
    else:
        argv = [sys.executable, "-m", "benchmarks.http_baseline", "--workers", str(processes)]
    env = {**os.environ, "BENCH_DATABASE": url}
    process = subprocess.Popen([*argv, "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/siren/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{side} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def load(base: str, key: str, opportunities: list[int], run: str, total: int,
         clients: int) -> tuple[float, list[float]]:
    """``total`` sales from ``clients`` threads; the wall time and every latency (s)."""
    latencies: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []

    def client(number: int) -> None:
        mine: list[float] = []
        with httpx.Client(base_url=base, timeout=60,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            for n in range(number, total, clients):
                body = {"source": "bench", "externalId": f"{run}-{n}", "total": 12.5,
                        "trackingId": opportunities[n % len(opportunities)]}
                began = time.perf_counter()
                answer = http.post("/event/sale", json=body)
                mine.append(time.perf_counter() - began)
                if answer.status_code != 200:
                    failures.append(answer.text[:200])
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} sales failed: {failures[0]}")
    return time.perf_counter() - began, latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def measure(url: str, requests: int, clients: list[int], processes: list[int]) -> None:
    backend = sa.engine.make_url(url).get_backend_name()
    key, opportunities = prepare(url)
    rates: dict[tuple[str, int, int], float] = {}
    for count in processes:
        for side in ("baseline", "service"):
            process, base = start(side, url, count)
            try:
                load(base, key, opportunities, f"{side}-{count}-warm", 50, 4)
                for number in clients:
                    run = f"{side}-{count}-{number}"
                    seconds, latencies = load(base, key, opportunities, run, requests, number)
                    rates[side, count, number] = requests / seconds
                    print(f"{backend:10} {side:8} {count} process(es) {number:3} clients: "
                          f"{requests / seconds:7.0f} sales/s, p50 "
                          f"{_percentile(latencies, 0.5):6.1f} ms, p99 "
                          f"{_percentile(latencies, 0.99):6.1f} ms "
                          f"(mean {statistics.mean(latencies) * 1000:.1f} ms)", flush=True)
            finally:
                stop(process)
    for count in processes:
        for number in clients:
            ratio = rates["service", count, number] / rates["baseline", count, number]
            print(f"{backend:10} ratio service/baseline, {count} process(es), {number:3} "
                  f"clients: {ratio:.2f}")


SIDES = ("baseline", "service")


def alternate(url: str, requests: int, clients: list[int], processes: list[int],
              rounds: int) -> None:
    """Both sides up at once on one store, ``rounds`` rounds per number of clients, the
    order of the sides swapped every round: each round's ratio compares two runs a few
    seconds apart (on a shared host the load moves between sequential runs)."""
    backend = sa.engine.make_url(url).get_backend_name()
    key, opportunities = prepare(url)
    for count in processes:
        servers = [start(side, url, count) for side in SIDES]
        try:
            for (_process, base), side in zip(servers, SIDES, strict=True):
                load(base, key, opportunities, f"{side}-{count}-warm", 50, 4)
            for number in clients:
                _rounds(backend, key, opportunities, dict(zip(SIDES, (base for _, base in
                        servers), strict=True)), count, number, requests, rounds)
        finally:
            for process, _base in servers:
                stop(process)


def _rounds(backend: str, key: str, opportunities: list[int], bases: dict[str, str],
            count: int, number: int, requests: int, rounds: int) -> None:
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    latencies: dict[str, list[float]] = {side: [] for side in SIDES}
    for n in range(rounds):
        for side in SIDES if n % 2 == 0 else SIDES[::-1]:
            seconds, found = load(bases[side], key, opportunities,
                                  f"{side}-{count}-{number}-{n}", requests, number)
            rates[side].append(requests / seconds)
            latencies[side].extend(found)
    for side in SIDES:
        print(f"{backend:10} {side:8} {count} process(es) {number:3} clients: "
              f"{statistics.median(rates[side]):7.0f} sales/s (median of {rounds}), p50 "
              f"{_percentile(latencies[side], 0.5):6.1f} ms, p99 "
              f"{_percentile(latencies[side], 0.99):6.1f} ms", flush=True)
    ratios = [s / b for s, b in zip(rates["service"], rates["baseline"], strict=True)]
    print(f"{backend:10} ratio service/baseline, {count} process(es), {number:3} clients: "
          f"{statistics.median(ratios):.2f} (median; rounds "
          f"{', '.join(f'{r:.2f}' for r in ratios)})", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=None,
                        help="Database URL to EMPTY and use (default: a temporary SQLite file)")
    parser.add_argument("--requests", type=int, default=2000,
                        help="Sales per measurement")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--rounds", type=int, default=0,
                        help="Both sides up at once, this many alternating rounds of "
                             "--requests sales each; the median ratio (default: one run "
                             "of each side, one after the other)")
    args = parser.parse_args(argv)
    clients = [int(n) for n in args.clients.split(",")]
    processes = [int(n) for n in args.processes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'bench.db'}"
        if args.rounds:
            alternate(url, args.requests, clients, processes, args.rounds)
        else:
            measure(url, args.requests, clients, processes)


if __name__ == "__main__":
    main()
