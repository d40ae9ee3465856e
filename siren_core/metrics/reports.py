"""What a bulk recording answers (:class:`BulkReport`, its :class:`Rejection` s): here,
not in ``bulk``, so that the kernel's signatures name them without importing the
recording (``typing.get_type_hints`` on ``Kernel.record_many`` must resolve)."""

from __future__ import annotations

from typing import Any

import attrs

from siren_core.errors import shown


@attrs.frozen
class Rejection:
    """One event that was not recorded: where it was, and why.

    ``position`` is the event's index in the iterable given to ``record_many`` (from 0),
    or its line number in ``siren ingest``.
    """

    position: int
    type: str | None
    id: str | None
    field: str
    value: Any
    problem: str

    @property
    def reason(self) -> str:
        return f"{self.field}: {shown(self.value)} {self.problem}"


@attrs.frozen
class BulkReport:
    """Counts of a bulk ingestion: every event is inserted, a duplicate, or rejected."""

    inserted: int = 0
    duplicates: int = 0
    credits: int = 0
    skipped: int = 0
    """``credit_skip`` rows written: a tracking distributor credited nothing (see
    :class:`~siren_core.domain.CreditSkipped`)."""
    late: int = 0
    """Late credits and ``late_rejected`` skips written, summed as
    :attr:`~siren_core.domain.RecordResult.late` (events in a distributed period)."""
    late_positions: tuple[int, ...] = ()
    """The positions of the inserted events that were late at some distributor."""
    rejected: tuple[Rejection, ...] = ()
    """The events refused, by position."""

    @property
    def total(self) -> int:
        return self.inserted + self.duplicates + len(self.rejected)
