"""Routing and minimisation policies, event types and schemas: pure, milliseconds."""

from __future__ import annotations

import pytest

from domain.privacy import minimise
from domain.record_schemas import record_schemas
from domain.routing import InvalidRouting, load_routing
from streams.relay import event_type
from streams.schemas import EVENT_NAMES, SILENCE_EVENT_NAMES, event_schemas

OPENED = {"kind": "plate_match", "incident_key": "plate_match:plate=A1", "subject": {"plate": "A1"},
          "snapshots": ["s3://x"], "site_id": "s"}
POLICY = load_routing({
    "sites": {"school-1": {"district": "d1", "type": "school"}},
    "routes": [{"kinds": ["fire"], "site_types": ["school"], "agencies": ["education"]},
               {"districts": ["d1"], "min_severity": 3, "agencies": ["police"]}],
})


def test_routing_fans_out_on_kind_place_and_severity() -> None:
    assert POLICY.agencies_for("fire", "school-1", 2, ["situation_centre"]) == (
        "situation_centre", "education")
    assert POLICY.agencies_for("fire", "school-1", 3) == ("education", "police")
    assert POLICY.agencies_for("fire", "elsewhere", 4) == ()


def test_bad_routes_name_the_entry() -> None:
    with pytest.raises(InvalidRouting, match=r"routes\[0\].agencies"):
        load_routing({"routes": [{"agencies": ["mayor"]}]})


@pytest.mark.parametrize("agency", ["zhkkh", "education", "emergency"])
def test_non_police_agencies_get_no_tagged_field(agency: str) -> None:
    assert minimise("Opened", OPENED, agency) == {"kind": "plate_match", "site_id": "s"}


def test_police_keep_and_situation_centre_masks() -> None:
    assert minimise("Opened", OPENED, "police") == OPENED
    masked = minimise("Opened", OPENED, "situation_centre")
    assert masked["subject"].startswith("masked:") and "A1" not in str(masked)


@pytest.mark.parametrize("event", ["NoteAdded", "AgencyResponded", "LegalHoldPlaced"])
def test_free_text_reaches_only_agencies_that_keep_it(event: str) -> None:
    field = "text" if event == "NoteAdded" else "reason"
    data = {field: "the owner, Ivan Petrov, refused entry", "actor": "op-1"}
    assert minimise(event, data, "police") == data
    assert minimise(event, data, "situation_centre") == data
    for agency in ("zhkkh", "education", "emergency"):
        assert minimise(event, data, agency) == {"actor": "op-1"}


def test_every_event_type_has_a_schema() -> None:
    schemas = event_schemas()
    assert event_type("AutoResolved") == "kuzet.incident.auto_resolved.v1"
    assert event_type("Ended", "Silence") == "kuzet.silence.ended.v1"
    assert set(schemas) == ({event_type(n) for n in EVENT_NAMES}
                            | {event_type(n, "Silence") for n in SILENCE_EVENT_NAMES}
                            | {"kuzet.rule_activation.rules_activated.v1"})
    data = schemas["kuzet.incident.opened.v1"]["properties"]["data"]["properties"]
    assert data["sla_due_at"] == {"type": "string", "format": "date-time"}


def test_the_published_schemas_in_docs_are_current() -> None:
    """docs/schemas is what adapter writers read: regenerate with `kuzet event-schemas`."""
    import json
    from pathlib import Path

    folder = Path(__file__).resolve().parents[3] / "docs" / "schemas"
    on_disk = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert on_disk == {**event_schemas(), **record_schemas()}
