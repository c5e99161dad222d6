"""The correlation engine: pure `domain.correlation` plus caching, coalescing and acking.

Framework-free (`streams.app` and `streams.consumer` are a thin shell around it), so it is tested
with plain asyncio. Per partition of the correlation topic it keeps a cache of `KeyState`s.

At-least-once, end to end: every detection arrives with an opaque *token* (its partition and
offset, `streams.consumer.Token`) and the engine returns a token as *settled* only once the
detection's effect is durable in the event store — its incident opened or reopened, its
evidence or observation flushed — or once it provably has no effect (below threshold, or an
expired candidate hit). Unsettled tokens keep the partition's committed offset behind them, so
a crash redelivers them, and the store de-duplicates by detection id and deterministic
incident id.

Store calls are synchronous (eventsourcing); they run on one worker thread so the event loop
never blocks, batched per input batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID

from domain.application import Applied, IncidentApp, schedule_windows
from domain.correlation import (
    AddEvidence,
    AutoResolve,
    Decision,
    KeyState,
    Observe,
    OpenIncident,
    Outcome,
    Skipped,
    correlate,
    correlation_key,
    reconcile,
    tick,
)
from domain.detection import Detection
from domain.rules import RuleSet

__all__ = ["CorrelationEngine"]

log = logging.getLogger("kuzet.streams.engine")
T = TypeVar("T", bound=Hashable)


@dataclass
class _Buffer(Generic[T]):
    detections: list[Detection] = field(default_factory=list)
    tokens: list[T] = field(default_factory=list)


@dataclass
class _Shard(Generic[T]):
    """One partition's cache: key states, tokens held by candidate hits, pending buffers."""

    states: dict[str, KeyState] = field(default_factory=dict)
    last_flush: dict[UUID, datetime] = field(default_factory=dict)
    """When each active incident last had evidence written (coalescing)."""
    held: dict[str, list[T]] = field(default_factory=lambda: defaultdict(list))
    evidence: dict[tuple[UUID, bool], _Buffer[T]] = field(default_factory=dict)
    observations: _Buffer[T] = field(default_factory=_Buffer)
    observed_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))


class CorrelationEngine(Generic[T]):
    def __init__(self, app: IncidentApp, rules: RuleSet, *,
                 evidence_interval: timedelta = timedelta(seconds=5),
                 schedule_grace: timedelta = timedelta(seconds=60)) -> None:
        self.app = app
        self.rules = rules
        self.evidence_interval = evidence_interval
        self.schedule_grace = schedule_grace
        self.shards: dict[int, _Shard[T]] = {}
        self._schedules_checked: datetime | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="kuzet-store")

    async def _store(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget revoked partitions: their unsettled detections are redelivered elsewhere."""
        for p in partitions:
            self.shards.pop(p, None)

    # --- input ----------------------------------------------------------------------------

    async def process(self, partition: int, items: Sequence[tuple[Detection, T]],
                      now: datetime) -> list[T]:
        """Correlate a batch from one partition; returns the tokens now settled."""
        shard = self.shards.setdefault(partition, _Shard())
        await self._warm(shard, (d for d, _ in items))
        settled: list[T] = []
        immediate: list[tuple[Decision, list[T]]] = []
        for det, token in items:
            out = correlate(shard.states, det, self.rules, now)
            self._route(shard, det, token, out, immediate, settled)
        settled += await self._execute(shard, immediate, now)
        settled += await self._flush(shard, now, force=False)
        return settled

    async def _warm(self, shard: _Shard[T], dets: Iterable[Detection]) -> None:
        """Load keys this cache has not seen from the store (once per key)."""
        cold = {}
        for d in dets:
            if not self.rules.kinds[d.kind].incident:
                continue
            key = correlation_key(d, self.rules)
            if key not in shard.states:
                cold[key] = self.rules.kinds[d.kind].group
        if not cold:
            return
        found: list[Applied] = await self._store(
            lambda: [self.app.key_state(k) for k in cold])
        for (key, group), applied in zip(cold.items(), found, strict=True):
            shard.states[key] = reconcile(None, key, group, applied.snapshot,
                                          applied.next_episode)

    def _apply_changes(self, shard: _Shard[T], out: Outcome) -> list[T]:
        """Store new key states; tokens of hits that left a candidate window are released."""
        released: list[T] = []
        for key, new in out.changes.items():
            old = shard.states.get(key)
            if new is None:
                shard.states.pop(key, None)
                if old is not None and old.episode is not None:
                    shard.last_flush.pop(old.episode.incident_id, None)
            else:
                shard.states[key] = new
            if old is not None and old.hits:
                kept = {h.detection_id for h in new.hits} if new is not None else set()
                for h in old.hits:
                    if h.detection_id not in kept:
                        released += shard.held.pop(h.detection_id, [])
        return released

    def _route(self, shard: _Shard[T], det: Detection, token: T, out: Outcome,
               immediate: list[tuple[Decision, list[T]]], settled: list[T]) -> None:
        released = self._apply_changes(shard, out)
        if not out.decisions:
            key = correlation_key(det, self.rules)
            state = shard.states.get(key)
            if state is not None and any(h.detection_id == det.detection_id for h in state.hits):
                shard.held[det.detection_id].append(token)
            else:
                settled.append(token)
            settled += released
            return
        # correlate() makes at most one decision per detection
        self._route_decision(shard, out.decisions[0], [token, *released], immediate, settled)

    def _route_decision(self, shard: _Shard[T], decision: Decision, tokens: list[T],
                        immediate: list[tuple[Decision, list[T]]], settled: list[T]) -> None:
        if isinstance(decision, Skipped):
            settled += tokens
        elif isinstance(decision, Observe):
            shard.observations.detections.append(decision.detection)
            shard.observations.tokens += tokens
        elif isinstance(decision, AddEvidence):
            buf = shard.evidence.setdefault((decision.incident_id, decision.suppressed), _Buffer())
            buf.detections.extend(decision.detections)
            buf.tokens += tokens
        else:  # open / reopen / timers: carried out at the end of this batch
            immediate.append((decision, tokens))

    # --- output -----------------------------------------------------------------------------

    async def _execute(self, shard: _Shard[T], immediate: list[tuple[Decision, list[T]]],
                       now: datetime, *, depth: int = 0) -> list[T]:
        """Carry out decisions in order; tokens settle once their decision is durable."""
        if not immediate:
            return []
        decisions = [d for d, _ in immediate]
        results: list[Applied | None] = await self._store(
            lambda: [self.app.apply(d, now) for d in decisions])
        settled: list[T] = []
        for (decision, tokens), applied in zip(immediate, results, strict=True):
            if isinstance(decision, OpenIncident) and applied is not None and applied.changed:
                shard.last_flush[decision.incident_id] = now
            if applied is None or not applied.refused:
                settled += tokens
            if applied is not None:
                settled += await self._correct(shard, decision, applied, tokens, now, depth)
        return settled

    async def _correct(self, shard: _Shard[T], decision: Decision, applied: Applied,
                       tokens: list[T], now: datetime, depth: int = 0) -> list[T]:
        """Fold the store's truth into the cache; re-correlate detections it refused.

        The store refuses when the cache was stale (an operator resolved the incident, or
        another worker opened the key's next episode). The refused detections' tokens settle
        only once everything re-correlated from them is durable — or stay held with a
        candidate hit that still waits for its window.
        """
        snap = applied.snapshot
        key = snap.key if snap is not None else getattr(decision, "key", "")
        state = shard.states.get(key)
        if state is not None or applied.refused:
            group = state.group if state else self.rules.kinds[applied.refused[0].kind].group
            shard.states[key] = reconcile(state, key, group, snap, applied.next_episode)
        if not applied.refused:
            return []
        if depth >= 2:
            log.warning("dropping %d detection(s) for %s: store keeps refusing",
                        len(applied.refused), key)
            return tokens
        pending, held = list(tokens), None
        decisions: list[Decision] = []
        for det in applied.refused:
            out = correlate(shard.states, det, self.rules, now)
            pending += self._apply_changes(shard, out)
            if out.decisions and not isinstance(out.decisions[0], Skipped):
                decisions.append(out.decisions[0])  # written now, not buffered
            elif not out.decisions and det.detection_id in {h.detection_id for h in
                                                            shard.states[key].hits}:
                held = det.detection_id
        if held is not None:
            shard.held[held] += pending
            pending = []
        if not decisions:
            return pending
        immediate: list[tuple[Decision, list[T]]] = [(d, []) for d in decisions[:-1]]
        immediate.append((decisions[-1], pending))
        return await self._execute(shard, immediate, now, depth=depth + 1)

    async def _flush(self, shard: _Shard[T], now: datetime, *, force: bool,
                     only: set[UUID] | None = None) -> list[T]:
        """Write coalesced evidence and observations that are due; returns settled tokens.

        `only` forces the buffers of those incidents out (before a timer closes them).
        """
        never = datetime.min.replace(tzinfo=now.tzinfo)
        due = [(k, b) for k, b in shard.evidence.items()
               if force or (only is not None and k[0] in only)
               or now - shard.last_flush.get(k[0], never) >= self.evidence_interval]
        obs: _Buffer[T] | None = None
        if shard.observations.detections and (
                force or now - shard.observed_at >= self.evidence_interval):
            obs, shard.observations, shard.observed_at = shard.observations, _Buffer(), now
        if not due and obs is None:
            return []
        for k, _ in due:
            del shard.evidence[k]
            shard.last_flush[k[0]] = now
        results = await self._store(self._write_buffers, due, obs, now)
        settled: list[T] = []
        for (k, buf), applied in zip(due, results, strict=True):
            if applied is None or not applied.refused:
                settled += buf.tokens
            if applied is not None:
                decision = AddEvidence("", k[0], tuple(buf.detections), k[1])
                settled += await self._correct(shard, decision, applied, buf.tokens, now)
        if obs is not None:
            settled += obs.tokens
        return settled

    def _write_buffers(self, due: list[tuple[tuple[UUID, bool], _Buffer[T]]],
                       obs: _Buffer[T] | None, now: datetime) -> list[Applied | None]:
        batch = [(incident_id, buf.detections, suppressed)
                 for (incident_id, suppressed), buf in due]
        results: list[Applied | None] = list(self.app.add_evidence_batch(batch, now))
        if obs is not None and obs.detections:
            self.app.record_observations(obs.detections, now)
        return results

    # --- timers -----------------------------------------------------------------------------

    async def tick(self, now: datetime) -> list[T]:
        """Run auto-resolve/escalation, expire candidates, flush what is due."""
        settled: list[T] = []
        for shard in list(self.shards.values()):
            out = tick(shard.states, self.rules, now)
            closing = {d.incident_id for d in out.decisions if isinstance(d, AutoResolve)}
            if closing:  # evidence first, so nothing observed before the close is refused
                settled += await self._flush(shard, now, force=False, only=closing)
            settled += self._apply_changes(shard, out)
            immediate: list[tuple[Decision, list[T]]] = [(d, []) for d in out.decisions]
            settled += await self._execute(shard, immediate, now)
            settled += await self._flush(shard, now, force=False)
        await self._check_schedules(now)
        return settled

    async def drain(self, now: datetime) -> list[T]:
        """Flush every buffer now (shutdown, tests)."""
        settled: list[T] = []
        for shard in list(self.shards.values()):
            settled += await self._flush(shard, now, force=True)
        return settled

    async def _check_schedules(self, now: datetime) -> None:
        if not self.rules.schedules:
            return
        until = now - self.schedule_grace
        since = self._schedules_checked or until - timedelta(days=1)
        self._schedules_checked = until
        windows = [(s, a, b) for s in self.rules.schedules
                   for a, b in schedule_windows(s, since, until)]
        if windows:
            await self._store(lambda: [self.app.check_schedule(s, a, b, now)
                                       for s, a, b in windows])
