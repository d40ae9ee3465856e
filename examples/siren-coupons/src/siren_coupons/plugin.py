"""The plugin module siren-core loads (entry point ``coupons`` in the ``siren`` group)."""

from __future__ import annotations

from siren_core import hookimpl
from siren_core.events import Event
from siren_core.records import AllocationCalculator, TriggerStrategy

from siren_coupons import webhook
from siren_coupons.coupon import STRATEGY
from siren_coupons.tiered import CALCULATOR


@hookimpl
def siren_trigger_strategies() -> list[TriggerStrategy]:
    return [STRATEGY]


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [CALCULATOR]


@hookimpl
def siren_on_event(event: Event) -> None:
    webhook.on_event(event)
