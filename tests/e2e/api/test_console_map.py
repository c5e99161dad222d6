"""The console's map, URL filters, silences panel and merge in headless Chromium (issue 14
items 4-6), on an API serving the demo city's district boundaries (examples/districts.geojson
with the sites of examples/sites.toml, as `kuzet api` wires them).

Open incidents are counted per district (by location, else by their site's district) and drawn
as dots; a district chosen in the URL filters the board; filters survive a reload (query
string); a supervisor merges one incident into another and creates and ends a silence, with a
typed refusal shown inline. Screenshots: test-artifacts/console-map.png, console-board.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from uuid import UUID

import pytest

from api.console import catalogue
from kuzet.commands.api import load_districts
from kuzet.settings import CHAINED_SQLITE, load_settings
from kuzet.wiring import load_routing_policy
from tests.e2e.api.harness import Server, open_incident, running_server
from tests.e2e.api.test_api_console import CHROMIUM, _page, _shot

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"{CHROMIUM} not installed")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("map")
    settings = load_settings(environ={"KUZET_DISTRICTS_PATH": str(EXAMPLES / "districts.geojson"),
                                      "KUZET_SITES_PATH": str(EXAMPLES / "sites.toml")})
    env = {"PERSISTENCE_MODULE": CHAINED_SQLITE, "SQLITE_DBNAME": str(folder / "events.sqlite"),
           "PRIVACY_PEPPER": "e2e-map-pepper-0123456789"}
    with running_server(env, sites=load_routing_policy(settings).sites,
                        districts=load_districts(settings)) as srv:
        yield srv


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def test_map_filters_in_the_url_merge_and_silences(city: Server) -> None:
    market = str(open_incident(city.app, "fire", site="market-7",
                               location={"lat": 43.2389, "lon": 76.8897}))
    yard = str(open_incident(city.app, "weapon", site="yard-3"))
    fights = [str(open_incident(city.app, "fight", site="square-1")) for _ in range(2)]
    with _page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(f"{city.url}/console?district=almaly&lang=en")
        page.fill("#token", city.token("supervisor", subject="map-sup"))
        page.click("#connect")
        page.wait_for_selector("#status[data-state=live]", timeout=15_000)
        page.wait_for_selector("g.district[data-district=medeu][data-count='2']")
        counts = {g.get_attribute("data-district"): g.get_attribute("data-count")
                  for g in page.locator("g.district").all()}
        assert (counts["almaly"], counts["bostandyk"], counts["alatau"]) == ("1", "1", "0")
        assert page.locator("circle.dot").count() == 4
        assert page.locator("tr.incident").evaluate_all(
            "rows => rows.map(r => r.dataset.id)") == [market]  # the URL's district
        _shot(page, "console-map.png")

        page.locator("g.district[data-district=almaly]").click()  # again: filter off
        page.select_option("#kind", "fight")
        page.wait_for_function("location.search.includes('kind=fight')")
        assert "district" not in _query(page.url)
        page.reload()  # the filters come back from the query string, the token from the session
        page.wait_for_selector("#status[data-state=live]", timeout=15_000)
        page.wait_for_selector(f"tr[data-id='{fights[0]}']")
        assert page.input_value("#kind") == "fight"
        assert sorted(page.locator("tr.incident").evaluate_all(
            "rows => rows.map(r => r.dataset.id)")) == sorted(fights)
        assert yard not in page.content() or page.locator(f"tr[data-id='{yard}']").count() == 0

        page.locator(f"tr[data-id='{fights[0]}']").click()
        assert _query(page.url)["incident"] == [fights[0]]
        page.select_option("#mergeFrom", fights[1])
        page.click("button[data-case=merge]")
        page.wait_for_selector("#caseLinks a[data-goto]", timeout=15_000)
        page.wait_for_selector("g.district[data-district=medeu][data-count='1']")
        page.once("dialog", lambda dialog: dialog.accept(dialog.default_value))  # offered:
        # the latest detections recorded on it (those the merge brought)
        page.click("button[data-case=split]")
        page.wait_for_selector(f"#result:has-text('{catalogue('en')['ui.splitDone']}')",
                               timeout=15_000)

        page.fill("#silenceValue", "nonsense")
        page.select_option("#silenceScope", "kind")
        page.fill("#silenceReason", "works")
        page.click("#silenceCreate")
        page.wait_for_selector("#silenceResult .err[data-code=INVALID_INPUT]")
        page.select_option("#silenceScope", "camera")
        page.fill("#silenceValue", "cam-77")
        page.click("#silenceCreate")
        page.wait_for_selector("#silenceList li[data-state=active]")
        _shot(page, "console-board.png")
        page.click("#silenceList button[data-end]")
        page.wait_for_selector("#silenceList li.muted")
    assert city.app.incident(UUID(fights[1])).status.value == "MERGED"
    assert len(city.app.incident(UUID(fights[0])).split_into) == 1
    assert [s.value for s in city.app.silences(city.app.incident(UUID(market)).opened_at,
                                                past=True)] == ["cam-77"]
