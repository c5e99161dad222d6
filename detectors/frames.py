"""A sampled frame with everything a detector needs to describe where and when it was seen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from detectors.config import CameraConfig

__all__ = ["Frame"]


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
