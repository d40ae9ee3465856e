"""Real ``siren serve`` processes for the service tests: each on a free loopback port,
stopped (SIGTERM, then SIGKILL) when its block ends, and killed by the kernel if the test
process dies first (``PR_SET_PDEATHSIG``), so that no server outlives its test."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
COUPONS_SOURCE = ROOT / "examples" / "siren-coupons" / "src"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def siren(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``siren`` command line (``python -m siren_core.cli``)."""
    return subprocess.run([sys.executable, "-m", "siren_core.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def mint_key(database: str, *scopes: str, extra: Sequence[str] = ()) -> str:
    """A new API key with ``scopes``, minted by ``siren keys create`` (the raw key)."""
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    done = siren("keys", "create", "--database", database, *args, *extra, "--json")
    assert done.returncode == 0, done.stderr
    raw: str = json.loads(done.stdout)["rawKey"]
    return raw


def coupons_path(tmp: Path) -> str:
    """A ``PYTHONPATH`` on which the siren-coupons example is an installed distribution
    (its source and a ``dist-info`` naming its entry point): a real third-party plugin,
    found by the server through the ``siren`` entry-point group."""
    info = tmp / "siren_coupons-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: siren-coupons\n"
                                   "Version: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[siren]\ncoupons = siren_coupons.plugin\n",
                                           encoding="utf-8")
    return os.pathsep.join([str(COUPONS_SOURCE), str(tmp)])


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/siren/v1"

    def log_lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()


def _wait_healthy(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"siren serve exited: {server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"siren serve did not start: {server.log.read_text()[-3000:]}")


@contextmanager
def serving(database: str, log: Path, *options: str,
            pythonpath: str | None = None, command: Sequence[str] | None = None
            ) -> Iterator[Server]:
    """A running server on ``database`` (``command``: another launcher taking the same
    ``--database``/``--port`` options); its standard error goes to ``log``."""
    port = free_port()
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    argv = [*(command or [sys.executable, "-m", "siren_core.cli", "serve"]),
            "--database", database, "--port", str(port), *options]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=sink, env=env,
                                   preexec_fn=_die_with_parent)
    server = Server(process, port, log)
    try:
        _wait_healthy(server, time.monotonic() + 60)
        yield server
    finally:
        stop(server)


def stop(server: Server) -> int:
    """SIGTERM, then SIGKILL after 30 s; the exit code."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode
