"""Prometheus metrics of the worker and the relay (the default registry; the CLI serves it)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["BELOW_RULE", "DEAD_LETTERS", "SKIPPED"]

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
