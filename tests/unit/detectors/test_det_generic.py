"""The generic YOLO-format adapter on a test-built ONNX fixture, and provider selection."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from detectors.analysis import Analyser
from detectors.config import DetectConfig, build_config
from detectors.errors import ConfigError, ModelLoadError, ModelOutputError
from detectors.frames import Frame
from detectors.runner import CPU, CUDA, OnnxModel, choose_providers
from detectors.yolo import Letterbox, decode
from domain.kinds import Kind
from tests.fixtures.detector_fixtures import build_fixture_yolo


@pytest.fixture
def fire_config(tmp_path: Path) -> DetectConfig:
    model = build_fixture_yolo(tmp_path / "fixture_fire_yolo.onnx")
    data = {
        "models": {"fire": {"path": str(model), "version": "fixture-1", "input_size": 64,
                            "classes": {"0": "fire", "1": "smoke"}, "score_threshold": 0.5}},
        "cameras": [{"id": "bus-12", "url": str(tmp_path), "kind": "dashcam",
                     "detectors": ["model:fire"]}],
    }
    return build_config(data, data_dir=tmp_path, base_dir=tmp_path)


def test_generic_adapter_turns_fixture_output_into_records(fire_config: DetectConfig) -> None:
    cam = fire_config.cameras[0]
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 2] = 255  # BGR red: the fixture scores class 0 (fire) by mean red
    dark = np.zeros((64, 64, 3), np.uint8)
    now = datetime.now(UTC)
    frames = [Frame(cam, red, now, 0, (43.25, 76.95)), Frame(cam, dark, now, 1)]
    [fire] = Analyser(fire_config).analyse(frames)
    assert fire.kind is Kind.FIRE
    assert fire.confidence == pytest.approx(1.0)
    assert fire.model is not None
    assert fire.model.version == "fixture-1"
    assert fire.location is not None
    assert fire.location.lat == 43.25
    assert fire.bbox is not None
    x, y, w, h = fire.bbox
    # the fixture's class-0 box: centre (32, 32), 20 x 20 pixels of the 64 x 64 input
    assert (x, y, w, h) == pytest.approx((22 / 64, 22 / 64, 20 / 64, 20 / 64), abs=1e-4)


def test_decode_names_the_expected_shape() -> None:
    lb = [Letterbox(1.0, 0, 0, 64, 64)]
    with pytest.raises(ModelOutputError, match=r"expected \[batch=1, 4 \+ classes, anchors\]"):
        decode(np.zeros((1, 3)), lb, score_threshold=0.5, iou_threshold=0.5)
    with pytest.raises(ModelOutputError, match="class index 2"):
        decode(np.zeros((1, 6, 3)), lb, score_threshold=0.5, iou_threshold=0.5, max_class=3)


def test_unknown_model_detector_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cameras\[0\].detectors: 'model:nope'"):
        build_config({"cameras": [{"id": "c", "url": "x", "detectors": ["model:nope"]}]},
                     data_dir=tmp_path, base_dir=tmp_path)


def test_missing_model_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no file at"):
        OnnxModel(tmp_path / "none.onnx", name="none")


@pytest.mark.parametrize(
    ("available", "gpu", "prefer", "expected"),
    [
        (["AzureExecutionProvider", CPU], False, True, [CPU]),
        (["AzureExecutionProvider", CPU], True, True, [CPU]),  # CPU build on a GPU host
        ([CUDA, CPU], False, True, [CPU]),  # gpu extra but no GPU present
        ([CUDA, CPU], True, True, [CUDA, CPU]),
        ([CUDA, CPU], True, False, [CPU]),
    ],
)
def test_provider_choice_is_explicit(available: list[str], gpu: bool, prefer: bool,
                                     expected: list[str]) -> None:
    assert choose_providers(available, prefer_gpu=prefer, has_gpu=lambda: gpu) == expected


def test_sessions_here_run_on_cpu_and_report_it(fire_config: DetectConfig) -> None:
    model = OnnxModel(fire_config.models["fire"].path, name="fire")
    assert model.provider == CPU
    assert model.session.get_providers() == [CPU]
