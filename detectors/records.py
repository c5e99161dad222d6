"""Build validated `Detection` records: the only way adapters make a record.

Every record goes through `domain.detection.validate_detection_dict`, so an adapter bug raises
`InvalidDetection` here instead of publishing a record that the correlator would dead-letter.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from detectors.config import ModelConfig
from detectors.frames import Frame
from domain.detection import (
    Detection,
    ModelRef,
    Snapshot,
    detection_to_dict,
    validate_detection_dict,
)
from domain.kinds import Kind

__all__ = ["make_detection", "normalise_box", "with_snapshot"]


def normalise_box(x: float, y: float, w: float, h: float, width: int, height: int
                  ) -> list[float]:
    """A pixel box clipped to the frame and normalised to 0..1 as [x, y, w, h]."""
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    return [round(x0 / width, 6), round(y0 / height, 6),
            round((x1 - x0) / width, 6), round((y1 - y0) / height, 6)]


def make_detection(
    frame: Frame, kind: Kind, confidence: float, *, model: ModelConfig | ModelRef | None,
    bbox: list[float] | None = None, attributes: Mapping[str, Any] | None = None,
) -> Detection:
    """One record for `frame`, validated against the contract."""
    cam = frame.camera
    rec: dict[str, Any] = {
        "detection_id": str(uuid.uuid4()),
        "source_id": cam.id,
        "source_kind": cam.source_kind.value,
        "kind": kind.value,
        "confidence": round(min(max(float(confidence), 0.0), 1.0), 4),
        "observed_at": frame.observed_at.isoformat(),
        "attributes": dict(attributes or {}),
    }
    if cam.site_id:
        rec["site_id"] = cam.site_id
    location = frame.location or cam.location
    if location is not None:
        rec["location"] = {"lat": location[0], "lon": location[1]}
    if bbox is not None:
        rec["bbox"] = bbox
    if model is not None:
        rec["model"] = {"name": model.name, "version": model.version}
    return validate_detection_dict(rec)


def with_snapshot(detection: Detection, snapshot: Snapshot) -> Detection:
    """The same record with its evidence snapshot attached (re-validated)."""
    rec = detection_to_dict(detection)
    rec["snapshot"] = {"uri": snapshot.uri, "sha256": snapshot.sha256}
    return validate_detection_dict(rec)
