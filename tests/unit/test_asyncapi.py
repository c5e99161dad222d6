"""docs/asyncapi.yaml: current with the code, every topic described, every payload on disk."""

from __future__ import annotations

from pathlib import Path

import yaml

from domain.kinds import Agency
from domain.topics import (
    APPEAL_STATUS,
    CORRELATION,
    DETECTIONS,
    DETECTIONS_DLQ,
    HEALTH,
    INCIDENT_EVENTS,
    agency_topic,
)
from streams.asyncapi import asyncapi_yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_published_document_is_current() -> None:
    """Regenerate with `kuzet event-schemas`."""
    assert (DOCS / "asyncapi.yaml").read_text() == asyncapi_yaml()


def test_every_topic_has_a_channel_and_every_payload_a_schema_file() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {DETECTIONS, DETECTIONS_DLQ, CORRELATION, HEALTH, INCIDENT_EVENTS,
                         APPEAL_STATUS,
                         *(agency_topic(a) for a in Agency)}
    refs = {m["payload"]["$ref"] for c in doc["channels"].values()
            for m in c["messages"].values()}
    assert all((DOCS / ref).is_file() for ref in refs)
    assert {f"./schemas/{p.name}" for p in (DOCS / "schemas").glob("*.json")} == refs
    for op in doc["operations"].values():
        channel = op["channel"]["$ref"].rsplit("/", 1)[-1]
        assert channel in doc["channels"]
        assert op["action"] == ("receive" if channel in {"detections", "health"} else "send")
