"""The fast path for source events agrees with the converter, which is the authority.

``FastShape.structure`` may decline (``None``) but never accepts what the converter
refuses, nor builds something else; ``FastShape.canonical`` writes the very text the
converter's dictionary gives through the JSON encoder (idempotency digests compare it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siren_core import Kernel
from siren_core.config.converter import structure
from siren_core.errors import InvalidInput
from siren_core.metrics.refunds import Refund
from siren_core.metrics.shapes import _SORTED, FastShape, Shapes
from siren_plugins.manual import ManualCredit
from siren_plugins.sale import Sale
from siren_plugins.visit import Visit

SHAPES = [Sale, Refund, Visit, ManualCredit]

instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5,
                                                                           minutes=-30))]))
SPECIAL = [
    "", " ", "a\x00b", "\ud800", "é", '"\\', "USD", None, True, 0, 7, 1.5, [], {},
    "NaN", "-Infinity", "1e999999999", "12,5", " 3 ", "1_000", "-0.00", Decimal("sNaN"),
    Decimal("2.50"), "2026-01-05T10:00:00", "2026-01-05T10:00:00Z", "2026-01-05 10:00+02:00",
    "2026-13-01T00:00Z", datetime(2026, 1, 5), datetime(2026, 1, 5, tzinfo=UTC)]
values = st.one_of(
    st.sampled_from(SPECIAL), st.text(max_size=12), st.integers(), st.floats(),
    st.decimals(), st.builds(str, st.decimals(places=2)), instants,
    instants.map(lambda moment: moment.isoformat()))


@pytest.fixture(scope="module")
def shapes() -> Shapes:
    return Shapes(Kernel("sqlite://").converter)


VALID: dict[type[Any], dict[str, Any]] = {
    Sale: {"id": "o-1", "at": "2026-01-05T10:00:00Z", "amount": "12.50", "currency": "USD",
           "collaborator": "alice"},
    Refund: {"id": "r-1", "at": "2026-01-05T10:00:00+01:00", "sale": "o-1", "amount": "1"},
    Visit: {"id": "v-1", "at": "2026-01-05T10:00:00Z", "collaborator": "bob", "page": None},
    ManualCredit: {"id": "m-1", "at": "2026-01-05T10:00:00Z", "collaborator": "carol",
                   "quantity": 2},
}


@settings(max_examples=600, deadline=None)
@given(cls=st.sampled_from(SHAPES), drawn=st.data())
def test_the_fast_structure_never_disagrees_with_the_converter(
        shapes: Shapes, cls: type[Any], drawn: st.DataObject) -> None:
    keys = st.sampled_from([*fields(cls), "surprise"])
    changed = drawn.draw(st.dictionaries(keys, values, max_size=2))
    removed = drawn.draw(st.sets(keys, max_size=1))
    data = {key: value for key, value in {**VALID[cls], **changed}.items()
            if key not in removed}
    _agree(shapes, cls, data)


def test_every_single_change_agrees(shapes: Shapes) -> None:
    for cls, valid in VALID.items():
        for key in [*fields(cls), "surprise"]:
            _agree(shapes, cls, {k: v for k, v in valid.items() if k != key})
            for value in SPECIAL:
                _agree(shapes, cls, {**valid, key: value})


def _agree(shapes: Shapes, cls: type[Any], data: dict[str, Any]) -> None:
    fast = FastShape(cls).structure(dict(data))
    try:
        expected = structure(shapes._converter, dict(data), cls, prefix="event")
    except InvalidInput:
        assert fast is None, data
        return
    if fast is not None:
        assert fast == expected
        assert [type(getattr(fast, f)) for f in fields(cls)] == \
            [type(getattr(expected, f)) for f in fields(cls)]


@settings(max_examples=400, deadline=None)
@given(event=st.sampled_from(SHAPES).flatmap(st.from_type), moment=instants | st.none())
def test_the_canonical_text_is_the_converters(shapes: Shapes, event: Any,
                                               moment: datetime | None) -> None:
    if moment is not None:  # from_type gives naive datetimes; events have aware ones
        event = attrs.evolve(event, at=moment)
    expected = _SORTED.encode(shapes._converter.unstructure(event))
    assert shapes.canonical(event) == expected
    assert FastShape(type(event)).canonical(event) in (None, expected)


def test_events_with_parts_take_the_converters_way(shapes: Shapes) -> None:
    sale = shapes.structure({"id": "o-1", "at": "2026-01-05T10:00:00Z", "amount": "3.00",
                             "currency": "USD", "lines": [{"kind": "product", "amount": "3"}]},
                            Sale, prefix="sale")
    assert FastShape(Sale).canonical(sale) is None
    assert shapes.canonical(sale) == _SORTED.encode(shapes._converter.unstructure(sale))
    assert '"lines":[{"amount":"3"' in shapes.canonical(sale)


def test_an_instance_is_checked_like_a_dictionary(shapes: Shapes) -> None:
    naive = Sale(id="o-1", at=datetime(2026, 1, 5), amount=Decimal("1"), currency="USD")
    with pytest.raises(InvalidInput, match=r"sale\.at: .* has no timezone"):
        shapes.structure(naive, Sale, prefix="sale")
    wrong = Sale(id="o-1", at=datetime(2026, 1, 5, tzinfo=UTC), amount=Decimal("1"),
                 currency="USD", collaborator=7)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"sale\.collaborator: 7 is not a string"):
        shapes.structure(wrong, Sale, prefix="sale")


def fields(cls: type[Any]) -> list[str]:
    return [field.name for field in attrs.fields(cls)]
