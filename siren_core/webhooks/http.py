"""One POST of a delivery: to the address the target check resolved (no second look-up),
with short time-outs, no redirects followed (a 3xx is a failure) and at most
:data:`RESPONSE_LIMIT` bytes of the answer read."""

from __future__ import annotations

import http.client
import socket
import ssl
import time

import attrs

from siren_core.webhooks.targets import Target

RESPONSE_LIMIT = 64 * 1024
USER_AGENT = "siren-core-webhooks"


@attrs.frozen
class Answer:
    """What came back: the status (``None`` when none came) or the error."""

    status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, verifying the certificate of the URL's host."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout,
                         context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPS(target, timeout)
    return http.client.HTTPConnection(target.address, target.port, timeout=timeout)


def post(target: Target, body: bytes, headers: dict[str, str], *,
         timeout: float) -> Answer:
    """POST ``body``; never raises for a network failure (it is the answer's error)."""
    started = time.monotonic()
    default_port = 443 if target.scheme == "https" else 80
    name = f"[{target.host}]" if ":" in target.host else target.host
    host = name if target.port == default_port else f"{name}:{target.port}"
    connection = _connection(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers={
            **headers, "Host": host, "Content-Type": "application/json",
            "User-Agent": USER_AGENT, "Connection": "close"})
        response = connection.getresponse()
        _drain(response, started + timeout)
        return Answer(response.status, None if 200 <= response.status < 300
                      else f"answered {response.status}", _ms(started))
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}" if str(exc) else
                      type(exc).__name__, _ms(started))
    finally:
        connection.close()


def _drain(response: http.client.HTTPResponse, deadline: float) -> None:
    """Read at most RESPONSE_LIMIT bytes of the answer, and not past the deadline."""
    left = RESPONSE_LIMIT
    while left > 0 and time.monotonic() < deadline:
        chunk = response.read1(min(left, 8192))
        if not chunk:
            return
        left -= len(chunk)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
