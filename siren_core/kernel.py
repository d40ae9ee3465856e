"""The embedding facade: the one object an application holds.

    from datetime import UTC, datetime
    from siren_core import Kernel

    kernel = Kernel("sqlite:///rewards.db")
    kernel.create_collaborator("alice", name="Alice")
    kernel.create_distributor({...})            # see siren_core.config for the shape
    kernel.record("sale", {"id": "order-1", "at": "2026-01-05T10:00:00Z",
                           "collaborator": "alice", "amount": "120.00", "currency": "USD"})
    kernel.heartbeat(datetime.now(UTC))

A kernel owns its engine, its plugin manager and its converter; two kernels in one
process share nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from sqlalchemy.exc import IntegrityError

from siren_core import store
from siren_core.catalog import Catalog, configure
from siren_core.config import make_converter, structure, unstructure_distributor
from siren_core.distribute import DistributionRunner, HeartbeatReport, Preview, first_period
from siren_core.domain import (
    COLLABORATOR_STATUSES,
    Allocation,
    Collaborator,
    Distribution,
    Distributor,
    DistributorSpec,
    Obligation,
    RecordResult,
)
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import EventBus, Listener
from siren_core.ingest import Ingestor
from siren_core.plugins import LoadReport, PluginRegistry, PluginSettings, make_plugin_manager
from siren_core.store import queries


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Kernel:
    """siren-core embedded in an application: a store, plugins, and the operations."""

    def __init__(
        self,
        database: str = store.DEFAULT_URL,
        *,
        plugins: Iterable[object] = (),
        plugin_settings: PluginSettings | None = None,
        load_entry_points: bool = True,
        clock: Callable[[], datetime] = _utc_now,
        create_schema: bool = True,
    ) -> None:
        self.plugin_manager, self.plugin_report = make_plugin_manager(
            plugin_settings, extra_plugins=plugins, load_entry_points=load_entry_points)
        self.registry = PluginRegistry.collect(self.plugin_manager)
        self.converter = make_converter()
        self.plugin_manager.hook.siren_configure_converter(converter=self.converter)
        self.engine = store.open_engine(database)
        if create_schema:
            store.create_schema(self.engine)
        self.clock = clock
        self.events = EventBus(self.plugin_manager.hook, self)
        self._catalog = Catalog(self.registry, self.converter)
        self._ingestor = Ingestor(self.engine, self.registry, self.converter, self._catalog,
                                  self.events, clock)
        self._runner = DistributionRunner(self.engine, self.registry, self._catalog,
                                          self.events, clock)

    @property
    def load_report(self) -> LoadReport:
        return self.plugin_report

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event; returns a function to unsubscribe."""
        return self.events.subscribe(listener)

    # -- collaborators ---------------------------------------------------------------

    def create_collaborator(self, id: str, *, name: str | None = None,
                            status: str = "active", email: str | None = None) -> Collaborator:
        if not isinstance(id, str) or not id.strip():
            raise InvalidInput("collaborator.id", id, "must be a non-empty string")
        if status not in COLLABORATOR_STATUSES:
            raise InvalidInput("collaborator.status", status,
                               f"is not one of {COLLABORATOR_STATUSES}")
        value = Collaborator(id=id, name=name or id, status=status, email=email)
        with store.unit_of_work(self.engine) as conn:
            if queries.collaborator_exists(conn, id):
                raise Conflict(f"collaborator {id!r} already exists")
            queries.insert_collaborator(conn, value, self.clock())
        return value

    def set_collaborator_status(self, id: str, status: str) -> None:
        if status not in COLLABORATOR_STATUSES:
            raise InvalidInput("collaborator.status", status,
                               f"is not one of {COLLABORATOR_STATUSES}")
        with store.unit_of_work(self.engine) as conn:
            if not queries.set_collaborator_status(conn, id, status, self.clock()):
                raise NotFound("collaborator", id)

    def collaborators(self) -> list[Collaborator]:
        with store.unit_of_work(self.engine, write=False) as conn:
            return queries.list_collaborators(conn)

    # -- distributors ----------------------------------------------------------------

    def _spec(self, spec: DistributorSpec | Mapping[str, Any]) -> DistributorSpec:
        if isinstance(spec, DistributorSpec):
            return spec
        return structure(self.converter, spec, DistributorSpec)

    def create_distributor(self, spec: DistributorSpec | Mapping[str, Any]) -> Distributor:
        """Create a distributor and open its first period (starting at its ``start``)."""
        value = self._spec(spec)
        configure(value, self.registry, self.converter)
        start, end = first_period(value.schedule)
        now = self.clock()
        try:
            with store.unit_of_work(self.engine) as conn:
                if queries.distributor_rows(conn, external_id=value.id):
                    raise Conflict(f"distributor {value.id!r} already exists")
                key = queries.insert_distributor(
                    conn, value.id, value.name, value.units, value.status,
                    unstructure_distributor(value), now)
                queries.insert_distribution(conn, key, 0, start, end)
        except IntegrityError as exc:
            raise Conflict(f"distributor {value.id!r} already exists") from exc
        return Distributor(value, 1)

    def update_distributor(self, spec: DistributorSpec | Mapping[str, Any]) -> Distributor:
        """Store a new configuration; periods already distributed are not touched."""
        value = self._spec(spec)
        configure(value, self.registry, self.converter)
        with store.unit_of_work(self.engine) as conn:
            rows = queries.distributor_rows(conn, external_id=value.id)
            if not rows:
                raise NotFound("distributor", value.id)
            version = queries.update_distributor(conn, rows[0][0], value.name, value.status,
                                                 unstructure_distributor(value), self.clock())
        return Distributor(value, version)

    def distributor(self, id: str) -> Distributor:
        with store.unit_of_work(self.engine, write=False) as conn:
            rows = queries.distributor_rows(conn, external_id=id)
        if not rows:
            raise NotFound("distributor", id)
        _key, _external, status, config, version = rows[0]
        spec = structure(self.converter, config, DistributorSpec)
        return Distributor(attrs.evolve(spec, status=status), version)

    def distributors(self) -> list[Distributor]:
        with store.unit_of_work(self.engine, write=False) as conn:
            rows = queries.distributor_rows(conn)
        return [Distributor(attrs.evolve(structure(self.converter, config, DistributorSpec),
                                         status=status), version)
                for _key, _external, status, config, version in rows]

    # -- metrics ---------------------------------------------------------------------

    def record(self, type: str, event: Mapping[str, Any] | Any) -> RecordResult:
        """Record one source event of trigger strategy ``type`` (e.g. ``"sale"``)."""
        return self._ingestor.record(type, event)

    # -- distributions ---------------------------------------------------------------

    def heartbeat(self, now: datetime | None = None) -> HeartbeatReport:
        """Distribute every period that ended at or before ``now`` (default: the clock)."""
        return self._runner.heartbeat(self.clock() if now is None else now)

    def preview(self, distributor: str, now: datetime | None = None) -> Preview:
        """What the open period of ``distributor`` would pay if it closed at ``now``."""
        return self._runner.preview(distributor, self.clock() if now is None else now)

    def distributions(self, *, distributor: str | None = None,
                      status: str | None = None) -> list[Distribution]:
        with store.unit_of_work(self.engine, write=False) as conn:
            return queries.list_distributions(conn, distributor_id=distributor, status=status)

    def allocations(self, distribution: int | None = None) -> list[Allocation]:
        with store.unit_of_work(self.engine, write=False) as conn:
            return queries.list_allocations(conn, distribution)

    def obligations(self, *, collaborator: str | None = None,
                    status: str | None = None) -> list[Obligation]:
        with store.unit_of_work(self.engine, write=False) as conn:
            return queries.list_obligations(conn, collaborator_id=collaborator, status=status)

    def table_counts(self) -> dict[str, int]:
        with store.unit_of_work(self.engine, write=False) as conn:
            return queries.table_counts(conn)
