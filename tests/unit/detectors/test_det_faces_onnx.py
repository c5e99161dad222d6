"""YuNet + SFace on onnxruntime after folding their int8 block-quantised weights.

The shipped files are the real models; OpenCV's FaceDetectorYN/FaceRecognizerSF on the same
files are the reference the onnxruntime path must reproduce.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from detectors.analysis import Analyser
from detectors.config import CameraConfig, DetectConfig, build_config
from detectors.errors import ConfigError, ModelLoadError
from detectors.faces import Face, FaceEngine
from detectors.faces_onnx import align_face
from detectors.fold import dequantize, folded_model
from detectors.frames import Frame
from detectors.shipped import shipped_path
from detectors.watchlist import Watchlist
from domain.kinds import Kind
from tests.fixtures.detector_fixtures import astronaut, shipped_testimg

SCENES = {"testimg": shipped_testimg, "astronaut": astronaut}


def _pairs(reference: FaceEngine, other: FaceEngine, image: np.ndarray
           ) -> list[tuple[Face, Face]]:
    a = sorted(reference.detect(image), key=lambda f: f.x)
    b = sorted(other.detect(image), key=lambda f: f.x)
    assert len(a) == len(b) > 0
    return list(zip(a, b, strict=True))


def test_dequantize_follows_the_onnx_spec_per_tensor_axis_and_block() -> None:
    x = np.array([[-4, 2, 6, 8], [1, 3, 5, 7]], np.int8)
    one = dequantize(x, np.array([0.5], np.float32), np.array([2], np.int8))
    assert one.tolist() == [[-3, 0, 2, 3], [-0.5, 0.5, 1.5, 2.5]]
    rows = dequantize(x, np.array([1.0, 2.0], np.float32), np.array([0, 1], np.int8), axis=0)
    assert rows.tolist() == [[-4, 2, 6, 8], [0, 4, 8, 12]]
    blocks = dequantize(x, np.array([[1.0, 10.0], [2.0, 3.0]], np.float32),
                        np.array([[0, 1], [1, 0]], np.int8), axis=1, block_size=2)
    assert blocks.tolist() == [[-4, 2, 50, 70], [0, 4, 15, 21]]
    assert blocks.dtype == np.float32


@pytest.mark.parametrize("name", ["yunet", "sface"])
def test_onnxruntime_refuses_the_shipped_file_and_runs_the_folded_one(
    name: str, tmp_path: Path
) -> None:
    source = shipped_path(name)
    assert source is not None
    shape = {"yunet": (1, 3, 640, 640), "sface": (1, 3, 112, 112)}[name]
    options = ort.SessionOptions()
    options.log_severity_level = 4
    raw = ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match=r"block_size|Required inputs"):  # ort's untyped errors
        raw.run(None, {raw.get_inputs()[0].name: np.zeros(shape, np.float32)})
    folded = ort.InferenceSession(str(folded_model(source, tmp_path)), options,
                                  providers=["CPUExecutionProvider"])
    assert [i.name for i in folded.get_inputs()] == [raw.get_inputs()[0].name]
    outputs = folded.run(None, {folded.get_inputs()[0].name: np.zeros(shape, np.float32)})
    assert all(np.isfinite(o).all() for o in outputs)


def test_the_folded_file_is_written_once_and_reused(tmp_path: Path) -> None:
    source = shipped_path("sface")
    assert source is not None
    first = folded_model(source, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert folded_model(source, tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp file left


def test_a_broken_model_file_is_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match=r"broken\.onnx"):
        folded_model(bad, tmp_path / "cache")


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_onnxruntime_faces_match_opencv(scene: str, faces: FaceEngine,
                                        faces_onnx: FaceEngine) -> None:
    image = SCENES[scene]()
    for ref, got in _pairs(faces, faces_onnx, image):
        assert np.abs(ref.row[:14] - got.row[:14]).max() < 0.5  # pixels
        assert abs(ref.score - got.score) < 0.01
        crop_diff = np.abs(faces.aligned_crop(image, ref).astype(int)
                           - align_face(image, ref.row).astype(int)).mean()
        assert crop_diff < 1.0  # grey levels, out of 255
        assert float(faces.embed(image, ref) @ faces_onnx.embed(image, got)) > 0.99


def test_onnxruntime_embeddings_still_tell_people_apart(faces_onnx: FaceEngine) -> None:
    image = shipped_testimg()
    man, woman = (faces_onnx.embed(image, f)
                  for f in sorted(faces_onnx.detect(image), key=lambda f: f.x))
    [other] = (faces_onnx.embed(astronaut(), f) for f in faces_onnx.detect(astronaut()))
    assert max(float(man @ woman), float(man @ other), float(woman @ other)) < 0.3


def test_face_runtime_is_configurable_and_checked(tmp_path: Path, base_config: DetectConfig,
                                                  faces_onnx: FaceEngine) -> None:
    assert build_config({"detector": {"face_runtime": "onnxruntime"}}, data_dir=tmp_path,
                        base_dir=tmp_path).face_runtime == "onnxruntime"
    with pytest.raises(ConfigError, match=r"detector.face_runtime='tensorrt'"):
        build_config({"detector": {"face_runtime": "tensorrt"}}, data_dir=tmp_path,
                     base_dir=tmp_path)
    with pytest.raises(ConfigError, match="face runtime='onnxruntime'"):
        FaceEngine(base_config.models["faces_detector"], base_config.models["faces_embedder"],
                   runtime="onnxruntime")  # no cache dir for the folded files


def test_analyser_on_onnxruntime_publishes_the_face_match(
    tmp_path: Path, base_config: DetectConfig, faces_onnx: FaceEngine
) -> None:
    cam = CameraConfig(id="cam-fo", url="x", detectors=("faces",))
    config = dataclasses.replace(base_config, cameras=(cam,), data_dir=tmp_path,
                                 face_runtime="onnxruntime", prefer_gpu=False)
    image = astronaut()
    [face] = faces_onnx.detect(image)
    Watchlist(config.watchlist_path).enrol("astro-9", faces_onnx.embed(image, face),
                                           model="sface")
    [match] = Analyser(config).analyse([Frame(cam, image, datetime.now(UTC))])
    assert match.kind is Kind.FACE_MATCH
    assert match.attributes["subject_id"] == "astro-9"
    assert match.attributes["similarity"] > 0.99
    assert list((tmp_path / "models").glob("*.folded.onnx"))  # folded into the data dir
