"""Adapter for COCO object models (YOLO11n): persons and vehicles per zone -> records.

Per zone (role `count`, or the whole frame): a `person` record with the zone's `count`, a
`crowd` record when the count reaches the zone's (or camera's) crowd threshold, and one
`vehicle` record per frame with the vehicle count. Zones with role `canteen` give
`canteen_count` during the camera's meal windows (counts only: no crops, no snapshots).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from detectors.attributes import person_colours, vehicle_attributes
from detectors.config import CameraConfig, ModelConfig, Zone
from detectors.frames import Frame
from detectors.records import make_detection, normalise_box
from detectors.yolo import Box
from detectors.zones import zones_of
from domain.detection import Detection
from domain.kinds import Kind

__all__ = ["COCO_BICYCLE", "COCO_KEPT", "COCO_PERSON", "COCO_VEHICLES", "canteen_detections",
           "current_meal", "object_detections"]

COCO_PERSON = 0
COCO_VEHICLES = {2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
COCO_BICYCLE = 1
COCO_KEPT = (COCO_PERSON, COCO_BICYCLE, *COCO_VEHICLES)
"""The COCO classes decoded for these adapters; every other class is ignored. Bicycles are
decoded (and not reported) so a bicycle is never re-labelled as the next-best kept class."""


def _norm(frame: Frame, box: Box) -> list[float]:
    width, height = frame.size
    return normalise_box(box.x, box.y, box.w, box.h, width, height)


def _by_zone(frame: Frame, boxes: Sequence[Box], zones: Sequence[Zone]
             ) -> dict[str, tuple[Zone, list[tuple[Box, list[float]]]]]:
    found: dict[str, tuple[Zone, list[tuple[Box, list[float]]]]] = {z.name: (z, []) for z in zones}
    for box in boxes:
        bbox = _norm(frame, box)
        for zone in zones_of(bbox, zones):
            found[zone.name][1].append((box, bbox))
    return found


def object_detections(frame: Frame, boxes: Sequence[Box], model: ModelConfig) -> list[Detection]:
    """`person`/`crowd` per counting zone and `vehicle` per frame from decoded COCO boxes."""
    cam = frame.camera
    persons = [b for b in boxes if b.class_id == COCO_PERSON]
    out = []
    counting = [z for z in cam.zones if z.role == "count"]
    for zone, hits in _by_zone(frame, persons, counting).values():
        if not hits:
            continue
        best, bbox = hits[0]
        attrs = {"count": len(hits), "zone": zone.name}
        out.append(make_detection(frame, Kind.PERSON, best.score, model=model, bbox=bbox,
                                  attributes={**attrs, **person_colours(frame.image, best)}))
        threshold = zone.crowd_threshold or cam.crowd_threshold
        if len(hits) >= threshold:
            mean = sum(b.score for b, _ in hits) / len(hits)
            out.append(make_detection(frame, Kind.CROWD, mean, model=model,
                                      attributes={**attrs, "threshold": threshold}))
    vehicles = [b for b in boxes if b.class_id in COCO_VEHICLES]
    if vehicles:
        best = vehicles[0]
        out.append(make_detection(
            frame, Kind.VEHICLE, best.score, model=model, bbox=_norm(frame, best),
            attributes={"count": len(vehicles),
                        **vehicle_attributes(frame.image, best, COCO_VEHICLES[best.class_id])},
        ))
    return out


def current_meal(cam: CameraConfig, when: datetime) -> str | None:
    """The meal whose window holds `when` in the camera's time zone; `all-day` without meals."""
    if not cam.meals:
        return "all-day"
    local = when.astimezone(ZoneInfo(cam.timezone)).time()
    for meal, (start, end) in cam.meals.items():
        if start <= local < end:
            return meal
    return None


def canteen_detections(frame: Frame, boxes: Sequence[Box], model: ModelConfig
                       ) -> list[Detection]:
    """`canteen_count` per canteen zone during a meal window (zero counts included)."""
    meal = current_meal(frame.camera, frame.observed_at)
    zones = [z for z in frame.camera.zones if z.role == "canteen"]
    if meal is None or not zones:
        return []
    persons = [b for b in boxes if b.class_id == COCO_PERSON]
    out = []
    for zone, hits in _by_zone(frame, persons, zones).values():
        confidence = min((b.score for b, _ in hits), default=1.0)
        out.append(make_detection(frame, Kind.CANTEEN_COUNT, confidence, model=model,
                                  attributes={"count": len(hits), "meal": meal,
                                              "zone": zone.name}))
    return out
