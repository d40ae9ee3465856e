"""The embedding facade: the one object an application holds.

    from datetime import UTC, datetime
    from siren_core import Kernel

    kernel = Kernel("sqlite:///rewards.db")
    kernel.create_collaborator("alice", name="Alice")
    kernel.create_distributor({...})            # see siren_core.config.converter for the shape
    kernel.record("sale", {"id": "order-1", "at": "2026-01-05T10:00:00Z",
                           "collaborator": "alice", "amount": "120.00", "currency": "USD"})
    kernel.heartbeat(datetime.now(UTC))

A kernel owns its engine, its plugin manager and its converter; two kernels in one
process share nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

import attrs

from siren_core import outbox, store
from siren_core.catalog import Catalog, change_units, check_metric_types, configure
from siren_core.config.converter import (
    SIREN_DISTRIBUTION_STATUSES,
    canonical,
    make_converter,
    structure,
    unstructure_distributor,
)
from siren_core.distribution.runner import (
    DistributionRunner,
    HeartbeatReport,
    Preview,
    first_period,
)
from siren_core.domain import (
    COLLABORATOR_STATUSES,
    EMAIL_LENGTH,
    NAME_LENGTH,
    Allocation,
    Collaborator,
    Distribution,
    Distributor,
    DistributorSpec,
    Fulfillment,
    Obligation,
    ObligationChange,
    Payout,
    RecordResult,
    check_identifier,
    check_spec_bounds,
    check_text,
)
from siren_core.errors import Conflict, InvalidInput, NotFound, SirenError
from siren_core.events import (
    CollaboratorCreated,
    CollaboratorStatusChanged,
    CollaboratorUpdated,
    DistributorCreated,
    DistributorDeleted,
    DistributorUpdated,
    Event,
    EventBus,
    ExchangeRateSet,
    Listener,
    ManualMetricRequested,
    deferred_events,
)
from siren_core.groups.values import (
    CollaboratorGroup,
    DoctorFinding,
    GroupBinding,
    GroupMember,
    GroupSpec,
    Program,
)
from siren_core.metrics import DEFAULT_BATCH_SIZE
from siren_core.metrics.reports import BulkReport
from siren_core.money import plain_text
from siren_core.obligations.values import BulkResult, GenerateResult
from siren_core.plugins import LoadReport, PluginRegistry, PluginSettings, make_plugin_manager
from siren_core.records import ExchangeRate
from siren_core.store import (
    IntegrityError,
    distribution_queries,
    exchange_queries,
    operations_queries,
    queries,
    service_queries,
)
from siren_core.store.operations_queries import CreditLine, PeriodFailure
from siren_core.times import check_instant

if TYPE_CHECKING:
    from siren_core.groups.bindings import BindingService
    from siren_core.groups.doctor import GroupDoctor
    from siren_core.groups.programs import ProgramService
    from siren_core.groups.rosters import GroupService
    from siren_core.metrics.bulk import BulkIngestor
    from siren_core.metrics.ingest import Ingestor
    from siren_core.obligations.fulfillment import FulfillmentService
    from siren_core.obligations.lifecycle import ObligationService


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _collaborator_name(name: str | None) -> str | None:
    return None if name is None else check_text("collaborator.name", name, NAME_LENGTH)


def _collaborator_email(email: str | None) -> str | None:
    return None if email is None else check_text("collaborator.email", email, EMAIL_LENGTH)


def distributor_changes(distributor: Distributor, previous_status: str, *,
                        changed: bool) -> list[Event]:
    """``distributor_updated`` (or ``_deleted``) for a real change, else nothing."""
    if distributor.spec.status == "deleted" and previous_status != "deleted":
        return [DistributorDeleted(distributor.id, previous_status)]
    if changed or distributor.spec.status != previous_status:
        return [DistributorUpdated(distributor, previous_status)]
    return []


class Kernel:
    """siren-core embedded in an application: a store, plugins, and the operations.

    ``create_schema=True`` (the default) creates the store's schema, or upgrades an older
    one; with ``False`` the store must already be at this release's schema and nothing is
    created (not even an empty SQLite file). A store that cannot be used is a
    :class:`~siren_core.store.StoreUnavailable` naming the URL, its password masked.
    ``plugin_listeners=False`` delivers events only to the callables given to
    :meth:`subscribe`, never to installed plugins' ``siren_on_event`` (``siren simulate``
    runs so).

    Two plugins providing one id (two calculators ``tiered``) stop the kernel with a
    :class:`~siren_core.errors.PluginError` naming both, unless ``tolerate_collisions``:
    for reading only (listings, ``siren doctor``), that id is then left out (neither
    plugin's record is used) and listed in ``registry.collisions``.
    """

    def __init__(
        self,
        database: str = store.DEFAULT_URL,
        *,
        plugins: Iterable[object] = (),
        plugin_settings: PluginSettings | None = None,
        load_entry_points: bool = True,
        clock: Callable[[], datetime] = _utc_now,
        create_schema: bool = True,
        plugin_listeners: bool = True,
        tolerate_collisions: bool = False,
    ) -> None:
        self.plugin_manager, self.plugin_report = make_plugin_manager(
            plugin_settings, extra_plugins=plugins, load_entry_points=load_entry_points)
        self.registry = PluginRegistry.collect(self.plugin_manager,
                                               tolerate_collisions=tolerate_collisions)
        self.converter = make_converter()
        self.plugin_manager.hook.siren_configure_converter(converter=self.converter)
        # create_schema=False: the store must exist at this release's schema (read-only
        # commands); nothing is created, not even an empty SQLite file
        self.engine = store.open_store(database, create=create_schema)
        self.clock = clock
        # plugin_listeners=False: events reach subscribed callables only, no installed
        # siren_on_event (a sandbox such as `siren simulate`)
        self.events = EventBus(self.plugin_manager.hook if plugin_listeners else None, self)
        self._catalog = Catalog(self.registry, self.converter)
        self._runner = DistributionRunner(self.engine, self.registry, self._catalog,
                                          self.events, clock)

    # The other services are built, and their modules imported, on first use: a worker
    # that only runs heartbeats never loads recording, obligations or groups (see
    # tests/test_worker_imports.py). None holds a lock or a state another must share.

    @cached_property
    def _ingestor(self) -> Ingestor:
        from siren_core.metrics.ingest import Ingestor

        return Ingestor(self.engine, self.registry, self.converter, self._catalog,
                        self.events, self.clock)

    @cached_property
    def _bulk(self) -> BulkIngestor:
        from siren_core.metrics.bulk import BulkIngestor

        return BulkIngestor(self.engine, self.registry, self._catalog, self._ingestor,
                            self.events, self.clock)

    @cached_property
    def _obligations(self) -> ObligationService:
        from siren_core.obligations.lifecycle import ObligationService

        return ObligationService(self.engine, self.events, self.clock)

    @cached_property
    def _fulfillment(self) -> FulfillmentService:
        from siren_core.obligations.fulfillment import FulfillmentService

        return FulfillmentService(self.engine, self.events, self.clock)

    @cached_property
    def _groups(self) -> GroupService:
        from siren_core.groups.rosters import GroupService

        return GroupService(self.engine, self.registry, self.converter, self.events,
                            self.clock)

    @cached_property
    def _bindings(self) -> BindingService:
        from siren_core.groups.bindings import BindingService

        return BindingService(self.engine, self.registry, self.converter, self.events,
                              self.clock)

    @cached_property
    def _programs(self) -> ProgramService:
        from siren_core.groups.programs import ProgramService

        return ProgramService(self.engine, self.clock)

    @cached_property
    def _group_doctor(self) -> GroupDoctor:
        from siren_core.groups.doctor import GroupDoctor

        return GroupDoctor(self.engine, self.registry, self.converter)

    @property
    def load_report(self) -> LoadReport:
        return self.plugin_report

    def close(self) -> None:
        store.dispose(self.engine)

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event; returns a function to unsubscribe."""
        return self.events.subscribe(listener)

    @contextmanager
    def transaction(self) -> Iterator[Kernel]:
        """Make every operation inside the block one transaction.

        Either all of them commit or none does; their events are delivered, in order,
        after the commit (``siren apply`` uses this), except ``collaborator_group_deleted``,
        which fires before its delete, as outside a transaction.
        """
        with deferred_events(), store.enclosing_transaction(self.engine):
            yield self

    # -- collaborators ---------------------------------------------------------------

    def create_collaborator(self, id: str, *, name: str | None = None,
                            status: str = "active", email: str | None = None) -> Collaborator:
        check_identifier("collaborator.id", id)
        name = _collaborator_name(name)
        email = _collaborator_email(email)
        if status not in COLLABORATOR_STATUSES:
            raise InvalidInput("collaborator.status", status,
                               f"is not one of {COLLABORATOR_STATUSES}")
        value = Collaborator(id=id, name=name or id, status=status, email=email)
        with store.unit_of_work(self.engine) as conn:
            # one statement decides, also against a concurrent create of the same id
            if not queries.insert_collaborator_once(conn, value, self.clock()):
                raise Conflict(f"collaborator {id!r} already exists")
            outbox.record(conn, [CollaboratorCreated(value)])
        self.events.dispatch(CollaboratorCreated(value))
        return value

    def set_collaborator_status(self, id: str, status: str) -> None:
        """Fires ``collaborator_status_changed`` when the status really changes."""
        if status not in COLLABORATOR_STATUSES:
            raise InvalidInput("collaborator.status", status,
                               f"is not one of {COLLABORATOR_STATUSES}")
        with store.unit_of_work(self.engine) as conn:
            before = queries.find_collaborator(conn, id, lock=True)
            if before is None or not queries.set_collaborator_status(conn, id, status,
                                                                     self.clock()):
                raise NotFound("collaborator", id)
            left = self._groups.leave_all_groups(conn, id) if status == "deleted" else []
            changed = ([CollaboratorStatusChanged(id, before.status, status)]
                       if before.status != status else [])
            outbox.record(conn, [*changed, *left])
        self.events.dispatch_all([*changed, *left])  # a deleted one leaves every group

    def update_collaborator(self, id: str, *, name: str, status: str,
                            email: str | None = None) -> None:
        """Change a collaborator's name, email and status (status through
        :meth:`set_collaborator_status`, so a deletion leaves every group).

        Fires ``collaborator_updated`` if the name or email changed, and
        ``collaborator_status_changed`` if the status did, after the commit.
        """
        name = check_text("collaborator.name", name, NAME_LENGTH)
        email = _collaborator_email(email)
        with self.transaction(), store.unit_of_work(self.engine) as conn:
            before = queries.find_collaborator(conn, id, lock=True)
            if before is None or not queries.rename_collaborator(conn, id, name, email,
                                                                 self.clock()):
                raise NotFound("collaborator", id)
            if (before.name, before.email) != (name, email):
                updated = CollaboratorUpdated(
                    attrs.evolve(before, name=name, email=email), before.name, before.email)
                outbox.record(conn, [updated])
                self.events.dispatch(updated)
            self.set_collaborator_status(id, status)

    def collaborator(self, id: str) -> Collaborator:
        with store.unit_of_work(self.engine, write=False) as conn:
            found = queries.find_collaborator(conn, id)
        if found is None:
            raise NotFound("collaborator", id)
        return found

    def collaborators(self) -> tuple[Collaborator, ...]:
        with store.unit_of_work(self.engine, write=False) as conn:
            return tuple(queries.list_collaborators(conn))

    def collaborator_api_ids(self) -> dict[str, int]:
        """external id → the stable integer id that names a collaborator over HTTP
        (``api_id``, Siren's ``collaboratorId``; given once, never reused)."""
        with store.unit_of_work(self.engine, write=False) as conn:
            return service_queries.collaborator_api_ids(conn)

    # -- distributors ----------------------------------------------------------------

    def _spec(self, spec: DistributorSpec | Mapping[str, Any]) -> DistributorSpec:
        value = spec if isinstance(spec, DistributorSpec) else structure(
            self.converter, spec, DistributorSpec)
        return check_spec_bounds(value)

    def create_distributor(self, spec: DistributorSpec | Mapping[str, Any]) -> Distributor:
        """Create a distributor and open its first period (starting at its ``start``)."""
        value = self._spec(spec)
        configure(value, self.registry, self.converter)
        check_metric_types(value, self.registry)
        start, end = first_period(value.schedule)
        now = self.clock()
        try:
            with store.unit_of_work(self.engine) as conn:
                if queries.distributor_rows(conn, external_id=value.id):
                    raise Conflict(f"distributor {value.id!r} already exists")
                key = queries.insert_distributor(
                    conn, value.id, value.name, value.units, value.status,
                    unstructure_distributor(value), now)
                queries.insert_distribution(conn, key, 0, start, end, value.units)
                created: list[Event] = [DistributorCreated(Distributor(value, 1))]
                outbox.record(conn, created)
        except IntegrityError as exc:
            raise Conflict(f"distributor {value.id!r} already exists") from exc
        self.events.dispatch_all(created)
        return Distributor(value, 1)

    def update_distributor(self, spec: DistributorSpec | Mapping[str, Any]) -> Distributor:
        """Store a new configuration; periods already distributed are not touched.

        A change of ``units`` is refused while the open period holds any credit or
        revenue; otherwise the open period takes the new units (see
        :func:`siren_core.catalog.change_units`).
        """
        value = self._spec(spec)
        configured = configure(value, self.registry, self.converter)
        check_metric_types(value, self.registry)
        with store.unit_of_work(self.engine) as conn:
            rows = queries.distributor_rows(conn, external_id=value.id)
            if not rows:
                raise NotFound("distributor", value.id)
            self._bindings.check_distributor(conn, value)  # cascades need a layered group
            version = queries.update_distributor(conn, rows[0][0], value.name, value.status,
                                                 unstructure_distributor(value), self.clock())
            # the open period is locked after the distributor row, as status changes do
            change_units(conn, rows[0][0], configured.currency)
            changed = distributor_changes(Distributor(value, version), rows[0][2],
                                          changed=self._config_differs(rows[0][3], value))
            outbox.record(conn, changed)
        self.events.dispatch_all(changed)
        return Distributor(value, version)

    def _config_differs(self, stored: Mapping[str, Any], spec: DistributorSpec) -> bool:
        """Whether ``spec`` changes the stored configuration (status aside)."""
        try:
            before = structure(self.converter, stored, DistributorSpec)
        except SirenError:  # a configuration older plugins accepted: it did change
            return True
        return (unstructure_distributor(attrs.evolve(before, status=spec.status))
                != unstructure_distributor(spec))

    def distributor(self, id: str) -> Distributor:
        with store.unit_of_work(self.engine, write=False) as conn:
            rows = queries.distributor_rows(conn, external_id=id)
        if not rows:
            raise NotFound("distributor", id)
        _key, _external, status, config, version = rows[0]
        spec = structure(self.converter, config, DistributorSpec)
        return Distributor(attrs.evolve(spec, status=status), version)

    def distributors(self) -> tuple[Distributor, ...]:
        with store.unit_of_work(self.engine, write=False) as conn:
            rows = queries.distributor_rows(conn)
        return tuple(Distributor(attrs.evolve(structure(self.converter, config,
                                                        DistributorSpec), status=status),
                                 version)
                     for _key, _external, status, config, version in rows)

    def set_distributor_status(self, id: str, status: str, *,
                               now: datetime | None = None) -> Distribution | None:
        """Pause (``inactive``), resume (``active``) or delete (``deleted``) a distributor.

        An inactive distributor accrues nothing and pays nothing. Resuming skips its open
        period if that period already ended (status ``skipped``, reason
        ``distributor_inactive``) and opens the period holding ``now`` (default: the
        clock), which is returned; paused time is never paid.
        """
        def changes(previous: str, config: Mapping[str, Any], version: int) -> list[Event]:
            if previous == status:
                return []
            spec = structure(self.converter, config, DistributorSpec)
            return distributor_changes(Distributor(attrs.evolve(spec, status=status), version),
                                       previous, changed=False)

        opened, announced = self._runner.set_distributor_status(
            id, status, self.clock() if now is None else now, changes)
        self.events.dispatch_all(announced)
        return opened

    # -- metrics ---------------------------------------------------------------------

    def record(self, type: str, event: Mapping[str, Any] | Any) -> RecordResult:
        """Record one source event of trigger strategy ``type`` (e.g. ``"sale"``)."""
        return self._ingestor.record(type, event)

    def record_many(self, events: Iterable[Mapping[str, Any]], *,
                    batch_size: int = DEFAULT_BATCH_SIZE,
                    progress: Callable[[int], None] | None = None) -> BulkReport:
        """Record many ``{"type": ..., ...}`` events, set-based, one transaction per batch.

        Returns counts of inserted, duplicate and rejected events; a rejected event (with
        its index in ``events`` and the reason) rejects only itself. ``progress(n)`` is
        called after each batch with the number of events it held. See
        :mod:`siren_core.metrics.bulk`.
        """
        return self._bulk.ingest(enumerate(events), batch_size=batch_size, progress=progress)

    def record_numbered(self, events: Iterable[tuple[int, Any]], *,
                        batch_size: int = DEFAULT_BATCH_SIZE,
                        progress: Callable[[int], None] | None = None) -> BulkReport:
        """``record_many`` with the caller's own positions (e.g. line numbers).

        ``events`` are ``(position, event)`` pairs; an event that is an
        :class:`~siren_core.errors.InvalidInput` (a line that did not parse) is reported
        as rejected at its position.
        """
        return self._bulk.ingest(events, batch_size=batch_size, progress=progress)

    def credit_metric(self, collaborator: str, *, id: str, at: datetime | None = None,
                      quantity: int = 1, note: str = "") -> RecordResult:
        """Credit ``collaborator`` by hand (Siren's ``POST /distributors/credit-metric``).

        The request is validated (the collaborator must exist), then
        ``ManualMetricRequested`` fires, then a ``manual`` source event ``id`` is recorded:
        every active distributor tracking the ``manual`` metric type credits its points
        (× ``quantity``). ``id`` is the idempotency key: a repeated request records nothing
        and fires nothing.
        """
        event = {"id": id, "at": self.clock() if at is None else at,
                 "collaborator": collaborator, "quantity": quantity, "note": note}
        parsed = self._ingestor.parse("manual", event)
        with store.unit_of_work(self.engine, write=False) as conn:
            if not queries.collaborator_exists(conn, collaborator):
                raise InvalidInput("manual.collaborator", collaborator,
                                   "is not a known collaborator")
            repeated = queries.find_source_event(conn, "manual", id) is not None
        if not repeated:
            self.events.dispatch(ManualMetricRequested(collaborator=collaborator, id=id,
                                                       at=parsed.event.at))
        return self._ingestor.record("manual", parsed.event)

    # -- distributions ---------------------------------------------------------------

    def heartbeat(self, now: datetime | None = None) -> HeartbeatReport:
        """Distribute every period that ended at or before ``now`` (default: the clock),
        then approve pending obligations whose distributor's hold period has ended.

        A ``now`` later than the clock is taken as given: the embedding application owns
        its clock (``siren heartbeat --now`` refuses one unless ``--force``). Periods it
        closes stay closed."""
        when = self.clock() if now is None else now
        with store.connection_held(self.engine):  # not a checkout (and ping) per period
            report = self._runner.heartbeat(when)
            approved = self._obligations.approve_held(when)
        return attrs.evolve(report, approved_obligations=approved)

    def preview(self, distributor: str, now: datetime | None = None) -> Preview:
        """What the open period of ``distributor`` would pay if it closed at ``now``."""
        return self._runner.preview(distributor, self.clock() if now is None else now)

    def distribution(self, id: int) -> Distribution:
        """One period by its id."""
        with store.unit_of_work(self.engine, write=False) as conn:
            found = queries.get_distribution(conn, id)
        if found is None:
            raise NotFound("distribution", id)
        return found

    def distributions(self, *, distributor: str | None = None,
                      status: str | None = None) -> tuple[Distribution, ...]:
        """Periods, oldest first; ``status`` also takes Siren's ``pending`` (= ``open``)."""
        status = canonical(SIREN_DISTRIBUTION_STATUSES, status)
        with store.unit_of_work(self.engine, write=False) as conn:
            return tuple(queries.list_distributions(conn, distributor_id=distributor,
                                                    status=status))

    def allocations(self, distribution: int | None = None) -> tuple[Allocation, ...]:
        with store.unit_of_work(self.engine, write=False) as conn:
            return tuple(distribution_queries.list_allocations(conn, distribution))

    def period_failures(self, *, open_only: bool = False) -> tuple[PeriodFailure, ...]:
        """Periods whose distribution failed at least once, with the count and the last
        error (``open_only``: those still not distributed)."""
        with store.unit_of_work(self.engine, write=False) as conn:
            return tuple(operations_queries.period_failures(conn, open_only=open_only))

    def allocation_credits(self, distribution: int) -> tuple[CreditLine, ...]:
        """The score credits that made the scores of ``distribution``'s allocations."""
        with store.unit_of_work(self.engine, write=False) as conn:
            if queries.get_distribution(conn, distribution) is None:
                raise NotFound("distribution", distribution)
            return tuple(operations_queries.allocation_credits(conn, distribution))

    def credits(self, collaborator: str, *, distributor: str | None = None
                ) -> tuple[CreditLine, ...]:
        """Every score credit of ``collaborator`` with its source event, oldest first."""
        with store.unit_of_work(self.engine, write=False) as conn:
            if not queries.collaborator_exists(conn, collaborator):
                raise NotFound("collaborator", collaborator)
            return tuple(operations_queries.collaborator_credits(
                conn, collaborator, distributor_id=distributor))

    # -- exchange rates (docs/currencies.md) ------------------------------------------------

    def set_exchange_rate(self, base: str, quote: str, rate: str | Decimal | int, *,
                          since: date | str) -> ExchangeRate:
        """Store 1 ``base`` = ``rate`` ``quote`` from ``since`` (a date: 00:00 UTC) until
        a later rate of the pair, replacing the rate stored from that date if any.

        ``rate`` is exact: a decimal string, a ``Decimal`` or an ``int`` (a float is
        refused). Events already recorded keep the rate they were converted at. Fires
        ``exchange_rate_set`` unless the same rate was stored from that date already.
        """
        from siren_core.config.rates import exchange_rate

        value = exchange_rate(base, quote, rate, since)
        text = plain_text(value.rate)
        with store.unit_of_work(self.engine) as conn:
            previous = exchange_queries.set_rate(conn, value.base, value.quote, value.since,
                                                 text, self.clock())
            changed = [] if previous == text else [ExchangeRateSet(
                value, None if previous is None else Decimal(previous))]
            outbox.record(conn, changed)
        self.events.dispatch_all(changed)
        return value

    def exchange_rates(self, *, base: str | None = None,
                       quote: str | None = None) -> tuple[ExchangeRate, ...]:
        """The stored rates by pair, then from oldest; optionally of one base or quote."""
        with store.unit_of_work(self.engine, write=False) as conn:
            return tuple(exchange_queries.list_rates(conn, base=base, quote=quote))

    # -- obligations and fulfillment (siren_core.obligations.lifecycle, docs/obligations.md) -----

    def obligations(self, *, collaborator: str | None = None, status: str | None = None,
                    award_type: str | None = None, payout: int | None = None,
                    source: str | None = None) -> tuple[Obligation, ...]:
        """Obligations matching every filter given; ``status`` accepts Siren's aliases."""
        return tuple(self._obligations.find(collaborator=collaborator, status=status,
                                            award_type=award_type, payout_id=payout,
                                            source=source))

    def select_obligations(self, *, distributor: str | None = None,
                           status: str | None = None, before: datetime | None = None,
                           collaborator: str | None = None) -> tuple[Obligation, ...]:
        """Obligations issued by ``distributor``'s distributions, with ``status`` (aliases
        accepted), issued before ``before``, of ``collaborator``: every filter given."""
        if before is not None:
            check_instant("before", before)
        found = self.obligations(collaborator=collaborator, status=status)
        if distributor is not None:
            self.distributor(distributor)  # NotFound for a mistyped id
            with store.unit_of_work(self.engine, write=False) as conn:
                issued = operations_queries.distributor_obligation_ids(conn, distributor)
            found = tuple(o for o in found if o.id in issued)
        return tuple(o for o in found if before is None or o.created_at < before)

    def obligation(self, id: int) -> Obligation:
        return self._obligations.get(id)

    def issue_obligation(self, collaborator: str, amount: int, units: str, *, source: str,
                         source_id: int, award_type: str = "manual", actor: str = "api",
                         reason: str | None = None) -> Obligation:
        """Issue a pending obligation from a source other than a distribution (a plugin's
        program, a manual award...); ``(source, source_id)`` is its idempotency key."""
        return self._obligations.issue(collaborator, amount, units, source=source,
                                       source_id=source_id, award_type=award_type,
                                       actor=actor, reason=reason)

    def set_obligation_status(self, id: int, status: str, *, actor: str = "api",
                              reason: str | None = None) -> Obligation:
        """Move one obligation (a status, an alias or a Siren action name); an illegal
        move raises ``IllegalTransition`` and changes nothing."""
        return self._obligations.set_status(id, status, actor=actor, reason=reason)

    def obligation_action(self, action: str, ids: Iterable[int], *, actor: str = "api",
                          reason: str | None = None) -> BulkResult:
        """Bulk action (``approve``, ``reject``, ``cancel``, ``markPending``,
        ``markComplete`` or a status) with an outcome per id: done, skipped or refused."""
        return self._obligations.apply(action, ids, actor=actor, reason=reason)

    def approve_obligations(self, ids: Iterable[int], *, actor: str = "api",
                            reason: str | None = None) -> BulkResult:
        return self.obligation_action("approve", ids, actor=actor, reason=reason)

    def reject_obligations(self, ids: Iterable[int], *, actor: str = "api",
                           reason: str | None = None) -> BulkResult:
        return self.obligation_action("reject", ids, actor=actor, reason=reason)

    def cancel_obligations(self, ids: Iterable[int], *, actor: str = "api",
                           reason: str | None = None) -> BulkResult:
        return self.obligation_action("cancel", ids, actor=actor, reason=reason)

    def obligation_history(self, id: int) -> tuple[ObligationChange, ...]:
        """Every status change of an obligation, oldest first (the audit log)."""
        return tuple(self._obligations.history(id))

    def generate_fulfillment(self, obligation_ids: Iterable[int] | None = None, *,
                             minimum: Mapping[str, int] | None = None,
                             actor: str = "api",
                             include_pending: bool = False) -> GenerateResult:
        """One payout per collaborator and currency from approved obligations (all, or the
        chosen ids); totals under ``minimum[units]`` (minor units) are carried forward.
        ``include_pending``: pending ones too, as Siren does (approved as they are batched)."""
        return self._fulfillment.generate(obligation_ids, minimum=minimum, actor=actor,
                                          include_pending=include_pending)

    def fulfillment(self, id: int) -> Fulfillment:
        return self._fulfillment.fulfillment(id)

    def fulfillments(self, *, status: str | None = None) -> tuple[Fulfillment, ...]:
        return tuple(self._fulfillment.fulfillments(status=status))

    def payout(self, id: int) -> Payout:
        return self._fulfillment.payout(id)

    def payouts(self, *, fulfillment: int | None = None,
                status: str | None = None) -> tuple[Payout, ...]:
        return tuple(self._fulfillment.payouts(fulfillment_id=fulfillment, status=status))

    def mark_payout(self, id: int, status: str, *, actor: str = "api",
                    reference: str | None = None, reason: str | None = None) -> Payout:
        """``processing``, ``paid`` (fulfils its obligations) or ``failed`` (returns them
        to the approved pool)."""
        return self._fulfillment.mark_payout(id, status, actor=actor, reference=reference,
                                             reason=reason)

    def mark_fulfillment(self, id: int, status: str, *, actor: str = "api",
                         reference: str | None = None, reason: str | None = None
                         ) -> Fulfillment:
        """Mark every open payout of a fulfillment ``processing``, ``paid`` or ``failed``."""
        return self._fulfillment.mark_fulfillment(id, status, actor=actor,
                                                  reference=reference, reason=reason)

    def export_fulfillment_csv(self, id: int, *, all_payouts: bool = False) -> str:
        """A mass-payout CSV of the fulfillment's open payouts (every payout if asked)."""
        from siren_core.obligations.exports import fulfillment_csv

        return fulfillment_csv(self._fulfillment.fulfillment(id), all_payouts=all_payouts)

    def obligation_totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """(fulfilled obligations, paid payouts) per currency; equal unless the store
        was edited by hand."""
        return self._obligations.totals()

    def table_counts(self) -> dict[str, int]:
        with store.unit_of_work(self.engine, write=False) as conn:
            return queries.table_counts(conn)

    # -- collaborator groups, bindings and programs -----------------------------------

    def create_group(self, group: GroupSpec | Mapping[str, Any] | str, *,
                     name: str | None = None, description: str = "", structure: str = "flat",
                     members: Sequence[Any] = ()) -> CollaboratorGroup:
        """Create a group, optionally with members (config shape: a ``[[groups]]`` table)."""
        if isinstance(group, str):
            return self._groups.create(GroupSpec(group, name, description, structure,
                                                 list(members)))
        return self._groups.create(group)

    def update_group(self, group: str, *, name: str | None = None,
                     description: str | None = None,
                     structure: str | None = None) -> CollaboratorGroup:
        return self._groups.update(group, name=name, description=description,
                                   structure=structure)

    def rename_group(self, group: str, name: str) -> CollaboratorGroup:
        return self._groups.update(group, name=name)

    def change_group_structure(self, group: str, structure: str) -> CollaboratorGroup:
        return self._groups.update(group, structure=structure)

    def delete_group(self, group: str) -> None:
        self._groups.delete(group)

    def group(self, group: str) -> CollaboratorGroup:
        return self._groups.group(group)

    def groups(self) -> tuple[CollaboratorGroup, ...]:
        return tuple(self._groups.groups())

    def group_members(self, group: str) -> tuple[GroupMember, ...]:
        return tuple(self._groups.members(group))

    def add_group_members(self, group: str, members: Iterable[Any]
                          ) -> tuple[GroupMember, ...]:
        return tuple(self._groups.add_members(group, members))

    def set_group_members(self, group: str, members: Iterable[Any]
                          ) -> tuple[GroupMember, ...]:
        return tuple(self._groups.set_members(group, members))

    def remove_group_member(self, group: str, collaborator: str) -> None:
        self._groups.remove_member(group, collaborator)

    def set_group_member_metadata(self, group: str, collaborator: str,
                                  metadata: Mapping[str, Any]) -> GroupMember:
        return self._groups.set_member_metadata(group, collaborator, metadata)

    def bind_distributor(self, distributor: str, group: str | None) -> None:
        """Bind a distributor to a group (``None`` unbinds)."""
        self._bindings.bind("distributor", distributor, group)

    def distributor_group(self, distributor: str) -> str | None:
        """The live group the distributor is bound to (``None``: unbound, or the bound
        group was deleted: see :meth:`distributor_binding`)."""
        return self._bindings.bound_group("distributor", distributor)

    def distributor_binding(self, distributor: str) -> GroupBinding | None:
        """The distributor's binding, even to a deleted group (``deleted`` says so; a new
        group that took the deleted one's id is not the one bound)."""
        return self._bindings.binding("distributor", distributor)

    def bind_program(self, program: str, group: str | None) -> None:
        """Bind a program to a group (``None`` unbinds)."""
        self._bindings.bind("program", program, group)

    def create_program(self, id: str, *, name: str | None = None, status: str = "active",
                       collaborators: Sequence[str] = ()) -> Program:
        return self._programs.create(id, name=name, status=status,
                                     collaborators=collaborators)

    def set_program_status(self, id: str, status: str) -> None:
        self._programs.set_status(id, status)

    def program(self, id: str) -> Program:
        return self._programs.program(id)

    def programs(self) -> tuple[Program, ...]:
        return tuple(self._programs.programs())

    def eligible_collaborators(self, *, distributor: str | None = None,
                               program: str | None = None) -> tuple[str, ...]:
        from siren_core.groups.doctor import eligible_collaborators

        return tuple(eligible_collaborators(self.engine, self.converter,
                                            distributor=distributor, program=program))

    def doctor(self) -> tuple[DoctorFinding, ...]:
        """Active distributors that would pay no one, and why (see docs/groups.md)."""
        return tuple(self._group_doctor.findings())
