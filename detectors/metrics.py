"""Prometheus metrics of a detector process (the default registry; the CLI may serve it)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "DETECTIONS_PUBLISHED",
    "FRAMES_DROPPED",
    "FRAMES_READ",
    "MODEL_PROVIDER",
    "PUBLISH_QUEUE",
    "RECORDS_DROPPED",
    "RECORDS_SENT",
    "SENSOR_SIGNALS",
    "SOURCE_OFFLINE",
]

MODEL_PROVIDER = Gauge(
    "kuzet_detector_model_provider", "1 for the execution provider each model runs on",
    ["model", "provider"],
)
FRAMES_READ = Counter("kuzet_detector_frames_read", "Frames read (after sampling)", ["source"])
FRAMES_DROPPED = Counter(
    "kuzet_detector_frames_dropped", "Frames dropped because inference fell behind", ["source"]
)
SOURCE_OFFLINE = Counter(
    "kuzet_detector_source_offline", "Times a source was found offline", ["source"]
)
DETECTIONS_PUBLISHED = Counter(
    "kuzet_detector_detections", "Detection records handed to the publisher", ["kind"]
)
RECORDS_SENT = Counter("kuzet_detector_records_sent", "Records acknowledged by Kafka", ["topic"])
RECORDS_DROPPED = Counter(
    "kuzet_detector_records_dropped",
    "Records dropped by the publisher's overload policy (oldest first)", ["topic"],
)
PUBLISH_QUEUE = Gauge("kuzet_detector_publish_queue", "Records waiting in the publisher queue")
SENSOR_SIGNALS = Counter(
    "kuzet_detector_sensor_signals",
    "Sensor signals received, by transport (http, mqtt) and outcome (accepted, rejected)",
    ["transport", "outcome"],
)
