"""Prometheus metrics of the worker and the relay (the default registry; the CLI serves it)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["DEAD_LETTERS"]

DEAD_LETTERS = Counter(
    "kuzet_stream_dead_letters",
    "Records sent to a dead-letter topic instead of stopping the stream, by stage (route, "
    "correlate, relay) and reason (invalid, skew, conflict, exception)",
    ["stage", "reason"],
)
