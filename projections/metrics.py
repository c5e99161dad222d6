"""Prometheus metrics of the projections: lag (positions behind the log head) per view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["LagMetrics"]


class LagMetrics:
    """A `kuzet_projection_lag{view}` gauge in `registry` (default: the global registry)."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Gauge

        reg = registry or REGISTRY
        self.lag = Gauge("kuzet_projection_lag", "Log positions the view is behind the head",
                         ["view"], registry=reg)

    def update(self, lags: Mapping[str, int]) -> None:
        for view, lag in lags.items():
            self.lag.labels(view=view).set(lag)
