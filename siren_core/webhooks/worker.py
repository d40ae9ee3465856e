"""The delivery worker: claim a due delivery, POST it, note the outcome; again.

A claim is a short transaction that leases the head delivery of one subscription
(:func:`siren_core.store.webhook_queries.claim`); the POST happens outside any
transaction, so a slow receiver holds no lock and blocks nothing but its own
subscription's later events (which wait for it: per subscription, events go out in commit
order). A worker killed mid-POST leaves a lease that runs out; another worker (or the same
one, restarted) then delivers the same event again, with the same ``X-Siren-Delivery``.

A 2xx answer ends a delivery. Anything else -- another status, a time-out, a refused
connection, a target that now resolves to a forbidden address -- is retried after
``backoff × 2^(attempt-1)`` seconds (capped), times a random factor in [0.5, 1] (jitter),
until :attr:`Policy.max_attempts`; then the delivery is ``failed`` (dead), listed by
``siren webhooks deliveries --status failed`` and re-sent by hand with ``siren webhooks
resend``.

Several threads deliver at once (``threads``), and several workers on several hosts share
one PostgreSQL store.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import attrs

from siren_core import environment
from siren_core.errors import InvalidInput
from siren_core.store import DatabaseError, Engine, one_line, retrying, unit_of_work
from siren_core.store import webhook_queries as wq
from siren_core.webhooks import http, targets
from siren_core.webhooks.signing import signature

log = logging.getLogger(__name__)
N = TypeVar("N", int, float)


@attrs.frozen
class Policy:
    """How deliveries are tried: ``max_attempts`` POSTs at most, the first retry after
    about ``backoff_s`` seconds, doubling up to ``backoff_max_s``; each POST may take
    ``timeout_s``; a claim is held ``lease_s`` (longer than a POST can take)."""

    max_attempts: int = 8
    backoff_s: float = 5.0
    backoff_max_s: float = 3600.0
    timeout_s: float = 5.0
    lease_s: float = 30.0

    @classmethod
    def from_environment(cls) -> Policy:
        """``SIREN_WEBHOOKS_MAX_ATTEMPTS``, ``_BACKOFF_S``, ``_BACKOFF_MAX_S``,
        ``_TIMEOUT_S`` and ``_LEASE_S`` (at least twice the time-out)."""
        default = cls()
        number = environment.number
        timeout = _setting(number("SIREN_WEBHOOKS_TIMEOUT_S", 0.1), default.timeout_s)
        lease = _setting(number("SIREN_WEBHOOKS_LEASE_S", 0.1),
                         max(default.lease_s, timeout * 3))
        if lease < 2 * timeout:
            raise InvalidInput("SIREN_WEBHOOKS_LEASE_S", lease,
                               f"must be at least twice the time-out ({timeout:g} s)")
        return cls(
            max_attempts=_setting(environment.integer("SIREN_WEBHOOKS_MAX_ATTEMPTS", 1),
                                  default.max_attempts),
            backoff_s=_setting(number("SIREN_WEBHOOKS_BACKOFF_S", 0.0), default.backoff_s),
            backoff_max_s=_setting(number("SIREN_WEBHOOKS_BACKOFF_MAX_S", 0.0),
                                   default.backoff_max_s),
            timeout_s=timeout, lease_s=lease)

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones (with jitter)."""
        base = min(self.backoff_s * 2 ** min(attempts - 1, 30), self.backoff_max_s)
        return float(base * random.uniform(0.5, 1.0))


def _setting(value: N | None, default: N) -> N:
    return default if value is None else value


def _now() -> datetime:
    return datetime.now(UTC)


class Deliverer:
    """Delivers the due deliveries of one store (``allow_private``: ``None`` reads
    ``SIREN_WEBHOOKS_ALLOW_PRIVATE``)."""

    def __init__(self, engine: Engine, policy: Policy | None = None, *,
                 allow_private: bool | None = None,
                 clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self.policy = policy or Policy.from_environment()
        self._allow_private = allow_private
        self._clock = clock

    def _claim(self) -> wq.Claim | None:
        def work() -> wq.Claim | None:
            now = self._clock()
            with unit_of_work(self._engine) as conn:
                return wq.claim(conn, now, now + timedelta(seconds=self.policy.lease_s))
        return retrying(self._engine, work)

    def deliver_one(self) -> bool:
        """Deliver one due delivery, if there is one; whether there was."""
        claimed = self._claim()
        if claimed is None:
            return False
        answer = self._post(claimed)
        self._note(claimed, answer)
        return True

    def _post(self, claimed: wq.Claim) -> http.Answer:
        try:
            target = targets.resolve(claimed.target_url, allow_private=self._allow_private)
        except (targets.TargetRefused, InvalidInput) as exc:
            return http.Answer(None, f"refused: {exc}", 0)
        body = claimed.body.encode()
        return http.post(target, body, {
            "X-Siren-Signature": signature(claimed.secret, body),
            "X-Siren-Event": claimed.name,
            "X-Siren-Delivery": claimed.delivery_id,
        }, timeout=self.policy.timeout_s)

    def _note(self, claimed: wq.Claim, answer: http.Answer) -> None:
        now = self._clock()
        attempts = claimed.attempts + 1
        if answer.ok:
            outcome, due = "delivered", now
        elif attempts >= self.policy.max_attempts:
            outcome, due = "failed", now
        else:
            outcome = "pending"
            due = now + timedelta(seconds=self.policy.delay(attempts))
        if outcome != "delivered":
            log.info("webhook %s to subscription %d: %s (attempt %d, %s)", claimed.delivery_id,
                     claimed.subscription_id, answer.error, attempts, outcome)

        def work() -> None:
            with unit_of_work(self._engine) as conn:
                wq.record_attempt(conn, claimed.id, at=now, status_code=answer.status,
                                  error=answer.error, duration_ms=answer.duration_ms,
                                  outcome=outcome, next_attempt_at=due)
        retrying(self._engine, work)

    def drain(self) -> int:
        """Deliver until nothing is due; how many POSTs were made."""
        made = 0
        while self.deliver_one():
            made += 1
        return made

    def run(self, stop: threading.Event, *, threads: int = 4, idle_s: float = 0.2) -> None:
        """Deliver with ``threads`` threads until ``stop`` is set (each POST in flight
        finishes; its outcome is noted)."""
        workers = [threading.Thread(target=self._loop, args=(stop, idle_s), daemon=True,
                                    name=f"siren-webhooks-{n}") for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def start(self, stop: threading.Event, *, threads: int = 4,
              idle_s: float = 0.2) -> threading.Thread:
        """:meth:`run` in a background thread (``siren worker`` beside its heartbeats)."""
        thread = threading.Thread(target=self.run, args=(stop,), daemon=True,
                                  kwargs={"threads": threads, "idle_s": idle_s},
                                  name="siren-webhooks")
        thread.start()
        return thread

    def _loop(self, stop: threading.Event, idle_s: float) -> None:
        failures = 0
        while not stop.is_set():
            try:
                if self.deliver_one():
                    failures = 0
                    continue
            except DatabaseError as exc:
                failures += 1
                delay = min(0.5 * 2 ** min(failures - 1, 6), 30.0)
                log.warning("worker: webhook delivery failed (%s); retrying in %.1f s",
                            one_line(exc), delay)
                stop.wait(delay)
                continue
            stop.wait(idle_s)
