"""The webhook crash suite's worker: delivers webhooks (two threads) while it does the
crash suite's work (distribute, approve, fulfil, pay), then until nothing is pending.
Prints ``started``, ``distributed`` when the work is done, ``done`` at the end."""

from __future__ import annotations

import sys
import threading

from scenario import work  # this folder is on sys.path when run as a script

from siren_core import Kernel
from siren_core.store import unit_of_work
from siren_core.store import webhook_queries as wq
from siren_core.webhooks.worker import Deliverer, Policy

POLICY = Policy(max_attempts=100, backoff_s=0.05, backoff_max_s=0.2, timeout_s=1.0,
                lease_s=2.0)


def pending(kernel: Kernel) -> int:
    with unit_of_work(kernel.engine, write=False) as conn:
        return len(wq.deliveries(conn, status="pending", number=10**6))


if __name__ == "__main__":
    with Kernel(sys.argv[1]) as kernel:
        stop = threading.Event()
        delivering = Deliverer(kernel.engine, POLICY, allow_private=True).start(
            stop, threads=2, idle_s=0.05)
        print("started", flush=True)
        work(kernel)
        print("distributed", flush=True)
        while pending(kernel):
            stop.wait(0.1)
        stop.set()
        delivering.join()
        print("done", flush=True)
