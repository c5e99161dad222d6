"""Detector test fixtures: real shipped models, loaded once per session (no model doubles)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures"))

from detectors.analysis import YoloModel
from detectors.config import DetectConfig, build_config
from detectors.faces import FaceEngine
from detectors.plates import PlateReader


@pytest.fixture(scope="session")
def base_config(tmp_path_factory: pytest.TempPathFactory) -> DetectConfig:
    """The default config: shipped models, no cameras, a throwaway data dir."""
    return build_config({}, data_dir=tmp_path_factory.mktemp("kuzet"), base_dir=Path.cwd())


@pytest.fixture(scope="session")
def yolo(base_config: DetectConfig) -> YoloModel:
    return YoloModel.load(base_config.models["objects"], base_config, (0, 1, 2, 3, 5, 7))


@pytest.fixture(scope="session")
def faces(base_config: DetectConfig) -> FaceEngine:
    return FaceEngine(base_config.models["faces_detector"], base_config.models["faces_embedder"])


@pytest.fixture(scope="session")
def plates(base_config: DetectConfig) -> PlateReader:
    return PlateReader(base_config.models["ocr"])
