"""The ``fixed`` credit rule: the collaborator who did the work gets the points."""

from __future__ import annotations

from typing import Any

from siren_core import hookimpl
from siren_core.records import Credit, CreditContext, CreditRule


def credit_actor(context: CreditContext, _config: Any) -> list[Credit]:
    return [Credit(collaborator=context.actor, points=context.points)]


@hookimpl
def siren_credit_rules() -> list[CreditRule]:
    return [CreditRule(id="fixed", description="The acting collaborator gets the points",
                       credit=credit_actor)]
