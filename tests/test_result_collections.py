"""Result collections are of one kind: every collection a result object holds, and every
collection of records a ``Kernel`` method returns, is a tuple (never a list)."""

from __future__ import annotations

import inspect
import typing
from collections import abc
from typing import Any

import attrs
import pytest

from siren_core import Kernel
from siren_core.distribution.runner import HeartbeatReport, Outcome, Preview
from siren_core.domain import RecordResult
from siren_core.groups.values import DoctorFinding
from siren_core.metrics.bulk import BulkReport
from siren_core.obligations.values import BulkResult, GenerateResult
from siren_core.plugin_check import CheckResult
from siren_core.plugins import LoadReport

RESULTS = [HeartbeatReport, Preview, Outcome, RecordResult, BulkReport, BulkResult,
           GenerateResult, CheckResult, LoadReport, DoctorFinding]
MUTABLE = (list, set, dict)


def _mutable_collections(hint: Any) -> list[Any]:
    """Every list, set or dict type inside ``hint`` (``tuple[list[int], ...]`` included)."""
    origin = typing.get_origin(hint) or hint
    found = [hint] if origin in MUTABLE else []
    return found + [inner for arg in typing.get_args(hint)
                    for inner in _mutable_collections(arg)]


@pytest.mark.parametrize("result", RESULTS, ids=[r.__name__ for r in RESULTS])
def test_every_collection_of_a_result_object_is_a_tuple(result: type[Any]) -> None:
    hints = typing.get_type_hints(result)
    assert {field.name: _mutable_collections(hints[field.name])
            for field in attrs.fields(result)
            if _mutable_collections(hints[field.name])} == {}


def test_every_kernel_method_returning_records_returns_a_tuple() -> None:
    lists = {}
    for name, method in inspect.getmembers(Kernel, inspect.isfunction):
        returned = typing.get_type_hints(method).get("return")
        origin = typing.get_origin(returned)
        if not name.startswith("_") and origin in (list, set, abc.Sequence, abc.Iterable):
            lists[name] = returned
    assert lists == {}
