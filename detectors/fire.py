"""Fire by colour and flicker: the fallback when no fire/smoke ONNX model is configured.

The heuristic, per camera: (1) flame-coloured pixels are bright, saturated, red-to-yellow
(HSV hue <= 35 of 180, saturation >= 100, value >= 180, and R > G > B); (2) real flames flicker,
so the flame-pixel fraction is tracked over the last `window` sampled frames and its relative
standard deviation must reach `min_flicker`; (3) the mean fraction must reach `min_area`. A
static orange wall passes (1) and (3) but not (2); a moving orange coat is usually too small.
It has no smoke branch: smoke needs a model. Confidence grows with area and flicker.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from detectors.frames import Frame
from detectors.records import make_detection, normalise_box
from domain.detection import Detection, ModelRef
from domain.kinds import Kind

__all__ = ["FIRE_HEURISTIC", "FireHeuristic", "flame_mask"]

FIRE_HEURISTIC = ModelRef("fire-colour-flicker", "1")


def flame_mask(image: np.ndarray) -> np.ndarray:
    """Boolean mask of flame-coloured pixels of a BGR image."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    b, g, r = (image[..., i].astype(np.int16) for i in range(3))
    return (h <= 35) & (s >= 100) & (v >= 180) & (r > g) & (g > b)


@dataclass
class FireHeuristic:
    """Per-camera flame-fraction history; `update` returns a `fire` record when it fires."""

    window: int = 8
    min_area: float = 0.01
    min_flicker: float = 0.05
    history: dict[str, deque[float]] = field(default_factory=dict)

    def update(self, frame: Frame) -> list[Detection]:
        mask = flame_mask(frame.thumbnail())
        fractions = self.history.setdefault(frame.camera.id, deque(maxlen=self.window))
        fractions.append(float(mask.mean()))
        if len(fractions) < self.window:
            return []
        mean = float(np.mean(fractions))
        flicker = float(np.std(fractions)) / max(mean, 1e-9)
        if mean < self.min_area or flicker < self.min_flicker:
            return []
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return []
        h, w = mask.shape
        bbox = normalise_box(xs.min(), ys.min(), xs.max() - xs.min() + 1,
                             ys.max() - ys.min() + 1, w, h)
        confidence = min(1.0, 0.5 + mean * 5 + flicker)
        return [make_detection(frame, Kind.FIRE, confidence, model=FIRE_HEURISTIC, bbox=bbox,
                               attributes={"area": round(mean, 4),
                                           "flicker": round(flicker, 4)})]
