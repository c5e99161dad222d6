"""Reused detection ids and records that make the store raise, through the correlate hop and
the real stores (SQLite and PostgreSQL): each goes to the DLQ with its stage and reason; the
stream, the offsets and the other records go on (issue 10, item 1)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from domain.application import IncidentApp
from domain.topics import CORRELATION
from streams.consumer import CorrelateHop, OffsetTracker
from streams.engine import CorrelationEngine
from streams.ledger import MemoryLedger
from tests.helpers import default_rules, record
from tests.hostile import encode
from tests.integration.hop_fakes import TP as _TP
from tests.integration.hop_fakes import Dlq as _Dlq
from tests.integration.hop_fakes import Msg as _Msg

RULES = default_rules()
ID = "6a0b7a52-3c3e-4f0e-9a53-0d1f7f2a9e01"





def _plate(plate: str, second: int, det_id: str | None = None) -> bytes:
    return encode(record("plate_match", source=f"cam-{second}", at=datetime.now(UTC),
                         seconds=-second, det_id=det_id,
                         attributes={"plate": plate}))


def _evidence(app: IncidentApp) -> dict[str, set[str]]:
    return {i.incident_key: set(i.evidence_ids) for i in app.incidents()}


async def test_a_reused_detection_id_with_other_content_is_a_conflict_never_evidence(
        store_env) -> None:  # type: ignore[no-untyped-def]
    """The same id on a plate seen by another camera used to be evidence in two incidents."""
    now = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    dlq = _Dlq()
    hop = CorrelateHop(CorrelationEngine(app, RULES), dlq.send, lambda: now, OffsetTracker())
    first = [_plate("A 123 BC", i, ID if i == 0 else None) for i in range(3)]
    reused = _plate("X 999 YZ", 9, ID)
    await hop.handle({_TP(CORRELATION, 0): [_Msg(b"p", v, i) for i, v in
                                            enumerate([*first, first[0], reused])]})
    others = [_plate("X 999 YZ", 10 + i) for i in range(3)]
    await hop.handle({_TP(CORRELATION, 0): [_Msg(b"p", v, 5 + i) for i, v in
                                            enumerate(others)]})
    await hop.drain()
    assert hop.tracker.due() == {0: 8}
    evidence = _evidence(app)
    assert [k for k, ids in evidence.items() if ID in ids] == ["plate_match:plate=A123BC"]
    assert len(evidence) == 2  # the other plate's incident opened from its own detections
    assert len(dlq.letters) == 1  # the same bytes again (offset 3) were harmless
    letter = dlq.letters[0]
    assert (letter["stage"], letter["error_type"], letter["source"]["offset"]) == (
        "correlate", "Conflict", 4)
    assert "other content" in letter["reason"]
    assert base64.b64decode(letter["original"]) == reused
    hop.engine.close()

    # the digests are durable: a restarted worker still knows the id's first content
    restarted = CorrelateHop(CorrelationEngine(IncidentApp(store_env, RULES), RULES),
                             dlq.send, lambda: now, OffsetTracker())
    await restarted.handle({_TP(CORRELATION, 0): [_Msg(b"p", reused, 8),
                                                  _Msg(b"p", first[0], 9)]})
    await restarted.drain()
    assert [x["source"]["offset"] for x in dlq.letters] == [4, 8]
    assert _evidence(app) == evidence
    restarted.engine.close()
    app.close()


class _BrokenStore(IncidentApp):
    """The real store, except that carrying out a decision for one marked detection raises
    ValueError. After the contract's hardening no record is known to make the store raise
    (that is the point of issue 10), so the fault is planted to prove the hop's guard."""

    poison = "plate=POISON1"

    def apply(self, decision, now):  # type: ignore[no-untyped-def]
        if self.poison in getattr(decision, "key", ""):
            raise ValueError("cannot store this one")
        return super().apply(decision, now)


async def test_an_exception_storing_one_record_dead_letters_it_and_the_stream_goes_on(
        store_env) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    app = _BrokenStore(store_env, RULES)
    dlq = _Dlq()
    hop = CorrelateHop(CorrelationEngine(app, RULES), dlq.send, lambda: now, OffsetTracker())
    batch = [_plate("POISON 1", i) for i in range(3)] + [_plate("GOOD 2", i) for i in range(3)]
    await hop.handle({_TP(CORRELATION, 1): [_Msg(b"p", v, i) for i, v in enumerate(batch)]})
    await hop.drain()
    assert hop.tracker.due() == {1: 6}
    assert list(_evidence(app)) == ["plate_match:plate=GOOD2"]
    # the detection whose decision raised, and the two the cache had decided on the incident
    # that was never stored: all dead-lettered, the good plate's records untouched
    assert sorted(x["source"]["offset"] for x in dlq.letters) == [0, 1, 2]
    letter = dlq.letters[0]
    assert (letter["stage"], letter["error_type"]) == ("correlate", "ValueError")
    assert "cannot store this one" in letter["reason"]
    assert all(x["stage"] == "correlate" and x["reason"] for x in dlq.letters)
    app.poison = "nothing"  # the fault is gone: the key is rebuilt from the store
    await hop.handle({_TP(CORRELATION, 1): [_Msg(b"p", _plate("POISON 1", 5), 6)]})
    await hop.drain()
    assert set(_evidence(app)) == {"plate_match:plate=GOOD2", "plate_match:plate=POISON1"}
    assert hop.tracker.due() == {1: 7}
    hop.engine.close()
    app.close()


class _UnwritableHits(MemoryLedger):
    """A ledger whose candidate-hit writes raise ValueError (not an infrastructure error).
    No real record makes the real ledger raise that way, so the fault is planted at the
    ledger port to prove the guard: the hit is that record's fault, never a stuck offset."""

    def write_hits(self, hold, drop):  # type: ignore[no-untyped-def]
        if hold:
            raise ValueError("cannot write this hit")
        super().write_hits(hold, drop)


async def test_a_candidate_hit_that_cannot_be_written_is_dead_lettered(
        store_env) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    dlq = _Dlq()
    engine: CorrelationEngine[Any] = CorrelationEngine(app, RULES, ledger=_UnwritableHits())
    hop = CorrelateHop(engine, dlq.send, lambda: now, OffsetTracker())
    lone = encode(record("fire", site="lonely", at=now))
    await hop.handle({_TP(CORRELATION, 2): [_Msg(b"s", lone, 0)]})
    await hop.tick()
    assert hop.tracker.due() == {2: 1}
    [letter] = dlq.letters
    assert (letter["stage"], letter["error_type"]) == ("correlate", "ValueError")
    assert base64.b64decode(letter["original"]) == lone
    assert all(not s.hits for shard in engine.shards.values() for s in shard.states.values())
    engine.close()
    app.close()


POISON_ID = "0f0f0f0f-0000-4000-8000-00000000dead"


class _PoisonAdmit(MemoryLedger):
    """A ledger that raises ValueError admitting one id: planted (no real record does this)
    to prove that a batch the engine raises on is retried record by record."""

    def admit(self, digests):  # type: ignore[no-untyped-def]
        if any(d == POISON_ID for d, _, _ in digests):
            raise ValueError("poison id")
        return super().admit(digests)


async def test_a_batch_the_engine_raises_on_is_retried_record_by_record(
        store_env) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    app = IncidentApp(store_env, RULES)
    dlq = _Dlq()
    engine: CorrelationEngine[Any] = CorrelationEngine(app, RULES, ledger=_PoisonAdmit())
    hop = CorrelateHop(engine, dlq.send, lambda: now, OffsetTracker())
    batch = [_plate("GOOD 7", 1), _plate("GOOD 7", 2, POISON_ID), _plate("GOOD 7", 3)]
    await hop.handle({_TP(CORRELATION, 0): [_Msg(b"p", v, i) for i, v in enumerate(batch)]})
    await hop.handle({_TP(CORRELATION, 0): [_Msg(b"p", batch[1], 3)]})  # alone, too
    await hop.drain()
    assert hop.tracker.due() == {0: 4}
    assert [(x["source"]["offset"], x["error_type"]) for x in dlq.letters] == [
        (1, "ValueError"), (3, "ValueError")]
    assert len(_evidence(app)["plate_match:plate=GOOD7"]) == 2
    engine.close()
    app.close()
