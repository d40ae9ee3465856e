"""The raw baseline of ``python -m benchmarks.http``: a bare ASGI endpoint, served by the
same uvicorn, that does what ``POST /siren/v1/event/sale`` must do for an attributed sale
and nothing more: reads the JSON body (numbers as decimals), finds the API key by its
prefix and compares its SHA-256, counts the request on the key's row, looks the
opportunity's collaborator up, and writes the same ``source_event`` and ``score_credit``
rows with the driver, in one transaction. No validation, no plugins, no idempotency
check, no error shapes.

    BENCH_DATABASE=sqlite:///x.db uvicorn benchmarks.http_baseline:create --factory
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from siren_core import store

ANSWER = b'{"status":"created"}'


class Baseline:
    def __init__(self, url: str) -> None:
        self.engine = store.open_engine(url)
        self.sqlite = store.is_sqlite(self.engine)
        self.mark = "?" if self.sqlite else "%s"
        with self.engine.connect() as conn:
            self.distributor = conn.exec_driver_sql("SELECT id FROM distributor").scalar_one()

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def when(self, value: datetime) -> Any:
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else naive

    def record(self, token: str, sale: dict[str, Any]) -> None:
        now = self.when(datetime.now(UTC))
        window = self.when(datetime.now(UTC).replace(second=0, microsecond=0))
        connection: Any = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            if self.sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(self.sql("SELECT id, key_hash FROM api_key WHERE prefix = ?"),
                           (token[:16],))
            key, digest = cursor.fetchone()
            assert hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), digest)
            cursor.execute(self.sql(
                "UPDATE api_key SET last_used_at = ?, window_count = CASE WHEN window_start"
                " = ? THEN window_count + 1 ELSE 1 END, window_start = ? WHERE id = ?"),
                (now, window, window, key))
            cursor.execute(self.sql("SELECT collaborator_id FROM opportunity WHERE id = ?"),
                           (sale["trackingId"],))
            collaborator = cursor.fetchone()[0]
            payload = json.dumps({k: str(v) for k, v in sale.items()}, sort_keys=True)
            amount = int(Decimal(sale["total"]) * 100)
            cursor.execute(self.sql(
                "INSERT INTO source_event (kind, key, occurred_at, recorded_at, "
                "collaborator_id, amount, currency, digest, payload) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"),
                ("sale", f"{sale['source']}:{sale['externalId']}", now, now, collaborator,
                 amount, "USD", hashlib.sha256(payload.encode()).hexdigest(), payload))
            source = cursor.fetchone()[0]
            cursor.execute(self.sql(
                "INSERT INTO score_credit (distributor_id, source_event_id, collaborator_id, "
                "metric_type, rule, layer, points, revenue, effective_at, late) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                (self.distributor, source, collaborator, "sale", "fixed", 0, 10, amount, now,
                 False))
            if self.sqlite:
                cursor.execute("COMMIT")
            else:
                connection.commit()
        finally:
            connection.close()

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
