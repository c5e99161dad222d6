"""Plates: Haar localisation + PP-OCR recognition (shipped in rapidocr) on a drawn plate."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

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
