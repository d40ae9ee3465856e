"""The raw baseline of ``python -m benchmarks.http``: a bare ASGI endpoint, served by the
same uvicorn, that does what ``POST /siren/v1/event/sale`` must do for an attributed sale
and nothing more, with the driver, in one transaction: reads the JSON body (numbers as
decimals); finds the API key by its prefix, compares its SHA-256 and checks that it is
not revoked or expired and holds the scope; looks the opportunity's collaborator up (and
that it is active); checks that the distributor's configuration it holds is current (the
distributor stamp) and that the sale falls in the open period (not late); writes the same
``source_event`` (once per key: ``ON CONFLICT DO NOTHING``) and ``score_credit`` rows;
reads the active webhook subscriptions (none: no outbox row); counts the request on the
key's row against the rate limit. No validation, no plugins, no error shapes.

    BENCH_DATABASE=sqlite:///x.db python -m benchmarks.http_baseline --port 8081 [--workers 2]

It runs on uvicorn through ``siren serve``'s own code (``siren_core.service.server.run``:
the same socket, ``TCP_NODELAY`` with several workers too).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from siren_core import store

ANSWER = b'{"status":"created"}'
LIMIT = 10**9
"""The rate limit the benchmark gives the service (``--rate-limit``)."""


class Baseline:
    def __init__(self, url: str) -> None:
        self.engine = store.open_engine(url)
        self.sqlite = store.is_sqlite(self.engine)
        self.mark = "?" if self.sqlite else "%s"
        with self.engine.connect() as conn:
            self.distributor = conn.exec_driver_sql("SELECT id FROM distributor").scalar_one()
            self.stamp = conn.exec_driver_sql(
                "SELECT stamp FROM distributor_stamp WHERE id = 1").scalar_one()

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def when(self, value: datetime) -> Any:
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else naive

    def record(self, token: str, sale: dict[str, Any]) -> None:
        now_utc = datetime.now(UTC)
        now = self.when(now_utc)
        window = self.when(now_utc.replace(second=0, microsecond=0))
        connection: Any = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            if self.sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(self.sql("SELECT id, key_hash, scopes, expires_at, revoked_at "
                                    "FROM api_key WHERE prefix = ?"), (token[:16],))
            key, digest, scopes, expires, revoked = cursor.fetchone()
            assert hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), digest)
            assert revoked is None and (expires is None or expires > now)
            assert "event:*" in (json.loads(scopes) if isinstance(scopes, str) else scopes)
            cursor.execute(self.sql("SELECT opportunity.collaborator_id, collaborator.status "
                                    "FROM opportunity JOIN collaborator ON collaborator.id = "
                                    "opportunity.collaborator_id WHERE opportunity.id = ?"),
                           (sale["trackingId"],))
            collaborator, status = cursor.fetchone()
            assert status == "active"
            # the distributor's configuration (10 points a sale) is still the one cached
            cursor.execute("SELECT stamp FROM distributor_stamp WHERE id = 1")
            assert cursor.fetchone()[0] == self.stamp
            cursor.execute(self.sql("SELECT period_start FROM distribution WHERE status = "
                                    "'open' AND distributor_id = ?"), (self.distributor,))
            assert self.when_read(cursor.fetchone()[0]) <= now_utc  # not late
            payload = json.dumps({k: str(v) for k, v in sale.items()}, sort_keys=True)
            amount = int(Decimal(sale["total"]) * 100)
            cursor.execute(self.sql(
                "INSERT INTO source_event (kind, key, occurred_at, recorded_at, "
                "collaborator_id, amount, currency, digest, payload) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING RETURNING id"),
                ("sale", f"{sale['source']}:{sale['externalId']}", now, now, collaborator,
                 amount, "USD", hashlib.sha256(payload.encode()).hexdigest(), payload))
            source = cursor.fetchone()[0]
            cursor.execute(self.sql(
                "INSERT INTO score_credit (distributor_id, source_event_id, collaborator_id, "
                "metric_type, rule, layer, points, revenue, effective_at, late) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                (self.distributor, source, collaborator, "sale", "fixed", 0, 10, amount, now,
                 False))
            # no active webhook subscription: no outbox row
            cursor.execute("SELECT id, events FROM webhook_subscription WHERE status = "
                           "'active'")
            assert cursor.fetchall() == []
            cursor.execute(self.sql(
                "UPDATE api_key SET last_used_at = ?, window_count = CASE WHEN window_start"
                " = ? THEN window_count + 1 ELSE 1 END, window_start = ? WHERE id = ? "
                "RETURNING window_count"), (now, window, window, key))
            assert cursor.fetchone()[0] <= LIMIT
            if self.sqlite:
                cursor.execute("COMMIT")
            else:
                connection.commit()
        finally:
            connection.close()

    def when_read(self, value: Any) -> datetime:
        found = datetime.fromisoformat(value) if isinstance(value, str) else value
        return cast(datetime, found).replace(tzinfo=UTC)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        if scope["path"].endswith("/health"):
            await _answer(send, b'{"status":"ok"}')
            return
        token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        await run_in_threadpool(self.record, token, json.loads(body, parse_float=Decimal))
        await _answer(send, ANSWER)


async def _answer(send: Send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def create() -> Baseline:
    return Baseline(os.environ["BENCH_DATABASE"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_baseline")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    from siren_core.service import server

    server.run("benchmarks.http_baseline:create", host=args.host, port=args.port,
               workers=args.workers, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
