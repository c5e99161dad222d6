"""Colour-and-flicker fire fallback and the static-object (dump) background model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from detectors.config import CameraConfig, Zone
from detectors.dumps import StaticObjects
from detectors.fire import FireHeuristic, flame_mask
from detectors.frames import Frame
from domain.kinds import Kind

T0 = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)
FLAME = (0, 140, 255)  # BGR orange: hue ~16, saturated, bright, R > G > B


def _scene(flame_rows: int) -> np.ndarray:
    img = np.full((90, 160, 3), 60, np.uint8)
    img[90 - flame_rows:, 60:100] = FLAME
    return img


def test_flame_mask_picks_orange_not_grey() -> None:
    mask = flame_mask(_scene(30))
    assert mask[80, 80]
    assert not mask[10, 10]


def test_flickering_flame_fires_and_a_static_orange_patch_does_not() -> None:
    cam = CameraConfig(id="cam-fire", url="x", detectors=("fire",))
    fire = FireHeuristic(window=6)
    out = []
    for i, rows in enumerate([20, 35, 15, 40, 18, 38]):
        out += fire.update(Frame(cam, _scene(rows), T0 + timedelta(seconds=i)))
    [record] = out
    assert record.kind is Kind.FIRE
    assert record.attributes["flicker"] > 0.05
    static = FireHeuristic(window=6)
    steady = CameraConfig(id="cam-wall", url="x", detectors=("fire",))
    assert not [d for i in range(8)
                for d in static.update(Frame(steady, _scene(30), T0 + timedelta(seconds=i)))]


def test_dump_that_persists_is_reported_once_and_a_passer_by_is_not() -> None:
    verge = Zone("verge", ((0.5, 0.5), (1, 0.5), (1, 1), (0.5, 1)), role="dump")
    cam = CameraConfig(id="cam-waste", url="x", detectors=("dumps",), zones=(verge,),
                       site_id="waste-40")
    model = StaticObjects(persist_s=30, min_area=0.1)
    empty = np.full((90, 160, 3), 100, np.uint8)
    dumped = empty.copy()
    dumped[60:85, 100:150] = 230  # a pile appears in the verge zone and stays
    walker = empty.copy()
    walker[50:85, 110:125] = 20  # someone walks through, for one frame
    frames = [empty, walker, empty] + [dumped] * 8
    out = []
    for i, image in enumerate(frames):
        out += model.update(Frame(cam, image, T0 + timedelta(seconds=10 * i)))
    [record] = out
    assert record.kind is Kind.ILLEGAL_DUMP
    assert record.attributes["zone"] == "verge"
    assert record.observed_at - T0 >= timedelta(seconds=60)
