"""Run the crash suite's work against DATABASE_URL until done (or until killed)."""

from __future__ import annotations

import sys

from scenario import work  # this folder is on sys.path when run as a script

from siren_core import Kernel

if __name__ == "__main__":
    with Kernel(sys.argv[1]) as kernel:
        print("started", flush=True)
        work(kernel)
        print("done", flush=True)
