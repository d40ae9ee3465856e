"""The ``tiered`` allocation calculator: rates by score threshold.

Each collaborator's score is multiplied by the ``weight`` of the highest tier whose
``min_score`` it reaches; the pool is then split exactly in proportion to those weighted
scores with :func:`siren_core.money.split` (the parts always sum to the pool). A score
below every tier weighs 0; if *every* weighted score is 0, the pool is split by plain score
instead, since siren-core pays a period's pool out in full. Configuration (TOML)::

    [distributors.calculator]
    id = "tiered"
    tiers = [{ min_score = 0, weight = 1 }, { min_score = 100, weight = 2 }]
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from siren_core.errors import InvalidInput
from siren_core.money import split
from siren_core.records import AllocationCalculator, AllocationContext


def _not_negative(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise InvalidInput(attribute.name, value, "must not be negative")


@attrs.frozen
class Tier:
    min_score: int = attrs.field(validator=_not_negative)
    weight: int = attrs.field(validator=_not_negative)


def _tiers_ok(_instance: object, _attribute: object, tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise InvalidInput("tiers", [], "must hold at least one tier")
    thresholds = [tier.min_score for tier in tiers]
    if len(set(thresholds)) != len(thresholds):
        raise InvalidInput("tiers", thresholds, "repeats a min_score")


@attrs.frozen
class TieredConfig:
    """The calculator's configuration: the tiers, in any order."""

    tiers: tuple[Tier, ...] = attrs.field(validator=_tiers_ok)


def weight_for(score: int, tiers: tuple[Tier, ...]) -> int:
    """The weight of the highest tier ``score`` reaches (0 below every tier)."""
    reached = [tier for tier in tiers if score >= tier.min_score]
    return max(reached, key=lambda tier: tier.min_score).weight if reached else 0


def allocate(context: AllocationContext, config: TieredConfig) -> Mapping[str, int]:
    weighted = {name: score * weight_for(score, config.tiers)
                for name, score in context.scores.items()}
    if not any(weighted.values()):
        return split(context.pool, dict(context.scores))  # nobody reached a tier
    return split(context.pool, weighted)


CALCULATOR = AllocationCalculator(
    id="tiered", description="Pool split by score × the weight of the tier reached",
    allocate=allocate, config_type=TieredConfig)
