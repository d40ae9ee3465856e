"""Lifecycle events of collaborators and distributors, so that a mirror can reconcile:
fired after commit (also inside ``kernel.transaction()``), only for real changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from siren_core import Kernel, hookimpl
from siren_core.domain import Collaborator
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import (
    CollaboratorCreated,
    CollaboratorStatusChanged,
    CollaboratorUpdated,
    DistributorCreated,
    DistributorDeleted,
    DistributorUpdated,
    Event,
)

from conftest import at, monthly


class Mirror:
    """A listener that records each event with what the store said when it arrived."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.seen: list[tuple[Event, Any]] = []
        kernel.subscribe(self)

    def __call__(self, event: Event) -> None:
        if isinstance(event, CollaboratorCreated | CollaboratorUpdated
                      | CollaboratorStatusChanged):
            state: Any = {c.id: (c.name, c.status) for c in self.kernel.collaborators()}
        else:
            state = {d.id: (d.spec.status, d.config_version)
                     for d in self.kernel.distributors()}
        self.seen.append((event, state))

    def events(self) -> list[Event]:
        found = [event for event, _state in self.seen]
        self.seen.clear()
        return found


def test_collaborator_created_fires_after_commit(kernel: Kernel) -> None:
    mirror = Mirror(kernel)
    kernel.create_collaborator("ana", name="Ana", email="ana@example.com")
    [(event, state)] = mirror.seen
    assert event == CollaboratorCreated(Collaborator("ana", "Ana", "active", "ana@example.com"))
    assert event.event_id == "collaborator_created"
    assert state == {"ana": ("Ana", "active")}  # committed when the listener runs
    mirror.seen.clear()
    with pytest.raises(Conflict):
        kernel.create_collaborator("ana")
    with pytest.raises(InvalidInput):
        kernel.create_collaborator("bob", status="sleeping")
    assert mirror.events() == []


def test_collaborator_updated_and_status_changed_fire_only_on_real_changes(
        kernel: Kernel) -> None:
    kernel.create_collaborator("ana", name="Ana")
    kernel.create_group("team", members=["ana"])
    mirror = Mirror(kernel)
    kernel.update_collaborator("ana", name="Ana", status="active")
    kernel.set_collaborator_status("ana", "active")
    assert mirror.events() == []
    kernel.update_collaborator("ana", name="Ana B.", status="active", email="a@b.c")
    assert mirror.seen == [(CollaboratorUpdated(Collaborator("ana", "Ana B.", "active",
                                                             "a@b.c"), "Ana", None),
                            {"ana": ("Ana B.", "active")})]
    assert mirror.seen[0][0].event_id == "collaborator_updated"
    mirror.seen.clear()
    kernel.update_collaborator("ana", name="Ana B.", status="inactive", email="a@b.c")
    assert mirror.seen == [(CollaboratorStatusChanged("ana", "active", "inactive"),
                            {"ana": ("Ana B.", "inactive")})]
    mirror.seen.clear()
    kernel.set_collaborator_status("ana", "deleted")
    assert [e.event_id for e in mirror.events()] == [
        "collaborator_status_changed", "collaborator_removed_from_collaborator_group"]
    with pytest.raises(NotFound):
        kernel.set_collaborator_status("nobody", "inactive")
    with pytest.raises(NotFound):
        kernel.update_collaborator("nobody", name="N", status="active")
    assert mirror.events() == []


def test_distributor_created_updated_deleted(kernel: Kernel) -> None:
    mirror = Mirror(kernel)
    kernel.create_distributor(monthly())
    [(created, state)] = mirror.seen
    assert isinstance(created, DistributorCreated) and created.event_id == "distributor_created"
    assert (created.distributor.id, created.distributor.config_version) == ("monthly-bonus", 1)
    assert created.distributor == kernel.distributor("monthly-bonus")
    assert state == {"monthly-bonus": ("active", 1)}
    mirror.seen.clear()

    kernel.update_distributor(monthly())  # the same configuration: nothing to report
    assert mirror.events() == []
    kernel.update_distributor(monthly(name="Renamed"))
    [(updated, state)] = mirror.seen
    assert updated == DistributorUpdated(kernel.distributor("monthly-bonus"), "active")
    assert updated.event_id == "distributor_updated"
    assert updated.distributor.spec.name == "Renamed" and state["monthly-bonus"][1] == 3
    mirror.seen.clear()
    with pytest.raises(InvalidInput):
        kernel.update_distributor(monthly(calculator={"id": "nope"}))
    assert mirror.events() == []

    kernel.set_distributor_status("monthly-bonus", "inactive", now=at("2026-01-10"))
    kernel.set_distributor_status("monthly-bonus", "inactive", now=at("2026-01-10"))
    [paused] = mirror.events()
    assert isinstance(paused, DistributorUpdated)
    assert (paused.distributor.spec.status, paused.previous_status) == ("inactive", "active")
    kernel.set_distributor_status("monthly-bonus", "deleted", now=at("2026-01-11"))
    assert mirror.seen == [(DistributorDeleted("monthly-bonus", "inactive"),
                            {"monthly-bonus": ("deleted", 3)})]
    assert mirror.seen[0][0].event_id == "distributor_deleted"
    mirror.seen.clear()
    kernel.create_distributor(monthly("other"))
    kernel.update_distributor(monthly("other", status="deleted"))
    assert mirror.events()[1] == DistributorDeleted("other", "active")


def test_inside_a_transaction_they_fire_after_its_commit_or_not_at_all(
        kernel: Kernel) -> None:
    mirror = Mirror(kernel)
    with kernel.transaction():
        kernel.create_collaborator("ana")
        kernel.create_distributor(monthly())
        kernel.update_distributor(monthly(name="Second"))
        assert mirror.seen == []
    assert [event.event_id for event, _state in mirror.seen] == [
        "collaborator_created", "distributor_created", "distributor_updated"]
    # every listener saw the whole transaction committed
    assert all(state for _event, state in mirror.seen)
    assert mirror.seen[1][1] == {"monthly-bonus": ("active", 2)}
    mirror.seen.clear()
    with pytest.raises(Conflict), kernel.transaction():
        kernel.create_collaborator("bob")
        kernel.set_collaborator_status("ana", "inactive")
        kernel.create_collaborator("ana")
    assert mirror.events() == []
    assert [(c.id, c.status) for c in kernel.collaborators()] == [("ana", "active")]


class Listener:
    def __init__(self) -> None:
        self.ids: list[str] = []

    @hookimpl
    def siren_on_event(self, event: Event) -> None:
        self.ids.append(event.event_id)


def test_plugins_receive_them_through_siren_on_event(
        make_kernel: Callable[..., Kernel]) -> None:
    listener = Listener()
    kernel = make_kernel(plugins=[listener])
    kernel.create_collaborator("ana")
    kernel.update_collaborator("ana", name="Ana", status="pending")
    kernel.create_distributor(monthly())
    kernel.set_distributor_status("monthly-bonus", "deleted")
    assert listener.ids == ["collaborator_created", "collaborator_updated",
                            "collaborator_status_changed", "distributor_created",
                            "distributor_deleted"]
