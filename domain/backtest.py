"""Backtests: replay recorded detections through the pure correlator under two rule sets.

`replay(detections, rules)` feeds detections in `observed_at` order to
`domain.correlation.correlate`, with the processing time set to each detection's observed time
(an ideal, lag-free correlator) and the timers (`tick`) run on observed time (see `replay`),
so auto-resolution and candidate expiry happen as they would live. It returns the incidents
that would have opened: `Opened` (key, group, episode number, incident id, when, the detections
that opened it, and time-to-open: from the first of those detections to the opening).

`compare(active, candidate)` matches incidents by (correlation key, episode number) when their
opening detections overlap, and counts per kind: gained (only under the candidate), lost (only
under the active rules), changed (opened by both, at another time or from other detections),
with the median time-to-open delta of the changed ones and example incident ids. Correlation
keys may hold a plate or a subject id, so `Diff` reports incident ids only (UUIDs derived from
the key), never keys.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from domain.correlation import KeyState, OpenIncident, correlate, correlation_key, tick
from domain.detection import Detection
from domain.rules import RuleSet

__all__ = ["Correlator", "Diff", "KindDiff", "Opened", "compare", "compare_by_evidence", "replay"]

EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Opened:
    key: str
    kind: str
    episode: int
    incident_id: UUID
    at: datetime
    detection_ids: tuple[str, ...]
    time_to_open: timedelta


class Correlator:
    """The pure correlator with its own in-memory view: one detection at a time, at a given
    processing time (the backtest passes observed time, the shadow worker the wall clock)."""

    def __init__(self, rules: RuleSet, tick_every: timedelta = timedelta(minutes=5)) -> None:
        self.rules, self.tick_every = rules, tick_every
        self.view: dict[str, KeyState] = {}
        self._next_tick: datetime | None = None

    def take(self, det: Detection, now: datetime) -> list[Opened]:
        """The incidents `det` opens (at most one). Timers run for the detection's own key
        just before it is correlated (its episode auto-resolved, its candidates expired, exactly
        when they would have), and for every key each `tick_every` (forgetting idle keys; an
        inhibiting incident of another key resolves at the next such tick at the latest).
        Ticking every key often is what made a day slow: the view holds thousands of keys."""
        rules, view = self.rules, self.view
        if self._next_tick is None:
            self._next_tick = now + self.tick_every
        while now >= self._next_tick:
            _apply(view, tick(view, rules, self._next_tick).changes)
            self._next_tick += self.tick_every
        if det.kind not in rules.kinds:
            return []
        key = correlation_key(det, rules)
        if key in view:
            _apply(view, tick(view, rules, now, (key,)).changes)
        outcome = correlate(view, det, rules, now)
        _apply(view, outcome.changes)
        return [Opened(d.key, d.group.value, d.episode, d.incident_id, d.at,
                       tuple(str(h.detection_id) for h in d.detections),
                       d.at - min(h.observed_at for h in d.detections))
                for d in outcome.decisions if isinstance(d, OpenIncident)]


def replay(detections: Iterable[Detection], rules: RuleSet,
           tick_every: timedelta = timedelta(minutes=5)) -> dict[tuple[str, int], Opened]:
    """The incidents `rules` would have opened from `detections` (sorted by observed_at),
    processed at their observed times (`Correlator.take`)."""
    correlator = Correlator(rules, tick_every)
    return {(o.key, o.episode): o for det in detections
            for o in correlator.take(det, det.observed_at)}


def _apply(view: dict[str, KeyState], changes: Mapping[str, KeyState | None]) -> None:
    for key, state in changes.items():
        if state is None:
            view.pop(key, None)
        else:
            view[key] = state


@dataclass
class KindDiff:
    active: int = 0
    candidate: int = 0
    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deltas_s: list[float] = field(default_factory=list)

    @property
    def median_delta_s(self) -> float | None:
        """Median time-to-open change (candidate minus active) of the changed incidents."""
        return statistics.median(self.deltas_s) if self.deltas_s else None

    def summary(self) -> dict[str, object]:
        return {"active": self.active, "candidate": self.candidate,
                "gained": len(self.gained), "lost": len(self.lost),
                "changed": len(self.changed), "median_time_to_open_delta_s":
                self.median_delta_s, "examples": {"gained": self.gained[:EXAMPLES],
                                                  "lost": self.lost[:EXAMPLES],
                                                  "changed": self.changed[:EXAMPLES]}}


@dataclass
class Diff:
    kinds: dict[str, KindDiff] = field(default_factory=dict)

    def of(self, kind: str) -> KindDiff:
        return self.kinds.setdefault(kind, KindDiff())


def compare(active: Mapping[tuple[str, int], Opened],
            candidate: Mapping[tuple[str, int], Opened]) -> Diff:
    diff = Diff()
    for k, a in active.items():
        d = diff.of(a.kind)
        d.active += 1
        c = candidate.get(k)
        if c is None or not set(c.detection_ids) & set(a.detection_ids):
            d.lost.append(str(a.incident_id))
        elif c.at != a.at or c.detection_ids != a.detection_ids:
            d.changed.append(str(a.incident_id))
            d.deltas_s.append((c.time_to_open - a.time_to_open).total_seconds())
    for k, c in candidate.items():
        d = diff.of(c.kind)
        d.candidate += 1
        match = active.get(k)
        if match is None or not set(c.detection_ids) & set(match.detection_ids):
            d.gained.append(str(c.incident_id))
    for d in diff.kinds.values():
        d.gained.sort()
        d.lost.sort()
        d.changed.sort()
    return diff


def compare_by_evidence(live: Iterable[Opened], shadow: Iterable[Opened]) -> Diff:
    """Like `compare`, for two runs that need not share episode numbers (live incidents and a
    shadow started later): an incident matches one of the same kind whose opening detections
    overlap its own."""
    by_detection: dict[str, Opened] = {}
    shadow = list(shadow)
    for o in shadow:
        by_detection.update(dict.fromkeys(o.detection_ids, o))
    diff, matched = Diff(), set()
    for a in live:
        d = diff.of(a.kind)
        d.active += 1
        hits = [by_detection[i] for i in a.detection_ids if i in by_detection]
        c = next((h for h in hits if h.kind == a.kind), None)
        if c is None:
            d.lost.append(str(a.incident_id))
            continue
        matched.add(c.incident_id)
        if c.at != a.at or c.detection_ids != a.detection_ids:
            d.changed.append(str(a.incident_id))
            d.deltas_s.append((c.time_to_open - a.time_to_open).total_seconds())
    for c in shadow:
        d = diff.of(c.kind)
        d.candidate += 1
        if c.incident_id not in matched:
            d.gained.append(str(c.incident_id))
    return diff
