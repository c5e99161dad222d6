"""The correlation engine: pure `domain.correlation` plus caching, coalescing and acking.

Framework-free (`streams.app` and `streams.consumer` are a thin shell around it), so it is tested
with plain asyncio. Per shard it keeps a cache of `KeyState`s: a shard is whatever the caller
names it — a partition of the correlation topic, or of the detections topic for detections the
route hop correlates directly (`streams.consumer.shard_id`); the engine never mixes two.

At-least-once, end to end: every detection arrives with an opaque *token* (its partition and
offset, `streams.consumer.Token`) and the engine returns a token as *settled* only once the
detection's effect is durable in the event store — its incident opened or reopened, its
evidence or observation flushed — or once it provably has no effect (below threshold, or an
expired candidate hit). Unsettled tokens keep the partition's committed offset behind them, so
a crash redelivers them, and the store de-duplicates by detection id and deterministic
incident id.

Candidate hits (a rule not met yet: a road-defect cluster may wait a day) do not hold their
tokens: they are written to the ledger (`streams.ledger`, beside the event store) and settle
once written; a key's cold state is rebuilt from the store *and* its stored hits. The ledger
also keeps each detection's content digest, so a `detection_id` reused with other content is
*rejected* (a conflict), never a second piece of evidence.

Rejected detections (that conflict, or any exception raised while correlating or storing one
detection that is not an infrastructure error) are neither settled nor retried: the caller
takes them with `take_rejected`, dead-letters them, then settles their tokens.

Store calls are synchronous (eventsourcing); they run on one worker thread so the event loop
never blocks, batched per input batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID

from domain.application import Applied, IncidentApp, schedule_windows
from domain.correlation import (
    WATCHLIST_KINDS,
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
from domain.detection import (
    Detection,
    content_digest,
    encode_detection,
    parse_detection,
)
from domain.errors import DomainError
from domain.kinds import Kind
from domain.rules import RuleSet
from streams.errors import is_infrastructure
from streams.ledger import Ledger, ledger_for, stamp
from streams.metrics import BELOW_RULE, EVIDENCE_FLUSHED, OPENED_BY_KIND, SKIPPED
from streams.silencing import SilenceGate

__all__ = ["Conflict", "CorrelationEngine", "Rejected"]

log = logging.getLogger("kuzet.streams.engine")
_SKIPPED = {kind: SKIPPED.labels(kind.value) for kind in Kind}
_BELOW_RULE = {kind: BELOW_RULE.labels(kind.value) for kind in Kind}
T = TypeVar("T", bound=Hashable)


class Conflict(DomainError):
    """A `detection_id` already recorded with other content (a reused or forged id)."""

    def __init__(self, detection_id: str) -> None:
        self.detection_id = detection_id
        super().__init__(f"detection_id {detection_id} was already recorded with other "
                         "content: a reused id is never a second piece of evidence")


@dataclass(frozen=True, slots=True)
class Rejected(Generic[T]):
    """A detection to dead-letter: why (`reason`: conflict or exception) and the error."""

    token: T
    detection: Detection
    reason: str
    error: BaseException


@dataclass
class _Buffer(Generic[T]):
    detections: list[Detection] = field(default_factory=list)
    tokens: list[T] = field(default_factory=list)
    owners: list[Detection] = field(default_factory=list)
    """The detection each token stands for (to dead-letter it if writing fails)."""

    def add(self, det: Detection, tokens: list[T]) -> None:
        self.detections.append(det)
        self.tokens += tokens
        self.owners += [det] * len(tokens)


@dataclass
class _Shard(Generic[T]):
    """One partition's cache: key states, tokens held by candidate hits, pending buffers."""

    states: dict[str, KeyState] = field(default_factory=dict)
    last_flush: dict[UUID, datetime] = field(default_factory=dict)
    """When each active incident last had evidence written (coalescing)."""
    held: dict[str, list[T]] = field(default_factory=lambda: defaultdict(list))
    """Tokens of refused detections re-correlated into a candidate (rare: not persisted)."""
    hold: list[tuple[str, Detection, T]] = field(default_factory=list)
    """Candidate hits of this batch, settled once written to the ledger."""
    drop: list[tuple[str, str]] = field(default_factory=list)
    """(key, detection_id) of stored hits that opened an incident or left their window."""
    evidence: dict[tuple[UUID, bool], _Buffer[T]] = field(default_factory=dict)
    observations: _Buffer[T] = field(default_factory=_Buffer)
    observed_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))


class CorrelationEngine(Generic[T]):
    def __init__(self, app: IncidentApp, rules: RuleSet, *,
                 evidence_interval: timedelta = timedelta(seconds=5),
                 schedule_grace: timedelta = timedelta(seconds=60),
                 ledger: Ledger | None = None,
                 ledger_retention: timedelta = timedelta(days=8)) -> None:
        self.app = app
        self.rules = rules
        self.evidence_interval = evidence_interval
        self.schedule_grace = schedule_grace
        self.ledger = ledger if ledger is not None else ledger_for(app)
        self.ledger_retention = ledger_retention
        """Digests and hits older than this are pruned (the contract's skew plus a day)."""
        self.shards: dict[Hashable, _Shard[T]] = {}
        self.silences: SilenceGate[T] = SilenceGate(app)
        self.rejected: list[Rejected[T]] = []
        self._schedules_checked: datetime | None = None
        self._pruned: datetime | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="kuzet-store")

    async def _store(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def take_rejected(self) -> list[Rejected[T]]:
        """The detections rejected since the last call (to dead-letter, then settle)."""
        out, self.rejected = self.rejected, []
        return out

    def _reject(self, token: T, det: Detection, exc: BaseException) -> None:
        if is_infrastructure(exc):
            raise exc
        reason = "conflict" if isinstance(exc, Conflict) else "exception"
        where = {k: getattr(token, k) for k in ("partition", "offset") if hasattr(token, k)}
        log.warning("rejecting detection %s (%s): %s", det.detection_id, type(exc).__name__,
                    exc, extra={"detection_id": str(det.detection_id), **where})
        self.rejected.append(Rejected(token, det, reason, exc))

    def revoke(self, partitions: Iterable[Hashable]) -> None:
        """Forget revoked shards: their unsettled detections are redelivered elsewhere."""
        for p in partitions:
            self.shards.pop(p, None)

    # --- input ----------------------------------------------------------------------------

    async def process(self, partition: Hashable, items: Sequence[tuple[Detection, T]],
                      now: datetime) -> list[T]:
        """Correlate a batch from one shard (a partition); returns the tokens now settled."""
        shard = self.shards.setdefault(partition, _Shard())
        items = await self._admit(items)
        items, settled = await self._unless_silenced(items, now)
        items = await self._warm(shard, items, now)
        immediate: list[tuple[Decision, list[T]]] = []
        for det, token in items:
            try:
                out = correlate(shard.states, det, self.rules, now)
            except Exception as exc:  # pure: the state is untouched
                self._reject(token, det, exc)
                continue
            self._route(shard, det, token, out, immediate, settled)
        settled += await self._execute(shard, immediate, now)
        settled += await self._flush(shard, now, force=False)
        settled += await self._write_hits(shard)
        return settled

    async def _unless_silenced(self, items: list[tuple[Detection, T]], now: datetime
                               ) -> tuple[list[tuple[Detection, T]], list[T]]:
        """Detections under a silence (`streams.silencing`) are counted on it, not correlated;
        their tokens settle once counted (a failed count dead-letters them)."""
        gate = self.silences
        if gate.due(now):
            await self._store(gate.load, now)
        items, held = gate.split(items)
        if not held:
            return items, []
        failed = await self._store(gate.write, held, now)
        settled: list[T] = []
        for silence_id, pairs in held.items():
            for det, token in pairs:
                if silence_id in failed:
                    self._reject(token, det, failed[silence_id])
                else:
                    settled.append(token)
        return items, settled

    async def _admit(self, items: Sequence[tuple[Detection, T]]
                     ) -> list[tuple[Detection, T]]:
        """Record each detection's content digest; reject ids reused with other content."""
        digests = [(d.detection_id, content_digest(d), d.observed_at) for d, _ in items]
        conflicts: set[tuple[str, str]] = await self._store(self.ledger.admit, digests)
        ok = []
        for (det, token), (_, digest, _) in zip(items, digests, strict=True):
            if (det.detection_id, digest) in conflicts:
                self._reject(token, det, Conflict(det.detection_id))
            else:
                ok.append((det, token))
        return ok

    async def _warm(self, shard: _Shard[T], items: list[tuple[Detection, T]], now: datetime
                    ) -> list[tuple[Detection, T]]:
        """Load keys this cache has not seen from the store and their stored candidate hits
        (once per key); detections of a key that cannot be loaded are rejected."""
        cold: dict[str, Kind] = {}
        keyed: list[tuple[Detection, T, str | None]] = []
        for d, token in items:
            try:
                key = correlation_key(d, self.rules) if self.rules.kinds[d.kind].incident \
                    else None
            except Exception as exc:
                self._reject(token, d, exc)
                continue
            keyed.append((d, token, key))
            if key is not None and key not in shard.states:
                cold[key] = self.rules.group_kind(d.kind, d.attributes)
        if not cold:
            return [(d, t) for d, t, _ in keyed]
        found, hits = await self._store(self._load, list(cold))
        failed: dict[str, BaseException] = {}
        for (key, group), applied in zip(cold.items(), found, strict=True):
            if isinstance(applied, BaseException):
                failed[key] = applied
                continue
            state = reconcile(None, key, group, applied.snapshot, applied.next_episode)
            shard.states[key] = self._with_hits(state, hits.get(key, []), now)
        out = []
        for d, token, key in keyed:
            if key is not None and key in failed:
                self._reject(token, d, failed[key])
            else:
                out.append((d, token))
        return out

    def _load(self, keys: list[str]) -> tuple[list[Applied | BaseException],
                                               dict[str, list[tuple[bytes, str]]]]:
        """(store thread) Each key's state, or the exception loading it raised."""
        found: list[Applied | BaseException] = []
        for key in keys:
            try:
                found.append(self.app.key_state(key))
            except Exception as exc:
                if is_infrastructure(exc):
                    raise
                found.append(exc)
        return found, self.ledger.hits(keys)

    def _with_hits(self, state: KeyState, rows: list[tuple[bytes, str]], now: datetime
                   ) -> KeyState:
        """`state` plus its stored candidate hits still inside their window (and newer than
        its latest incident's last detection: older ones were consumed by it)."""
        if not rows:
            return state
        episode = state.episode
        if episode is not None and episode.active:
            return state
        horizon = stamp(now - self._retention(state.group))
        seen = stamp(episode.last_seen_at) if episode is not None else ""
        hits = []
        for record, at in rows:
            if at >= horizon and at > seen:
                try:
                    hits.append(parse_detection(record))
                except Exception:  # written by us from a valid detection: skip, never stop
                    log.warning("unreadable stored candidate hit of %s skipped", state.key)
        known = {h.detection_id for h in state.hits}
        new = tuple(h for h in hits if h.detection_id not in known)
        return replace(state, hits=tuple(sorted((*state.hits, *new),
                                                key=lambda h: h.observed_at)))

    def _retention(self, group: Kind) -> timedelta:
        """How long a candidate hit of `group` counts (as `domain.correlation.tick` keeps)."""
        windows = [r.window for r in self.rules.kinds.values() if r.group is group]
        return max(windows) + self.rules.allowed_lateness

    async def _write_hits(self, shard: _Shard[T]) -> list[T]:
        """Persist this batch's candidate hits (and drop consumed ones); their tokens settle."""
        if not shard.hold and not shard.drop:
            return []
        hold, drop = shard.hold, shard.drop
        shard.hold, shard.drop = [], []
        try:
            rows = [(key, d.detection_id, encode_detection(d), d.observed_at)
                    for key, d, _ in hold]
            await self._store(self.ledger.write_hits, rows, drop)
        except Exception as exc:  # not the infrastructure (re-raised): these hits' fault
            for key, det, token in hold:
                self._reject(token, det, exc)
                state = shard.states.get(key)
                if state is not None:  # unwritten: not a candidate any more
                    shard.states[key] = replace(state, hits=tuple(
                        h for h in state.hits if h.detection_id != det.detection_id))
            return []
        return [token for _, _, token in hold]

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
                        shard.drop.append((key, h.detection_id))
        return released

    def _route(self, shard: _Shard[T], det: Detection, token: T, out: Outcome,
               immediate: list[tuple[Decision, list[T]]], settled: list[T]) -> None:
        released = self._apply_changes(shard, out)
        if not out.decisions:
            key = correlation_key(det, self.rules)
            state = shard.states.get(key)
            if state is not None and any(h.detection_id == det.detection_id for h in state.hits):
                shard.hold.append((key, det, token))
            else:
                settled.append(token)
            settled += released
            return
        # correlate() makes at most one decision per detection
        self._route_decision(shard, out.decisions[0], [token, *released], immediate, settled)

    def _route_decision(self, shard: _Shard[T], decision: Decision, tokens: list[T],
                        immediate: list[tuple[Decision, list[T]]], settled: list[T]) -> None:
        if isinstance(decision, Skipped):
            _SKIPPED[decision.detection.kind].inc()
            settled += tokens
        elif isinstance(decision, Observe):
            if decision.detection.kind in WATCHLIST_KINDS:
                _BELOW_RULE[decision.detection.kind].inc()
            shard.observations.add(decision.detection, tokens)
        elif isinstance(decision, AddEvidence):
            buf = shard.evidence.setdefault((decision.incident_id, decision.suppressed), _Buffer())
            for det in decision.detections:
                buf.add(det, tokens)
                tokens = []
        else:  # open / reopen / timers: carried out at the end of this batch
            immediate.append((decision, tokens))

    # --- output -----------------------------------------------------------------------------

    async def _execute(self, shard: _Shard[T], immediate: list[tuple[Decision, list[T]]],
                       now: datetime, *, depth: int = 0) -> list[T]:
        """Carry out decisions in order; tokens settle once their decision is durable."""
        if not immediate:
            return []
        decisions = [d for d, _ in immediate]
        results: list[Applied | BaseException | None] = await self._store(
            self._apply_each, decisions, now)
        settled: list[T] = []
        for (decision, tokens), applied in zip(immediate, results, strict=True):
            if isinstance(applied, BaseException):
                self._reject_decision(decision, tokens, applied)
                self._invalidate(shard, decision)
                continue
            if isinstance(decision, OpenIncident) and applied is not None and applied.changed:
                shard.last_flush[decision.incident_id] = now
                OPENED_BY_KIND[decision.group].inc()
            if applied is None or not applied.refused:
                settled += tokens
            if applied is not None:
                settled += await self._correct(shard, decision, applied, tokens, now, depth)
        return settled

    def _apply_each(self, decisions: list[Decision], now: datetime
                    ) -> list[Applied | BaseException | None]:
        """(store thread) Carry out each decision; one that raises is that one's fault."""
        out: list[Applied | BaseException | None] = []
        for d in decisions:
            try:
                out.append(self.app.apply(d, now))
            except Exception as exc:
                if is_infrastructure(exc):
                    raise
                out.append(exc)
        return out

    def _invalidate(self, shard: _Shard[T], decision: Decision) -> None:
        """The cache assumed a decision the store never carried out: forget the key, so the
        next detection rebuilds it from the store (those already decided on it in this batch
        fail as their own evidence and are dead-lettered too, never lost)."""
        key = getattr(decision, "key", "")
        state = shard.states.pop(key, None)
        if state is not None and state.episode is not None:
            shard.last_flush.pop(state.episode.incident_id, None)

    def _reject_decision(self, decision: Decision, tokens: list[T],
                         exc: BaseException) -> None:
        dets = getattr(decision, "detections", ())
        if not tokens or not dets:  # a timer: nothing to dead-letter; it runs again next tick
            log.warning("decision %s failed: %s: %s", type(decision).__name__,
                        type(exc).__name__, exc,
                        extra={"incident_id": str(getattr(decision, "incident_id", ""))})
            return
        for i, token in enumerate(tokens):
            self._reject(token, dets[min(i, len(dets) - 1)], exc)

    async def _correct(self, shard: _Shard[T], decision: Decision, applied: Applied,
                       tokens: list[T], now: datetime, depth: int = 0) -> list[T]:
        """Fold the store's truth into the cache; re-correlate detections it refused.

        The store refuses when the cache was stale (an operator resolved the incident, or
        another worker opened the key's next episode). The refused detections' tokens settle
        only once everything re-correlated from them is durable — or, where one became a
        candidate hit again, once that hit is written to the ledger.
        """
        snap = applied.snapshot
        key = snap.key if snap is not None else getattr(decision, "key", "")
        state = shard.states.get(key)
        if state is not None or applied.refused:
            group = state.group if state else self.rules.group_kind(
                applied.refused[0].kind, applied.refused[0].attributes)
            shard.states[key] = reconcile(state, key, group, snap, applied.next_episode)
        if not applied.refused:
            return []
        if depth >= 2:
            log.warning("dropping %d detection(s) for %s: store keeps refusing",
                        len(applied.refused), key, extra={"incident_id": str(
                            snap.episode.incident_id) if snap is not None else ""})
            return tokens
        pending: list[T] = list(tokens)
        held: Detection | None = None
        decisions: list[Decision] = []
        for det in applied.refused:
            out = correlate(shard.states, det, self.rules, now)
            pending += self._apply_changes(shard, out)
            if out.decisions and not isinstance(out.decisions[0], Skipped):
                decisions.append(out.decisions[0])  # written now, not buffered
            elif not out.decisions and det.detection_id in {h.detection_id for h in
                                                            shard.states[key].hits}:
                held = det
        if held is not None:  # a candidate again: persisted, its tokens settle once written
            shard.hold += [(key, held, token) for token in pending]
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
        results, bad_obs = await self._store(self._write_buffers, due, obs, now)
        settled: list[T] = []
        for (k, buf), applied in zip(due, results, strict=True):
            if isinstance(applied, BaseException):
                for token, det in zip(buf.tokens, buf.owners, strict=True):
                    self._reject(token, det, applied)
                continue
            if applied is None or not applied.refused:
                settled += buf.tokens
                EVIDENCE_FLUSHED.inc(len(buf.detections))
            if applied is not None:
                decision = AddEvidence("", k[0], tuple(buf.detections), k[1])
                settled += await self._correct(shard, decision, applied, buf.tokens, now)
        if obs is not None:
            for token, det in zip(obs.tokens, obs.owners, strict=True):
                if det.detection_id in bad_obs:
                    self._reject(token, det, bad_obs[det.detection_id])
                else:
                    settled.append(token)
        return settled

    def _write_buffers(self, due: list[tuple[tuple[UUID, bool], _Buffer[T]]],
                       obs: _Buffer[T] | None, now: datetime
                       ) -> tuple[list[Applied | BaseException], dict[str, BaseException]]:
        """(store thread) Evidence in one transaction; if that raises, each incident's on its
        own, so only the failing one is rejected. Observations likewise."""
        batch = [(incident_id, buf.detections, suppressed)
                 for (incident_id, suppressed), buf in due]
        results: list[Applied | BaseException]
        try:
            results = list(self.app.add_evidence_batch(batch, now))
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            results = [self._guarded(self.app.add_evidence, i, d, now, suppressed=s)
                       for i, d, s in batch]
        bad: dict[str, BaseException] = {}
        if obs is not None and obs.detections:
            try:
                self.app.record_observations(obs.detections, now)
            except Exception as exc:
                if is_infrastructure(exc):
                    raise
                for det in obs.detections:
                    failed = self._guarded(self.app.record_observations, [det], now)
                    if isinstance(failed, BaseException):
                        bad[det.detection_id] = failed
        return results, bad

    def _guarded(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            return exc

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
            settled += await self._write_hits(shard)
        await self._check_schedules(now)
        await self._prune(now)
        return settled

    async def _prune(self, now: datetime) -> None:
        """At most hourly: forget digests and hits older than `ledger_retention`."""
        if self._pruned is not None and now - self._pruned < timedelta(hours=1):
            return
        self._pruned = now
        try:
            await self._store(self.ledger.prune, now - self.ledger_retention)
        except Exception as exc:  # housekeeping: try again next hour, never stop the timers
            if is_infrastructure(exc):
                raise
            log.warning("ledger prune failed: %s: %s", type(exc).__name__, exc)

    async def drain(self, now: datetime) -> list[T]:
        """Flush every buffer now (shutdown, tests)."""
        settled: list[T] = []
        for shard in list(self.shards.values()):
            settled += await self._flush(shard, now, force=True)
            settled += await self._write_hits(shard)
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
            await self._store(self._check_each, windows, now)

    def _check_each(self, windows: list[tuple[Any, datetime, datetime]], now: datetime) -> None:
        """(store thread) One schedule window that raises is logged, the others still run."""
        for schedule, start, end in windows:
            failed = self._guarded(self.app.check_schedule, schedule, start, end, now)
            if isinstance(failed, BaseException):
                log.warning("schedule %s [%s, %s) not checked: %s: %s", schedule.id, start,
                            end, type(failed).__name__, failed)
