"""A listener that writes one webhook-style JSON line per ``allocation_completed`` event.

The file is named by the environment variable ``SIREN_COUPONS_WEBHOOK_LOG``; without it,
the listener does nothing. A real plugin would POST the same payload to a URL; a file keeps
the example runnable offline, and a test can read what was "sent".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from siren_core.events import AllocationCompleted, Event
from siren_core.money import currency, format_minor

LOG_VARIABLE = "SIREN_COUPONS_WEBHOOK_LOG"


def payload(event: AllocationCompleted) -> dict[str, Any]:
    allocation = event.allocation
    return {
        "event": event.event_id,
        "distribution": allocation.distribution_id,
        "distributor": allocation.distributor,
        "collaborator": allocation.collaborator,
        "score": allocation.score,
        "amount": format_minor(allocation.amount, currency(allocation.units)),
        "amount_minor": allocation.amount,
        "units": allocation.units,
    }


def on_event(event: Event) -> None:
    target = os.environ.get(LOG_VARIABLE)
    if not target or not isinstance(event, AllocationCompleted):
        return
    with Path(target).open("a", encoding="utf-8") as log:
        log.write(json.dumps(payload(event), sort_keys=True) + "\n")
