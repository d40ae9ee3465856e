"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no browser is downloaded), against ``siren serve``'s application on a real
loopback port: log in (a wrong password refused), the overview with its charts, a
distribution and an allocation's explanation (opened with the keyboard), obligations
approved in bulk, a form without its CSRF token refused, a fulfillment generated and its
CSV downloaded, log out; every page at a phone's width without sideways scrolling.
Screenshots of each page go to docs/dashboard/ (linked from docs/dashboard.md)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from admin_support import NOW, PASSWORD, failed_delivery, january

from siren_core import Kernel
from siren_core.service import operators
from siren_core.service.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "dashboard"
playwright = pytest.importorskip("playwright.sync_api")
# .ci/run installs chromium (CI=true there): a CI run without it fails instead of skipping
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (.ci/run does)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(make_kernel: Callable[..., Kernel], monkeypatch: pytest.MonkeyPatch,
           database_url: str) -> Iterator[tuple[str, Kernel, int, bool]]:
    """The application on a loopback port; the base URL, the kernel, January's
    distribution, and whether this run writes the screenshots (the SQLite one)."""
    monkeypatch.setenv("SIREN_WEBHOOKS_ALLOW_PRIVATE", "1")
    kernel = make_kernel(clock=lambda: NOW)
    distribution = january(kernel)
    kernel.create_group("tree", name="Sales team", structure="parent_child", members=[
        {"collaborator": "alice"}, {"collaborator": "bob", "parent": "alice"},
        {"collaborator": "carol", "parent": "alice"}])
    kernel.bind_distributor("bonus", "tree")
    failed_delivery(kernel)
    operators.create_operator(kernel, "olive", PASSWORD)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(kernel), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield (f"http://127.0.0.1:{port}/dashboard", kernel, distribution,
           database_url.startswith("sqlite"))
    server.should_exit = True
    thread.join(10)


def _shot(page: object, name: str, write: bool) -> None:
    if write:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_an_operator_runs_a_month_in_the_browser(
        served: tuple[str, Kernel, int, bool]) -> None:
    base, kernel, distribution, write = served
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        page.goto(f"{base}/")
        assert page.url == f"{base}/login"
        page.fill("#name", "olive")
        page.fill("#password", "not the password")
        page.click("button[type=submit]")
        assert "wrong" in page.inner_text("[role=alert]")
        _shot(page, "login", write)

        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/")
        assert "Monthly bonus" in page.inner_text("main")
        page.wait_for_selector(".chart .uplot canvas")  # uPlot drew the pools
        _shot(page, "overview", write)

        page.click(f"a[href='/dashboard/distributions/{distribution}']")
        row = page.locator("table.allocations tr", has_text="alice")
        row.locator("summary").focus()
        page.keyboard.press("Enter")  # open the explanation with the keyboard
        assert row.locator(".credits li").count() == 2
        assert "10 points for sale (fixed)" in row.locator(".credits").inner_text()
        assert "sale: 20 points" in row.inner_text()
        _shot(page, "distribution", write)

        page.click("text=Obligations")
        page.check("#all")
        page.click("text=Approve selected")
        assert "approve: 2 done" in page.inner_text("[role=status]")
        assert {o.status for o in kernel.obligations()} == {"approved"}
        _shot(page, "obligations", write)

        page.check("#all")
        page.evaluate("document.querySelector('#bulk [name=csrf_token]').remove()")
        page.click("text=Reject selected")
        assert "CSRF" in page.inner_text("[role=alert]")
        assert {o.status for o in kernel.obligations()} == {"approved"}

        page.click("text=Fulfillments")
        page.click("text=Generate a fulfillment")
        assert "generated with 2 payouts" in page.inner_text("[role=status]")
        with page.expect_download() as download:
            page.click("text=Download CSV")
        csv = Path(download.value.path()).read_text()
        assert "alice" in csv and "bob" in csv
        _shot(page, "fulfillments", write)

        for name, path, text in (("groups", "/groups", "distributor bonus → group tree"),
                                 ("webhooks", "/webhooks", "Send again"),
                                 ("collaborator", "/collaborators/alice", "Payouts")):
            page.goto(base + path)
            assert text in page.inner_text("main"), name
            _shot(page, name, write)

        page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/", f"/distributions/{distribution}", "/obligations", "/fulfillments",
                     "/groups", "/webhooks"):
            page.goto(base + path)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 390, (path, wide)
        page.goto(f"{base}/")
        _shot(page, "overview-phone", write)

        page.click("text=Log out")
        page.wait_for_url(f"{base}/login")
        page.goto(f"{base}/obligations")
        assert page.url == f"{base}/login"
        browser.close()
