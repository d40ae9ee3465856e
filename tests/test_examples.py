"""The examples under examples/ work for real.

* ``siren-coupons`` is installed with pip into a fresh virtual environment, next to
  siren-core built from this checkout, and a script run in that environment proves the
  kernel discovers it through its entry point and runs it end to end. This takes about half
  a minute (pip builds two wheels and installs siren-core's dependencies from its cache or
  PyPI); it stays in the default run because it is the only test of the real install path.
* The example's own tests run against this checkout.
* The Flask embedding app records sales over HTTP and distributes on its own schedule.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from siren_core import Kernel

from conftest import at, monthly

ROOT = Path(__file__).resolve().parent.parent
COUPONS = ROOT / "examples" / "siren-coupons"
EMBEDDING = ROOT / "examples" / "embedding"
_COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "site",
                                      "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
                                      "*.db", "*.db-*")

END_TO_END = textwrap.dedent("""
    import json, os, sys
    from datetime import UTC, datetime
    from siren_core import Kernel

    with Kernel(sys.argv[1]) as kernel:
        owner = kernel.registry.owner("allocation_calculators", "tiered")
        for name in ("ana", "ben"):
            kernel.create_collaborator(name)
        kernel.create_distributor({
            "id": "coupons", "name": "Coupon bonus", "units": "EUR", "schedule": "monthly",
            "start": "2026-01-01", "pool": {"resolver": "fixed", "amount": "100.00"},
            "calculator": {"id": "tiered", "tiers": [{"min_score": 0, "weight": 1},
                                                     {"min_score": 100, "weight": 2}]},
            "metrics": [{"type": "coupon", "points": 10, "credit": {"rule": "fixed"}}]})
        for i in range(10):
            kernel.record("coupon", {"id": f"a{i}", "at": "2026-01-03T09:00:00Z",
                                     "collaborator": "ana", "code": "ANA10"})
        kernel.record("coupon", {"id": "b0", "at": "2026-01-04T09:00:00Z",
                                 "collaborator": "ben", "code": "BEN5", "amount": "40.00",
                                 "currency": "EUR"})
        [done] = kernel.heartbeat(datetime(2026, 2, 1, tzinfo=UTC)).completed
        paid = {a.collaborator: a.amount for a in kernel.allocations(done.id)}
        print(json.dumps({"owner": owner, "pool": done.pool, "paid": paid}))
""")


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / "python"


@pytest.fixture(scope="module")
def coupons_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with siren-core and siren-coupons installed by pip."""
    base = tmp_path_factory.mktemp("coupons-venv")
    source = base / "siren-core"
    shutil.copytree(ROOT, source, ignore=_COPY_IGNORE)  # builds write into the source tree
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(_venv_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(source), str(source / "examples" / "siren-coupons")],
        capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def _run(venv: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("SIREN_")}
    environment.update(env)
    return subprocess.run([*args], capture_output=True, text=True, timeout=300,
                          env=environment, cwd=venv)


def test_the_installed_example_is_discovered_through_its_entry_point(coupons_venv: Path) -> None:
    siren = coupons_venv / "bin" / "siren"
    listed = _run(coupons_venv, str(siren), "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["plugins"]}
    assert rows["coupons"]["distribution"] == "siren-coupons"
    assert rows["coupons"]["version"] == "0.1.0"
    assert set(rows["coupons"]["hooks"]) == {
        "siren_trigger_strategies", "siren_allocation_calculators", "siren_on_event"}
    assert rows["sale"]["distribution"] == "siren-core"
    provided = rows["coupons"]["provides"]
    assert [c["id"] for c in provided["allocation_calculators"]] == ["tiered"]
    schema = json.loads(_run(coupons_venv, str(siren), "plugins", "schema", "tiered").stdout)
    readme = {"id": "tiered", "tiers": [{"min_score": 0, "weight": 1},
                                        {"min_score": 100, "weight": 2}]}  # its README's
    assert jsonschema.Draft202012Validator(schema).is_valid(readme)
    assert not jsonschema.Draft202012Validator(schema).is_valid(
        {**readme, "tiers": [{"min_score": 0, "wieght": 1}]})
    checked = _run(coupons_venv, str(siren), "plugins", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_installed_example_runs_end_to_end(coupons_venv: Path, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(END_TO_END)
    log = tmp_path / "webhook.jsonl"
    ran = _run(coupons_venv, str(_venv_python(coupons_venv)), str(script),
               f"sqlite:///{tmp_path / 'shop.db'}", SIREN_COUPONS_WEBHOOK_LOG=str(log))
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["owner"] == "coupons"
    # ana: 100 points, tier 2 → 200; ben: 10 points, tier 1 → 10; 10000 cents split 200:10
    assert result["paid"] == {"ana": 9524, "ben": 476}
    assert sum(result["paid"].values()) == result["pool"] == 10_000
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((line["collaborator"], line["amount"], line["units"]) for line in lines) == [
        ("ana", "95.24", "EUR"), ("ben", "4.76", "EUR")]


def test_the_installed_example_can_be_left_out_by_the_allow_list(coupons_venv: Path) -> None:
    siren = str(coupons_venv / "bin" / "siren")
    listed = _run(coupons_venv, siren, "plugins", "--json", SIREN_LOAD_PLUGINS="")
    enabled = {row["name"]: row["enabled"] for row in json.loads(listed.stdout)["plugins"]}
    assert enabled["coupons"] is False and enabled["sale"] is True  # listed, not loaded
    listed = _run(coupons_venv, siren, "plugins", "--json", SIREN_LOAD_PLUGINS="coupons")
    assert "coupons" in {row["name"] for row in json.loads(listed.stdout)["plugins"]}


def test_the_example_passes_its_own_tests() -> None:
    env = {**os.environ, "PYTHONPATH": str(COUPONS / "src")}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(COUPONS / "tests")], capture_output=True, text=True, env=env,
                         cwd=COUPONS, timeout=300)
    assert ran.returncode == 0, ran.stdout[-3000:]
    assert " passed" in ran.stdout


# -- the Flask embedding example ----------------------------------------------------------

@pytest.fixture
def embedding_app() -> Iterator[ModuleType]:
    pytest.importorskip("flask")
    sys.path.insert(0, str(EMBEDDING))
    try:
        import app

        yield app
    finally:
        sys.path.remove(str(EMBEDDING))
        sys.modules.pop("app", None)


def _sale(id: str, collaborator: str, amount: str) -> dict[str, Any]:
    return {"id": id, "at": "2026-01-05T10:00:00Z", "collaborator": collaborator,
            "amount": amount, "currency": "USD"}


def test_the_embedding_app_records_sales_over_http(embedding_app: ModuleType,
                                                   database_url: str) -> None:
    with Kernel(database_url) as kernel:
        kernel.create_collaborator("alice")
        kernel.create_distributor(monthly())
        client = embedding_app.create_app(kernel, heartbeat_interval=None).test_client()
        created = client.post("/sales", json=_sale("order-1", "alice", "120.00"))
        assert created.status_code == 201
        assert created.get_json() == {"id": "order-1", "credits": 1, "duplicate": False}
        again = client.post("/sales", json=_sale("order-1", "alice", "120.00"))
        assert again.status_code == 200 and again.get_json()["duplicate"] is True
        conflict = client.post("/sales", json=_sale("order-1", "alice", "99.00"))
        assert conflict.status_code == 409
        bad = client.post("/sales", json=_sale("order-2", "alice", "12.345"))
        assert bad.status_code == 400
        assert bad.get_json()["field"] == "sale.amount"
        assert client.post("/sales", data="nope").status_code == 400
        [period] = client.get("/distributions").get_json()
        assert period["status"] == "open" and period["distributor"] == "monthly-bonus"


def test_the_embedding_app_distributes_on_its_own_schedule(embedding_app: ModuleType,
                                                           database_url: str) -> None:
    now = at("2026-01-20")
    with Kernel(database_url, clock=lambda: now) as kernel:
        kernel.create_collaborator("alice")
        kernel.create_distributor(monthly())
        app = embedding_app.create_app(kernel, heartbeat_interval=0.05)
        beat = app.extensions["siren_heartbeat"]
        try:
            client = app.test_client()
            assert client.post("/sales", json=_sale("o1", "alice", "10.00")).status_code == 201
            _wait_for(lambda: beat.beats >= 2)
            assert kernel.distributions(status="completed") == ()  # January is still open
            now = datetime(2026, 2, 1, 0, 5, tzinfo=UTC)
            _wait_for(lambda: bool(kernel.distributions(status="completed")))
        finally:
            beat.stop()
        [done] = kernel.distributions(status="completed")
        assert [(a.collaborator, a.amount) for a in kernel.allocations(done.id)] == [
            ("alice", 100_000)]


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_flask_is_a_dependency_of_the_example_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(dep.lower().startswith("flask") for dep in project["dependencies"])
    requirements = (EMBEDDING / "requirements.txt").read_text().lower()
    assert "flask" in requirements and "siren-core" in requirements


def test_several_app_processes_distribute_each_period_once(embedding_app: ModuleType,
                                                            database_url: str) -> None:
    """Three app instances (as three gunicorn workers would be) beat on one database."""
    feb = at("2026-02-01T00:05")
    kernels = [Kernel(database_url, clock=lambda: feb) for _ in range(3)]
    try:
        kernels[0].create_collaborator("alice")
        kernels[0].create_distributor(monthly())
        client = embedding_app.create_app(kernels[0], heartbeat_interval=None).test_client()
        assert client.post("/sales", json=_sale("o1", "alice", "10.00")).status_code == 201
        beats = [embedding_app.create_app(k, heartbeat_interval=0.01).extensions[
            "siren_heartbeat"] for k in kernels]
        try:
            _wait_for(lambda: all(beat.beats >= 3 for beat in beats))
        finally:
            for beat in beats:
                beat.stop()
        [january] = kernels[0].distributions(status="completed")
        assert [a.amount for a in kernels[0].allocations()] == [100_000]
        assert len(kernels[0].obligations()) == 1
        assert january.period_start == at("2026-01-01")
    finally:
        for kernel in kernels:
            kernel.close()
