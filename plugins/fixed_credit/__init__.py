"""The ``fixed`` credit rule: the collaborator who did the work gets the points.

Its ``credit`` is the kernel's :func:`siren_core.records.credit_actor`, which the kernel
plans without calling (the answer is known).
"""

from __future__ import annotations

from siren_core import hookimpl
from siren_core.records import CreditRule, credit_actor


@hookimpl
def siren_credit_rules() -> list[CreditRule]:
    return [CreditRule(id="fixed", description="The acting collaborator gets the points",
                       credit=credit_actor)]
