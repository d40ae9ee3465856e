"""``siren simulate``: replay an event log against a configuration, in a throwaway store.

The configuration is applied to an in-memory SQLite store, the events are recorded in file
order, and before each event the heartbeat runs at the event's time (so every period that
ended before it is distributed first, exactly as a live system with a punctual heartbeat);
a last heartbeat runs at ``until``. The result is plain data, ready for JSON.

A simulation is a sandbox: events reach no installed listener (``siren_on_event``) unless
``with_listeners`` (``--with-listeners``) asks for them, so that no real audit log or
webhook receives simulated ids. A period that fails to distribute (a raising calculator…)
is listed under ``failed`` with its error, never silently left out; ``siren simulate``
then exits 1.

Event lines are JSON objects with ``type`` (a trigger strategy id, or ``refund``), ``id``
and ``at`` (ISO 8601 with a timezone); the other keys are the event's own fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from siren_core.config.apply import apply
from siren_core.config.converter import parse_datetime
from siren_core.config.files import parse_config
from siren_core.errors import InvalidInput, SirenError
from siren_core.jsontext import json_problem, load_json
from siren_core.kernel import Kernel
from siren_core.money import amount_text
from siren_core.times import iso_utc


class SimulationError(SirenError):
    """An event line could not be replayed; names the line number."""

    def __init__(self, line: int, error: Exception) -> None:
        self.line = line
        super().__init__(f"line {line}: {error}")


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(1970, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _event(line_number: int, text: str) -> tuple[str, dict[str, Any], datetime]:
    try:
        data = load_json(text)
    except json.JSONDecodeError as exc:
        raise SimulationError(line_number, InvalidInput("line", text[:80],
                                                        f"is not JSON ({exc.msg})")) from None
    except (ValueError, RecursionError) as exc:
        raise SimulationError(line_number, InvalidInput("line", text[:80],
                                                        json_problem(exc))) from None
    if not isinstance(data, dict):
        raise SimulationError(line_number, InvalidInput("line", data, "is not a JSON object"))
    kind = data.pop("type", None)
    if not isinstance(kind, str):
        raise SimulationError(line_number, InvalidInput("type", kind, "is required"))
    try:
        at = parse_datetime(data.get("at"))
    except ValueError as exc:
        raise SimulationError(line_number, InvalidInput(f"{kind}.at", data.get("at"),
                                                        str(exc))) from None
    return kind, data, at


def simulate(config: dict[str, Any], lines: Iterable[str], until: datetime, *,
             with_listeners: bool = False) -> dict[str, Any]:
    """Replay ``lines`` against ``config`` and return the distributions, and the periods
    that failed (``failed``: empty when every due period was distributed), as JSON data."""
    clock = _Clock()
    failed: dict[int, tuple[str, str]] = {}
    """distribution id → (distributor, its last error): a failed period is tried again
    at every later heartbeat"""
    with Kernel("sqlite://", clock=clock, plugin_listeners=with_listeners) as kernel:
        apply(kernel, parse_config(config, kernel.converter, kernel.registry))
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            kind, data, at = _event(number, text)
            clock.now = max(clock.now, at)
            _heartbeat(kernel, at, failed)
            try:
                kernel.record(kind, data)
            except SirenError as exc:
                raise SimulationError(number, exc) from None
        clock.now = max(clock.now, until)
        _heartbeat(kernel, until, failed)
        return _result(kernel, until, failed)


def _heartbeat(kernel: Kernel, now: datetime, failed: dict[int, tuple[str, str]]) -> None:
    report = kernel.heartbeat(now)
    for distribution in report.completed:
        failed.pop(distribution.id, None)  # failed at first, distributed later
    failed.update({key: (name, error) for key, name, error in report.failed})


def _result(kernel: Kernel, until: datetime,
            failed: dict[int, tuple[str, str]]) -> dict[str, Any]:
    periods = [d for d in kernel.distributions() if d.period_end <= until]
    periods.sort(key=lambda d: (d.period_end, d.distributor))
    return {"distributions": [{
        "distributor": d.distributor, "period_start": iso_utc(d.period_start),
        "period_end": iso_utc(d.period_end), "units": d.units,
        "pool": amount_text(d.pool, d.units), "reason": d.reason,
        "carried_in": amount_text(d.carried_in, d.units),
        "carried_out": amount_text(d.carried_out, d.units),
        "allocations": [{"collaborator": a.collaborator, "score": a.score,
                         "amount": amount_text(a.amount, a.units)}
                        for a in sorted(kernel.allocations(d.id), key=lambda a: a.collaborator)],
    } for d in periods if d.status == "completed"], "failed": [{
        "distributor": d.distributor, "period_start": iso_utc(d.period_start),
        "period_end": iso_utc(d.period_end), "error": failed[d.id][1],
    } for d in periods if d.id in failed]}
