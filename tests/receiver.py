"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 (a free port) that
verifies every delivery with the SDK's own ``Webhooks.construct_event`` and keeps what it
received. Path ``/<name>`` names a subscription; its behaviour is set per name: a list of
statuses to answer in turn (the last one repeats), or ``hang`` (never answer in time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
from siren.errors import SignatureVerificationError
from siren.webhooks import Webhooks


@attrs.frozen
class Received:
    path: str
    delivery_id: str
    type: str
    data: dict[str, Any]
    at: float


class Receiver:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.answers: dict[str, list[int]] = {}
        self.hanging: set[str] = set()
        self.received: list[Received] = []
        self.refused: list[str] = []
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.port = 0
        self.release = threading.Event()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def of(self, name: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == name]

    def _answer(self, name: str) -> int:
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            answers = self.answers.get(name, [200])
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def handle(self, name: str, raw: bytes, headers: Any) -> int:
        if name in self.hanging:
            self._answer(name)
            self.release.wait(30)
            return 200
        try:
            event = Webhooks.construct_event(
                raw, headers.get("X-Siren-Signature"), self.secrets.get(name, ""),
                event_type=headers.get("X-Siren-Event"),
                delivery_id=headers.get("X-Siren-Delivery"))
        except SignatureVerificationError as exc:
            with self.lock:
                self.refused.append(str(exc))
            return 400
        status = self._answer(name)
        if 200 <= status < 300:
            with self.lock:
                self.received.append(Received(name, event.delivery_id or "", event.type,
                                              dict(event.data), time.monotonic()))
        return status


@contextmanager
def receiving(*, delay_s: float = 0.0) -> Iterator[Receiver]:
    """A running receiver (``delay_s``: how long it takes over each answer)."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            if len(raw) < length:  # the sender died mid-request (the crash suites'
                self.close_connection = True  # SIGKILL): no delivery, nothing to verify
                return
            if delay_s:
                time.sleep(delay_s)
            status = receiver.handle(self.path.strip("/"), raw, self.headers)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the worker gave up waiting
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
