"""Request bodies: JSON objects of bounded size and depth, numbers read as exact
decimals (never binary floats), checked against the route's model with unknown fields
refused. Every refusal is a 400 naming the field; nothing is stored."""

from __future__ import annotations

import json
from decimal import Decimal
from email.message import Message
from typing import Any, TypeVar

import pydantic
from fastapi import Request

from siren_core.service.problems import ApiProblem, from_pydantic, invalid_field

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 16

M = TypeVar("M", bound=pydantic.BaseModel)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (iteratively: a hostile body cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(
            item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if level + 1 > MAX_DEPTH:
                    return level + 1
                stack.append((child, level + 1))
        deepest = max(deepest, level)
    return deepest


async def _read(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    return bytes(body)


def _too_large() -> ApiProblem:
    return invalid_field("body", f"body is larger than {MAX_BODY_BYTES} bytes", "TOO_LARGE")


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 saying what is wrong with the body."""
    if not _is_json(request.headers.get("content-type")):
        raise invalid_field("Content-Type", "Content-Type must be application/json",
                            "CONTENT_TYPE")
    raw = await _read(request)
    if not raw.strip():
        raise invalid_field("body", "body is required.", "REQUIRED")
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except RecursionError:
        raise invalid_field("body", f"body nests deeper than {MAX_DEPTH} levels",
                            "TOO_DEEP") from None
    except ValueError as exc:  # not JSON, not UTF-8, or an integer of thousands of digits
        raise invalid_field("body", f"body is not valid JSON ({exc})", "JSON") from None
    if not isinstance(value, dict):
        raise invalid_field("body", "body must be a JSON object", "JSON")
    if _depth(value) > MAX_DEPTH:
        raise invalid_field("body", f"body nests deeper than {MAX_DEPTH} levels", "TOO_DEEP")
    return value


async def json_or_refusal(request: Request) -> dict[str, Any] | ApiProblem:
    """The request's JSON object, or the 400 refusing its body, for a route that must
    refuse a key (401, 403) before it refuses a body."""
    try:
        return await json_object(request)
    except ApiProblem as refused:
        return refused


def validated(value: dict[str, Any], model: type[M]) -> M:
    """``value`` as ``model`` (unknown fields refused, every error named)."""
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc.errors()) from None


async def parsed(request: Request, model: type[M]) -> M:
    """The request's body as ``model`` (unknown fields refused, every error named)."""
    return validated(await json_object(request), model)
