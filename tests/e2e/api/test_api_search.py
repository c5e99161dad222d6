"""`searchDetections` over real HTTP, and `kuzet search` on the same archive: police and
auditors only, fuzzy plates across scripts, pages, the incident a detection belongs to, and
every search recorded (the event and the personal-data access log)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api import ApiConfig, Role, create_app, issue_token
from archive.ingest import Archiver
from archive.store import open_archive
from domain.application import IncidentApp
from domain.searches import SEARCH_TOPIC
from eventstore.sealing import Sealer
from kuzet.cli import app as kuzet_cli
from kuzet.commands.search import graphql_port
from kuzet.settings import Settings, load_settings
from tests.e2e.api.harness import serving
from tests.helpers import default_rules

SECRET = "test-secret-0123456789abcdef"
PEPPER = "search-pepper-0123456789"
SEARCH = """query($f: DetectionFilter, $after: String) { searchDetections(filter: $f, first: 2,
  after: $after) { hits { detectionId camera kind plate snapshot incidentId vehicleType colour
  location { lat lon } } pageInfo { hasNextPage endCursor } } }"""
INCIDENT = "7d1f1c36-6f0e-4a43-9d7b-2a1d7f1d0c11"


def _det(n: int, plate: str) -> bytes:
    return json.dumps({
        "detection_id": str(uuid.UUID(int=n)), "source_id": f"cam-{n}", "source_kind": "camera",
        "kind": "vehicle", "confidence": 0.9,
        "observed_at": (datetime.now(UTC) - timedelta(minutes=n)).isoformat(),
        "location": {"lat": 43.2, "lon": 76.9},
        "attributes": {"plate": plate, "class": "car", "colour": "white"},
        "snapshot": {"uri": f"s3://snaps/{n}.jpg", "sha256": "b" * 64}}).encode()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings, IncidentApp]]:
    folder = tmp_path_factory.mktemp("search")
    settings = load_settings(environ={}, data_dir=str(folder), privacy_pepper=PEPPER)
    incidents = IncidentApp(settings.event_store_env(), default_rules())
    store = open_archive(settings.archive_location)
    Archiver(store, Sealer(incidents.factory.keystore), PEPPER.encode()).take(  # type: ignore[attr-defined]
        [_det(1, "777ABA02"), _det(2, "777\u0410\u0412\u041002"), _det(3, "777ABK02"),
         _det(4, "123XYZ01")])
    store.link([(str(uuid.UUID(int=1)), INCIDENT)])
    store.close()
    config = ApiConfig(event_store_env=settings.event_store_env(), rules=default_rules(),
                       token_secret=SECRET, poll_interval_s=0.02)
    starlette = create_app(config, incidents, None, (), graphql_port(settings, incidents))
    try:
        with serving(starlette) as url:
            yield f"{url}/graphql", settings, incidents
    finally:
        incidents.close()


def _gql(url: str, role: str, variables: dict[str, Any]) -> dict[str, Any]:
    token = issue_token(SECRET, subject=f"{role}-7", role=Role(role), agency=None, ttl_s=600)
    r = httpx.post(url, json={"query": SEARCH, "variables": variables},
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return r.json()  # type: ignore[no-any-return]


def test_search_detections_for_police_and_auditors_only_and_recorded(
        served: tuple[str, Settings, IncidentApp]) -> None:
    url, settings, incidents = served
    for role in ("operator", "zhkkh", "supervisor"):
        body = _gql(url, role, {"f": {"plate": "777ABA02"}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    fuzzy = {"f": {"plate": "777 aba 02", "plateFuzzy": True, "colours": ["white"]}}
    first = _gql(url, "police", fuzzy)["data"]["searchDetections"]
    assert first["pageInfo"]["hasNextPage"]
    rest = _gql(url, "auditor", {**fuzzy, "after": first["pageInfo"]["endCursor"]})
    hits = first["hits"] + rest["data"]["searchDetections"]["hits"]
    assert sorted(h["plate"] for h in hits) == sorted(["777ABA02", "777\u0410\u0412\u041002",
                                                       "777ABK02"])
    linked = next(h for h in hits if h["plate"] == "777ABA02")
    assert linked["incidentId"] == INCIDENT and linked["snapshot"] == "s3://snaps/1.jpg"
    bad = _gql(url, "police", {"f": {"colours": ["chartreuse"]}})
    assert "chartreuse" in bad["errors"][0]["message"]

    result = CliRunner().invoke(kuzet_cli, ["search", "--plate", "123XYZ01", "--json", "--by",
                                            "officer-cli"],
                                env={"KUZET_DATA_DIR": str(settings.data_dir),
                                     "KUZET_PRIVACY_PEPPER": PEPPER})
    assert result.exit_code == 0, result.output
    assert [h["plate"] for h in json.loads(result.output)["hits"]] == ["123XYZ01"]

    records = [incidents.mapper.to_domain_event(n) for n in
               incidents.recorder.select_notifications(start=1, limit=1000)
               if n.topic == SEARCH_TOPIC]
    seen = [(r.principal, r.via, r.hits, r.criteria["plate"]) for r in records]
    assert ("police-7", "graphql", 2, "fuzzy") in seen and ("auditor-7", "graphql", 1, "fuzzy") \
        in seen and ("officer-cli", "cli", 1, "exact") in seen
    assert not any("777" in json.dumps(r.criteria) for r in records)  # never the plate
    access = """{ personalDataAccess(principal: "police-7", first: 50) { incident fields via } }"""
    token = issue_token(SECRET, subject="aud", role=Role.AUDITOR, agency=None, ttl_s=600)
    entries = httpx.post(url, json={"query": access}, headers={
        "Authorization": f"Bearer {token}"}, timeout=30).json()["data"]["personalDataAccess"]
    assert {"incident": INCIDENT, "fields": ["plate", "snapshot"],
            "via": "search/graphql"} in entries
    assert Path(settings.archive_location).exists()


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="/usr/bin/chromium missing")
def test_console_search_panel_for_police_only(
        served: tuple[str, Settings, IncidentApp]) -> None:
    """The console's search panel in headless Chromium: hidden for an operator; a police
    officer finds the plate typed in Cyrillic, one character off."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    console = served[0].replace("/graphql", "/console")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_context().new_page()
            for role in ("operator", "police"):
                page.goto(console)
                page.fill("#token", issue_token(SECRET, subject=f"{role}-c", role=Role(role),
                                                agency=None, ttl_s=600))
                page.click("#connect")
                page.wait_for_selector("#status[data-state=live]", timeout=15_000)
                if role == "operator":
                    assert page.locator("#searchPanel").is_hidden()
            page.fill("#searchPlate", "123\u0425Y\u041701")  # Cyrillic HA folds; Cyrillic ZE is one edit
            page.check("#searchFuzzy")
            page.click("#searchRun")
            hit = page.locator(f"#searchHits li[data-detection='{uuid.UUID(int=4)}']")
            hit.wait_for(timeout=15_000)
            assert "123XYZ01" in hit.inner_text()
        finally:
            browser.close()
