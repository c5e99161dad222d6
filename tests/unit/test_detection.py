"""The detection contract: validation names every bad field; records round-trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.detection import (
    MAX_RECORD_BYTES,
    encode_detection,
    parse_detection,
)
from domain.errors import InvalidDetection
from domain.kinds import Kind
from tests.helpers import record


def _errors(raw: bytes) -> dict[str, str]:
    with pytest.raises(InvalidDetection) as info:
        parse_detection(raw)
    return {e.field: e.reason for e in info.value.errors}


def test_valid_record_parses_into_an_immutable_value() -> None:
    rec = record("face_match", attributes={"subject_id": "W-1", "similarity": 0.8},
                 location={"lat": 43.2, "lon": 76.9}, bbox=[0.1, 0.1, 0.2, 0.3],
                 snapshot={"uri": "file:///x.jpg", "sha256": "a" * 64},
                 model={"name": "sface", "version": "2021dec"})
    det = parse_detection(json.dumps(rec).encode())
    assert det.kind is Kind.FACE_MATCH
    assert det.attributes["subject_id"] == "W-1"
    with pytest.raises(TypeError):
        det.attributes["subject_id"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        det.confidence = 0.1  # type: ignore[misc]


def test_every_bad_field_is_named_with_its_value() -> None:
    bad = record("unicorn", conf=1.5)
    bad["observed_at"] = "2026-11-26T10:00:00"
    bad["detection_id"] = "not-a-uuid"
    bad["bbox"] = [0.5, 0.5, 0.7, 0.1]
    errors = _errors(json.dumps(bad).encode())
    assert set(errors) == {"kind", "confidence", "observed_at", "detection_id", "bbox"}
    assert "RFC 3339" in errors["observed_at"]


def test_kind_specific_attributes_are_required() -> None:
    errors = _errors(json.dumps(record("plate_match")).encode())
    assert "attributes.plate" in errors
    errors = _errors(json.dumps(record("canteen_count", site=None)).encode())
    assert {"site_id", "attributes.count", "attributes.meal"} <= set(errors)


@pytest.mark.parametrize("raw", [
    b"{not json", b"[]", b"null", b"{}", json.dumps({"kind": "fire"}).encode(),
    "\ud800".encode("utf-8", "surrogatepass"),
])
def test_garbage_is_rejected_with_a_typed_error(raw: bytes) -> None:
    with pytest.raises(InvalidDetection):
        parse_detection(raw)


def test_oversized_records_are_rejected_before_parsing() -> None:
    rec = record("fire", attributes={"blob": "x" * MAX_RECORD_BYTES})
    assert "<record>" in _errors(json.dumps(rec).encode())


def test_date_only_and_bool_confidence_are_rejected() -> None:
    rec = record("fire")
    rec["observed_at"] = "2026-11-26"
    rec["confidence"] = True
    assert {"observed_at", "confidence"} <= set(_errors(json.dumps(rec).encode()))


@given(conf=st.floats(0, 1), kind=st.sampled_from(["fire", "smoke", "crowd", "weapon"]),
       lat=st.floats(-90, 90), lon=st.floats(-180, 180))
def test_round_trip(conf: float, kind: str, lat: float, lon: float) -> None:
    det = parse_detection(json.dumps(record(kind, conf=conf, location={"lat": lat, "lon": lon})))
    assert parse_detection(encode_detection(det)) == det


def test_a_record_nested_too_deep_for_the_decoder_is_invalid_not_a_crash() -> None:
    import pytest

    from domain.detection import parse_detection
    from domain.errors import InvalidDetection

    with pytest.raises(InvalidDetection, match="not JSON"):
        parse_detection(b"[" * 60_000)
