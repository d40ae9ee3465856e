"""The ``visit`` trigger strategy: a visit referred by a collaborator.

Each visit is one ``visit`` metric for its collaborator; a distributor tracking the
``visit`` metric type gives it ``points`` (Siren's ``referredSiteVisit``).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from siren_core import hookimpl
from siren_core.records import Metric, TriggerStrategy


@attrs.frozen
class Visit:
    """A referred visit; ``page`` (the landing page) is kept with the event, not scored."""

    id: str
    at: datetime
    collaborator: str
    page: str | None = None


def visit_metrics(visit: Visit) -> list[Metric]:
    return [Metric(metric_type="visit", collaborator=visit.collaborator)]


@hookimpl
def siren_trigger_strategies() -> list[TriggerStrategy]:
    return [TriggerStrategy(id="visit", description="A visit referred by a collaborator",
                            event_type=Visit, metrics=visit_metrics, metric_types=("visit",))]
