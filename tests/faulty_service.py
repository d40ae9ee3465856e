"""``python tests/faulty_service.py --database URL --port N``: siren-core's service, mounted
in an ASGI application that loses the answer of the first sale it records: the sale is
committed, then the client gets a 500 instead of the answer (a server that fails after
the commit and before the answer). The SDK retries; the test finds one record."""

from __future__ import annotations

import argparse

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siren_core import Kernel
from siren_core.service.app import create_app


class LoseFirstSaleAnswer:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lost = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.lost or scope["type"] != "http" or not scope["path"].endswith("/event/sale"):
            await self.app(scope, receive, send)
            return
        self.lost = True

        async def swallow(message: Message) -> None:  # the answer, after the commit
            pass

        await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 500,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body",
                    "body": b'{"error": {"message": "lost after commit"}}'})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    app = create_app(Kernel(options.database, create_schema=False), close_kernel=True)
    uvicorn.run(LoseFirstSaleAnswer(app), host="127.0.0.1", port=options.port,
                log_level="warning")


if __name__ == "__main__":
    main()
