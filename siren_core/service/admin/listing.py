"""Siren's list conventions for the admin API: ``number`` (default 10, at most 200) rows
from ``offset``, sorted by ``orderBy`` (one of the route's columns) in ``order``
(``DESC`` by default), the matching count in ``x-siren-estimated-count``; groups' members
come in the ``{items, total, page, perPage, totalPages}`` envelope instead."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from siren_core.money import INT64_MAX
from siren_core.service.ledger import COUNT_HEADER, MAX_PAGE
from siren_core.service.problems import invalid_field

T = TypeVar("T")
TEXT = r"^[^\x00-\x1f]*$"
"""Text the store can keep and compare: no control character (PostgreSQL cannot even
compare a NUL), checked before any look-up."""
PathId = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT)]
Filter = Annotated[str | None, Query(max_length=2000, pattern=TEXT)]
Number = Annotated[int, Query(ge=1, le=INT64_MAX, description="Page size (at most 200)")]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="First row")]
Order = Annotated[Literal["ASC", "DESC", "asc", "desc"], Query(description="Sort order")]
OrderBy = Annotated[str | None, Query(max_length=32, description="Column to sort by")]
COUNTED: dict[int | str, dict[str, Any]] = {200: {"headers": {COUNT_HEADER: {
    "schema": {"type": "integer"}, "description": "Rows matching the filters"}}}}


def ordered(rows: Sequence[T], order_by: str | None, order: str,
            columns: Mapping[str, Callable[[T], Any]], default: str = "id") -> list[T]:
    """``rows`` sorted by the column ``order_by`` names (400 naming it if unknown)."""
    name = order_by or default
    if name not in columns:
        raise invalid_field("orderBy", f"orderBy {name!r} is not one of "
                            f"{', '.join(columns)}")
    return sorted(rows, key=columns[name], reverse=order.upper() == "DESC")


def page(rows: Sequence[dict[str, Any]], number: int, offset: int) -> JSONResponse:
    """One page of ``rows`` (a bare array) with the count header."""
    window = list(rows[offset:offset + min(number, MAX_PAGE)])
    return JSONResponse(window, headers={COUNT_HEADER: str(len(rows))})


def envelope(rows: Sequence[dict[str, Any]], number: int, offset: int) -> dict[str, Any]:
    """``{items, total, page, perPage, totalPages}`` of ``rows``."""
    per_page = min(number, MAX_PAGE)
    return {"items": list(rows[offset:offset + per_page]), "total": len(rows),
            "page": offset // per_page + 1, "perPage": per_page,
            "totalPages": (len(rows) + per_page - 1) // per_page}
