"""SQLite: the events of every ``siren serve`` process on one store are written one at a
time, queued where the kernel wakes the next writer at once: the process's threads on a
``threading.Lock``, the processes on an exclusive ``flock`` of a file beside the database
(``<file>-siren-writers``). Without it, a writer that finds another process's
transaction under way sleeps in SQLite's busy handler (1, 2, 5, 10, … 100 ms) and tries
again: long tails with two server processes. Other writers (a worker's heartbeat, the
command line) do not take it; they wait in the busy handler as before. PostgreSQL writes
in parallel and takes none."""

from __future__ import annotations

import os
import threading
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the threads' lock alone
    fcntl = None  # type: ignore[assignment]


class SqliteWriters:
    """The writer lock of the server processes on the SQLite file ``database`` (``None``:
    an in-memory store, one process's alone)."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.Lock()
        self.path = None if not database or fcntl is None else f"{database}-siren-writers"
        self._file: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self.path is not None:
                fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, _type: type[BaseException] | None, _error: BaseException | None,
                 _traceback: TracebackType | None) -> None:
        try:
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _descriptor(self) -> int:
        if self._file is None:
            assert self.path is not None
            self._file = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._file

    def close(self) -> None:
        with self._threads:
            if self._file is not None:
                os.close(self._file)
                self._file = None
