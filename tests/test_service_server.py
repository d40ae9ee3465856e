"""The sockets ``siren serve`` answers on: with several worker processes too, every
accepted connection has ``TCP_NODELAY`` (without it each answer waited for the client's
delayed ACK, about 40 ms a request). Checked on the socket option, not by timing."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from serving import serving

from siren_core import Kernel
from siren_core.service.server import TcpConfig

_SYS_PIDFD_GETFD = 438  # Linux's pidfd_getfd(2), the same number on x86-64 and arm64


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def _accepted_nodelay(listening: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(_nodelay(transport.get_extra_info("socket")))

    server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
    async with server:
        _reader, writer = await asyncio.open_connection(*listening.getsockname()[:2])
        found = await asyncio.wait_for(accepted, 10)
        writer.close()
        await writer.wait_closed()
    return found


def test_the_workers_socket_is_tcp_and_its_connections_have_nodelay() -> None:
    listening = TcpConfig("siren_core.service.app:app_from_environment", host="127.0.0.1",
                          port=0, workers=2).bind_socket()
    assert listening.proto == socket.IPPROTO_TCP
    assert asyncio.run(_accepted_nodelay(listening)) == 1


def _worker_pids(parent: int) -> list[int]:
    tasks = Path(f"/proc/{parent}/task")
    return [int(pid) for task in tasks.iterdir()
            for pid in (task / "children").read_text().split()]


def _peer_sockets(pid: int, peer: tuple[str, int]) -> list[socket.socket]:
    """Copies of process ``pid``'s sockets connected to ``peer`` (pidfd_getfd)."""
    libc = ctypes.CDLL(None, use_errno=True)
    handle = os.pidfd_open(pid)
    found = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    continue
            except FileNotFoundError:
                continue
            copied = libc.syscall(_SYS_PIDFD_GETFD, handle, int(fd), 0)
            if copied < 0:
                if ctypes.get_errno() in (errno.EPERM, errno.ENOSYS):
                    pytest.skip("pidfd_getfd is not allowed here")
                continue
            sock = socket.socket(fileno=copied)
            try:
                if sock.family == socket.AF_INET and sock.getpeername() == peer:
                    found.append(sock)
                    continue
            except OSError:
                pass
            sock.close()
    finally:
        os.close(handle)
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_two_worker_server_answers_on_nodelay_connections(
        make_kernel: Callable[..., Kernel], database_url: str, tmp_path: Path) -> None:
    make_kernel().close()
    with serving(database_url, tmp_path / "serve.log", "--workers", "2") as running, \
            socket.create_connection(("127.0.0.1", running.port), timeout=10) as client:
        client.sendall(b"GET /siren/v1/health HTTP/1.1\r\nHost: siren\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")  # answered, still connected
        accepted = [sock for pid in _worker_pids(running.process.pid)
                    for sock in _peer_sockets(pid, client.getsockname())]
        try:
            assert len(accepted) == 1, accepted
            assert _nodelay(accepted[0]) == 1
        finally:
            for sock in accepted:
                sock.close()
