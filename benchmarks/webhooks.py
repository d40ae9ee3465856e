"""Benchmark: webhook deliveries per second to a local receiver with 1 and 2 workers, and
the time from commit to delivery.

    python -m benchmarks.webhooks [--database URL] [--events 1000] [--subscriptions 8]
                                  [--workers 1,2] [--threads 4] [--rate 10]

For each number of workers (``siren webhooks deliver --threads N`` processes):

* **throughput**: ``--events`` events (collaborators created, each written to the outbox
  in its own transaction) for ``--subscriptions`` subscriptions are committed first; the
  workers then start and the time until the receiver has every delivery gives
  deliveries/s;
* **latency**: with the workers running, events are committed at ``--rate`` per second
  and the time from each commit (the outbox row's time) to its arrival at the receiver
  gives p50 and p99. An idle worker looks for work every 0.2 s, which bounds the latency
  from below.

The receiver (a threaded HTTP server on 127.0.0.1) checks every signature. The database
is EMPTIED first (default: a temporary SQLite file). Clients, workers and receiver share
the machine's cores, so the figures are a floor. Nothing asserts times; figures go to
docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from siren_core import Kernel, store
from siren_core.webhooks import subscriptions
from siren_core.webhooks.targets import ALLOW_PRIVATE_ENV

ROOT = Path(__file__).resolve().parent.parent


class _Receiver:
    def __init__(self) -> None:
        self.secrets: dict[str, bytes] = {}
        self.arrived: dict[tuple[str, str], float] = {}
        self.bad = 0
        self.lock = threading.Lock()


@contextmanager
def _receiving() -> Iterator[tuple[_Receiver, int]]:
    receiver = _Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            name = self.path.strip("/")
            expected = "sha256=" + hmac.new(receiver.secrets[name], raw,
                                            hashlib.sha256).hexdigest()
            with receiver.lock:
                if hmac.compare_digest(expected, self.headers.get("X-Siren-Signature", "")):
                    receiver.arrived.setdefault(
                        (name, self.headers["X-Siren-Delivery"]), time.time())
                else:
                    receiver.bad += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield receiver, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _prepare(url: str, receiver: _Receiver, port: int, count: int) -> None:
    engine = store.open_engine(url)
    store.drop_schema(engine)
    engine.dispose()
    with Kernel(url) as kernel:
        for number in range(count):
            name = f"s{number}"
            made = subscriptions.create(kernel.engine, f"http://127.0.0.1:{port}/{name}",
                                        ["collaborator.created"], allow_private=True)
            receiver.secrets[name] = made.secret.encode()


def _workers(url: str, count: int, threads: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, ALLOW_PRIVATE_ENV: "1"}
    return [subprocess.Popen([sys.executable, "-m", "siren_core.cli", "webhooks", "deliver",
                              "--database", url, "--threads", str(threads)], cwd=ROOT,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count)]


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def _wait(receiver: _Receiver, expected: int, deadline_s: float = 600) -> None:
    end = time.monotonic() + deadline_s
    while len(receiver.arrived) < expected:
        if time.monotonic() > end:
            raise SystemExit(f"only {len(receiver.arrived)} of {expected} deliveries arrived")
        time.sleep(0.01)


def _commit_times(url: str) -> dict[str, float]:
    engine = store.open_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT delivery_id, created_at FROM webhook_event")).all()
    engine.dispose()
    return {delivery_id: (at if isinstance(at, datetime) else datetime.fromisoformat(at))
            .replace(tzinfo=UTC).timestamp() for delivery_id, at in rows}


def run(url: str, *, events: int, subscription_count: int, workers: int, threads: int,
        rate: float) -> dict[str, float]:
    with _receiving() as (receiver, port):
        _prepare(url, receiver, port, subscription_count)
        with Kernel(url) as kernel:
            for number in range(events):
                kernel.create_collaborator(f"backlog-{number:06d}")
        began = time.monotonic()
        processes = _workers(url, workers, threads)
        try:
            _wait(receiver, events * subscription_count)
            elapsed = time.monotonic() - began
            latency_events = max(1, int(rate * 10))
            live = time.time()
            with Kernel(url) as kernel:
                for number in range(latency_events):
                    kernel.create_collaborator(f"live-{number:06d}")
                    time.sleep(1 / rate)
            _wait(receiver, (events + latency_events) * subscription_count)
        finally:
            _stop(processes)
        committed = _commit_times(url)
        lags = sorted((arrived - committed[delivery]) * 1000
                      for (_name, delivery), arrived in receiver.arrived.items()
                      if committed.get(delivery, 0.0) >= live)
        assert receiver.bad == 0, f"{receiver.bad} deliveries failed their signature"
    return {"deliveries_per_s": events * subscription_count / elapsed,
            "p50_ms": statistics.median(lags),
            "p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=None,
                        help="store URL (EMPTIED); default: a temporary SQLite file")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--subscriptions", type=int, default=8)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=10.0,
                        help="events per second committed while latency is measured")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database or f"sqlite:///{Path(scratch) / 'webhooks.db'}"
        print(f"store: {store.masked(url)}; {args.events} events × {args.subscriptions} "
              f"subscriptions, {args.threads} threads per worker")
        for workers in (int(n) for n in args.workers.split(",")):
            found = run(url, events=args.events, subscription_count=args.subscriptions,
                        workers=workers, threads=args.threads, rate=args.rate)
            print(f"{workers} worker(s): {found['deliveries_per_s']:8.0f} deliveries/s; "
                  f"commit → delivery p50 {found['p50_ms']:6.1f} ms, "
                  f"p99 {found['p99_ms']:6.1f} ms", flush=True)


if __name__ == "__main__":
    main()
