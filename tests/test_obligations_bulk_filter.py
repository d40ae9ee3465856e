"""Bulk actions by filter (issue 16): ``siren obligations approve --distributor D --status
pending --before T`` (reject, cancel and mark-pending alike) prints the count and asks for
confirmation unless ``--yes``; by ids as before."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from siren_core import Kernel
from siren_core.cli import cli

from conftest import at, monthly, sale


@pytest.fixture
def issued(database_url: str) -> str:
    """January and February of two distributors distributed: 2 obligations (alice, bob)
    per period of each, issued at the heartbeat's instant (2026-02-01, 2026-03-01)."""
    with Kernel(database_url) as kernel:
        for name in ("alice", "bob"):
            kernel.create_collaborator(name)
        kernel.create_distributor(monthly())
        kernel.create_distributor(monthly("other"))
        for month in ("01", "02"):
            for name in ("alice", "bob"):
                kernel.record("sale", sale(f"{name}-{month}", name, "10.00",
                                           f"2026-{month}-03T10:00:00Z"))
        assert not kernel.heartbeat(at("2026-02-01")).failed
        assert not kernel.heartbeat(at("2026-03-01")).failed
    return database_url


def _statuses(url: str) -> dict[tuple[str, str], list[str]]:
    """(distributor, issued month) → statuses, from the kernel."""
    with Kernel(url) as kernel:
        allocations = {a.id: a.distributor for a in kernel.allocations()}
        found: dict[tuple[str, str], list[str]] = {}
        for o in kernel.obligations():
            key = (allocations[o.source_id], f"{o.created_at:%m}")
            found.setdefault(key, []).append(o.status)
    return {key: sorted(value) for key, value in found.items()}


def _invoke(*args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=answer)


def test_approve_by_filter_with_yes_approves_exactly_the_matching_ones(issued: str) -> None:
    before = _statuses(issued)
    assert before[("monthly-bonus", "02")] == ["pending", "pending"]
    assert sorted(before) == [("monthly-bonus", "02"), ("monthly-bonus", "03"),
                              ("other", "02"), ("other", "03")]
    result = _invoke("obligations", "approve", "--database", issued, "--distributor",
                     "monthly-bonus", "--status", "pending", "--before",
                     "2026-02-15T00:00:00Z", "--yes")
    assert result.exit_code == 0, result.output
    assert ("2 obligation(s) match (distributor monthly-bonus, status pending, issued "
            "before 2026-02-15T00:00:00Z)") in result.stderr
    assert "2 done, 0 skipped, 0 refused" in result.stdout
    assert _statuses(issued) == {**before, ("monthly-bonus", "02"): ["approved", "approved"]}


def test_without_yes_the_count_is_shown_and_no_changes_nothing(issued: str) -> None:
    before = _statuses(issued)
    for answer in ("n\n", None):  # declined, or no answer at all
        result = _invoke("obligations", "reject", "--database", issued, "--status",
                         "pending", answer=answer)
        assert result.exit_code == 1, result.output
        assert "8 obligation(s) match (status pending)" in result.stderr
        assert "reject 8 obligation(s)? [y/N]" in result.stderr
        assert "nothing changed" in result.stderr
        assert "Traceback" not in result.output
    assert _statuses(issued) == before


def test_a_confirmed_cancel_by_filter_acts(issued: str) -> None:
    result = _invoke("obligations", "cancel", "--database", issued, "--distributor", "other",
                     answer="y\n")
    assert result.exit_code == 0, result.output
    after = _statuses(issued)
    assert after[("other", "02")] == after[("other", "03")] == ["cancelled", "cancelled"]
    assert after[("monthly-bonus", "02")] == ["pending", "pending"]


def test_nothing_matching_changes_nothing(issued: str) -> None:
    result = _invoke("obligations", "approve", "--database", issued, "--status", "approved")
    assert result.exit_code == 0
    assert "no obligation matches (status approved); nothing changed" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--distributor", "nope"], "error: distributor 'nope' does not exist"),
    (["--before", "2026-02-15"], "error: --before: '2026-02-15' "),
    (["--status", "nonsense"], "error: "),
    (["1", "--status", "pending"], "give obligation ids or filters, not both"),
    ([], "give obligation ids, or at least one filter"),
])
def test_bad_selections_are_refused_in_one_line(issued: str, args: list[str],
                                                message: str) -> None:
    before = _statuses(issued)
    result = _invoke("obligations", "approve", "--database", issued, *args, "--yes")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert _statuses(issued) == before


def test_by_ids_works_as_before(issued: str) -> None:
    result = _invoke("obligations", "approve", "1", "2", "--database", issued)
    assert result.exit_code == 0, result.output
    assert "2 done" in result.stdout


def test_the_kernel_selects_by_distributor_status_and_instant(issued: str) -> None:
    with Kernel(issued) as kernel:
        assert len(kernel.select_obligations(distributor="other")) == 4
        assert len(kernel.select_obligations(before=at("2026-02-15"))) == 4
        assert len(kernel.select_obligations(distributor="monthly-bonus", status="draft",
                                             collaborator="alice")) == 2
