"""The published record schemas and the contract's validators agree.

Generated valid records (every kind, optional fields present or not) validate against
docs/schemas/detection.v1.json and health.v1.json; records the contract refuses for reasons a
JSON Schema can state are refused by the schema too. The sample file in examples/ is valid.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.detection import detection_to_dict, parse_detection, validate_detection_dict
from domain.errors import InvalidDetection
from domain.health import HealthRecord, HealthStatus, health_to_dict
from domain.kinds import Kind, SourceKind
from domain.record_schemas import detection_schema, health_schema

ROOT = Path(__file__).resolve().parents[2]
DETECTION = jsonschema.Draft202012Validator(
    detection_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
HEALTH = jsonschema.Draft202012Validator(
    health_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
_ids = st.text(alphabet="abcdefghijk-0123456789", min_size=1, max_size=20)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(Kind)))
    rec: dict[str, Any] = {
        "detection_id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        "source_id": draw(_ids), "source_kind": draw(st.sampled_from(list(SourceKind))).value,
        "kind": kind.value, "confidence": draw(st.floats(0, 1)),
        "observed_at": (T0 + timedelta(seconds=draw(st.integers(-10**6, 10**6)))).isoformat(),
    }
    attributes: dict[str, Any] = {}
    if kind is Kind.FACE_MATCH:
        attributes |= {"subject_id": draw(_ids), "similarity": draw(st.floats(0, 1))}
    if kind is Kind.PLATE_MATCH:
        attributes["plate"] = draw(_ids.filter(lambda p: any(c.isalnum() for c in p)))
    if kind is Kind.CANTEEN_COUNT:
        attributes |= {"count": draw(st.integers(0, 500)), "meal": "lunch"}
    if kind is Kind.CITIZEN_REPORT:
        attributes |= {"category": draw(_ids), "appeal_id": draw(_ids),
                       "text": draw(st.text(max_size=50).filter(str.isprintable))}
    if attributes:
        rec["attributes"] = attributes
    if kind is Kind.CANTEEN_COUNT or draw(st.booleans()):
        rec["site_id"] = draw(_ids)
    if draw(st.booleans()):
        rec["location"] = {"lat": draw(st.floats(-90, 90)), "lon": draw(st.floats(-180, 180))}
    if draw(st.booleans()):
        rec["bbox"] = [0.1, 0.2, 0.3, 0.4]
    if draw(st.booleans()):
        rec["snapshot"] = {"uri": "file:///e/1.jpg", "sha256": "ab" * 32}
    if draw(st.booleans()):
        rec["model"] = {"name": "yolo11n", "version": "1"}
    return rec


@settings(max_examples=150, deadline=None)
@given(records())
def test_every_record_the_contract_accepts_the_schema_accepts(rec: dict[str, Any]) -> None:
    accepted = detection_to_dict(validate_detection_dict(rec))
    assert list(DETECTION.iter_errors(accepted)) == []
    assert list(DETECTION.iter_errors(rec)) == []


@pytest.mark.parametrize("change", [
    {"kind": "meteor"}, {"confidence": 1.5}, {"detection_id": "not-a-uuid"},
    {"source_id": ""}, {"observed_at": "yesterday"}, {"kind": "plate_match"},
    {"kind": "canteen_count", "attributes": {"count": 3, "meal": "lunch"}},
    {"snapshot": {"uri": "x", "sha256": "XYZ"}}, {"bbox": [0.1, 0.2]},
    {"location": {"lat": 91, "lon": 0}},
])
def test_records_the_contract_refuses_the_schema_refuses(change: dict[str, Any]) -> None:
    rec = {"detection_id": str(uuid.uuid4()), "source_id": "cam-1", "source_kind": "camera",
           "kind": "fire", "confidence": 0.9, "observed_at": T0.isoformat(), **change}
    with pytest.raises(InvalidDetection):
        validate_detection_dict(rec)
    assert list(DETECTION.iter_errors(rec)) != []


def test_health_records_validate() -> None:
    for status in HealthStatus:
        record = HealthRecord("cam-1", SourceKind.CAMERA, status, T0, site_id="yard-1",
                              frames=25, detections=2, reason="ok", detector="det-1")
        assert list(HEALTH.iter_errors(health_to_dict(record))) == []
    assert list(HEALTH.iter_errors({"source_id": "cam-1", "status": "sleeping"})) != []


def test_the_first_detection_sample_is_valid_but_its_last_line() -> None:
    lines = (ROOT / "examples" / "first-detection.jsonl").read_bytes().splitlines()
    *good, bad = lines
    for line in good:
        parse_detection(line)
        assert list(DETECTION.iter_errors(json.loads(line))) == []
    with pytest.raises(InvalidDetection):
        parse_detection(bad)
