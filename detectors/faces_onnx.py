"""YuNet and SFace on onnxruntime: the face path that can run on CUDA in production.

OpenCV's DNN module (the `opencv` face runtime) runs on CPU only in the pip wheels; this
backend runs the same shipped files through onnxruntime with explicit providers, after
`detectors.fold` has folded their int8 block-quantised weights to float32 (and freed YuNet's
input size). It reproduces OpenCV's pre- and post-processing so both runtimes give the same
faces and the same embeddings (tested: cosine > 0.99):

* YuNet: the BGR frame padded with zeros (bottom/right) to a multiple of 32, raw 0..255 values;
  per stride 8/16/32 the score is sqrt(cls * obj), boxes are (cell + offset) * stride with
  exp-encoded sizes, landmarks (cell + offset) * stride; then NMS.
* Alignment: the similarity transform (Umeyama, with scale) from the five landmarks to SFace's
  reference points, warped to 112 x 112 (OpenCV's `alignCrop`).
* SFace: the aligned crop as an RGB 0..255 NCHW blob; the model normalises internally.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detectors.config import ModelConfig
from detectors.errors import ModelOutputError
from detectors.fold import folded_model
from detectors.runner import OnnxModel

__all__ = ["OnnxFaceBackend", "align_face", "similarity_transform"]

_STRIDES = (8, 16, 32)
_SFACE_POINTS = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                          [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
"""Where SFace expects the eyes, nose tip and mouth corners in its 112 x 112 input."""


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 least-squares similarity (rotation, uniform scale, shift) taking src to dst."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    variance = float((src_c ** 2).sum(1).mean())
    if variance == 0.0:
        raise ModelOutputError("face landmarks: all five points coincide; cannot align")
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.array([1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) > 0 else -1.0])
    rotation = u @ np.diag(d) @ vt
    scale = float(s @ d) / variance
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def align_face(image: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The 112 x 112 crop SFace expects, from a 15-value YuNet row (landmarks at 4..13)."""
    landmarks = np.asarray(row[4:14], dtype=np.float64).reshape(5, 2)
    matrix = similarity_transform(landmarks, _SFACE_POINTS)
    return cv2.warpAffine(image, matrix, (112, 112), flags=cv2.INTER_LINEAR)


def _decode_level(outputs: list[np.ndarray], level: int, stride: int, cols: int,
                  threshold: float) -> np.ndarray:
    """YuNet rows (x, y, w, h, 5 landmarks, score) of one stride above `threshold`."""
    cls, obj, box, kps = (outputs[level + k * len(_STRIDES)][0] for k in range(4))
    score = np.sqrt(np.clip(cls[:, 0], 0, 1) * np.clip(obj[:, 0], 0, 1))
    hit = np.flatnonzero(score >= threshold)
    r, c = np.divmod(hit, cols)
    box, kps = box[hit], kps[hit]
    w, h = np.exp(box[:, 2]) * stride, np.exp(box[:, 3]) * stride
    cx, cy = (c + box[:, 0]) * stride, (r + box[:, 1]) * stride
    points = (kps.reshape(-1, 5, 2) + np.stack([c, r], 1)[:, None, :]) * stride
    return np.column_stack([cx - w / 2, cy - h / 2, w, h, points.reshape(-1, 10), score[hit]])


class OnnxFaceBackend:
    """YuNet detection and SFace embedding through onnxruntime (one per thread)."""

    def __init__(self, detector: ModelConfig, embedder: ModelConfig, *, cache_dir: Path,
                 score_threshold: float = 0.6, nms_threshold: float = 0.3, top_k: int = 5000,
                 prefer_gpu: bool = True, intra_threads: int = 0) -> None:
        self.score_threshold, self.nms_threshold, self.top_k = (
            score_threshold, nms_threshold, top_k)
        self.detector = OnnxModel(folded_model(detector.path, cache_dir, free_dims=(2, 3)),
                                  name=detector.name, prefer_gpu=prefer_gpu,
                                  intra_threads=intra_threads)
        self.embedder = OnnxModel(folded_model(embedder.path, cache_dir), name=embedder.name,
                                  prefer_gpu=prefer_gpu, intra_threads=intra_threads)

    def rows(self, image: np.ndarray) -> np.ndarray:
        """YuNet rows for a BGR image, in its pixels, after NMS (shape [N, 15])."""
        h, w = image.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        padded = cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=0)
        blob = padded.transpose(2, 0, 1)[None].astype(np.float32)
        outputs = self.detector.run_all(blob)
        if len(outputs) != 4 * len(_STRIDES):
            raise ModelOutputError(f"model {self.detector.name}: expected 12 YuNet outputs "
                                   f"(cls, obj, bbox, kps per stride), got {len(outputs)}")
        rows = np.concatenate([_decode_level(outputs, i, s, pw // s, self.score_threshold)
                               for i, s in enumerate(_STRIDES)])
        if len(rows) == 0:
            return rows
        keep = cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 14].tolist(),
                                self.score_threshold, self.nms_threshold, top_k=self.top_k)
        kept: np.ndarray = rows[np.asarray(keep, dtype=int).reshape(-1)].astype(np.float32)
        return kept

    @staticmethod
    def align(image: np.ndarray, row: np.ndarray) -> np.ndarray:
        return align_face(image, row)

    def feature(self, crop: np.ndarray) -> np.ndarray:
        """SFace's raw 128-d feature of an aligned BGR crop."""
        blob = crop[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)
        return self.embedder.run(np.ascontiguousarray(blob)).reshape(-1)
