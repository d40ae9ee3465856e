"""Siren's admin resources, each behind an operator's session."""

from __future__ import annotations

from fastapi import APIRouter

from siren_core.service.admin import distributors, payments, people

router = APIRouter()
router.include_router(distributors.router)
router.include_router(people.router)
router.include_router(payments.router)
