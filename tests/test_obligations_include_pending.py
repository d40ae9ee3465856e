"""Fulfillment as Siren does it: ``include_pending`` batches pending obligations too (they
are approved as they join a payout); approved-only stays the default."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.errors import InvalidInput
from siren_core.events import Event

_SOURCE_IDS = itertools.count(1)


def issued(kernel: Kernel, collaborator: str, amount: int, *, approve: bool = False) -> int:
    key = kernel.issue_obligation(collaborator, amount, "USD", source="test",
                                  source_id=next(_SOURCE_IDS)).id
    if approve:
        kernel.set_obligation_status(key, "approve")
    return key


@pytest.fixture
def people(kernel: Kernel) -> Kernel:
    for name in ("alice", "bob", "carol"):
        kernel.create_collaborator(name)
    return kernel


def test_the_default_takes_approved_obligations_only(people: Kernel) -> None:
    issued(people, "alice", 1000)
    ok = issued(people, "bob", 500, approve=True)
    result = people.generate_fulfillment()
    assert result.fulfillment is not None and result.approved == ()
    assert [p.obligation_ids for p in result.fulfillment.payouts] == [(ok,)]


def test_include_pending_batches_pending_ones_and_approves_them(people: Kernel) -> None:
    pending = issued(people, "alice", 1000)
    ready = issued(people, "alice", 250, approve=True)
    rejected = issued(people, "bob", 400)
    people.set_obligation_status(rejected, "reject")
    small = issued(people, "carol", 100)  # under the minimum: carried forward
    seen: list[Event] = []
    people.subscribe(seen.append)
    result = people.generate_fulfillment(minimum={"USD": 500}, include_pending=True,
                                         actor="ops")
    assert result.fulfillment is not None
    payouts = result.fulfillment.payouts
    assert [(p.collaborator, p.amount, p.obligation_ids) for p in payouts] == [
        ("alice", 1250, (pending, ready))]
    assert result.approved == (pending,)
    assert [(c.collaborator, c.obligation_ids) for c in result.carried_forward] == [
        ("carol", (small,))]
    statuses = {o.id: o.status for o in people.obligations()}
    assert statuses == {pending: "approved", ready: "approved", rejected: "rejected",
                        small: "pending"}
    history = [(c.from_status, c.to_status, c.actor) for c in
               people.obligation_history(pending)]
    assert history[1:] == [("pending", "approved", "ops"), ("approved", "approved", "ops")]
    assert [e.event_id for e in seen] == ["obligation_status_changed", "fulfillment_created",
                                          "payout_created"]
    people.mark_payout(payouts[0].id, "paid")
    totals = people.obligation_totals()
    assert totals[0] == totals[1] == {"USD": 1250}


def test_include_pending_with_chosen_ids_and_bad_values(people: Kernel) -> None:
    first, second = issued(people, "alice", 1000), issued(people, "bob", 700)
    refused = people.generate_fulfillment([first, second])
    assert refused.fulfillment is None
    assert [o.reason for o in refused.refused] == ["is pending, not approved"] * 2
    result = people.generate_fulfillment([first], include_pending=True)
    assert result.approved == (first,)
    with pytest.raises(InvalidInput) as error:
        people.generate_fulfillment(include_pending="yes")  # type: ignore[arg-type]
    assert (error.value.field, error.value.value) == ("include_pending", "yes")
    assert people.obligation(second).status == "pending"


def test_siren_fulfill_generate_include_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    with Kernel(url) as kernel:
        kernel.create_collaborator("alice")
        issued(kernel, "alice", 1000)
    runner = CliRunner()
    plain = runner.invoke(cli, ["fulfill", "generate", "--database", url, "--json"])
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.output)["fulfillment"] is None
    taken = runner.invoke(cli, ["fulfill", "generate", "--database", url, "--json",
                                "--include-pending"])
    assert taken.exit_code == 0, taken.output
    report = json.loads(taken.output)
    assert report["approved"] == [1]
    assert report["fulfillment"]["payout_count"] == 1
