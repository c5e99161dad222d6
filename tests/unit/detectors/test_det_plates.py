"""Plates: Haar localisation + PP-OCR recognition (shipped in rapidocr) on a drawn plate."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from detectors.analysis import Analyser
from detectors.config import CameraConfig, DetectConfig
from detectors.evidence import EvidenceStore
from detectors.frames import Frame
from detectors.plates import PlateReader, normalise_plate
from domain.kinds import Kind
from tests.fixtures.detector_fixtures import plate_scene


def test_a_plate_drawn_with_opencv_is_read_exactly(plates: PlateReader) -> None:
    [read] = plates.read(plate_scene("A123BC77"))
    assert read.plate == "A123BC77"
    assert read.confidence > 0.9


def test_another_plate_text(plates: PlateReader) -> None:
    assert [r.plate for r in plates.read(plate_scene("X777OP02"))] == ["X777OP02"]


def test_normalise_maps_cyrillic_lookalikes_and_drops_separators() -> None:
    cyrillic = "\u0410 123 \u0412\u0421-77"  # "A 123 BC-77" typed with Cyrillic letters
    assert normalise_plate(cyrillic) == "A123BC77"
    assert normalise_plate("a123bc 77") == "A123BC77"


def test_wanted_plate_gives_plate_match_and_vehicle(tmp_path: Path,
                                                    base_config: DetectConfig) -> None:
    cam = CameraConfig(id="cam-p", url="x", detectors=("plates",), snapshots=True)
    config = dataclasses.replace(base_config, cameras=(cam,), data_dir=tmp_path,
                                 wanted_plates=frozenset({"A123BC77"}))
    records = Analyser(config, EvidenceStore(tmp_path / "ev")).analyse(
        [Frame(cam, plate_scene(), datetime.now(UTC))])
    kinds = {d.kind: d for d in records}
    assert set(kinds) == {Kind.PLATE_MATCH, Kind.VEHICLE}
    assert kinds[Kind.PLATE_MATCH].attributes["plate"] == "A123BC77"
    assert kinds[Kind.VEHICLE].attributes["plate"] == "A123BC77"
    assert all(d.snapshot is not None for d in records)
    assert kinds[Kind.PLATE_MATCH].model is not None


def _scenes(count: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """`count` drawn plates (`plate_scene`, 8 texts in turn) scaled by 0.4..2.0 (plate 96..480
    px wide, its cascade box ~125..620 px: never under the default `min_plate_width`) and pasted
    at a seeded random place on a 1280 x 720 grey frame."""
    texts = ["A123BC77", "X777OP02", "B456EK199", "M001MM50", "K555XY750", "E010TT23",
             "H202PP16", "T999CA98"]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        text = texts[i % len(texts)]
        scale = rng.uniform(0.4, 2.0)
        plate = cv2.resize(plate_scene(text), None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_AREA)
        frame = np.full((720, 1280, 3), 90, np.uint8)
        h, w = plate.shape[:2]
        y, x = rng.integers(0, 720 - h), rng.integers(0, 1280 - w)
        frame[y:y + h, x:x + w] = plate
        out.append((text, frame))
    return out


def _reads(reader: PlateReader, scenes: list[tuple[str, np.ndarray]]) -> int:
    """How many scenes' plates the reader reads right."""
    reads = reader.read_batch([frame for _, frame in scenes])
    return sum(text in {r.plate for r in found}
               for (text, _), found in zip(scenes, reads, strict=True))


def test_the_scaled_search_reads_the_plates_the_full_frame_search_reads(
        base_config: DetectConfig, plates: PlateReader) -> None:
    """Read recall of the default search (grey frame at half size) against the full-resolution
    search the reader used before (`min_plate_width=60`), on plates at least `min_plate_width`
    wide. The two searches cut crops a few pixels apart and the recogniser's read of a drawn
    plate can flip on such a shift ("M001MM50" read "MO001MM50" with a crop 4 px wider), in
    either direction (240 such scenes, seed 5: 238 read by the full search, 237 by the scaled
    one), so one read in 40 is slack. A search at a quarter size (`min_plate_width=240`)
    reads 33 of these 40."""
    full = PlateReader(base_config.models["ocr"], min_plate_width=60)
    assert (plates.localise_scale, full.localise_scale) == (0.5, 1.0)
    scenes = _scenes(40, seed=13)
    scaled_reads, full_reads = _reads(plates, scenes), _reads(full, scenes)
    assert full_reads >= 36
    assert scaled_reads >= full_reads - 1


def test_scaled_search_boxes_are_in_frame_pixels(base_config: DetectConfig,
                                                 plates: PlateReader) -> None:
    full = PlateReader(base_config.models["ocr"], min_plate_width=60)
    frame = cv2.resize(plate_scene(), (640, 384))  # the benchmark's plate scene
    [(x, y, w, h)] = plates.localise(frame)
    [(fx, fy, fw, fh)] = full.localise(frame)
    overlap = (max(0, min(x + w, fx + fw) - max(x, fx))
               * max(0, min(y + h, fy + fh) - max(y, fy)))
    assert overlap / (w * h + fw * fh - overlap) > 0.8


def test_plates_narrower_than_min_plate_width_are_left_to_the_full_search(
        base_config: DetectConfig, plates: PlateReader) -> None:
    """The price of the default: a plate 60 px wide (cascade box ~78 px, characters ~6 px
    high) is read by the full search and not looked for at `min_plate_width` 120."""
    full = PlateReader(base_config.models["ocr"], min_plate_width=60)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[300:360, 500:600] = cv2.resize(plate_scene("A123BC77"), (100, 60),
                                         interpolation=cv2.INTER_AREA)
    assert [r.plate for r in full.read(frame)] == ["A123BC77"]
    assert plates.localise(frame) == []
