"""The SQLite writer lock of the server processes: one writer at a time across threads
and processes, the next one woken at once (no busy-handler sleep)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from siren_core.service.writers import SqliteWriters

_HOLDER = """
import sys
from siren_core.service.writers import SqliteWriters
writers = SqliteWriters(sys.argv[1])
with writers:
    print("held", flush=True)
    sys.stdin.readline()
"""


def _taken(path: str) -> bool:
    """Whether another process holds the lock file ``path``."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # closing drops a lock this probe took
    return False


def test_another_process_waits_while_one_writes(tmp_path: Path) -> None:
    database = str(tmp_path / "siren.db")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, database], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        writers = SqliteWriters(database)
        assert writers.path == f"{database}-siren-writers" and _taken(writers.path)
        entered = threading.Event()

        def write() -> None:
            with writers:
                entered.set()

        waiting = threading.Thread(target=write)
        waiting.start()
        assert not entered.wait(0.3)  # queued behind the other process
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert entered.wait(10)  # woken when it let go
        waiting.join()
        assert not _taken(writers.path)
        writers.close()
    finally:
        holder.kill()
        holder.wait()


def test_threads_of_one_process_write_one_at_a_time(tmp_path: Path) -> None:
    writers = SqliteWriters(str(tmp_path / "siren.db"))
    inside: list[int] = []
    most: list[int] = []

    def write() -> None:
        for _ in range(200):
            with writers:
                inside.append(1)
                most.append(len(inside))
                inside.pop()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(most) == 800 and max(most) == 1
    writers.close()


def test_an_in_memory_store_takes_the_threads_lock_alone() -> None:
    writers = SqliteWriters(None)
    assert writers.path is None
    with writers:
        pass
    with pytest.raises(RuntimeError), writers:
        raise RuntimeError("released on the way out")
    with writers:  # not left held
        pass
