"""The operator console in real headless Chromium (Debian package) driven by Playwright.

An incident opened while the page is connected appears on the board without reload (via the
subscription) and is acknowledged with a click; a screenshot goes to test-artifacts/.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

import pytest

from tests.e2e.api.harness import Server, open_incident

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)")


def test_console_shows_live_incident_and_acknowledges_it(server: Server) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/console")
            page.fill("#token", server.token("operator", subject="console-op"))
            page.click("#connect")
            page.wait_for_selector("#status:has-text('live')", timeout=15_000)
            with ThreadPoolExecutor(1) as pool:  # playwright owns this thread's event loop
                iid = str(pool.submit(open_incident, server.app, "fight").result())
            row = page.locator(f"tr[data-id='{iid}']")
            row.wait_for(timeout=15_000)
            row.click()
            page.click("button[data-act=acknowledgeIncident]")
            page.wait_for_selector(f"tr[data-id='{iid}'][data-status=ACKNOWLEDGED]",
                                   timeout=15_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "console-acknowledged.png"), full_page=True)
        finally:
            browser.close()
    incident = server.app.incident(UUID(iid))
    assert incident.status.value == "ACKNOWLEDGED" and incident.acknowledged_at is not None
