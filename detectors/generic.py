"""Adapter for city-supplied YOLO-format ONNX models (fire, smoke, dumps, road defects...).

`[models.<name>]` maps class indices to detection kinds; each decoded box of a mapped class
becomes one record of that kind. On dash-cam frames the record carries the frame's GPS fix.
"""

from __future__ import annotations

from collections.abc import Sequence

from detectors.config import ModelConfig
from detectors.frames import Frame
from detectors.records import make_detection, normalise_box
from detectors.yolo import Box
from domain.detection import Detection

__all__ = ["generic_detections"]


def generic_detections(frame: Frame, boxes: Sequence[Box], model: ModelConfig
                       ) -> list[Detection]:
    """One record per box whose class the model config maps to a kind."""
    width, height = frame.size
    out = []
    for box in boxes:
        kind = model.classes.get(box.class_id)
        if kind is None:
            continue
        out.append(make_detection(
            frame, kind, box.score, model=model,
            bbox=normalise_box(box.x, box.y, box.w, box.h, width, height),
            attributes={"class_id": box.class_id},
        ))
    return out
