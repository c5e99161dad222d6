"""The operator console in real headless Chromium (Debian package) driven by Playwright.

An incident opened while the page is connected appears on the board without reload (via the
subscription) and is acknowledged with a click. The page speaks Russian by default, switches to
Kazakh and English (remembered across reloads), shows times 24-hour in the deployment's zone
(Asia/Almaty) even in a browser set to New York and en-US, and translates errors. Screenshots of
each language go to test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from api.console import catalogue
from tests.e2e.api.harness import Server, open_incident

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)")


@contextmanager
def _page(**context: Any) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            yield browser.new_context(**context).new_page()
        finally:
            browser.close()


def _open(server: Server, kind: str) -> str:
    with ThreadPoolExecutor(1) as pool:  # playwright owns this thread's event loop
        return str(pool.submit(open_incident, server.app, kind).result())


def _relative(strings: dict[str, str]) -> str:
    forms = [strings["ui.rel.now"], strings["ui.rel.future"], strings["ui.rel.past"]]
    return "|".join(re.escape(f).replace(re.escape("{n}"), r"\d+") for f in forms)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_console_shows_live_incident_and_acknowledges_it(server: Server) -> None:
    with _page() as page:
        page.goto(f"{server.url}/console")
        page.fill("#token", server.token("operator", subject="console-op"))
        page.click("#connect")
        page.wait_for_selector("#status[data-state=live]", timeout=15_000)
        iid = _open(server, "fight")
        row = page.locator(f"tr[data-id='{iid}']")
        row.wait_for(timeout=15_000)
        row.click()
        page.click("button[data-act=acknowledgeIncident]")
        page.wait_for_selector(f"tr[data-id='{iid}'][data-status=ACKNOWLEDGED]",
                               timeout=15_000)
        _shot(page, "console-acknowledged.png")
    incident = server.app.incident(UUID(iid))
    assert incident.status.value == "ACKNOWLEDGED" and incident.acknowledged_at is not None


def test_console_languages_city_clock_and_translated_errors(server: Server) -> None:
    iid = _open(server, "fire")
    opened = server.app.incident(UUID(iid)).opened_at.astimezone(ZoneInfo("Asia/Almaty"))
    ru, kk, en = catalogue("ru"), catalogue("kk"), catalogue("en")
    # A browser in another zone and a 12-hour locale: the page must still show the city's clock.
    with _page(timezone_id="America/New_York", locale="en-US") as page:
        page.goto(f"{server.url}/console")
        page.wait_for_selector(f"#connect:has-text('{ru['ui.connect']}')")  # Russian default
        page.fill("#token", "not-a-token")
        page.click("#connect")
        error = page.wait_for_selector("#status[data-state=error] .err[data-code=UNAUTHENTICATED]")
        assert error.inner_text() == ru["error.UNAUTHENTICATED"]

        page.select_option("#lang", "kk")
        page.wait_for_selector(f"#connect:has-text('{kk['ui.connect']}')")
        page.fill("#token", server.token("operator", subject="console-kk"))
        page.click("#connect")
        row = page.locator(f"tr[data-id='{iid}']")
        row.wait_for(timeout=15_000)
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == kk["kind.fire"] and cells[1] == kk["status.OPEN"]
        assert cells[4] == opened.strftime("%H:%M:%S"), cells  # 24-hour, Asia/Almaty
        assert not re.search(r"\b[AP]M\b", " ".join(cells))
        assert re.search(_relative(kk), cells[5]), cells  # "N мин кейін" from the catalogue
        row.click()
        history = page.locator("#detail ol li").first
        history.wait_for()
        assert kk["event.Opened"] in history.inner_text()
        assert "GMT+5" in page.locator("#slaDue").inner_text()  # the offset where it matters
        _shot(page, "console-kk.png")

        page.reload()  # the choice is remembered
        page.wait_for_selector(f"#connect:has-text('{kk['ui.connect']}')")
        page.select_option("#lang", "en")
        page.wait_for_selector(f"th:has-text('{en['ui.col.slaDue']}')")
        page.select_option("#lang", "ru")
        page.wait_for_selector(f"th:has-text('{ru['ui.col.slaDue']}')")
        page.fill("#token", server.token("operator", subject="console-ru"))
        page.click("#connect")
        page.locator(f"tr[data-id='{iid}']").wait_for(timeout=15_000)
        _shot(page, "console-ru.png")


def test_supervisors_escalate_and_close_from_the_console(server: Server) -> None:
    iid = _open(server, "fight")
    with _page() as page:
        page.on("dialog", lambda dialog: dialog.accept("crowd gathering"))
        page.goto(f"{server.url}/console")
        page.fill("#token", server.token("operator", subject="console-op"))
        page.click("#connect")
        page.locator(f"tr[data-id='{iid}']").click()
        page.wait_for_selector("button[data-act=acknowledgeIncident]")
        assert page.locator("button[data-act=closeIncident]").count() == 0  # not an operator's
        page.fill("#token", server.token("supervisor", subject="console-sup"))
        page.click("#connect")
        page.wait_for_selector("#status[data-state=live]", timeout=15_000)
        page.locator(f"tr[data-id='{iid}']").click()
        page.click("button[data-act=escalateIncident]")
        ru = catalogue("ru")
        done = ru["ui.done"].replace("{action}", ru["ui.act.escalateIncident"])
        page.wait_for_selector(f"#result:has-text('{done}')", timeout=15_000)
        incident = server.app.incident(UUID(iid))
        assert incident.level == 1 and incident.status.value == "OPEN"
        page.click("button[data-act=closeIncident]")  # too early: a translated refusal
        refusal = page.wait_for_selector("#result .err[data-code=ILLEGAL_TRANSITION]")
        assert refusal.inner_text() == ru["error.ILLEGAL_TRANSITION"]
        page.click("button[data-act=acknowledgeIncident]")
        page.wait_for_selector(f"tr[data-id='{iid}'][data-status=ACKNOWLEDGED]", timeout=15_000)
        page.select_option("#statusFilter", "")  # all statuses: resolved and closed stay listed
        page.click("button[data-act=resolveIncident]")
        page.wait_for_selector(f"tr[data-id='{iid}'][data-status=RESOLVED]", timeout=15_000)
        page.click("button[data-act=closeIncident]")
        page.wait_for_selector(f"tr[data-id='{iid}'][data-status=CLOSED]", timeout=15_000)
        _shot(page, "console-closed.png")
    assert server.app.incident(UUID(iid)).status.value == "CLOSED"


def _evidence_and_cameras(server: Server) -> tuple[str, str]:
    """A plate incident with a real JPEG in the evidence store, and the cameras view written as
    `kuzet cameras watch` writes it (one camera online, one offline in district almaly)."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from detectors.evidence import EvidenceStore
    from domain.camera_watch import CameraWatch
    from domain.health import HealthRecord, HealthStatus
    from domain.kinds import SourceKind
    from projections.sqlite_store import SqliteStore
    from projections.views.cameras import CAMERAS, write_cameras

    store = EvidenceStore(server.starlette.state.services.config.evidence_dir)
    frame = np.zeros((90, 120, 3), np.uint8)
    frame[20:70, 30:90] = (30, 140, 230)
    shot = store.put(frame)
    now, watch = datetime.now(UTC), CameraWatch(silent_after=timedelta(minutes=2),
                                                repeat_every=timedelta(minutes=1))
    watch.observe(HealthRecord("cam-a", SourceKind.CAMERA, HealthStatus.HEARTBEAT, now,
                               site_id="yard-1", frames=25))
    watch.observe(HealthRecord("cam-b", SourceKind.CAMERA, HealthStatus.SOURCE_OFFLINE,
                               now - timedelta(minutes=5), site_id="yard-1", reason="timeout"))

    async def write() -> None:
        views = SqliteStore(str(server.read_model))
        try:
            await views.setup([CAMERAS])
            await write_cameras(views, watch, lambda _: "almaly", {})
        finally:
            await views.close()

    with ThreadPoolExecutor(1) as pool:  # playwright owns this thread's event loop
        pool.submit(asyncio.run, write()).result()
        iid = pool.submit(open_incident, server.app, "plate_match",
                          attributes={"plate": "E777EE02"},
                          snapshot={"uri": shot.uri, "sha256": shot.sha256}).result()
    assert shot.sha256 is not None
    return str(iid), shot.sha256


def test_evidence_thumbnails_and_camera_counts_for_whom_may_see_them(server: Server) -> None:
    """An auditor (every agency, snapshots in the clear) sees the board's camera counts by
    district and the incident's evidence thumbnail, loaded from /evidence with the token; an
    operator of the situation centre (snapshots masked) gets no thumbnail."""
    iid, digest = _evidence_and_cameras(server)
    with _page() as page:
        page.goto(f"{server.url}/console")
        page.fill("#token", server.token("auditor", subject="console-aud"))
        page.click("#connect")
        page.wait_for_selector("#status[data-state=live]", timeout=15_000)
        almaly = page.wait_for_selector("#cameraPanel:not([hidden]) tr[data-district=almaly]",
                                        timeout=15_000)
        assert almaly.inner_text().split() == ["almaly", "1", "1", "0"]
        page.locator(f"tr[data-id='{iid}']").click()
        thumb = page.wait_for_selector(f"#evidence img[data-sha256='{digest}'][data-loaded=yes]",
                                       timeout=15_000)
        assert thumb.evaluate("img => img.naturalWidth") == 120
        _shot(page, "console-evidence.png")
        page.fill("#token", server.token("operator", subject="console-op-2"))
        page.click("#connect")
        page.wait_for_selector("#status[data-state=live]", timeout=15_000)
        page.locator(f"tr[data-id='{iid}']").click()
        page.wait_for_selector("#detail p i")  # drawn for the operator: the subject is masked
        assert page.locator("#evidence img").count() == 0
