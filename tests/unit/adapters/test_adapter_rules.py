"""Retry rules, record parsing, unsealing and regeneration: pure functions, milliseconds."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from adapters.envelope import body_for, normalise_time, parse_record, sha256
from adapters.errors import UnsealError
from adapters.feed import Record
from adapters.regenerate import regenerate
from adapters.retry import RetryPolicy, Verdict, classify, retry_after_s
from adapters.state import Receipt
from domain.privacy import SHREDDED

ENVELOPE = (b'{"data":{"kind":"fight"},"id":"e1","source":"urn:kuzet:incidents",'
            b'"time":"2026-11-26T15:00:00+05:00","type":"kuzet.incident.opened.v1"}')


@pytest.mark.parametrize(("status", "verdict"), [
    (200, Verdict.DELIVERED), (202, Verdict.DELIVERED), (204, Verdict.DELIVERED),
    (408, Verdict.RETRY), (429, Verdict.RETRY), (500, Verdict.RETRY), (503, Verdict.RETRY),
    (400, Verdict.PARK), (401, Verdict.PARK), (404, Verdict.PARK), (410, Verdict.PARK),
    (422, Verdict.PARK), (301, Verdict.PARK), (100, Verdict.PARK),
])
def test_transient_answers_retry_and_refusals_park_at_once(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=10, base_s=1.0, cap_s=8.0)
    rng = random.Random(3)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [policy.delay(attempt, rng) for _ in range(200)]
        assert step / 2 <= min(waits) and max(waits) <= step
        assert max(waits) - min(waits) > step / 4  # jittered, not lockstep
    assert policy.delay(1, rng, retry_after=5.0) == 5.0
    assert policy.delay(1, rng, retry_after=600.0) == 8.0  # never past the cap
    assert (retry_after_s("7"), retry_after_s("-1"), retry_after_s("Fri, 07 Nov")) == (7.0, None,
                                                                                        None)
    with pytest.raises(ValueError, match="max_attempts >= 1"):
        RetryPolicy(max_attempts=0)


def test_records_are_parsed_and_non_envelopes_explained() -> None:
    event = parse_record(ENVELOPE)
    assert (event.id, event.type) == ("e1", "kuzet.incident.opened.v1")
    assert event.time == "2026-11-26T10:00:00.000000+00:00" == normalise_time(
        "2026-11-26T10:00:00Z")
    for raw in (b"garbage", b"[]", b'{"id": 5, "time": "2026-11-26T10:00:00Z"}',
                b'{"id": "x"}', b'{"id": "x", "time": "yesterday"}',
                b'{"id": "x", "time": "2026-11-26T10:00:00"}'):
        bad = parse_record(raw)
        assert bad.id is None and bad.raw == raw
        assert bad.problem and bad.problem.startswith("not a CloudEvents envelope")


def _sealed(key: str, cipher: str) -> dict[str, Any]:
    return {"$sealed": 1, "k": key, "f": "subject", "c": cipher}


class KeyRing:
    """A stand-in for `eventstore.sealing`'s per-subject keys (not built yet): maps each
    ciphertext to its plaintext while the key exists, SHREDDED once it was destroyed."""

    def __init__(self) -> None:
        self.plain = {"c1": {"subject_id": "W-1042"}, "c2": "A123BC02"}
        self.destroyed: set[str] = set()

    def unseal(self, marker: Mapping[str, Any]) -> Any:
        if marker["c"] not in self.plain:
            raise UnsealError(f"sealed value under key {marker['k']} fails authentication")
        return SHREDDED if marker["k"] in self.destroyed else self.plain[marker["c"]]


def test_bodies_are_the_record_bytes_unless_sealed_values_must_be_opened() -> None:
    ring = KeyRing()
    spaced = b'{"id": "e1",  "time": "2026-11-26T10:00:00Z"}'
    assert body_for(spaced, ring.unseal).content == spaced  # untouched, not re-encoded
    sealed = json.dumps({"id": "e2", "time": "2026-11-26T10:00:00Z",
                         "data": {"subject": _sealed("k1", "c1"),
                                  "plates": [_sealed("k2", "c2")]}}).encode()
    assert body_for(sealed, None).content == sealed  # no unsealer: delivered as on the topic
    opened = body_for(sealed, ring.unseal)
    assert json.loads(opened.content)["data"] == {"subject": {"subject_id": "W-1042"},
                                                  "plates": ["A123BC02"]}
    assert opened.content == body_for(sealed, ring.unseal).content  # deterministic
    assert b" " not in opened.content and opened.shredded == ()
    ring.destroyed.add("k1")
    erased = body_for(sealed, ring.unseal)
    assert json.loads(erased.content)["data"]["subject"] == SHREDDED
    assert erased.shredded == ("k1",)


def _receipt(event_id: str, body: bytes) -> Receipt:
    return Receipt("police", event_id, "t", "x", "t", 0, 0, "u", sha256(body), 200, 1, "d")


def test_regeneration_reproduces_receipted_bytes_and_explains_the_rest() -> None:
    ring = KeyRing()

    def env(i: int, minute: int, **data: Any) -> bytes:
        return json.dumps({"id": f"e{i}", "time": f"2026-11-26T10:{minute:02d}:00+00:00",
                           "data": data}, sort_keys=True).encode()
    sealed = env(3, 3, subject=_sealed("k1", "c1"))
    forged = env(6, 4, subject=_sealed("k9", "altered"))
    records = [Record("t", 0, n, v) for n, v in enumerate(
        [env(1, 1), env(2, 2), env(1, 1), sealed, env(4, 4), env(5, 9), b"junk", forged])]
    receipts = [_receipt("e1", env(1, 1)), _receipt("e2", b"other"),
                _receipt("e3", body_for(sealed, ring.unseal).content), _receipt("e0", b"gone")]
    ring.destroyed.add("k1")
    start, end = normalise_time("2026-11-26T10:00:00Z"), normalise_time("2026-11-26T10:05:00Z")
    result = regenerate(records, receipts, start, end, ring.unseal)
    assert [(i.event_id, i.status) for i in result.items] == [
        ("e1", "match"), ("e2", "differs"), ("e3", "shredded"), ("e4", "not delivered"),
        ("e6", "unreadable")]
    assert result.items[-1].body == forged and "fails authentication" in str(
        result.items[-1].problem)
    assert [r.event_id for r in result.missing] == ["e0"]
    assert not result.consistent
    assert result.jsonl().split(b"\n")[0] == env(1, 1)
    clean = regenerate(records[:1], receipts[:1], start, end)
    assert clean.consistent and clean.jsonl() == env(1, 1) + b"\n"
