"""Kafka topic names: public, versioned, owned by their producer (STYLE.md item 5)."""

from __future__ import annotations

from domain.kinds import Agency

__all__ = [
    "APPEAL_STATUS",
    "CORRELATION",
    "DETECTIONS",
    "DETECTIONS_DLQ",
    "HEALTH",
    "INCIDENT_EVENTS",
    "agency_topic",
]

DETECTIONS = "kuzet.detections.v1"
"""Raw detection records from detectors; key = source_id; value = detection JSON."""

DETECTIONS_DLQ = "kuzet.detections.dlq.v1"
"""Records that failed validation: value = {"reason", "errors", "original" (base64), ...}."""

CORRELATION = "kuzet.correlation.v1"
"""Internal: valid detections re-keyed by correlation shard (site, subject, plate, cell)."""

HEALTH = "kuzet.health.v1"
"""Per-source heartbeats and `source_offline` records from detector processes."""

APPEAL_STATUS = "kuzet.appeals.status.v1"
"""For the appeal portal: each status change of an incident holding an appeal; key = appeal id."""

INCIDENT_EVENTS = "kuzet.incident-events.v1"
"""The situation centre's full stream: every stored incident event as a CloudEvents 1.0
envelope (key = incident id), and a silence's Created, Ended and SilencedDetections (key =
silence id; on no agency topic)."""


def agency_topic(agency: Agency) -> str:
    """The data-minimised per-agency stream, e.g. `kuzet.agency.police.v1`."""
    return f"kuzet.agency.{agency.value}.v1"
