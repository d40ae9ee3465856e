"""Groups, membership, bindings and programs, and every event guarantee they carry."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from siren_core import Kernel
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import Event

from conftest import monthly


class Recorder:
    """Collects events; ``seen`` is what each event looked like to its listener."""

    def __init__(self, kernel: Kernel) -> None:
        self.events: list[Event] = []
        kernel.subscribe(self.events.append)

    def ids(self) -> list[tuple[Any, ...]]:
        """(event id, field values…) of each event so far, metadata left out; then clear."""
        found = [(event.event_id, *(getattr(event, f.name) for f in attrs.fields(type(event))
                                    if "metadata" not in f.name)) for event in self.events]
        self.events.clear()
        return found


def people(kernel: Kernel, *names: str) -> None:
    for name in names:
        kernel.create_collaborator(name)


@pytest.fixture
def team(kernel: Kernel) -> Kernel:
    people(kernel, "alice", "bob", "carol", "dave")
    kernel.create_group("team", structure="parent_child", members=[
        {"collaborator": "alice"}, {"collaborator": "bob", "parent": "alice"}])
    return kernel


# -- groups ----------------------------------------------------------------------------

def test_create_fires_created_then_one_added_per_member(kernel: Kernel) -> None:
    people(kernel, "alice", "bob")
    seen = Recorder(kernel)
    group = kernel.create_group({"id": "sales-team", "structure": "parent_child", "members": [
        {"collaborator": "alice"}, {"collaborator": "bob", "parent": "alice"}]})
    assert (group.id, group.name, group.structure) == ("sales-team", "sales-team",
                                                       "parent_child")
    assert seen.ids() == [("collaborator_group_created", "sales-team"),
                          ("collaborator_added_to_collaborator_group", "sales-team", "alice"),
                          ("collaborator_added_to_collaborator_group", "sales-team", "bob")]
    assert [(m.collaborator, dict(m.metadata)) for m in kernel.group_members("sales-team")] == [
        ("alice", {}), ("bob", {"parent": "alice"})]


def test_bad_groups_are_refused_naming_field_and_value(kernel: Kernel) -> None:
    people(kernel, "alice")
    kernel.set_collaborator_status("alice", "pending")
    with pytest.raises(InvalidInput) as error:
        kernel.create_group("g", structure="pyramid")
    assert (error.value.field, error.value.value) == ("group.structure", "pyramid")
    with pytest.raises(InvalidInput) as error:
        kernel.create_group("g", members=["nobody"])
    assert (error.value.field, error.value.value) == ("group.members[0].collaborator", "nobody")
    with pytest.raises(InvalidInput, match="only active"):
        kernel.create_group("g", members=["alice"])
    with pytest.raises(InvalidInput) as error:
        kernel.create_group("g", structure="linear_chain",
                            members=[{"collaborator": "x", "position": "first"}])
    assert kernel.groups() == ()
    kernel.create_group("g")
    with pytest.raises(Conflict):
        kernel.create_group("g")


def test_renamed_fires_only_on_a_real_change(team: Kernel) -> None:
    seen = Recorder(team)
    team.rename_group("team", "team")
    team.update_group("team", description="the sales people")
    assert seen.ids() == []
    team.rename_group("team", "Sales")
    assert seen.ids() == [("collaborator_group_renamed", "team", "team", "Sales")]
    assert team.group("team").name == "Sales"


def test_structure_changed_fires_only_on_a_real_change(team: Kernel) -> None:
    seen = Recorder(team)
    team.change_group_structure("team", "parent_child")
    assert seen.ids() == []
    team.update_group("team", name="Sales", structure="flat")
    assert seen.ids() == [("collaborator_group_renamed", "team", "team", "Sales"),
                          ("collaborator_group_structure_changed", "team", "parent_child",
                           "flat")]
    # metadata is not migrated: the old keys stay
    assert dict(team.group_members("team")[1].metadata) == {"parent": "alice"}


def test_deleted_fires_before_the_delete_and_the_group_is_still_readable(team: Kernel) -> None:
    inside: list[Any] = []

    def listener(event: Event) -> None:
        if event.event_id == "collaborator_group_deleted":
            inside.append((team.group("team").name,
                           [m.collaborator for m in team.group_members("team")]))
    team.subscribe(listener)
    seen = Recorder(team)
    team.delete_group("team")
    assert inside == [("team", ["alice", "bob"])]
    assert seen.ids() == [("collaborator_group_deleted", "team")]  # no removed events
    with pytest.raises(NotFound):
        team.group("team")
    assert team.groups() == ()
    team.create_group("team")  # a deleted group's id can be used again
    assert team.group_members("team") == ()


# -- membership ------------------------------------------------------------------------

def test_add_is_idempotent_and_returns_and_announces_only_new_members(team: Kernel) -> None:
    seen = Recorder(team)
    added = team.add_group_members("team", [{"collaborator": "bob", "parent": "carol"},
                                           {"collaborator": "carol", "parent": "alice"}])
    assert [(m.collaborator, dict(m.metadata)) for m in added] == [("carol",
                                                                   {"parent": "alice"})]
    assert seen.ids() == [("collaborator_added_to_collaborator_group", "team", "carol")]
    assert team.add_group_members("team", ["alice", "bob"]) == ()
    assert team.add_group_members("team", []) == ()
    assert seen.ids() == []
    # an existing member's metadata is not touched by add
    assert dict(team.group_members("team")[1].metadata) == {"parent": "alice"}


def test_added_event_carries_the_metadata_as_stored(team: Kernel) -> None:
    seen = Recorder(team)
    team.add_group_members("team", [{"collaborator": "carol", "parentCollaboratorId": "bob"}])
    assert dict(seen.events[0].metadata) == {"parent": "bob"}  # type: ignore


def test_remove_fires_removed_and_a_non_member_is_not_found(team: Kernel) -> None:
    seen = Recorder(team)
    team.remove_group_member("team", "bob")
    assert seen.ids() == [("collaborator_removed_from_collaborator_group", "team", "bob")]
    with pytest.raises(NotFound, match="member"):
        team.remove_group_member("team", "bob")
    with pytest.raises(NotFound, match="member"):
        team.remove_group_member("team", "carol")
    with pytest.raises(NotFound, match="collaborator group 'nope'"):
        team.remove_group_member("nope", "bob")
    assert seen.ids() == []


def test_replace_reconciles_and_converges(team: Kernel) -> None:
    seen = Recorder(team)
    body = [{"collaborator": "alice", "parent": "carol"}, {"collaborator": "carol"}]
    members = team.set_group_members("team", body)
    assert [(m.collaborator, dict(m.metadata)) for m in members] == [
        ("alice", {"parent": "carol"}), ("carol", {})]
    assert seen.ids() == [
        ("collaborator_removed_from_collaborator_group", "team", "bob"),
        ("collaborator_added_to_collaborator_group", "team", "carol"),
        ("collaborator_group_member_metadata_changed", "team", "alice")]
    team.set_group_members("team", body)
    assert seen.ids() == []
    team.set_group_members("team", [])
    assert team.group_members("team") == ()
    assert len(seen.ids()) == 2


def test_metadata_changed_fires_only_on_a_real_change(team: Kernel) -> None:
    seen = Recorder(team)
    team.set_group_member_metadata("team", "bob", {"parent": "alice"})
    assert seen.ids() == []
    team.set_group_member_metadata("team", "bob", {})
    [event] = seen.events
    assert event.event_id == "collaborator_group_member_metadata_changed"
    assert (dict(event.previous_metadata), dict(event.new_metadata)) == (  # type: ignore
        {"parent": "alice"}, {})
    with pytest.raises(NotFound):
        team.set_group_member_metadata("team", "carol", {})


def test_a_deleted_collaborator_leaves_every_group_and_the_groups_stay(team: Kernel) -> None:
    team.create_group("other", members=["bob", "carol"])
    seen = Recorder(team)
    team.set_collaborator_status("bob", "deleted")
    assert [m.collaborator for m in team.group_members("team")] == ["alice"]
    assert [m.collaborator for m in team.group_members("other")] == ["carol"]
    assert seen.ids() == [("collaborator_status_changed", "bob", "active", "deleted"),
                          ("collaborator_removed_from_collaborator_group", "other", "bob"),
                          ("collaborator_removed_from_collaborator_group", "team", "bob")]
    team.set_collaborator_status("carol", "inactive")  # only deletion leaves groups
    assert [m.status for m in team.group_members("other")] == ["inactive"]


def test_events_fire_after_commit(team: Kernel) -> None:
    inside: list[Any] = []

    def listener(event: Event) -> None:
        if event.event_id == "collaborator_added_to_collaborator_group":
            inside.append([m.collaborator for m in team.group_members("team")])
        if event.event_id == "distributor_bound_to_collaborator_group":
            inside.append(team.distributor_group("monthly-bonus"))
    team.subscribe(listener)
    team.add_group_members("team", ["carol"])
    team.create_distributor(monthly())
    team.bind_distributor("monthly-bonus", "team")
    assert inside == [["alice", "bob", "carol"], "team"]


# -- bindings --------------------------------------------------------------------------

def test_distributor_bind_unbind_and_rebind_order(team: Kernel) -> None:
    team.create_group("other")
    team.create_distributor(monthly())
    seen = Recorder(team)
    team.bind_distributor("monthly-bonus", None)  # nothing bound: silent no-op
    assert seen.ids() == []
    team.bind_distributor("monthly-bonus", "team")
    assert seen.ids() == [("distributor_bound_to_collaborator_group", "monthly-bonus", "team")]
    team.bind_distributor("monthly-bonus", "team")  # the same group again: nothing
    assert seen.ids() == []
    team.bind_distributor("monthly-bonus", "other")
    assert seen.ids() == [
        ("distributor_unbound_from_collaborator_group", "monthly-bonus", "team"),
        ("distributor_bound_to_collaborator_group", "monthly-bonus", "other")]
    team.bind_distributor("monthly-bonus", None)
    assert seen.ids() == [
        ("distributor_unbound_from_collaborator_group", "monthly-bonus", "other")]
    assert team.distributor_group("monthly-bonus") is None


def test_a_rebind_fires_synchronously_unbind_then_bind(team: Kernel) -> None:
    team.create_group("other")
    team.create_distributor(monthly())
    team.bind_distributor("monthly-bonus", "team")
    order: list[str] = []
    team.subscribe(lambda event: order.append(event.event_id))
    team.bind_distributor("monthly-bonus", "other")
    assert order == ["distributor_unbound_from_collaborator_group",
                     "distributor_bound_to_collaborator_group"]


def test_bindings_name_existing_things(team: Kernel) -> None:
    team.create_distributor(monthly())
    with pytest.raises(NotFound):
        team.bind_distributor("nope", "team")
    with pytest.raises(NotFound):
        team.bind_distributor("monthly-bonus", "nope")
    with pytest.raises(NotFound):
        team.bind_program("nope", "team")


def test_program_bind_unbind_and_rebind(team: Kernel) -> None:
    team.create_group("other")
    program = team.create_program("standard", collaborators=["carol"])
    assert (program.status, program.collaborators, program.group) == ("active", ("carol",),
                                                                      None)
    seen = Recorder(team)
    team.bind_program("standard", None)
    team.bind_program("standard", "team")
    team.bind_program("standard", "team")
    team.bind_program("standard", "other")
    team.bind_program("standard", None)
    assert seen.ids() == [
        ("program_bound_to_collaborator_group", "standard", "team"),
        ("program_unbound_from_collaborator_group", "standard", "team"),
        ("program_bound_to_collaborator_group", "standard", "other"),
        ("program_unbound_from_collaborator_group", "standard", "other")]


def test_program_eligibility_is_the_union_of_direct_and_group(team: Kernel) -> None:
    team.create_program("standard", collaborators=["carol"])
    assert team.eligible_collaborators(program="standard") == ("carol",)
    team.bind_program("standard", "team")
    assert team.eligible_collaborators(program="standard") == ("alice", "bob", "carol")
    assert team.program("standard").group == "team"


def test_deleting_a_group_distributor_or_program_fires_no_unbind(team: Kernel) -> None:
    team.create_distributor(monthly())
    team.create_program("standard")
    team.create_group("other")
    team.bind_distributor("monthly-bonus", "team")
    team.bind_program("standard", "other")
    seen = Recorder(team)
    team.delete_group("team")
    team.set_distributor_status("monthly-bonus", "deleted")
    team.set_program_status("standard", "deleted")
    assert [event[0] for event in seen.ids()] == ["collaborator_group_deleted",
                                                  "distributor_deleted"]
