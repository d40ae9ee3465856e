"""The built-in group structures as pure walkers (no store): layers, ties, cycles, depth."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siren_core.errors import InvalidInput
from siren_plugins.groups.structures import (
    FlatGroup,
    LinearChain,
    ParentChild,
    check_chain,
    check_tree,
)


def chain(positions: dict[str, int | None]) -> LinearChain:
    return LinearChain("g", {name: ({} if p is None else {"position": p})
                             for name, p in positions.items()})


def test_a_flat_group_has_no_layers_and_no_walk() -> None:
    group = FlatGroup("g", {"a": {}, "b": {}})
    assert group.capabilities == frozenset()
    assert list(group.upline("a")) == [] and list(group.downline("a")) == []
    assert group.members == {"a", "b"}


def test_chain_layers_count_by_rank_not_by_gap() -> None:
    group = chain({"head": 1, "mid": 5, "tail": 9})
    assert list(group.upline("tail")) == [(1, "mid"), (2, "head")]
    assert list(group.downline("head")) == [(1, "mid"), (2, "tail")]
    assert list(group.upline("head")) == [] and list(group.downline("tail")) == []


def test_chain_ties_and_missing_positions_are_ordered_by_collaborator_id() -> None:
    group = chain({"zed": None, "bob": 0, "amy": 0, "carl": 2})
    assert group.order == ["amy", "bob", "zed", "carl"]


def test_a_collaborator_outside_the_group_walks_nothing() -> None:
    assert list(chain({"a": 1}).upline("stranger")) == []
    assert list(ParentChild("g", {"a": {}}).downline("stranger")) == []


def test_counts_compresses_members_that_do_not_use_a_layer() -> None:
    group = chain({"a": 1, "b": 2, "c": 3, "d": 4})
    assert list(group.upline("d", lambda m: m != "c")) == [(1, "c"), (1, "b"), (2, "a")]


def tree() -> ParentChild:
    members: dict[str, dict[str, str]] = {"m": {}}
    for r in ("r1", "r2", "r3"):
        members[r] = {"parent": "m"}
        for k in ("x", "y"):
            members[f"{r}{k}"] = {"parent": r}
    return ParentChild("g", members)


def test_downline_fans_out_by_depth() -> None:
    walked = list(tree().downline("m"))
    assert [name for layer, name in walked if layer == 1] == ["r1", "r2", "r3"]
    assert sorted(name for layer, name in walked if layer == 2) == [
        "r1x", "r1y", "r2x", "r2y", "r3x", "r3y"]
    assert list(tree().upline("r2y")) == [(1, "r2"), (2, "m")]


def test_downline_compression_lifts_the_children_of_a_skipped_member() -> None:
    walked = list(tree().downline("m", lambda name: name != "r1"))
    layers = [layer for layer, _ in walked]
    assert layers == sorted(layers)
    assert {name for layer, name in walked if layer == 1} == {"r1", "r1x", "r1y", "r2", "r3"}


def test_a_parent_outside_the_group_makes_a_root_and_a_forest_is_fine() -> None:
    group = ParentChild("g", {"a": {"parent": "gone"}, "b": {"parent": "a"}, "c": {}})
    assert list(group.upline("b")) == [(1, "a")]
    assert list(group.downline("c")) == []
    check_tree({"a": {"parent": "gone"}, "b": {"parent": "a"}, "c": {}})


def test_cycles_are_refused_when_written_and_never_loop_when_walked() -> None:
    cyclic = {"a": {"parent": "c"}, "b": {"parent": "a"}, "c": {"parent": "b"}, "d": {}}
    with pytest.raises(InvalidInput, match="cycle"):
        check_tree(cyclic)
    with pytest.raises(InvalidInput, match="cycle"):
        check_tree({"a": {"parent": "a"}})
    group = ParentChild("g", cyclic)  # if one reached the store anyway
    assert [name for _, name in group.upline("a")] == ["c", "b"]
    assert [name for _, name in group.downline("a")] == ["b", "c"]


def test_bad_metadata_is_refused_naming_the_member() -> None:
    with pytest.raises(InvalidInput) as error:
        check_chain({"a": {"position": "3"}})
    assert error.value.field == "members[a].position"
    with pytest.raises(InvalidInput):
        check_tree({"a": {"parent": 7}})


def test_deep_chains_and_wide_trees_walk_without_recursion() -> None:
    depth = 5000
    deep = ParentChild("g", {f"m{i:05}": ({"parent": f"m{i - 1:05}"} if i else {})
                             for i in range(depth)})
    check_tree({f"m{i:05}": ({"parent": f"m{i - 1:05}"} if i else {}) for i in range(depth)})
    assert sum(1 for _ in deep.upline(f"m{depth - 1:05}")) == depth - 1
    assert sum(1 for _ in deep.downline("m00000")) == depth - 1
    line = chain({f"c{i:05}": i for i in range(depth)})
    assert sum(1 for _ in line.upline(f"c{depth - 1:05}")) == depth - 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=-1, max_value=30), min_size=1, max_size=30),
       st.sets(st.integers(min_value=0, max_value=29)))
def test_walks_visit_each_member_once_in_layer_order(parents: list[int],
                                                     inactive: set[int]) -> None:
    """Any parent links (cycles included): no repeats, never the start, layers sorted,
    and compression never puts a member further away than the plain walk."""
    roster = {f"m{i:02}": ({"parent": f"m{p:02}"} if p >= 0 else {})
              for i, p in enumerate(parents)}
    group = ParentChild("g", roster)
    counts = lambda name: int(name[1:]) not in inactive  # noqa: E731
    for start in roster:
        for walk in (group.upline, group.downline):
            plain = list(walk(start))
            squeezed = list(walk(start, counts))
            for steps in (plain, squeezed):
                names = [name for _, name in steps]
                assert start not in names and len(names) == len(set(names))
                assert [layer for layer, _ in steps] == sorted(layer for layer, _ in steps)
            assert {n for _, n in plain} == {n for _, n in squeezed}
            depth = dict((n, layer) for layer, n in plain)
            assert all(layer <= depth[n] for layer, n in squeezed)
