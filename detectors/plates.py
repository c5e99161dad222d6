"""Plates: localise (OpenCV's Russian-plate Haar cascade) and read (PP-OCR recognition, ONNX).

The PP-OCR recognition model that `rapidocr` ships is run directly by onnxruntime (no rapidocr
code, nothing downloaded); its character table is read from the model's own metadata
(`character`). Output is decoded by greedy CTC and normalised by `detectors.plate_text`
(re-exported here as `normalise_plate`).
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
        h, w = crop.shape[:2]
        width = int(min(max(np.ceil(_HEIGHT * w / max(h, 1)), 16), 960))
        x = cv2.resize(crop, (width, _HEIGHT)).astype(np.float32) / 255.0
        x = ((x - 0.5) / 0.5).transpose(2, 0, 1)[None]
        out = self.model.run(x)
        if out.ndim != 3 or out.shape[2] != len(self.charset) + 2:
            raise ModelOutputError(
                f"OCR model {self.model_config.name}: expected [1, T, {len(self.charset) + 2}] "
                f"(blank + table + space), got {list(out.shape)}"
            )
        return self._ctc(out[0])

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
        reads = []
        for x, y, w, h in self.localise(image):
            text, confidence = self.read_crop(image[y:y + h, x:x + w])
            plate = normalise_plate(text)
            if 4 <= len(plate) <= 12 and confidence >= self.min_confidence:
                reads.append(PlateRead(plate, confidence, (x, y, w, h)))
        return reads
