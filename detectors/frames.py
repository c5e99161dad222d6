"""A sampled frame with everything a detector needs to describe where and when it was seen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np

from detectors.config import CameraConfig

__all__ = ["THUMBNAIL_WIDTH", "Frame"]

THUMBNAIL_WIDTH = 160


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One BGR image from `camera`, observed at `observed_at` (timezone-aware), maybe located."""

    camera: CameraConfig
    image: np.ndarray
    observed_at: datetime
    index: int = 0
    location: tuple[float, float] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def thumbnail(self) -> np.ndarray:
        """The image scaled to `THUMBNAIL_WIDTH` pixels wide, keeping its aspect: the working
        size of the pixel heuristics (fire, dumps)."""
        width, height = self.size
        size = (THUMBNAIL_WIDTH, max(1, round(THUMBNAIL_WIDTH * height / width)))
        return np.asarray(cv2.resize(self.image, size))
