"""Request ids and the structured access log: one JSON line per request on the
``siren.access`` logger (method, path without its query, status, duration, the key's
visible prefix; never a key, a header or a body). The request id is the caller's
``X-Request-Id`` if it is a short token, else a new one, and is answered as a header."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("siren.access")
REQUEST_ID = "x-request-id"
_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _TOKEN.fullmatch(text):
                return text
    return uuid.uuid4().hex


class AccessLog:
    """ASGI middleware: a request id for every HTTP request, and its access-log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (REQUEST_ID.encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(json.dumps(_line(scope, request_id, status, started)))


def _line(scope: Scope, request_id: str, status: int, started: float) -> dict[str, Any]:
    client = scope.get("client")
    return {"request_id": request_id, "method": scope.get("method"),
            "path": scope.get("path"), "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "client": client[0] if client else None,
            "key_prefix": scope.get("state", {}).get("key_prefix")}
