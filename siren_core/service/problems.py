"""Siren's error shapes: ``{"error": {"message", "code"?, "context"?}}``, and the
translation of the engine's errors into them. Never a traceback in a body."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from siren_core.errors import Conflict, InvalidInput, NotFound, PluginError, SirenError
from siren_core.store import DatabaseError, one_line, transient

log = logging.getLogger("siren.service")


class ApiProblem(Exception):
    """An answer in Siren's error shape."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 context: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.context = dict(context) if context is not None else None
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {"message": self.message}
        if self.code is not None:
            error["code"] = self.code
        if self.context is not None:
            error["context"] = self.context
        return JSONResponse({"error": error}, status_code=self.status, headers=self.headers)


def failed_validation(field: str, message: str, type: str = "INVALID",
                      context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"field": field, "message": message, "type": type, "context": dict(context or {})}


def validation_failed(failures: Sequence[Mapping[str, Any]]) -> ApiProblem:
    """400 ``VALIDATION_FAILED`` with one ``failedValidations`` entry per broken rule."""
    first = failures[0]["message"] if failures else "the request is not valid"
    return ApiProblem(400, first, code="VALIDATION_FAILED",
                      context={"type": "VALIDATION_FAILED",
                               "failedValidations": [dict(f) for f in failures]})


def invalid_field(field: str, message: str, type: str = "INVALID") -> ApiProblem:
    return validation_failed([failed_validation(field, message, type)])


FIELD_NAMES = {"amount": "total", "lines": "items", "id": "externalId", "sale": "externalId"}
"""The engine's field names of a sale or refund event, as the API names them."""


def api_field(field: str, kind: str) -> str:
    """``sale.lines[0].amount`` → ``items[0].amount``: the engine's path of a field of a
    ``kind`` event, in the request's words (custom events keep their own names)."""
    head, dot, rest = field.partition(".")
    if head != kind or not dot:
        return field
    if kind not in ("sale", "refund"):
        return rest
    name, sep, tail = rest.partition("[")
    return FIELD_NAMES.get(name, name) + sep + tail


def from_invalid_input(exc: InvalidInput, kind: str) -> ApiProblem:
    field = api_field(exc.field, kind)
    return invalid_field(field, f"{field} {exc.problem}")


_WHERE = {"body", "query", "path", "header"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAGS = {"str", "int", "decimal", "float", "bool", "list", "dict", "none"}


def _pydantic_field(loc: Sequence[Any]) -> str:
    """``items[0].amount`` from pydantic's location, without the tags it adds for the
    members of a union (``constrained-str``, ``int``…)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in _WHERE and part not in _TAGS and _NAME.fullmatch(str(part)):
            text += f".{part}" if text else str(part)
    return text or "body"


_TYPES = {"missing": "REQUIRED", "extra_forbidden": "UNKNOWN_FIELD"}


def from_pydantic(errors: Sequence[Mapping[str, Any]]) -> ApiProblem:
    failures: list[dict[str, Any]] = []
    for error in errors:
        field = _pydantic_field(error.get("loc", ()))
        if any(f["field"] == field for f in failures):  # each member of a union refused it
            continue
        kind = _TYPES.get(str(error.get("type")), "INVALID")
        message = (f"{field} is required." if kind == "REQUIRED" else
                   f"{field} is not a known field." if kind == "UNKNOWN_FIELD" else
                   f"{field}: {error.get('msg', 'is not valid')}")
        failures.append(failed_validation(field, message, kind))
    return validation_failed(failures)


def install(app: FastAPI) -> None:
    """Every error the application can meet, answered in Siren's shape."""

    @app.exception_handler(ApiProblem)
    async def _problem(_request: Request, exc: ApiProblem) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return from_pydantic(exc.errors()).response()

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return ApiProblem(exc.status_code, str(exc.detail), code=_HTTP_CODES.get(
            exc.status_code), headers=exc.headers).response()

    @app.exception_handler(SirenError)
    async def _siren(_request: Request, exc: SirenError) -> JSONResponse:
        return engine_problem(exc).response()

    @app.exception_handler(DatabaseError)
    async def _database(_request: Request, exc: DatabaseError) -> JSONResponse:
        log.error("store error: %s", one_line(exc))
        if transient(exc):
            return ApiProblem(503, "the store is busy or unavailable; try again",
                              code="store_unavailable", headers={"Retry-After": "1"}).response()
        return ApiProblem(500, "the store failed", code="internal_error").response()

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return ApiProblem(500, "internal error", code="internal_error").response()


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def engine_problem(exc: SirenError, kind: str = "") -> ApiProblem:
    if isinstance(exc, InvalidInput):
        return from_invalid_input(exc, kind)
    if isinstance(exc, NotFound):
        return ApiProblem(404, str(exc), code="not_found")
    if isinstance(exc, Conflict):
        return ApiProblem(409, str(exc), code="conflict")
    if isinstance(exc, PluginError):
        log.error("plugin error: %s", exc)
        return ApiProblem(500, str(exc), code="plugin_error")
    return ApiProblem(400, str(exc), code="rejected")
