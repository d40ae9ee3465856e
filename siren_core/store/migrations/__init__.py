"""Alembic migrations of the store's schema (``siren db upgrade``)."""
