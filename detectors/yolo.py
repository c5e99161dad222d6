"""The YOLO-format adapter: letterbox frames into a batch, decode `[B, 4 + C, N]` outputs.

This is the output layout of Ultralytics detection exports (YOLOv8/YOLO11: rows are cx, cy, w,
h in input pixels, then one score per class; no objectness). YOLO11n (COCO-80) and any
city-supplied YOLO-format model (fire, smoke, dumps, road defects) share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from detectors.errors import ModelOutputError

__all__ = ["Box", "Letterbox", "decode", "letterbox_batch"]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How one frame was fitted into the square input: scale and padding (pixels)."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Box:
    """One decoded box in source-frame pixels."""

    class_id: int
    score: float
    x: float
    y: float
    w: float
    h: float


def letterbox_batch(images: Sequence[np.ndarray], size: int) -> tuple[np.ndarray, list[Letterbox]]:
    """BGR frames -> float32 RGB NCHW batch in 0..1, each resized keeping aspect, grey-padded."""
    batch = np.full((len(images), 3, size, size), 114 / 255, dtype=np.float32)
    boxes = []
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        scale = min(size / w, size / h)
        nw, nh = round(w * scale), round(h * scale)
        px, py = (size - nw) // 2, (size - nh) // 2
        resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        rgb = resized[:, :, ::-1].astype(np.float32) / 255.0
        batch[i, :, py:py + nh, px:px + nw] = rgb.transpose(2, 0, 1)
        boxes.append(Letterbox(scale, px, py, w, h))
    return batch, boxes


def _check(output: np.ndarray, batch: int, classes: int | None) -> None:
    if output.ndim != 3 or output.shape[0] != batch or output.shape[1] < 5:
        raise ModelOutputError(
            f"YOLO-format output: expected [batch={batch}, 4 + classes, anchors], "
            f"got shape {list(output.shape)}"
        )
    if classes is not None and output.shape[1] - 4 < classes:
        raise ModelOutputError(
            f"YOLO-format output: {output.shape[1] - 4} class scores, but the config maps "
            f"class index {classes - 1}"
        )


def decode(output: np.ndarray, boxes: Sequence[Letterbox], *, score_threshold: float,
           iou_threshold: float, keep: Sequence[int] | None = None,
           max_class: int | None = None) -> list[list[Box]]:
    """Per frame, the boxes above `score_threshold` after class-wise NMS, in frame pixels.

    `keep` restricts decoding to those class ids (others are ignored before NMS).
    """
    _check(output, len(boxes), max_class)
    kept = None
    if keep is not None:
        kept = np.zeros(output.shape[1] - 4, dtype=bool)
        kept[list(keep)] = True
    result = []
    for frame_out, lb in zip(output, boxes, strict=True):
        rows = frame_out.T  # [N, 4 + C]
        scores = rows[:, 4:] if kept is None else np.where(kept, rows[:, 4:], 0.0)
        class_ids = scores.argmax(1)
        best = scores[np.arange(len(rows)), class_ids]
        hit = best >= score_threshold
        result.append(_nms(rows[hit, :4], best[hit], class_ids[hit], lb, iou_threshold))
    return result


def _nms(xywh: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, lb: Letterbox,
         iou: float) -> list[Box]:
    if len(scores) == 0:
        return []
    cx = (xywh[:, 0] - lb.pad_x) / lb.scale
    cy = (xywh[:, 1] - lb.pad_y) / lb.scale
    w, h = xywh[:, 2] / lb.scale, xywh[:, 3] / lb.scale
    rects = np.stack([cx - w / 2, cy - h / 2, w, h], 1)
    out = []
    for cls in np.unique(class_ids):
        idx = np.flatnonzero(class_ids == cls)
        kept = cv2.dnn.NMSBoxes(rects[idx].tolist(), scores[idx].tolist(), 0.0, iou)
        for k in np.asarray(kept).reshape(-1):
            j = idx[int(k)]
            x, y, bw, bh = (float(v) for v in rects[j])
            out.append(Box(int(cls), float(scores[j]), x, y, bw, bh))
    return sorted(out, key=lambda b: -b.score)
