"""The documentation's walkthroughs run as written, with the real ``siren`` executable.

* docs/first-payout.md: from ``siren init`` to a payout marked paid and its CSV; every
  ``bash`` block runs in order in one empty folder, and every ``text`` block that follows
  one is output it prints (line for line);
* docs/getting-started.md: siren-core installs from a wheel built from this checkout into
  a fresh virtual environment, and ``siren demo`` runs from it;
* examples/embedding/README.md: its setup lines in a fresh virtual environment (``pip install
  -r requirements.txt``, ``siren apply``), the Flask app on a real loopback port and
  the documented ``curl`` requests (only the port changes: ``FLASK_RUN_PORT``);
* every configuration example in docs/*.md applies to an empty store.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from siren_core import Kernel
from siren_core.config.apply import apply
from siren_core.config.files import parse_config

from conftest import monthly

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EMBEDDING = ROOT / "examples" / "embedding"
BIN = Path(sys.executable).parent  # this environment's `siren` and `flask`
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", flags=re.S | re.M)
_COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "site",
                                      "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
                                      "*.db", "*.db-*")
CONFIG_SECTIONS = {"collaborators", "groups", "programs", "distributors", "exchange_rates"}


def fenced(page: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced block of ``page``, in order, dedented."""
    return [(language, textwrap.dedent(text))
            for _indent, language, text in FENCE.findall(page.read_text(encoding="utf-8"))]


def _environment(bin_dir: Path = BIN, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("SIREN_", "VIRTUAL_ENV", "PYTHON"))}
    environment.update(PATH=f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}",
                       COLUMNS="100", **extra)
    return environment


def _bash(script: str, cwd: Path, environment: dict[str, str],
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, text=True,
                          capture_output=True, env=environment, timeout=timeout)


# -- from siren init to a paid payout ----------------------------------------------------

def test_the_first_payout_page_runs_as_written(tmp_path: Path) -> None:
    blocks = fenced(DOCS / "first-payout.md")
    outputs = []
    for index, (language, text) in enumerate(blocks):
        if language != "bash":
            continue
        ran = _bash(text, tmp_path, _environment())
        assert ran.returncode == 0, f"{text}\n{ran.stdout}\n{ran.stderr}"
        assert "Traceback" not in ran.stderr
        outputs.append(ran.stdout)
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following is not None and following[0] == "text":
            printed = [line.rstrip() for line in ran.stdout.splitlines()]
            for line in following[1].splitlines():
                assert line.rstrip() in printed, f"{line!r} not printed by:\n{text}"
    assert len(outputs) >= 8
    csv = (tmp_path / "payouts.csv").read_text(encoding="utf-8")
    assert csv.splitlines()[1:] == ["1,alice,alice@example.com,200.00,USD,20000,1,unpaid",
                                    "2,bob,bob@example.com,100.00,USD,10000,2,unpaid"]
    fulfilled = json.loads(outputs[-1].splitlines()[-1])  # the last command: --json
    assert [(o["collaborator"], o["amount"], o["status"]) for o in fulfilled] == [
        ("alice", "200.00", "fulfilled"), ("bob", "100.00", "fulfilled")]
    page = (DOCS / "first-payout.md").read_text(encoding="utf-8")
    for command in ("siren init", "siren apply", "siren ingest", "siren heartbeat",
                    "siren obligations approve", "siren fulfill generate",
                    "siren fulfill export", "siren fulfill mark-paid"):
        assert command in page


# -- installing from a wheel -------------------------------------------------------------

def _section(page: Path, title: str) -> list[str]:
    text = page.read_text(encoding="utf-8")
    body = text.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]
    return [block for _i, language, block in FENCE.findall(body) if language == "bash"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this checkout (builds and editable installs write into it)."""
    copy = tmp_path_factory.mktemp("checkout") / "siren-core"
    shutil.copytree(ROOT, copy, ignore=_COPY_IGNORE)
    return copy


def _fresh_venv(where: Path) -> dict[str, str]:
    """A new virtual environment; the environment variables that activate it."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    return _environment(where / "bin", VIRTUAL_ENV=str(where))


def test_getting_started_installs_from_a_built_wheel_into_a_fresh_environment(
        tmp_path: Path, checkout: Path) -> None:
    page = DOCS / "getting-started.md"
    assert "pip install siren-core" not in page.read_text(encoding="utf-8")  # unpublished
    venv = tmp_path / "venv"
    environment = _fresh_venv(venv)
    build, install = _section(page, "From a built wheel")
    built = _bash(build, checkout, environment, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    assert len(list((checkout / "dist").glob("siren_core-*.whl"))) == 1
    installed = _bash(install, checkout, environment, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert "1000.00 USD" in installed.stdout  # siren demo's pool, split in full
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import siren_core; print(siren_core.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True)
    assert where.stdout.startswith(str(venv))  # the wheel's copy, not this checkout


# -- the embedding example's requests ----------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until(ready: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_embedding_example_answers_its_documented_requests(tmp_path: Path,
                                                               checkout: Path) -> None:
    """Its setup lines run as written in a fresh virtual environment (pip installs the
    checkout and Flask), then the app serves the curl lines on a free port."""
    setup, requests = [b for language, b in fenced(EMBEDDING / "README.md")
                       if language == "bash"]
    port = _free_port()
    environment = {**_fresh_venv(tmp_path / "venv"), "FLASK_RUN_PORT": str(port)}
    folder = checkout / "examples" / "embedding"
    *steps, serve = setup.strip().splitlines()
    prepared = _bash("\n".join(steps), folder, environment, timeout=900)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    server = subprocess.Popen(["bash", "-c", serve], cwd=folder, env=environment,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)  # its own group: stopped as one
    try:
        _wait_until(lambda: _listening(port) or server.poll() is not None)
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        calls = requests.replace("localhost:5000", f"127.0.0.1:{port}")
        sale, listing = calls.replace("\\\n", " ").strip().splitlines()
        first = _bash(f"{sale} -sS --fail-with-body", folder, environment)
        assert first.returncode == 0, first.stdout + first.stderr
        assert json.loads(first.stdout) == {"credits": 1, "duplicate": False, "id": "order-1"}
        again = _bash(f"{sale} -sS --fail-with-body", folder, environment)
        assert json.loads(again.stdout)["duplicate"] is True
        listed = _bash(f"{listing} -sS --fail-with-body", folder, environment)
        assert listed.returncode == 0, listed.stdout
        assert {row["distributor"] for row in json.loads(listed.stdout)} == {"monthly-bonus"}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    requirements = (EMBEDDING / "requirements.txt").read_text(encoding="utf-8")
    assert "\nsiren-core" not in requirements  # not published: the checkout is installed


# -- every configuration example applies -------------------------------------------------

def _config_examples() -> list[Any]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for number, (language, text) in enumerate(fenced(page)):
            if language == "toml":
                data = tomllib.loads(text)
            elif language == "json" and text.lstrip().startswith("{"):
                data = json.loads(text)
                if not data.keys() <= CONFIG_SECTIONS:
                    continue  # an event's payload (docs/webhooks.md) or an answer
            else:
                continue
            if data.keys() & {"project", "build-system"} or "distributions" in data:
                continue  # a package's pyproject.toml, or a command's output
            found.append(pytest.param(data, id=f"{page.name}-{number}"))
    return found


CONFIG_EXAMPLES = _config_examples()


def _as_file(data: dict[str, Any]) -> dict[str, Any]:
    """A whole file as it is; a distributor's keys (``metrics = …``) in a distributor."""
    if data.keys() <= CONFIG_SECTIONS:
        return data
    return {"distributors": [{**monthly(), **data}]}


def _named_people(data: dict[str, Any]) -> set[str]:
    declared = {c["id"] for c in data.get("collaborators", [])}
    named = {m["collaborator"] for g in data.get("groups", []) for m in g.get("members", [])}
    named |= {c for d in data.get("distributors", []) for c in d.get("collaborators", [])}
    named |= {c for p in data.get("programs", []) for c in p.get("collaborators", [])}
    return named - declared


def test_the_docs_have_configuration_examples() -> None:
    assert len(CONFIG_EXAMPLES) >= 5


@pytest.mark.parametrize("data", CONFIG_EXAMPLES)
def test_every_configuration_example_in_the_docs_applies(kernel: Kernel,
                                                         data: dict[str, Any]) -> None:
    """On an empty store; a fragment's people that it names but does not declare (a group
    of docs/groups.md lists alice and bob) are created first."""
    config = _as_file(data)
    for name in sorted(_named_people(config)):
        kernel.create_collaborator(name)
    changes = apply(kernel, parse_config(config, kernel.converter, kernel.registry))
    assert changes and {c.verb for c in changes} <= {"create", "bind", "unchanged"}
    again = apply(kernel, parse_config(config, kernel.converter, kernel.registry))
    assert {c.verb for c in again} == {"unchanged"}
