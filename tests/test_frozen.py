"""``siren_core.frozen``: the faster ``__init__`` of plain frozen records builds what attrs'
own builds, and is refused wherever attrs' ``__init__`` does more than set the fields."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from siren_core.frozen import faster_init, slot_setters
from siren_core.metrics.shapes import FastShape
from siren_core.records import Credit, CreditContext, Metric, RevenueLine


@attrs.frozen
class _Reference:
    kind: str
    amount: int
    sku: str | None = None


@faster_init
@attrs.frozen
class _Faster:
    kind: str
    amount: int
    sku: str | None = None


def test_the_faster_init_builds_what_attrs_builds() -> None:
    assert inspect.signature(_Faster) == inspect.signature(_Reference)
    for args, kwargs in [(("product", 5), {}), (("fee",), {"amount": 2, "sku": "x"}),
                         ((), {"kind": "tax", "amount": 0})]:
        faster, reference = _Faster(*args, **kwargs), _Reference(*args, **kwargs)
        assert attrs.asdict(faster) == attrs.asdict(reference)
        assert repr(faster) == repr(reference).replace("_Reference", "_Faster")
        assert faster == _Faster(*args, **kwargs) and hash(faster) == hash(
            _Faster(*args, **kwargs))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        _Faster("product", 5).amount = 6  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"_Faster\.__init__\(\) missing 1 required"):
        _Faster("product")  # type: ignore[call-arg]
    assert attrs.evolve(_Faster("product", 5), sku="b") == _Faster("product", 5, "b")


def test_the_records_built_per_event_take_it() -> None:
    for record in (RevenueLine, Metric, CreditContext, Credit):
        assert record.__init__.__code__.co_filename.startswith("<siren faster init")
    metric = Metric("sale", "alice", amount=120)
    assert (metric.quantity, metric.currency, metric.revenue) == (1, None, ())
    assert Credit("alice", 10) == Credit(collaborator="alice", points=10, layer=0)


@attrs.frozen
class _Validated:
    id: str = attrs.field(validator=attrs.validators.max_len(3))


@attrs.frozen
class _Converted:
    id: str = attrs.field(converter=str.strip)


@attrs.frozen
class _PostInit:
    id: str

    def __attrs_post_init__(self) -> None:
        pass


@attrs.frozen(cache_hash=True)
class _CachedHash:
    id: str


@attrs.define(slots=False)
class _Unslotted:
    id: str


@attrs.frozen
class _KeywordOnly:
    id: str = attrs.field(kw_only=True)


@attrs.frozen
class _Factory:
    tags: list[str] = attrs.Factory(list)


@pytest.mark.parametrize("cls", [_Validated, _Converted, _PostInit, _CachedHash, _Unslotted])
def test_a_class_whose_init_does_more_has_no_setters(cls: type[Any]) -> None:
    assert slot_setters(cls) is None
    with pytest.raises(TypeError, match="is not a plain attrs class"):
        faster_init(cls)


@pytest.mark.parametrize("cls", [_KeywordOnly, _Factory])
def test_keyword_only_and_factory_defaults_are_refused(cls: type[Any]) -> None:
    assert slot_setters(cls) is not None  # (the fast shapes set every field themselves)
    with pytest.raises(TypeError, match="is not a plain attrs class"):
        faster_init(cls)


@attrs.frozen
class _Event:
    id: str = attrs.field(validator=attrs.validators.max_len(3))
    at: datetime = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_fast_shape_builds_a_class_that_is_not_plain_through_its_init() -> None:
    """The validator still runs: the fast path declines an id it refuses."""
    shape = FastShape(_Event)
    assert shape.structure({"id": "abc"}) == _Event("abc")
    assert shape.structure({"id": "abcd"}) is None
    plain = FastShape(_Faster)
    assert plain.structure({"kind": "product", "amount": 5}) == _Faster("product", 5)
