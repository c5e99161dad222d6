"""Hostile records through the real parse → route → correlate → store path (SQLite and
PostgreSQL): no exception escapes, every record is either in the store's effect (evidence of an
incident, a persisted candidate hit, an observation, or skipped by rule) or in the DLQ with a
reason and a stage; no detection id is evidence in two incidents; nothing holds a partition's
offset once its batch and timers ran.

The broker is replaced by the hops' `send` boundary and fetched-message records (as in
tests/integration/test_engine.py): what is under test is every step after the bytes arrive.
One store serves all examples of a run (hypothesis cannot take a fresh database per example
cheaply); detection ids are drawn by hypothesis, so an example replayed while shrinking is a
redelivery of the same records, which the path must take harmlessly too.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings

from domain.application import IncidentApp
from domain.correlation import correlation_key
from domain.detection import parse_detection
from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from streams.consumer import CorrelateHop, OffsetTracker, RouteHop
from streams.engine import CorrelationEngine
from tests.helpers import default_rules
from tests.hostile import hostile_stream
from tests.integration.hop_fakes import TP as _TP
from tests.integration.hop_fakes import Dlq as _Dlq

RULES = default_rules()
NOW = datetime.now(UTC)


@dataclass
class _Msg:
    key: bytes | None
    value: Any
    offset: int



class _Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now



def _accounted(app: IncidentApp, engine: CorrelationEngine[Any]
               ) -> tuple[set[str], dict[str, datetime]]:
    """Detection ids with an effect (evidence anywhere, or a persisted candidate hit), and
    when each key's latest incident was resolved (what was observed before is skipped)."""
    seen: dict[str, int] = {}
    resolved: dict[str, datetime] = {}
    for incident in app.incidents():
        if incident.resolved_at is not None:
            resolved[incident.incident_key] = max(incident.resolved_at,
                                                  resolved.get(incident.incident_key,
                                                               incident.resolved_at))
        for d in incident.evidence_ids:
            seen[d] = seen.get(d, 0) + 1
    assert all(n == 1 for n in seen.values()), "a detection id is evidence in two incidents"
    keys = [k for shard in engine.shards.values() for k in shard.states]
    hits = engine.ledger.hits(keys)
    stored = {parse_detection(r).detection_id for rows in hits.values() for r, _ in rows}
    return set(seen) | stored, resolved


async def _run_stream(raws: list[bytes], app: IncidentApp,
                      engine: CorrelationEngine[Any]) -> None:
    clock, dlq = _Clock(), _Dlq()
    msgs = [_Msg(b"k", raw, i) for i, raw in enumerate(raws)]
    routed, _ = RouteHop(RULES, clock=clock).route({_TP(DETECTIONS, 0): msgs})
    hop = CorrelateHop(engine, dlq.send, clock, OffsetTracker())
    forward = [(i, r) for i, r in enumerate(routed) if r.topic == CORRELATION]
    await hop.handle({_TP(CORRELATION, 0): [_Msg(r.key, r.value, i) for i, r in forward]})
    clock.now += timedelta(seconds=6)
    await hop.tick()
    await hop.drain()  # the next example starts at NOW again: leave no buffer behind
    if forward:  # nothing waits: candidates are persisted, evidence flushed
        assert hop.tracker.due() == {0: forward[-1][0] + 1}
    dead_at_route = {i for i, r in enumerate(routed) if r.topic == DETECTIONS_DLQ}
    for i in dead_at_route:
        letter = json.loads(routed[i].value)
        assert letter["reason"] and letter["stage"] == "route"
        assert base64.b64decode(letter["original"]) == raws[i][:65536]
    dead_at_correlate = {letter["source"]["offset"] for letter in dlq.letters}
    assert all(letter["reason"] and letter["stage"] == "correlate" for letter in dlq.letters)
    effect, resolved = _accounted(app, engine)
    for i, raw in enumerate(raws):
        if i in dead_at_route or i in dead_at_correlate:
            continue
        det = parse_detection(raw)
        rule = RULES.kinds[det.kind]
        if not rule.incident or det.confidence < rule.min_score:
            continue  # an observation, or skipped by rule
        key = correlation_key(det, RULES)
        if key in resolved and det.observed_at <= resolved[key]:
            continue  # observed before its incident was resolved: skipped by rule
        if det.detection_id not in effect and det.observed_at < clock.now - engine._retention(
                RULES.kinds[det.kind].group):
            continue  # a candidate hit that left its window at the timer: no effect, by rule
        assert det.detection_id in effect, (i, key)


async def _fuzz(store_env: dict[str, str], examples: int) -> None:
    app = IncidentApp(store_env, RULES)
    engine: CorrelationEngine[Any] = CorrelationEngine(app, RULES)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(hostile_stream(NOW, max_size=25))
    def run(raws: list[bytes]) -> None:
        import asyncio

        asyncio.run(_run_stream(raws, app, engine))

    try:
        await asyncio_to_thread(run)
    finally:
        engine.close()
        app.close()


async def asyncio_to_thread(fn: Any) -> None:
    """Hypothesis drives a sync function; each example runs its own loop on a thread."""
    import asyncio

    await asyncio.to_thread(fn)


async def test_hostile_streams_through_the_real_path_lose_nothing(store_env) -> None:  # type: ignore[no-untyped-def]
    await _fuzz(store_env, 100)
