"""A web shop's back office that embeds siren-core (see docs/embedding.md).

* ``POST /sales`` with a JSON sale (``{"id", "at", "collaborator", "amount", "currency"}``)
  records it: ``201`` with what was credited, ``200`` for a repeated sale (idempotent),
  ``400`` naming the field and value for bad input, ``409`` for a reused id with other
  content.
* ``GET /distributions`` lists the periods and what they paid.
* A background thread fires the heartbeat every ``interval`` seconds. Several processes of
  this app (gunicorn workers, several hosts on PostgreSQL) can all run it: each period is
  claimed by exactly one of them, the others skip it.

Run it with ``SIREN_DATABASE_URL=sqlite:///shop.db flask --app "app:main()" run``.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from siren_core import Kernel
from siren_core.errors import Conflict, InvalidInput
from siren_core.money import amount_text
from siren_core.times import iso_utc

log = logging.getLogger(__name__)


class HeartbeatThread(threading.Thread):
    """Calls ``kernel.heartbeat()`` every ``interval`` seconds until ``stop()``."""

    def __init__(self, kernel: Kernel, interval: float) -> None:
        super().__init__(name="siren-heartbeat", daemon=True)
        self.kernel = kernel
        self.interval = interval
        self.beats = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                report = self.kernel.heartbeat()
                for distribution in report.completed:
                    log.info("distributed %s period %s", distribution.distributor,
                             distribution.period_start)
            except Exception:  # keep beating: the next beat retries what failed
                log.exception("heartbeat failed")
            self.beats += 1
            self._stopped.wait(self.interval)

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def create_app(kernel: Kernel, *, heartbeat_interval: float | None = 60.0) -> Flask:
    """The Flask app around ``kernel``; ``heartbeat_interval=None`` starts no thread."""
    app = Flask(__name__)
    app.extensions["siren"] = kernel

    @app.post("/sales")
    def record_sale() -> ResponseReturnValue:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="the body must be a JSON object"), 400
        try:
            result = kernel.record("sale", body)
        except InvalidInput as exc:
            return jsonify(field=exc.field, value=repr(exc.value), problem=exc.problem), 400
        except Conflict as exc:
            return jsonify(error=str(exc)), 409
        return jsonify(id=result.event_id, credits=result.credits,
                       duplicate=result.duplicate), 200 if result.duplicate else 201

    @app.get("/distributions")
    def distributions() -> ResponseReturnValue:
        rows: list[dict[str, Any]] = [
            {"id": d.id, "distributor": d.distributor, "status": d.status,
             "period_start": iso_utc(d.period_start), "period_end": iso_utc(d.period_end),
             "pool": amount_text(d.pool, d.units), "units": d.units}
            for d in kernel.distributions()]
        return jsonify(rows)

    if heartbeat_interval is not None:
        beat = HeartbeatThread(kernel, heartbeat_interval)
        app.extensions["siren_heartbeat"] = beat
        beat.start()
    return app


def main() -> Flask:
    """``flask --app "app:main()" run`` calls this; the store is SIREN_DATABASE_URL."""
    kernel = Kernel(os.environ.get("SIREN_DATABASE_URL", "sqlite:///shop.db"))
    return create_app(kernel, heartbeat_interval=float(os.environ.get("SIREN_HEARTBEAT", 60)))


if __name__ == "__main__":  # pragma: no cover
    main().run()
