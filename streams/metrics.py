"""Prometheus metrics of the worker and the relay (the default registry; the CLI serves it).

Hot-path updates are cheap: label children are bound once (per topic, per kind, per
partition), counters move once per fetch or per flush rather than per record, and the
detection-to-durable latency is a plain-Python histogram (`LatencyHistogram`: a bisect and a
list increment per observation, no lock) exposed through a custom collector.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from domain.kinds import Kind
from domain.topics import CORRELATION, DETECTIONS

__all__ = ["BELOW_RULE", "CONSUMED", "DEAD_LETTERS", "DURABLE_SECONDS", "EVIDENCE_FLUSHED",
           "INCIDENTS_OPENED", "OPENED_BY_KIND", "RECORDS_CONSUMED", "SKIPPED",
           "LatencyHistogram", "PartitionLag"]

DEAD_LETTERS = Counter(
    "kuzet_stream_dead_letters",
    "Records sent to a dead-letter topic instead of stopping the stream, by stage (route, "
    "correlate, relay) and reason (invalid, skew, conflict, exception)",
    ["stage", "reason"],
)

SKIPPED = Counter(
    "kuzet_correlator_skipped",
    "Detections that changed nothing by rule (below min_score, past late_evidence_s), by kind",
    ["kind"],
)
BELOW_RULE = Counter(
    "kuzet_correlator_below_rule_matches",
    "Watch-list matches a detector published below the rules' min_score: counted as "
    "observations (BelowRuleTally), never incidents, by kind",
    ["kind"],
)

RECORDS_CONSUMED = Counter(
    "kuzet_correlator_records_consumed",
    "Records the correlator's hops fetched, by topic (kuzet.detections.v1: the route hop; "
    "kuzet.correlation.v1: the correlate hop)",
    ["topic"],
)
CONSUMED = {topic: RECORDS_CONSUMED.labels(topic) for topic in (DETECTIONS, CORRELATION)}
"""Pre-bound children, one per consumed topic."""

INCIDENTS_OPENED = Counter(
    "kuzet_correlator_incidents_opened",
    "Incidents the correlator opened (first episode of a key or a new episode after a "
    "resolve; reopenings of a resolved episode are not counted), by kind",
    ["kind"],
)
OPENED_BY_KIND = {kind: INCIDENTS_OPENED.labels(kind.value) for kind in Kind}

EVIDENCE_FLUSHED = Counter(
    "kuzet_correlator_evidence_flushed",
    "Detections written as coalesced evidence to their open incidents (durable in the store)",
)


class PartitionLag:
    """`kuzet_correlator_consumer_lag{topic, partition}`: records behind the partition's high
    watermark after the hop's last fetch from it. Children are bound once per partition."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.gauge = Gauge("kuzet_correlator_consumer_lag",
                           "Records behind the high watermark after the last fetch, by topic "
                           "and partition", ["topic", "partition"], registry=registry)
        self._children: dict[tuple[str, int], Any] = {}

    def set(self, topic: str, partition: int, lag: int) -> None:
        child = self._children.get((topic, partition))
        if child is None:
            child = self._children[(topic, partition)] = self.gauge.labels(topic, str(partition))
        child.set(lag)


CONSUMER_LAG = PartitionLag()


class LatencyHistogram(Collector):
    """A histogram that costs a bisect and an increment per observation.

    prometheus_client's `Histogram.observe` takes a lock and walks its buckets for every
    value (~2 µs); the correlator observes every detection, so this one keeps plain counts,
    updated only from the event loop, and builds the family when scraped.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float],
                 registry: CollectorRegistry | None = REGISTRY) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        if registry is not None:
            registry.register(self)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def observe_many(self, values: Iterable[float]) -> None:
        counts, bounds, total = self.counts, self.bounds, 0.0
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1
            total += value
        self.sum += total

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterator[Metric]:
        counts, running, buckets = list(self.counts), 0, []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), counts, strict=True):
            running += count
            buckets.append((bound, running))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets,
                                    sum_value=self.sum)


DURABLE_SECONDS = LatencyHistogram(
    "kuzet_correlator_durable_seconds",
    "Seconds from a detection's observed_at to its effect being durable in the event store "
    "(incident opened, evidence or observation flushed, candidate hit written): includes "
    "the detector's publish delay and the evidence coalescing interval on purpose",
    (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
