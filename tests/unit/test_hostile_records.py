"""Hostile detection records (issue 10): each example that ever crashed or fooled the worker
stays here as an explicit case, and a hypothesis property runs generated hostile streams
through parse, the route hop and pure correlation: no exception escapes, every record comes out
once, either re-keyed for correlation or dead-lettered with a reason and a stage."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.correlation import KeyState, correlate, correlation_key, tick
from domain.detection import (
    Skew,
    check_skew,
    content_digest,
    encode_detection,
    parse_detection,
    validate_detection_dict,
)
from domain.errors import InvalidDetection
from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from streams.consumer import RouteHop, _reparse
from tests.helpers import T0, default_rules, record
from tests.hostile import BOM, encode, hostile_stream

RULES = default_rules()


def _fields(raw: bytes) -> dict[str, str]:
    with pytest.raises(InvalidDetection) as info:
        parse_detection(raw)
    json.dumps(str(info.value)).encode()  # the message itself always encodes
    return {e.field: e.reason for e in info.value.errors}


# --- the examples of issue 10 ----------------------------------------------------------------


def test_a_lone_surrogate_in_source_id_is_refused_by_the_contract() -> None:
    """Used to pass the stdlib fallback decoder, then kill the worker when the store encoded
    it (UnicodeEncodeError), and again on every restart."""
    fields = _fields(encode(record(source="\ud800")))
    assert "lone surrogate" in fields["<record>.source_id"]


def test_a_lone_surrogate_in_a_plate_is_refused_anywhere_in_attributes() -> None:
    rec = record("plate_match", attributes={"plate": "A1\ud800", "nested": {"x": ["\udfff"]}})
    fields = _fields(encode(rec))
    assert {"<record>.attributes.plate", "<record>.attributes.nested.x[0]"} <= set(fields)


def test_a_surrogate_in_a_key_is_named_with_an_escaped_path() -> None:
    fields = _fields(encode(record(attributes={"\ud800": 1})))
    assert any("\\ud800" in name for name in fields)
    assert all(name.encode() for name in fields)


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00",
                                "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"])
def test_datetimes_that_overflow_window_arithmetic_are_refused(at: str) -> None:
    """0001-01-01 raised OverflowError in `domain.correlation` (window horizon)."""
    rec = record()
    rec["observed_at"] = at
    assert "years" in _fields(encode(rec))["observed_at"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused_inside_attributes_too(value: float) -> None:
    fields = _fields(encode(record(attributes={"score": {"deep": [value]}})))
    assert fields["<record>.attributes.score.deep[0]"] == "not a finite number"


def test_an_overflowing_literal_and_a_huge_integer_are_refused() -> None:
    raw = encode(record(attributes={"x": 1})).replace(b'"x": 1', b'"x": 1e400')
    assert "<record>.attributes.x" in _fields(raw)
    assert "<record>.attributes.n" in _fields(encode(record(attributes={"n": 10**30})))


@pytest.mark.parametrize("plate", ["!!! ---", "   -", "\u200b"])
def test_a_plate_that_normalises_to_an_empty_key_is_refused(plate: str) -> None:
    """`!!! ---` became the key `plate=`, merging every such plate into one incident."""
    fields = _fields(encode(record("plate_match", attributes={"plate": plate})))
    assert "attributes.plate" in fields or "plate" in fields


def test_a_plate_with_letters_or_digits_keeps_its_normalised_key() -> None:
    d = parse_detection(encode(record("plate_match", attributes={"plate": "a 123-bc"})))
    assert correlation_key(d, RULES).endswith("plate=A123BC")


@pytest.mark.parametrize("name", ["source_id", "site_id"])
@pytest.mark.parametrize("value", ["cam\x00", "\u200b", "a\x1fb"])
def test_ids_with_control_or_format_characters_are_refused(name: str, value: str) -> None:
    rec = record()
    rec[name] = value
    assert name in _fields(encode(rec))


def test_a_subject_id_of_whitespace_is_refused() -> None:
    rec = record("face_match", attributes={"subject_id": "   ", "similarity": 0.9})
    assert "subject_id" in _fields(encode(rec))


def test_a_record_starting_with_a_byte_order_mark_is_refused() -> None:
    raw = encode(record())
    assert "byte-order mark" in _fields(BOM + raw)["<record>"]
    assert "byte-order mark" in _fields((BOM + raw).decode("utf-8"))["<record>"]
    parse_detection(raw)


def test_nesting_deeper_than_the_limit_is_refused_under_the_size_limit() -> None:
    deep: Any = 1
    for _ in range(40):
        deep = {"a": deep}
    fields = _fields(encode(record(attributes={"deep": deep})))
    assert any("nested deeper" in reason for reason in fields.values())


@pytest.mark.parametrize(("offset", "ok"), [
    (timedelta(minutes=4), True), (timedelta(minutes=6), False),
    (timedelta(days=-6), True), (timedelta(days=-8), False),
    (timedelta(days=365 * 3), False), (timedelta(days=-365 * 3), False),
])
def test_observed_at_outside_the_skew_is_refused_with_the_reason(offset: timedelta,
                                                                 ok: bool) -> None:
    """Timestamps years ahead or behind used to open incidents "now"."""
    d = validate_detection_dict(record(at=T0 + offset))
    if ok:
        check_skew(d, T0, Skew())
        return
    with pytest.raises(InvalidDetection) as info:
        check_skew(d, T0, Skew())
    assert "processing time" in str(info.value)
    assert ("ahead" if offset > timedelta(0) else "behind") in str(info.value)


def test_the_skew_is_configurable() -> None:
    d = validate_detection_dict(record(at=T0 + timedelta(minutes=20)))
    check_skew(d, T0, Skew(ahead=timedelta(hours=1)))


def test_the_content_digest_tells_a_redelivery_from_a_reused_id() -> None:
    rec = record(det_id="00000000-0000-4000-8000-000000000001")
    same = parse_detection(json.dumps(rec, indent=2, sort_keys=True))
    assert content_digest(parse_detection(encode(rec))) == content_digest(same)
    other = parse_detection(encode({**rec, "source_id": "cam-9"}))
    assert content_digest(other) != content_digest(same)


# --- the route hop never stops -----------------------------------------------------------------


@dataclass
class _Msg:
    key: Any
    value: Any
    offset: int


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int


def test_the_route_hop_dead_letters_every_example_with_stage_and_reason() -> None:
    now = datetime.now(UTC)
    bad = [
        encode(record(source="\ud800", at=now)),
        encode(record("plate_match", at=now, attributes={"plate": "\ud800"})),
        encode({**record(at=now), "observed_at": "0001-01-01T00:00:00+00:00"}),
        encode(record(at=now + timedelta(days=400))),
        encode(record(at=now, attributes={"x": float("nan")})),
        encode(record("plate_match", at=now, attributes={"plate": "!!! ---"})),
        BOM + encode(record(at=now)),
    ]
    good = encode(record(at=now))
    msgs = [_Msg(b"k", raw, i) for i, raw in enumerate([*bad, good])]
    records, offsets = RouteHop(RULES, clock=lambda: now).route({_TP(DETECTIONS, 0): msgs})
    assert offsets == {_TP(DETECTIONS, 0): len(msgs)}
    assert [r.topic for r in records] == [DETECTIONS_DLQ] * len(bad) + [CORRELATION]
    for r, raw in zip(records, bad, strict=False):
        letter = json.loads(r.value)
        assert letter["stage"] == "route" and letter["error_type"] == "InvalidDetection"
        assert letter["reason"] and base64.b64decode(letter["original"]) == raw
    assert "behind" in json.loads(records[3].value)["reason"] or \
        "ahead" in json.loads(records[3].value)["reason"]


def test_an_unexpected_exception_on_one_record_dead_letters_only_that_record() -> None:
    """A transport handing over something that is not bytes makes `_parse` raise TypeError:
    that record's fault, dead-lettered with the exception type; the next one goes on."""
    now = datetime.now(UTC)
    msgs = [_Msg(b"k", 12345, 0), _Msg(b"k", encode(record(at=now)), 1)]
    records, _ = RouteHop(RULES, clock=lambda: now).route({_TP(DETECTIONS, 0): msgs})
    assert [r.topic for r in records] == [DETECTIONS_DLQ, CORRELATION]
    letter = json.loads(records[0].value)
    assert letter["stage"] == "route" and letter["error_type"] == "TypeError"


# --- the property ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(hostile_stream(NOW), st.integers(0, 3))
def test_hostile_streams_never_escape_parse_route_or_pure_correlation(
        raws: list[bytes], partition: int) -> None:
    msgs = [_Msg(b"k", raw, i) for i, raw in enumerate(raws)]
    records, offsets = RouteHop(RULES, clock=lambda: NOW).route({_TP(DETECTIONS, partition):
                                                                 msgs})
    assert len(records) == len(raws) and offsets == {_TP(DETECTIONS, partition): len(raws)}
    view: dict[str, KeyState] = {}
    for rec, raw in zip(records, raws, strict=True):
        if rec.topic == DETECTIONS_DLQ:
            letter = json.loads(rec.value)
            assert letter["reason"] and letter["stage"] == "route"
            assert base64.b64decode(letter["original"]) == raw[:65536]
            continue
        assert rec.topic == CORRELATION and rec.value == raw
        det, bad = _reparse(_Msg(rec.key, rec.value, 0))
        assert bad is None and det is not None
        encode_detection(det).decode("utf-8")  # the accepted record encodes for any store
        assert parse_detection(encode_detection(det)) == det
        content_digest(det)
        out = correlate(view, det, RULES, NOW)
        for key, state in out.changes.items():
            if state is None:
                view.pop(key, None)
            else:
                view[key] = state
    tick(view, RULES, NOW + timedelta(days=2))


def test_the_route_hop_walks_attributes_of_strictly_decoded_records_too() -> None:
    """orjson already refuses surrogates and NaN, so the route hop walks only `attributes`
    of what it decoded; nesting there is still bounded."""
    now = datetime.now(UTC)
    deep: Any = 1
    for _ in range(30):
        deep = [deep]
    raw = encode(record(at=now, attributes={"deep": deep}))
    records, _ = RouteHop(RULES, clock=lambda: now).route({_TP(DETECTIONS, 0): [
        _Msg(b"k", raw, 0)]})
    assert records[0].topic == DETECTIONS_DLQ
    assert "nested deeper" in json.loads(records[0].value)["reason"]
