"""Pending candidates don't hold committed offsets (issue 10, item 8), on SQLite and PostgreSQL.

A lone road-defect hit waits up to a day for a second vehicle. It is written to the ledger
beside the event store and its offset commits at once; a worker that restarts after that
commit rebuilds the candidate from the ledger, so the next hit opens the incident.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.application import IncidentApp
from domain.topics import CORRELATION
from streams.consumer import CorrelateHop, OffsetTracker
from streams.engine import CorrelationEngine
from tests.helpers import default_rules, record
from tests.hostile import encode
from tests.integration.hop_fakes import TP as _TP
from tests.integration.hop_fakes import Msg as _Msg

RULES = default_rules()




async def _no_send(topic: str, key: bytes | None, value: bytes):  # type: ignore[no-untyped-def]
    raise AssertionError(f"nothing is dead-lettered here ({topic})")


def _defect(at: datetime, lat: float = 43.2501) -> bytes:
    return encode(record("road_defect", source="bus-7", site=None, at=at, conf=0.8,
                         location={"lat": lat, "lon": 76.9012}))


def _hop(store_env: dict[str, str], now: datetime) -> tuple[CorrelateHop, IncidentApp]:
    app = IncidentApp(store_env, RULES)
    engine: CorrelationEngine[Any] = CorrelationEngine(app, RULES)
    return CorrelateHop(engine, _no_send, lambda: now, OffsetTracker()), app


async def test_a_pending_candidate_survives_a_restart_after_its_offset_committed(
        store_env) -> None:  # type: ignore[no-untyped-def]
    t = datetime.now(UTC)
    first_hit, second_hit = _defect(t - timedelta(hours=5)), _defect(t, lat=43.25011)
    hop, app = _hop(store_env, t)
    await hop.handle({_TP(CORRELATION, 3): [_Msg(b"cell", first_hit, 40)]})
    assert hop.tracker.due() == {3: 41}  # committed at once: nothing waits on the candidate
    assert list(app.incidents()) == []
    hop.engine.close()  # the worker dies after the commit: its cache is gone
    app.close()

    restarted, app = _hop(store_env, t + timedelta(seconds=30))
    await restarted.handle({_TP(CORRELATION, 3): [_Msg(b"cell", second_hit, 41)]})
    assert restarted.tracker.due() == {3: 42}
    incidents = list(app.incidents())
    assert len(incidents) == 1 and incidents[0].kind == "road_defect"
    assert len(incidents[0].evidence_ids) == 2  # both hits, the first one rebuilt
    restarted.engine.close()
    app.close()


async def test_a_candidate_hit_is_forgotten_once_it_opened_its_incident(
        store_env) -> None:  # type: ignore[no-untyped-def]
    """After the incident opens, the stored hits are dropped: a restart rebuilds nothing that
    could open a second incident from the same evidence."""
    t = datetime.now(UTC)
    hop, app = _hop(store_env, t)
    await hop.handle({_TP(CORRELATION, 0): [_Msg(b"c", _defect(t - timedelta(hours=1)), 0),
                                            _Msg(b"c", _defect(t), 1)]})
    assert len(list(app.incidents())) == 1
    keys = [k for shard in hop.engine.shards.values() for k in shard.states]
    assert hop.engine.ledger.hits(keys) == {}
    hop.engine.close()
    app.close()


async def test_expired_candidate_hits_are_not_rebuilt(
        store_env) -> None:  # type: ignore[no-untyped-def]
    """A hit older than its window (plus allowed lateness) at restart is not a candidate any
    more: the next hit alone opens nothing."""
    t = datetime.now(UTC)
    hop, app = _hop(store_env, t - timedelta(days=2))
    await hop.handle({_TP(CORRELATION, 0): [_Msg(b"c", _defect(t - timedelta(days=2)), 0)]})
    hop.engine.close()
    app.close()
    restarted, app = _hop(store_env, t)
    await restarted.handle({_TP(CORRELATION, 0): [_Msg(b"c", _defect(t), 1)]})
    assert list(app.incidents()) == []
    restarted.engine.close()
    app.close()
