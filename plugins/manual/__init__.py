"""The ``manual`` trigger strategy: an operator credits a collaborator.

``Kernel.credit_metric(collaborator, id=..., at=...)`` fires ``ManualMetricRequested``
(``manual_metric_requested``) and then records a ``manual`` event, which this strategy
turns into one ``manual`` metric. Every active distributor that tracks the ``manual``
metric type credits it with its configured points (× ``quantity``) through its credit
rule. Like Siren's endpoint the request carries no amount.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from siren_core import hookimpl
from siren_core.domain import MAX_QUANTITY, check_bounded
from siren_core.records import Metric, TriggerStrategy


@attrs.frozen
class ManualCredit:
    """A manual credit: ``quantity`` (1 to ``domain.MAX_QUANTITY``) times the
    distributor's points for ``manual``."""

    id: str
    at: datetime
    collaborator: str
    quantity: int = 1
    note: str = ""


def manual_metrics(event: ManualCredit) -> list[Metric]:
    check_bounded("manual.quantity", event.quantity, 1, MAX_QUANTITY)
    return [Metric(metric_type="manual", collaborator=event.collaborator,
                   quantity=event.quantity)]


@hookimpl
def siren_trigger_strategies() -> list[TriggerStrategy]:
    return [TriggerStrategy(id="manual", description="An operator credits a collaborator",
                            event_type=ManualCredit, metrics=manual_metrics,
                            metric_types=("manual",))]
