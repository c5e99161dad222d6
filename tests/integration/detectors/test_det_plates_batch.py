"""Plates read in one recogniser run per frame batch read as each frame alone would."""

from __future__ import annotations

import cv2
import numpy as np

from detectors.plates import PlateReader
from tests.fixtures.detector_fixtures import plate_scene


def test_a_frame_batch_reads_every_plate_as_each_frame_alone(plates: PlateReader) -> None:
    wide = cv2.resize(plate_scene("X777OP02"), (640, 384))  # a wider crop pads the others
    frames = [plate_scene("A123BC77"), np.full((240, 400, 3), 90, np.uint8), wide,
              plate_scene("B456EK199")]
    alone = [plates.read(f) for f in frames]
    together = plates.read_batch(frames)
    assert [[r.plate for r in reads] for reads in together] == [
        ["A123BC77"], [], ["X777OP02"], ["B456EK199"]]
    for one, many in zip(alone, together, strict=True):
        assert [(r.plate, r.box) for r in one] == [(r.plate, r.box) for r in many]
        assert all(abs(a.confidence - b.confidence) < 1e-3
                   for a, b in zip(one, many, strict=True))
    assert plates.read_batch([]) == []
