"""Prometheus metrics of the API process (the default registry; its health port serves them).

- `kuzet_api_requests_total{operation}` / `kuzet_api_errors_total{operation}`: GraphQL
  operations by `<type>.<first root field>` (`query.incidents`, `subscription.incidentUpdates`);
  field names come from a validated document, so the label set is bounded by the schema
  (a document that does not parse or validate counts as `invalid`, never by its text).
- `kuzet_api_subscribers`: live subscriptions of this process (read when scraped).
- `kuzet_api_slow_consumer_drops_total`: subscriptions ended because their queue was full.
- `kuzet_api_delivery_seconds`: from an event's recorded time to its payload written to a
  subscriber's socket (live updates only; a replay delivers old events on purpose).

Updates are cheap: label children are cached per operation, and the delivery histogram is
plain counts (a bisect and an increment per delivery, no lock), built when scraped.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from strawberry.extensions import SchemaExtension

__all__ = ["DELIVERY_SECONDS", "ERRORS", "REQUESTS", "SLOW_DROPS", "SUBSCRIBERS",
           "OperationMetrics", "delivered", "track_subscribers"]

REQUESTS = Counter("kuzet_api_requests", "GraphQL operations received, by operation "
                   "(<type>.<first root field>, or invalid)", ["operation"])
ERRORS = Counter("kuzet_api_errors", "GraphQL operations answered with errors, by operation",
                 ["operation"])
SUBSCRIBERS = Gauge("kuzet_api_subscribers", "Live GraphQL subscriptions of this process")
SLOW_DROPS = Counter("kuzet_api_slow_consumer_drops",
                     "Subscriptions ended because the subscriber's bounded queue was full "
                     "(the client resumes by cursor)")

_children: dict[str, tuple[Any, Any]] = {}


def _bound(operation: str) -> tuple[Any, Any]:
    found = _children.get(operation)
    if found is None:
        found = _children[operation] = (REQUESTS.labels(operation), ERRORS.labels(operation))
    return found


def operation_label(document: Any, name: str | None) -> str:
    """`<type>.<first root field>` of the operation `name` (or the only one) in `document`."""
    for node in getattr(document, "definitions", ()):
        if isinstance(node, OperationDefinitionNode) and (
                name is None or (node.name is not None and node.name.value == name)):
            fields = [s for s in node.selection_set.selections if isinstance(s, FieldNode)]
            root = fields[0].name.value if fields else "fragment"
            return f"{node.operation.value}.{root}"
    return "invalid"


class OperationMetrics(SchemaExtension):
    """Counts each operation once it is validated (`on_execute`), and its errors."""

    label: str | None = None

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        self.label = operation_label(ctx.graphql_document, ctx.operation_name)
        _bound(self.label)[0].inc()
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        ctx = self.execution_context
        if self.label is None:  # refused before execution (parse, validation, limits)
            _bound("invalid")[0].inc()
        result = ctx.result
        if ctx.pre_execution_errors or (result is not None and result.errors):
            _bound(self.label or "invalid")[1].inc()


class _LatencyHistogram(Collector):
    """Plain counts per bucket, updated from the event loop only; a family when scraped.
    (`streams.metrics.LatencyHistogram` is the same for the worker: api may not import
    streams.)"""

    def __init__(self, name: str, documentation: str, bounds: tuple[float, ...]) -> None:
        self.name, self.documentation, self.bounds = name, documentation, bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        REGISTRY.register(self)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterator[Metric]:
        running, buckets = 0, []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), list(self.counts),
                                strict=True):
            running += count
            buckets.append((bound, running))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets,
                                    sum_value=self.sum)


DELIVERY_SECONDS = _LatencyHistogram(
    "kuzet_api_delivery_seconds",
    "Seconds from an incident event's recorded time to its payload written to a "
    "subscriber's socket (live updates)",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


def delivered(*recorded_at: datetime) -> None:
    """Live updates recorded at these times were written to a subscriber's socket (one read
    of the clock for a whole write)."""
    now = time.time()
    for at in recorded_at:
        DELIVERY_SECONDS.observe(now - at.timestamp())


def track_subscribers(count: Callable[[], int]) -> None:
    """`kuzet_api_subscribers` reads `count()` when scraped (the process's log follower)."""
    SUBSCRIBERS.set_function(lambda: float(count()))
