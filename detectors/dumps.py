"""Illegal dumps and overflowing containers: a new static object that persists in a zone.

Per camera, a background image (grey, 160 px wide, blurred) is learnt from the first frame
and then updated slowly only where nothing changed. A pixel that differs from it is
"changed since" the first frame it differed; it is *static* once it has differed for at least
`persist_s` seconds of observed time (so people and vehicles passing by never count). When the
static fraction of a zone with role `dump` (-> `illegal_dump`) or `container`
(-> `garbage_overflow`) reaches `min_area`, one record is published; the zone re-arms once
the static fraction falls below half of that (the object was removed or absorbed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from detectors.config import Zone
from detectors.frames import Frame
from detectors.records import make_detection
from domain.detection import Detection, ModelRef
from domain.kinds import Kind

__all__ = ["DUMP_MODEL", "StaticObjects"]

DUMP_MODEL = ModelRef("static-object-background", "1")
_KIND = {"dump": Kind.ILLEGAL_DUMP, "container": Kind.GARBAGE_OVERFLOW}


@dataclass
class _State:
    background: np.ndarray
    since: np.ndarray
    armed: dict[str, bool] = field(default_factory=dict)
    masks: dict[Zone, np.ndarray] = field(default_factory=dict)

    def mask(self, zone: Zone) -> np.ndarray:
        """The zone's pixels at the background's size, rasterised once per camera."""
        if zone not in self.masks:
            self.masks[zone] = _zone_mask(zone, self.background.shape)
        return self.masks[zone]


def _zone_mask(zone: Zone, shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape
    points = np.array([[x * (w - 1), y * (h - 1)] for x, y in zone.polygon], dtype=np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [points], 1)
    return mask.astype(bool)


@dataclass
class StaticObjects:
    """Background model per camera; `update` returns records for newly static objects."""

    persist_s: float = 60.0
    min_area: float = 0.05
    diff_threshold: int = 30
    learn_rate: float = 0.02
    states: dict[str, _State] = field(default_factory=dict)

    def update(self, frame: Frame) -> list[Detection]:
        grey = cv2.cvtColor(frame.thumbnail(), cv2.COLOR_BGR2GRAY)
        grey = cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
        now = frame.observed_at.timestamp()
        state = self.states.get(frame.camera.id)
        if state is None:
            self.states[frame.camera.id] = _State(grey, np.full(grey.shape, np.nan))
            return []
        changed = np.abs(grey - state.background) > self.diff_threshold
        state.since = np.where(changed, np.where(np.isnan(state.since), now, state.since), np.nan)
        calm = ~changed
        state.background[calm] += self.learn_rate * (grey[calm] - state.background[calm])
        static = changed & (now - np.nan_to_num(state.since, nan=now) >= self.persist_s)
        return [d for zone in frame.camera.zones if zone.role in _KIND
                for d in self._zone(frame, state, zone, static)]

    def _zone(self, frame: Frame, state: _State, zone: Zone, static: np.ndarray
              ) -> list[Detection]:
        mask = state.mask(zone)
        fraction = float(static[mask].mean()) if mask.any() else 0.0
        armed = state.armed.get(zone.name, True)
        if fraction < self.min_area / 2:
            state.armed[zone.name] = True
        if fraction < self.min_area or not armed:
            return []
        state.armed[zone.name] = False
        confidence = min(1.0, 0.5 + fraction)
        return [make_detection(frame, _KIND[zone.role], confidence, model=DUMP_MODEL,
                               attributes={"zone": zone.name, "area": round(fraction, 4)})]
