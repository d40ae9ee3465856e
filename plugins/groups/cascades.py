"""The cascade credit rules: ``upline_cascade`` and ``downline_cascade``.

One metric fans out across the distributor's bound group: the member ``n`` layers away
from the acting collaborator is credited ``layers[n - 1]`` points (a score, not money).
The acting collaborator is never credited by a cascade; a 0 (or a missing entry) at layer
N stops the walk there; downline credits *every* member at a layer with the full points.

Inactive members (not eligible for the distributor) earn nothing. Whether they use up
their layer is the ``compress`` option: Siren's behaviour is the default — upline does
not compress (an inactive ancestor's layer is used up, the next ancestor is paid at the
next layer's points), downline compresses (an inactive member is skipped without using
up the layer, so the next active member below takes it).

Without a group, or with a group whose structure has no layers, a cascade credits no one
and raises nothing (fail closed); the kernel records why on the period and ``siren
doctor`` lists the distributor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import takewhile

import attrs

from siren_core.domain import MAX_LAYERS, MAX_POINTS, check_bounded
from siren_core.errors import InvalidInput
from siren_core.records import CollaboratorId, Credit, CreditContext, CreditRule, GroupView

from .structures import HAS_LAYER

SIREN_MAX_LAYERS = 5


def _layers_valid(instance: CascadeConfig, _attribute: object, value: tuple[int, ...]) -> None:
    if not value:
        raise InvalidInput("layers", list(value), "must give the points of at least one layer")
    for index, points in enumerate(value):
        check_bounded(f"layers[{index}]", points, 0, MAX_POINTS)


@attrs.frozen
class CascadeConfig:
    """``layers``: points per layer, nearest first (``[100, 50]``), each 0 to
    ``domain.MAX_POINTS``.

    ``max_layers`` (default 5, as Siren's ``pointsAtLayer1..5``; at most
    ``domain.MAX_LAYERS``) bounds ``layers``; raise it to walk deeper. ``compress``
    overrides the direction's default (see module doc).
    """

    layers: tuple[int, ...] = attrs.field(validator=_layers_valid, metadata={"json_schema": {
        "minItems": 1, "items": {"minimum": 0, "maximum": MAX_POINTS}}})
    max_layers: int = attrs.field(default=SIREN_MAX_LAYERS, metadata={"json_schema": {
        "minimum": 1, "maximum": MAX_LAYERS}})
    compress: bool | None = None

    def __attrs_post_init__(self) -> None:
        check_bounded("max_layers", self.max_layers, 1, MAX_LAYERS)
        if len(self.layers) > self.max_layers:
            raise InvalidInput("layers", list(self.layers),
                               f"has {len(self.layers)} layers, more than max_layers = "
                               f"{self.max_layers} (Siren allows {SIREN_MAX_LAYERS}; "
                               "raise max_layers to walk deeper)")


Walker = Callable[[GroupView, CollaboratorId, Callable[[CollaboratorId], bool] | None],
                  Iterator[tuple[int, CollaboratorId]]]


def _cascade(context: CreditContext, config: CascadeConfig, walk: Walker,
             compress_by_default: bool) -> list[Credit]:
    group = context.group
    if group is None or HAS_LAYER not in group.capabilities:
        return []
    compress = compress_by_default if config.compress is None else config.compress
    eligible = context.is_eligible
    if context.prefetch is not None:
        # every member within the layers without compression is asked about (compression
        # only reaches further, past inactive members): look them up in batches
        context.prefetch(member for _layer, member in takewhile(
            lambda step: step[0] <= len(config.layers), walk(group, context.actor, None)))
    credits: list[Credit] = []
    for layer, member in walk(group, context.actor, eligible if compress else None):
        if layer > len(config.layers) or config.layers[layer - 1] == 0:
            break
        if member != context.actor and eligible(member):
            credits.append(Credit(collaborator=member, points=config.layers[layer - 1],
                                  layer=layer))
    return credits


def upline_credits(context: CreditContext, config: CascadeConfig) -> list[Credit]:
    return _cascade(context, config, lambda g, c, counts: g.upline(c, counts),
                    compress_by_default=False)


def downline_credits(context: CreditContext, config: CascadeConfig) -> list[Credit]:
    return _cascade(context, config, lambda g, c, counts: g.downline(c, counts),
                    compress_by_default=True)


RULES = [
    CreditRule(id="upline_cascade",
               description="Points per layer to the members above the actor",
               credit=upline_credits, config_type=CascadeConfig,
               requires=frozenset({HAS_LAYER})),
    CreditRule(id="downline_cascade",
               description="Points per layer to every member below the actor",
               credit=downline_credits, config_type=CascadeConfig,
               requires=frozenset({HAS_LAYER})),
]
