"""The configuration converter: dictionaries (from TOML, JSON or Python) into attrs values.

One cattrs converter per kernel, configured once: money and decimals refuse floats, dates
and datetimes are parsed from ISO strings (datetimes must carry a timezone), unknown keys
are errors, and every failure becomes an :class:`~siren_core.errors.InvalidInput` naming
the path and the value (``pool.percent: '12,5' is not a decimal``).

A distributor is written in the same shape everywhere (the API, TOML and JSON files)::

    {"id": "monthly-bonus", "name": "Monthly sales bonus", "units": "USD",
     "timezone": "America/New_York", "schedule": "monthly", "start": "2026-01-01",
     "pool": {"resolver": "fixed", "amount": "500.00"},
     "calculator": {"id": "proportional"},
     "metrics": [{"type": "sale", "points": 10, "credit": {"rule": "fixed"}}]}

Optional keys: ``description``, ``status``, ``eligibility``, ``catch_up_limit``, ``every``,
``hold_days`` (pending obligations are approved by the heartbeat that many days after
they were issued; absent or ``None``: approval is manual only) and ``late_events``
(``next_period``, the default, or ``reject``: see ``DistributorSpec.late_events``) and
``unallocated`` (``forfeit``, the default, or ``carry_forward``: see
``DistributorSpec.unallocated``).

Siren's spellings (``calculator = "topScoreWins"``, structure ``linearChain``, status
``pending``) are accepted at the edge and mapped to one canonical name, which is what is
stored and shown (see :data:`SIREN_CALCULATORS` and the tables below it).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from siren_core.domain import (
    MAX_INTERVAL,
    CalculatorChoice,
    CreditChoice,
    DistributorSpec,
    MetricTypeSpec,
    PoolChoice,
    RevenueSpec,
    check_bounded,
    text_problem,
)
from siren_core.errors import InvalidInput
from siren_core.money import PLAIN_DECIMAL, decimal_text_problem, plain_text
from siren_core.schedule import Schedule, parse_siren_schedule, period
from siren_core.times import instant_problem

T = TypeVar("T")
Path = list[str | int]

# -- Siren's spellings: accepted at the edge, stored and shown canonical ------------------

SIREN_CALCULATORS = {"topScoreWins": "top_score", "performanceSharedPool": "proportional"}
"""Siren's resolver ids → our calculators. Siren's Shared Engagement Pool (``equal_share``)
has no id in Siren's documentation, so it has no alias."""
SIREN_STRUCTURES = {"linearChain": "linear_chain", "parentChild": "parent_child"}
"""Siren's group structure ids → ours (``flat`` is spelt alike)."""
SIREN_DISTRIBUTION_STATUSES = {"pending": "open"}
"""Siren's distribution status → ours: Siren's current distribution is ``pending`` while
it accrues, which is our ``open`` period."""


def canonical(aliases: Mapping[str, str], name: Any) -> Any:
    """``name`` in our spelling (anything not an alias is returned as given)."""
    return aliases.get(name, name) if isinstance(name, str) else name


def parse_decimal(value: Any) -> Decimal:
    """A decimal from a string, an int or a Decimal; floats and other text are refused.

    Text must be a plain decimal (:data:`~siren_core.money.PLAIN_DECIMAL`: an optional
    ``-``, ASCII digits, optionally ``.`` and digits), not whatever ``Decimal()`` takes:
    it also takes ``"+1"``, ``" 1"``, ``"1_000"``, ``"1e3"`` and non-ASCII digits.
    """
    if isinstance(value, bool | float):
        raise ValueError("is a float; write decimals as strings (e.g. '12.5')")
    if isinstance(value, Decimal | int):
        result = Decimal(value)
    elif isinstance(value, str):
        if PLAIN_DECIMAL.fullmatch(value) is None:
            raise ValueError(_not_a_decimal(value))
        result = Decimal(value)
    else:
        raise ValueError("is not a decimal")
    if not result.is_finite():
        raise ValueError("is not a finite decimal")
    return result


def _not_a_decimal(text: str) -> str:
    problem = decimal_text_problem(text)
    if problem.startswith("is not"):
        return "is not a decimal (digits, an optional '-' and '.', e.g. '12.5')"
    return f"is not a decimal: it {problem}"


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError("is a datetime; give a date (YYYY-MM-DD)")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a date (YYYY-MM-DD)") from None


def parse_datetime(value: Any) -> datetime:
    """An aware datetime from an ISO 8601 string (``Z`` accepted) or a datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("is not an ISO 8601 date and time") from None
    if not isinstance(value, datetime):
        raise ValueError("is not a date and time")
    problem = instant_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _strict_int(value: Any, _type: Any = int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("is not an integer")
    return value


def _strict_bool(value: Any, _type: Any = bool) -> bool:
    if not isinstance(value, bool):
        raise ValueError("is not true or false")
    return value


def strict_str(value: Any, _type: Any = str) -> str:
    if not isinstance(value, str):
        raise ValueError("is not a string")
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _strings(value: Any, _type: Any = None) -> tuple[str, ...]:
    """A list of strings (a bare string is refused, not split into characters)."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("is not a list of strings")
    for text in value:
        problem = text_problem(text)
        if problem:
            raise ValueError(f"holds {text!r}, which {problem}")
    return tuple(value)


def _literal(value: Any, type_: Any) -> Any:
    """One of a ``Literal``'s values, or an error listing them (cattrs' own says only that
    the type is wrong)."""
    choices = typing.get_args(type_)
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        raise ValueError(f"is not one of {', '.join(map(str, choices))}")
    return value


def _is_sequence(type_: Any) -> bool:
    """``list[X]``, ``tuple[X, ...]``, ``set[X]`` or ``frozenset[X]`` (``tuple[str, ...]``
    has a hook of its own)."""
    origin, args = typing.get_origin(type_), typing.get_args(type_)
    return type_ != tuple[str, ...] and (
        origin in (list, set, frozenset)
        or (origin is tuple and len(args) == 2 and args[1] is Ellipsis))


def _sequence(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """cattrs' own hook for ``type_``, refusing anything but a list: cattrs would iterate
    a string into its characters and a table into its keys (``""`` would become ``()``)."""
    origin = typing.get_origin(type_)
    if origin is tuple:
        base = homogenous_tuple_structure_factory(type_, converter)
    else:
        item: Any = list[typing.get_args(type_)[0]]  # type: ignore[misc]
        items = list_structure_factory(item, converter)
        base = items if origin is list else lambda value, _hint: origin(items(value, list))

    def structure_sequence(value: Any, hint: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError("is not a list")
        return base(value, hint)
    return structure_sequence


def _is_literal(type_: Any) -> bool:
    return bool(typing.get_origin(type_) == Literal)


def _plain_values(data: Any) -> Any:
    """``data`` with every Decimal (at any depth) as its decimal text.

    A plugin's configuration is stored as JSON, which has no decimals; the plugin's own
    class parses the text back exactly, so a Decimal is accepted wherever text is.
    """
    if isinstance(data, Decimal):
        return plain_text(data)
    if isinstance(data, Mapping):
        return {key: _plain_values(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain_values(value) for value in data]
    if isinstance(data, tuple):
        return tuple(_plain_values(value) for value in data)
    return data


def _split_choice(data: Any, key: str) -> tuple[str, dict[str, Any]]:
    if isinstance(data, str):
        return data, {}
    if not isinstance(data, Mapping):
        raise ValueError(f"is not a table with a {key!r} key")
    rest = _plain_values(dict(data))
    if key not in rest:
        raise ValueError(f"has no {key!r} key")
    chosen = rest.pop(key)
    if not isinstance(chosen, str):
        raise ValueError(f"has a {key!r} that is not a string")
    return chosen, rest


def _calculator(data: Any) -> CalculatorChoice:
    chosen, config = _split_choice(data, "id")
    return CalculatorChoice(canonical(SIREN_CALCULATORS, chosen), config)


@attrs.frozen
class _DistributorEntry:
    """The flat shape of a distributor in files and API calls."""

    id: str
    name: str
    units: str
    pool: PoolChoice
    calculator: CalculatorChoice
    schedule: Any = "monthly"
    """A frequency name, or a list of Siren modifier strings."""
    start: date | None = None
    timezone: str = "UTC"
    every: int = 1
    metrics: list[MetricTypeSpec] = attrs.Factory(list)
    description: str = ""
    status: str = "active"
    eligibility: str = "all_active"
    catch_up_limit: int | None = None
    hold_days: int | None = None
    """Days a pending obligation waits before the heartbeat approves it (None: manual)."""
    revenue: RevenueSpec = attrs.Factory(RevenueSpec)
    """Transaction compilers and line-item filters (see ``siren_core.domain.RevenueSpec``)."""
    collaborators: list[str] = attrs.Factory(list)
    """Collaborators bound directly (eligibility ``members``, with the bound group's)."""
    late_events: str = "next_period"
    """Events in a distributed period: ``next_period`` (counted late) or ``reject``."""
    unallocated: str = "forfeit"
    """A pool that allocated nothing: ``forfeit`` or ``carry_forward`` (to the next period)."""


_SCHEDULE_FIELDS = {"frequency": "schedule", "modifiers": "schedule", "start": "start",
                    "timezone": "timezone", "interval": "every"}


def _schedule_of(entry: _DistributorEntry) -> Schedule:
    start = entry.start or date(2000, 1, 1)
    if not isinstance(entry.schedule, str | list):
        raise InvalidInput("schedule", entry.schedule,
                           "is neither a frequency nor a list of Siren modifiers")
    check_bounded("every", entry.every, 1, MAX_INTERVAL)
    try:
        if isinstance(entry.schedule, list):
            schedule = parse_siren_schedule(entry.schedule, start, entry.timezone)
        else:
            schedule = Schedule(frequency=entry.schedule, start=start,
                                timezone=entry.timezone, interval=entry.every)
    except InvalidInput as exc:
        where = exc.field.split(".")[-1].split("[")[0]
        raise InvalidInput(_SCHEDULE_FIELDS.get(where, "schedule"), exc.value,
                           exc.problem) from None
    try:
        period(schedule, 0)
    except InvalidInput:
        raise InvalidInput("start", start.isoformat(), "is too late: the first period would "
                           "end after the last representable date") from None
    return schedule


def _structure_distributor(converter: cattrs.Converter, data: Any) -> DistributorSpec:
    entry = converter.structure(data, _DistributorEntry)
    if entry.start is None:
        raise InvalidInput("start", None, "is required (the local date the first period starts)")
    if entry.hold_days is not None and entry.hold_days < 0:
        raise InvalidInput("hold_days", entry.hold_days, "is negative; give 0 or more days")
    return DistributorSpec(
        id=entry.id, name=entry.name, units=entry.units, schedule=_schedule_of(entry),
        pool=entry.pool, calculator=entry.calculator, metrics=tuple(entry.metrics),
        description=entry.description, status=entry.status, eligibility=entry.eligibility,
        catch_up_limit=entry.catch_up_limit, hold_days=entry.hold_days, revenue=entry.revenue,
        collaborators=tuple(entry.collaborators), late_events=entry.late_events,
        unallocated=entry.unallocated)


def unstructure_distributor(spec: DistributorSpec) -> dict[str, Any]:
    """The flat, JSON-ready shape of a distributor (inverse of structuring it)."""
    s = spec.schedule
    data: dict[str, Any] = {
        "id": spec.id, "name": spec.name, "units": spec.units, "timezone": s.timezone,
        "start": s.start.isoformat(),
        "schedule": list(s.modifiers) if s.frequency == "siren" else s.frequency,
        "pool": {"resolver": spec.pool.resolver, **spec.pool.config},
        "calculator": {"id": spec.calculator.id, **spec.calculator.config},
        "metrics": [{"type": m.type, "points": m.points, "value": m.value,
                     "credit": {"rule": m.credit.rule, **m.credit.config}}
                    for m in spec.metrics],
        "description": spec.description, "status": spec.status,
        "eligibility": spec.eligibility, "catch_up_limit": spec.catch_up_limit,
        "hold_days": spec.hold_days,
        "revenue": {"compilers": list(spec.revenue.compilers), "skus": list(spec.revenue.skus),
                    "categories": list(spec.revenue.categories),
                    "types": list(spec.revenue.types)},
    }
    if s.frequency != "siren" and s.interval != 1:
        data["every"] = s.interval
    if spec.collaborators:
        data["collaborators"] = list(spec.collaborators)
    if spec.late_events != "next_period":  # stored configurations stay as they were
        data["late_events"] = spec.late_events
    if spec.unallocated != "forfeit":
        data["unallocated"] = spec.unallocated
    return data


def make_converter() -> cattrs.Converter:
    """The converter with siren-core's hooks; plugins add theirs via a hook."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(Decimal, lambda v, _: parse_decimal(v))
    converter.register_structure_hook(date, lambda v, _: parse_date(v))
    converter.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(str, strict_str)
    converter.register_structure_hook(bool, _strict_bool)  # else bool falls to the int hook
    converter.register_structure_hook_factory(_is_sequence, _sequence)
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _strings)
    converter.register_structure_hook_func(_is_literal, _literal)
    converter.register_structure_hook(
        PoolChoice, lambda v, _: PoolChoice(*_split_choice(v, "resolver")))
    converter.register_structure_hook(CalculatorChoice, lambda v, _: _calculator(v))
    converter.register_structure_hook(
        CreditChoice, lambda v, _: CreditChoice(*_split_choice(v, "rule")))
    converter.register_structure_hook(
        DistributorSpec, lambda v, _: _structure_distributor(converter, v))
    converter.register_unstructure_hook(DistributorSpec, unstructure_distributor)
    return converter


# -- turning cattrs' exception groups into one clear error -------------------------------

def _leaves(exc: BaseException, path: Path) -> Iterator[tuple[Path, BaseException]]:
    if isinstance(exc, ClassValidationError):
        with_notes, others = exc.group_exceptions()
        for inner, note in with_notes:
            yield from _leaves(inner, [*path, note.name])
        for inner in others:
            yield from _leaves(inner, path)
    elif isinstance(exc, IterableValidationError):
        with_notes_i, others_i = exc.group_exceptions()
        for inner, inote in with_notes_i:
            yield from _leaves(inner, [*path, inote.index])
        for inner in others_i:
            yield from _leaves(inner, path)
    elif isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            yield [*path, key], exc
    else:
        yield path, exc


def _format_path(prefix: str, path: Sequence[str | int]) -> str:
    text = prefix
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "value"


def _value_at(data: Any, path: Sequence[str | int]) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _problem(exc: BaseException, value: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        return "is not a known key"
    if isinstance(exc, KeyError):
        return "is required"
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return f"has the wrong type ({type(value).__name__})"


def to_invalid_input(exc: BaseException, data: Any, prefix: str = "") -> InvalidInput:
    """The first leaf of a cattrs error group, as an error naming its path and value."""
    for path, leaf in _leaves(exc, []):
        if isinstance(leaf, InvalidInput):
            inner = [*path, *leaf.field.split(".")] if leaf.field else path
            return InvalidInput(_format_path(prefix, inner), leaf.value, leaf.problem)
        if isinstance(leaf, ForbiddenExtraKeysError):
            return InvalidInput(_format_path(prefix, path), path[-1], "is not a known key")
        if isinstance(leaf, KeyError):
            missing = path if path or not leaf.args else [str(leaf.args[0])]
            return InvalidInput(_format_path(prefix, missing), None, "is required")
        value = _value_at(data, path)
        return InvalidInput(_format_path(prefix, path), value, _problem(leaf, value))
    return InvalidInput(prefix or "value", data, str(exc))


def structure(converter: cattrs.Converter, data: Any, cls: type[T], prefix: str = "") -> T:
    """``converter.structure`` whose failures are :class:`InvalidInput` errors."""
    try:
        return converter.structure(data, cls)
    except InvalidInput as exc:
        raise InvalidInput(_format_path(prefix, exc.field.split(".")), exc.value,
                           exc.problem) from None
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        raise to_invalid_input(exc, data, prefix) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise to_invalid_input(exc, data, prefix) from None
