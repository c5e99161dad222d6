"""The aiokafka hops' bookkeeping: which offsets may be committed, and the two decoders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from domain.detection import parse_detection
from kuzet.scenario import demo_records
from streams.consumer import OffsetTracker, Token, _parse, _reparse


@given(st.integers(1, 40).flatmap(lambda n: st.permutations(range(n))),
       st.integers(0, 40))
def test_the_committable_offset_is_the_first_unsettled_one(order: list[int], cut: int) -> None:
    tracker = OffsetTracker()
    for offset in range(len(order)):
        tracker.handed_out(3, 100 + offset)
    settled = order[:cut]
    tracker.settle(Token(3, 100 + o) for o in settled)
    first_unsettled = next((o for o in range(len(order)) if o not in settled), len(order))
    assert tracker.due() == {3: 100 + first_unsettled}


def test_committed_offsets_are_not_due_again_and_forgotten_partitions_are_ignored() -> None:
    tracker = OffsetTracker()
    for offset in range(3):
        tracker.handed_out(0, offset)
        tracker.handed_out(1, offset)
    tracker.settle([Token(0, 0), Token(0, 1), Token(1, 0)])
    due = tracker.due()
    assert due == {0: 2, 1: 1}
    tracker.committed(due)
    assert tracker.due() == {}
    tracker.forget([1])
    tracker.settle([Token(1, 1), Token(1, 2)])  # a late settlement from before a rebalance
    tracker.settle([Token(0, 2)])
    assert tracker.due() == {0: 3}


@dataclass
class _Msg:
    value: bytes | None


def test_the_correlate_hop_decoder_agrees_with_full_validation() -> None:
    now = datetime.now(UTC)
    valid = [v for _, v in demo_records(now) if _parse(_Msg(v))[0] is not None]
    assert valid
    for raw in valid:
        assert _reparse(_Msg(raw))[0] == parse_detection(raw)


def test_a_malformed_record_on_the_internal_topic_still_gets_the_contracts_errors() -> None:
    now = datetime.now(UTC)
    raw = next(v for _, v in demo_records(now) if _parse(_Msg(v))[0] is not None)
    broken = {**json.loads(raw), "confidence": 7, "observed_at": "yesterday"}
    det, err = _reparse(_Msg(json.dumps(broken).encode()))
    assert det is None and err is not None
    assert {e.field for e in err.errors} == {"confidence", "observed_at"}
    assert _parse(_Msg(b"\xff not json"))[1] is not None
    assert _parse(_Msg(None))[1] is not None


@dataclass
class _Fetched:
    key: bytes | None
    value: bytes | None
    offset: int


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int


def test_the_route_hop_re_keys_by_shard_and_dead_letters_the_rest() -> None:
    from domain.correlation import shard_key
    from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
    from streams.consumer import RouteHop
    from tests.helpers import default_rules

    rules = default_rules()
    now = datetime.now(UTC)
    good = [v for _, v in demo_records(now) if _parse(_Msg(v))[0] is not None][:3]
    tp = _TP(DETECTIONS, 2)
    fetched = [_Fetched(b"cam", v, 10 + i) for i, v in enumerate(good)]
    fetched.append(_Fetched(b"cam-x", b'{"kind": "fire"}', 13))
    records, offsets = RouteHop(rules).route({tp: fetched})
    assert offsets == {tp: 14}
    assert [r.topic for r in records] == [CORRELATION] * 3 + [DETECTIONS_DLQ]
    for record, raw in zip(records, good, strict=False):
        assert record.value == raw  # the original bytes travel on
        assert record.key == shard_key(parse_detection(raw), rules).encode()
    dead = json.loads(records[-1].value)
    assert dead["source"] == {"topic": DETECTIONS, "partition": 2, "offset": 13}
    assert {e["field"] for e in dead["errors"]} >= {"detection_id", "confidence"}


def test_a_deeply_nested_record_is_dead_lettered_not_fatal() -> None:
    """Under the size limit but nested past the JSON decoders' depth: it used to raise
    RecursionError out of the route hop, so the worker died and, restarted, died again on
    the same uncommitted record (the whole correlator stuck behind one poison pill)."""
    from domain.topics import DETECTIONS, DETECTIONS_DLQ
    from streams.consumer import RouteHop
    from tests.helpers import default_rules

    tp = _TP(DETECTIONS, 0)
    records, offsets = RouteHop(default_rules()).route(
        {tp: [_Fetched(b"cam", b"[" * 60_000, 4), _Fetched(b"cam", b'{"a":' * 10_000, 5)]})
    assert [r.topic for r in records] == [DETECTIONS_DLQ] * 2
    assert offsets == {tp: 6}
    assert all("not JSON" in json.loads(r.value)["reason"] for r in records)


def test_a_huge_record_makes_a_bounded_dead_letter_that_still_identifies_it() -> None:
    import base64
    import hashlib

    from streams.consumer import DLQ_ORIGINAL_MAX

    raw = b'{"pad": "' + b"x" * 900_000 + b'"}'
    det, err = _parse(_Msg(raw))
    assert det is None and err is not None
    from streams.consumer import dead_letter

    dead = json.loads(dead_letter(raw, err, "kuzet.detections.v1", 0, 7))
    assert len(base64.b64decode(dead["original"])) == DLQ_ORIGINAL_MAX
    assert dead["original_size"] == len(raw)
    assert dead["original_sha256"] == hashlib.sha256(raw).hexdigest()
    assert "larger than" in dead["reason"]


def test_the_route_hop_keeps_detections_whose_shard_is_their_own_source() -> None:
    """Source-keyed kinds, and site-keyed kinds without a site, are correlated by the route
    hop itself — but only from a record keyed by its source_id (the contract), so that every
    detection of the shard is in this partition; the rest is re-keyed or dead-lettered."""
    from domain.correlation import shard_key
    from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
    from streams.consumer import RouteHop
    from tests.helpers import default_rules, record

    rules = default_rules()
    now = datetime.now(UTC)
    cases = [  # (record key, record, kept here)
        (b"cam-1", record("fight", source="cam-1", site=None, at=now), True),
        (b"cam-2", record("fire", source="cam-2", site=None, at=now), True),
        (b"cam-3", record("camera_offline", source="cam-3", site=None, at=now), True),
        (b"cam-4", record("person", source="cam-4", site=None, at=now), True),
        (b"cam-5", record("fight", source="cam-5", site="s-1", at=now), False),  # inhibition
        (b"cam-6", record("fire", source="cam-6", site="s-1", at=now), False),
        (b"cam-7", record("face_match", source="cam-7", site=None, at=now,
                          attributes={"subject_id": "W-1", "similarity": 0.9}), False),
        (b"other", record("fight", source="cam-8", site=None, at=now), False),  # keyed off
        (None, record("fight", source="cam-9", site=None, at=now), False),
    ]
    tp = _TP(DETECTIONS, 1)
    fetched = [_Fetched(key, json.dumps(rec).encode(), 20 + i)
               for i, (key, rec, _) in enumerate(cases)]
    fetched.append(_Fetched(b"cam-x", b'{"kind": "fight"}', 20 + len(cases)))
    triage = RouteHop(rules).triage({tp: fetched})
    kept = [msg.offset - 20 for _, msg in triage.local[tp]]
    assert kept == [i for i, (_, _, here) in enumerate(cases) if here]
    for det, msg in triage.local[tp]:
        assert det == parse_detection(msg.value)
        assert shard_key(det, rules) == f"source={det.source_id}"
    produced = {token.offset - 20: record for record, token in triage.produce}
    assert all(token.topic == DETECTIONS and token.partition == 1
               for _, token in triage.produce)
    assert sorted(produced) == [i for i, (_, _, here) in enumerate(cases) if not here] + [
        len(cases)]
    for i, rec in produced.items():
        if i == len(cases):
            assert rec.topic == DETECTIONS_DLQ
        else:
            assert rec.topic == CORRELATION
            assert rec.key == shard_key(parse_detection(rec.value), rules).encode()
    # without the direct lane (the reference): every valid record is re-keyed
    records, _ = RouteHop(rules).route({tp: fetched})
    assert [r.topic for r in records] == [CORRELATION] * len(cases) + [DETECTIONS_DLQ]
