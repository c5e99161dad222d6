"""Plates: localise (OpenCV's Russian-plate Haar cascade) and read (PP-OCR recognition, ONNX).

The PP-OCR recognition model that `rapidocr` ships is run directly by onnxruntime (no rapidocr
code, nothing downloaded); its character table is read from the model's own metadata
(`character`). Output is decoded by greedy CTC and normalised by `detectors.plate_text`
(re-exported here as `normalise_plate`).

`read_batch` reads the plates of a whole frame batch with one recogniser run: every crop is
resized to the model's height and padded on the right to the widest crop of the run (with 0
after normalisation, as PP-OCR is trained and as rapidocr pads its batches), and crops are run
in groups of similar width (`_GROUP_RATIO`) so one long plate does not pad every other.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detectors.config import ModelConfig
from detectors.errors import ModelLoadError, ModelOutputError
from detectors.plate_text import normalise_plate
from detectors.runner import OnnxModel

__all__ = ["PlateRead", "PlateReader", "normalise_plate"]

_HEIGHT = 48
_MIN_WIDTH, _MAX_WIDTH = 16, 960
_GROUP_RATIO = 1.5
"""Crops of one recogniser run differ in width by at most this factor."""


@dataclass(frozen=True, slots=True)
class PlateRead:
    """A read plate: normalised text, mean character confidence and its pixel box."""

    plate: str
    confidence: float
    box: tuple[int, int, int, int]


class PlateReader:
    """Finds plate-like regions and reads them; `read_crop` reads an already-cut plate."""

    def __init__(self, ocr: ModelConfig, *, prefer_gpu: bool = True, intra_threads: int = 0,
                 min_confidence: float = 0.8) -> None:
        self.model_config = ocr
        self.model = OnnxModel(ocr.path, name=ocr.name, prefer_gpu=prefer_gpu,
                               intra_threads=intra_threads)
        meta = self.model.session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ModelLoadError(f"OCR model {ocr.path}: no 'character' table in its metadata")
        self.charset = meta["character"].split("\n")
        cascade = cv2.data.haarcascades + "haarcascade_russian_plate_number.xml"  # type: ignore[attr-defined]
        self.cascade = cv2.CascadeClassifier(cascade)
        if self.cascade.empty():
            raise ModelLoadError(f"plate cascade {cascade}: OpenCV could not load it")
        self.min_confidence = min_confidence

    def localise(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Candidate plate boxes (x, y, w, h) in pixels."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=3,
                                              minSize=(40, 12))
        return [tuple(int(v) for v in box) for box in found]  # type: ignore[misc]

    def read_crop(self, crop: np.ndarray) -> tuple[str, float]:
        """(raw text, mean confidence) of one plate crop."""
        return self.read_crops([crop])[0]

    def read_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(raw text, mean confidence) of each crop, in as few recogniser runs as widths
        allow (crops sorted by width, grouped within `_GROUP_RATIO`)."""
        inputs = [_normalised(c) for c in crops]
        order = sorted(range(len(inputs)), key=lambda i: inputs[i].shape[2])
        out: list[tuple[str, float]] = [("", 0.0)] * len(inputs)
        start = 0
        while start < len(order):
            end, first = start + 1, inputs[order[start]].shape[2]
            while end < len(order) and inputs[order[end]].shape[2] <= first * _GROUP_RATIO:
                end += 1
            group = order[start:end]
            for i, read in zip(group, self._recognise([inputs[i] for i in group]), strict=True):
                out[i] = read
            start = end
        return out

    def _recognise(self, inputs: list[np.ndarray]) -> list[tuple[str, float]]:
        width = max(x.shape[2] for x in inputs)
        batch = np.zeros((len(inputs), 3, _HEIGHT, width), dtype=np.float32)
        for row, x in zip(batch, inputs, strict=True):
            row[:, :, :x.shape[2]] = x
        out = self.model.run(batch)
        if out.ndim != 3 or out.shape[0] != len(inputs) or out.shape[2] != len(self.charset) + 2:
            raise ModelOutputError(
                f"OCR model {self.model_config.name}: expected [{len(inputs)}, T, "
                f"{len(self.charset) + 2}] (blank + table + space), got {list(out.shape)}"
            )
        return [self._ctc(probs) for probs in out]

    def _ctc(self, probs: np.ndarray) -> tuple[str, float]:
        idx, best = probs.argmax(1), probs.max(1)
        chars, confs, prev = [], [], -1
        table = [*self.charset, " "]
        for i, p in zip(idx.tolist(), best.tolist(), strict=True):
            if i not in (prev, 0):
                chars.append(table[i - 1])
                confs.append(p)
            prev = i
        return "".join(chars), float(np.mean(confs)) if confs else 0.0

    def read(self, image: np.ndarray) -> list[PlateRead]:
        """Every localised plate whose normalised text is 4..12 characters and confident."""
        return self.read_batch([image])[0]

    def read_batch(self, images: list[np.ndarray]) -> list[list[PlateRead]]:
        """`read` for each image, with one recogniser run for all their plates."""
        boxes = [self.localise(image) for image in images]
        crops = [image[y:y + h, x:x + w]
                 for image, found in zip(images, boxes, strict=True) for x, y, w, h in found]
        texts = iter(self.read_crops(crops) if crops else [])
        reads: list[list[PlateRead]] = []
        for found in boxes:
            reads.append([])
            for box in found:
                text, confidence = next(texts)
                plate = normalise_plate(text)
                if 4 <= len(plate) <= 12 and confidence >= self.min_confidence:
                    reads[-1].append(PlateRead(plate, confidence, box))
        return reads


def _normalised(crop: np.ndarray) -> np.ndarray:
    """A crop as the recogniser takes it: height 48, width by aspect, CHW in [-1, 1]."""
    h, w = crop.shape[:2]
    width = int(min(max(np.ceil(_HEIGHT * w / max(h, 1)), _MIN_WIDTH), _MAX_WIDTH))
    x = cv2.resize(crop, (width, _HEIGHT)).astype(np.float32) / 255.0
    return ((x - 0.5) / 0.5).transpose(2, 0, 1)
