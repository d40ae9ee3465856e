"""``siren serve`` as processes: a sale whose answer is lost after its commit is retried by
the SDK and recorded once; two server processes share one PostgreSQL store (events,
keys and the rate limit); SIGTERM lets a request in flight finish."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import siren
from serving import ROOT, mint_key, serving, stop

from siren_core import Kernel


def test_a_sale_whose_answer_was_lost_after_commit_is_recorded_once(
        make_kernel: Callable[..., Kernel], database_url: str, tmp_path: Path) -> None:
    kernel = make_kernel()
    key = mint_key(database_url, "event:*")
    launcher = [sys.executable, str(ROOT / "tests" / "faulty_service.py")]
    with serving(database_url, tmp_path / "faulty.log", command=launcher) as running, \
            siren.Siren(api_key=key, base_url=running.base_url) as sdk:
        answer = sdk.events.sale(source="stripe", external_id="cs_lost", total=12.5,
                                 tracking_id=1)
    assert answer.status == "duplicate"  # the retry found the committed first attempt
    assert kernel.table_counts()["source_event"] == 1


@pytest.fixture
def postgres(make_kernel: Callable[..., Kernel], database_url: str) -> Iterator[str]:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes on one store: PostgreSQL")
    kernel = make_kernel()
    kernel.create_collaborator("alice")
    yield database_url


def test_two_server_processes_serve_one_postgresql_store(postgres: str,
                                                         tmp_path: Path) -> None:
    key = mint_key(postgres, "event:*", "ledger:transactions:read")
    with serving(postgres, tmp_path / "a.log", "--rate-limit", "1000") as first, \
            serving(postgres, tmp_path / "b.log", "--rate-limit", "1000") as second:
        servers = [first, second]

        def sell(n: int) -> str:
            with siren.Siren(api_key=key, base_url=servers[n % 2].base_url) as sdk:
                # every sale twice, once through each process: recorded once
                sdk.events.sale(source="pos", external_id=n, total=1, tracking_id=1)
                other = siren.Siren(api_key=key, base_url=servers[(n + 1) % 2].base_url)
                with other:
                    return other.events.sale(source="pos", external_id=n, total=1,
                                             tracking_id=1).status or ""

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(sell, range(40)))
        assert statuses == ["duplicate"] * 40
        with siren.Siren(api_key=key, base_url=second.base_url) as sdk:
            assert sdk.transactions.list().total == 40
        assert any('"key_prefix"' in line for line in first.log_lines())
        assert any('"key_prefix"' in line for line in second.log_lines())


def test_the_rate_limit_holds_across_processes(postgres: str, tmp_path: Path) -> None:
    key = mint_key(postgres, "event:*")
    with serving(postgres, tmp_path / "a.log", "--rate-limit", "4") as first, \
            serving(postgres, tmp_path / "b.log", "--rate-limit", "4") as second:
        if time.gmtime().tm_sec > 50:  # every request in one window of a minute
            time.sleep(61 - time.gmtime().tm_sec)
        codes = [httpx.post(f"{server.base_url}/event/sale", timeout=10,
                            headers={"Authorization": f"Bearer {key}"},
                            json={"source": "s", "externalId": n, "total": 1}).status_code
                 for n, server in enumerate([first, second] * 3)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_sigterm_lets_a_request_in_flight_finish(make_kernel: Callable[..., Kernel],
                                                 database_url: str, tmp_path: Path) -> None:
    kernel = make_kernel()
    key = mint_key(database_url, "event:*")
    body = json.dumps({"source": "s", "externalId": "slow", "total": "3.00"}).encode()
    sent = threading.Event()

    def slowly() -> Iterator[bytes]:
        yield body[:10]
        sent.set()
        time.sleep(1.5)  # SIGTERM arrives while the body is still on its way
        yield body[10:]

    with serving(database_url, tmp_path / "serve.log") as running:
        outcome: dict[str, httpx.Response] = {}
        request = threading.Thread(target=lambda: outcome.update(answer=httpx.post(
            f"{running.base_url}/event/sale", content=slowly(), timeout=30,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                     "Content-Length": str(len(body))})))
        request.start()
        assert sent.wait(10)
        running.process.send_signal(signal.SIGTERM)
        request.join(30)
        # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully
        assert stop(running) == -signal.SIGTERM
        assert "Finished server process" in running.log.read_text()
    assert outcome["answer"].status_code == 200
    assert outcome["answer"].json()["status"] == "unattributed"
    assert kernel.table_counts()["source_event"] == 1


