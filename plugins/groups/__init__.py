"""Collaborator groups: the ``flat``, ``linear_chain`` and ``parent_child`` structures and
the ``upline_cascade`` / ``downline_cascade`` credit rules (see docs/groups.md)."""

from __future__ import annotations

from siren_core import hookimpl
from siren_core.records import CreditRule, GroupStructure

from .cascades import RULES
from .structures import STRUCTURES


@hookimpl
def siren_group_structures() -> list[GroupStructure]:
    return list(STRUCTURES)


@hookimpl
def siren_credit_rules() -> list[CreditRule]:
    return list(RULES)
