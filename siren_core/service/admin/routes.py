"""Every route of the admin API, in one router (``create_api`` includes it)."""

from __future__ import annotations

from fastapi import APIRouter

from siren_core.service.admin import api_keys, distributors, payments, people, sessions

router = APIRouter()
for part in (sessions, api_keys, distributors, people, payments):
    router.include_router(part.router)
